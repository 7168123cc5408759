//! The local language model: its tokenizer matches SmolLM2's own, and it
//! answers. Needs the model file (scripts/setup-agent); fails, never skips,
//! without it.

use std::time::Instant;

use agent::llm::LanguageModel;
use agent::llm::local::{LocalModel, find_model_file};
use agent::llm::tokenizer::ASSISTANT_CUE;
use agent::prompt::{SessionContext, SessionInfo, build_prompt};
use futures::StreamExt;

fn model() -> LocalModel {
    let path = find_model_file().unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let model = LocalModel::load(&path).expect("the model loads");
    eprintln!("model loaded in {:?}", started.elapsed());
    model
}

/// Token ids of SmolLM2's chat template as Hugging Face's tokenizer for
/// SmolLM2-135M-Instruct gives them (its default system prompt, then a user
/// turn "hello world" and the assistant cue).
const TEMPLATE_TEXT: &str = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nhello world<|im_end|>\n<|im_start|>assistant\n";
const TEMPLATE_IDS: [u32; 32] = [
    1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407,
    19712, 8182, 2, 198, 1, 4093, 198, 28120, 905, 2, 198, 1, 520, 9531, 198,
];

#[test]
fn the_chat_template_tokenizes_as_smollm2_was_trained() {
    let model = model();
    // `<|im_start|>system\n` → <|im_start|>, "system", "\n" — not " system".
    assert_eq!(
        model.encode("<|im_start|>system\n").unwrap(),
        [1, 9690, 198]
    );
    assert_eq!(model.encode(TEMPLATE_TEXT).unwrap(), TEMPLATE_IDS);
    // Another reference sentence ("What is the capital of France?").
    assert_eq!(
        model
            .encode("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n")
            .unwrap(),
        [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198]
    );
}

#[test]
fn digits_are_split_one_by_one() {
    let model = model();
    let ids = model.encode("2024").unwrap();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert_eq!(
        ids,
        ["2", "0", "2", "4"]
            .iter()
            .map(|d| model.encode(d).unwrap()[0])
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_model_answers_a_question_and_reuses_the_session_prefix() {
    let model = model();
    let context = SessionContext {
        session: SessionInfo {
            title: "Rust study hour".into(),
            kind: "study".into(),
        },
        project: None,
    };
    let prompt = build_prompt(&context, &[], 3, "Ada", "What is a closure in Rust?");
    let (system, tokens) = model.prompt_tokens(&prompt, 24).unwrap();
    let (system, whole) = (system as u64, tokens.len() as u64);
    // Answers a prompt; returns the text and the prompt tokens it evaluated.
    let answer = |prompt| {
        let model = model.clone();
        async move {
            let before = model.prompt_tokens_evaluated();
            let started = Instant::now();
            let mut stream = model.stream(&prompt, 24).await.unwrap();
            let mut text = String::new();
            let mut first = None;
            while let Some(piece) = stream.next().await {
                first.get_or_insert(started.elapsed());
                text.push_str(&piece.unwrap());
            }
            let evaluated = model.prompt_tokens_evaluated() - before;
            eprintln!(
                "first token {first:?}, all {:?}, {evaluated} prompt tokens: {text:?}",
                started.elapsed()
            );
            (text, evaluated)
        }
    };

    // Prepared for the session: the system message is evaluated before any
    // question, and the first question evaluates only its own turn.
    model
        .prepare(&agent::prompt::history_prompt(&context, &[], 3))
        .await
        .unwrap();
    assert_eq!(model.prompt_tokens_evaluated(), system);
    let (cold, cold_evaluated) = answer(prompt.clone()).await;
    assert!(!cold.trim().is_empty(), "the model said nothing");
    assert_eq!(cold_evaluated, whole - system);
    // Same prompt again: the same answer (the cache is exact and sampling
    // is seeded) with nothing evaluated.
    let (warm, warm_evaluated) = answer(prompt).await;
    assert_eq!(cold, warm);
    assert_eq!(warm_evaluated, 0);
    // The conversation goes on: the state after the answer was kept, and the
    // next prompt (with that exchange in its history) continues it, so only
    // the new question is evaluated.
    let history = [agent::prompt::Exchange {
        asker: "Ada".into(),
        question: "What is a closure in Rust?".into(),
        answer: cold.clone(),
    }];
    let next = build_prompt(&context, &history, 3, "Bob", "And what is a trait?");
    let next_whole = model.prompt_tokens(&next, 24).unwrap().1.len() as u64;
    let (follow_up, follow_up_evaluated) = answer(next).await;
    assert!(!follow_up.trim().is_empty());
    let answer_tokens = model.encode(&cold).unwrap().len() as u64;
    assert_eq!(follow_up_evaluated, next_whole - whole - answer_tokens);

    // The history window steps on (three exchanges → the latest alone), so
    // the next prompt begins differently; prepared while the last answer is
    // spoken, the question again evaluates only its own turn.
    let exchange = |q: &str| agent::prompt::Exchange {
        asker: "Ada".into(),
        question: q.into(),
        answer: follow_up.clone(),
    };
    let history: Vec<_> = ["a", "b", "c", "d"].map(exchange).into();
    let prefix = agent::prompt::history_prompt(&context, &history, 3);
    let cue = model.encode(ASSISTANT_CUE).unwrap().len();
    let prefix_len = (model.prompt_tokens(&prefix, 24).unwrap().1.len() - cue) as u64;
    let before = model.prompt_tokens_evaluated();
    model.prepare(&prefix).await.unwrap();
    assert_eq!(
        model.prompt_tokens_evaluated() - before,
        prefix_len - system
    );
    let stepped = build_prompt(&context, &history, 3, "Ada", "What is a slice?");
    let stepped_len = model.prompt_tokens(&stepped, 24).unwrap().1.len() as u64;
    let (_, stepped_evaluated) = answer(stepped).await;
    assert_eq!(stepped_evaluated, stepped_len - prefix_len);
}
