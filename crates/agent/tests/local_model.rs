//! The local language model on both engines (llama.cpp and candle): each
//! tokenizes as SmolLM2 was trained, answers, and keeps evaluated prompts so
//! that a session's questions evaluate little more than their own turn.
//! Needs the model file (scripts/setup-agent); fails, never skips, without it.

use std::time::Instant;

use agent::llm::llama::LlamaCppModel;
use agent::llm::local::CandleModel;
use agent::llm::tokenizer::ASSISTANT_CUE;
use agent::llm::{LanguageModel, LocalModel, find_local_model};
use agent::prompt::{ChatPrompt, Exchange, SessionContext, SessionInfo, build_prompt};
use futures::StreamExt;

fn load<M>(engine: &str, load: fn(&std::path::Path) -> Result<M, agent::ProviderError>) -> M {
    let path = find_local_model().unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let model = load(&path).unwrap_or_else(|e| panic!("{engine} does not load: {e}"));
    eprintln!("{engine}: loaded in {:?}", started.elapsed());
    model
}

fn llama_cpp() -> LlamaCppModel {
    load("llama.cpp", LlamaCppModel::load)
}

fn candle() -> CandleModel {
    load("candle", CandleModel::load)
}

/// Token ids of SmolLM2's chat template as Hugging Face's tokenizer for
/// SmolLM2-135M-Instruct gives them (its default system prompt, then a user
/// turn "hello world" and the assistant cue).
const TEMPLATE_TEXT: &str = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nhello world<|im_end|>\n<|im_start|>assistant\n";
const TEMPLATE_IDS: [u32; 32] = [
    1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407,
    19712, 8182, 2, 198, 1, 4093, 198, 28120, 905, 2, 198, 1, 520, 9531, 198,
];

fn tokenizes_as_smollm2_was_trained(model: &dyn LocalModel) {
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
    // Digits are split one by one.
    let digits: Vec<u32> = ["2", "0", "2", "4"]
        .iter()
        .map(|d| model.encode(d).unwrap()[0])
        .collect();
    assert_eq!(model.encode("2024").unwrap(), digits);
}

#[test]
fn llama_cpp_tokenizes_the_chat_template_as_smollm2_was_trained() {
    tokenizes_as_smollm2_was_trained(&llama_cpp());
}

#[test]
fn candle_tokenizes_the_chat_template_as_smollm2_was_trained() {
    tokenizes_as_smollm2_was_trained(&candle());
}

/// What a repeated prompt costs: candle keeps the logits after a whole
/// prompt; llama.cpp evaluates its last token again to get them.
struct Engine {
    repeated_prompt_tokens: u64,
    /// llama.cpp continues the longest common prefix of any kept state;
    /// candle only a kept state that is wholly a prefix of the prompt.
    common_prefixes: bool,
}

/// Answers a prompt in at most 24 tokens; returns the text and the prompt
/// tokens it evaluated.
async fn answer(model: &dyn LocalModel, prompt: &ChatPrompt) -> (String, u64) {
    answer_in(model, prompt, 24).await
}

async fn answer_in(
    model: &dyn LocalModel,
    prompt: &ChatPrompt,
    max_tokens: usize,
) -> (String, u64) {
    let before = model.prompt_tokens_evaluated();
    let started = Instant::now();
    let mut stream = model.stream(prompt, max_tokens).await.unwrap();
    let mut text = String::new();
    let mut first = None;
    while let Some(piece) = stream.next().await {
        first.get_or_insert(started.elapsed());
        text.push_str(&piece.unwrap());
    }
    let evaluated = model.prompt_tokens_evaluated() - before;
    eprintln!(
        "{}: first token {first:?}, all {:?}, {evaluated} prompt tokens: {text:?}",
        model.name(),
        started.elapsed()
    );
    (text, evaluated)
}

fn tokens(model: &dyn LocalModel, prompt: &ChatPrompt) -> Vec<u32> {
    model.prompt_tokens(prompt, 24).unwrap().1
}

fn common_prefix(a: &[u32], b: &[u32]) -> u64 {
    a.iter().zip(b).take_while(|(x, y)| x == y).count() as u64
}

async fn answers_and_reuses_the_session_prefix(model: &dyn LocalModel, engine: Engine) {
    let context = SessionContext {
        session: SessionInfo {
            title: "Rust study hour".into(),
            kind: "study".into(),
        },
        project: None,
    };
    let prompt = build_prompt(&context, &[], 3, "Ada", "What is a closure in Rust?");
    let (system, whole_tokens) = model.prompt_tokens(&prompt, 24).unwrap();
    let (system, whole) = (system as u64, whole_tokens.len() as u64);

    // Prepared for the session: the system message is evaluated before any
    // question, and the first question evaluates only its own turn.
    model
        .prepare(&agent::prompt::history_prompt(&context, &[], 3))
        .await
        .unwrap();
    assert_eq!(model.prompt_tokens_evaluated(), system);
    let (cold, cold_evaluated) = answer(model, &prompt).await;
    assert!(!cold.trim().is_empty(), "the model said nothing");
    assert_eq!(cold_evaluated, whole - system);
    assert!(model.tokens_generated() > 0);
    // Same prompt again: (next to) nothing evaluated.
    let (_, warm_evaluated) = answer(model, &prompt).await;
    assert_eq!(warm_evaluated, engine.repeated_prompt_tokens);

    // The conversation goes on: the state after the answer was kept, and the
    // next prompt (with that exchange in its history) continues it, so only
    // the new question is evaluated.
    let history = [Exchange {
        asker: "Ada".into(),
        question: "What is a closure in Rust?".into(),
        answer: cold.clone(),
    }];
    let next = build_prompt(&context, &history, 3, "Bob", "And what is a trait?");
    let next_tokens = tokens(model, &next);
    let (follow_up, follow_up_evaluated) = answer(model, &next).await;
    assert!(!follow_up.trim().is_empty());
    let answer_tokens = model.encode(&cold).unwrap().len() as u64;
    assert_eq!(
        follow_up_evaluated,
        next_tokens.len() as u64 - whole - answer_tokens
    );

    // The history window steps on (three exchanges → the latest alone), so
    // the next prompt begins differently; prepared while the last answer is
    // spoken, the question again evaluates only its own turn.
    let exchange = |q: &str| Exchange {
        asker: "Ada".into(),
        question: q.into(),
        answer: follow_up.clone(),
    };
    let history: Vec<_> = ["a", "b", "c", "d"].map(exchange).into();
    let prefix = agent::prompt::history_prompt(&context, &history, 3);
    let cue = model.encode(ASSISTANT_CUE).unwrap().len();
    let prefix_tokens = tokens(model, &prefix);
    let prefix_tokens = &prefix_tokens[..prefix_tokens.len() - cue];
    // What the prefix shares with the kept states (each began with one of
    // the prompts so far).
    let shared = if engine.common_prefixes {
        [&whole_tokens, &next_tokens]
            .map(|kept| common_prefix(kept, prefix_tokens))
            .into_iter()
            .max()
            .unwrap()
    } else {
        system
    };
    assert!(shared >= system);
    let before = model.prompt_tokens_evaluated();
    model.prepare(&prefix).await.unwrap();
    assert_eq!(
        model.prompt_tokens_evaluated() - before,
        prefix_tokens.len() as u64 - shared
    );
    let stepped = build_prompt(&context, &history, 3, "Ada", "What is a slice?");
    let stepped_len = tokens(model, &stepped).len() as u64;
    let (_, stepped_evaluated) = answer(model, &stepped).await;
    assert_eq!(stepped_evaluated, stepped_len - prefix_tokens.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_cpp_answers_and_reuses_the_session_prefix() {
    let engine = Engine {
        repeated_prompt_tokens: 1,
        common_prefixes: true,
    };
    answers_and_reuses_the_session_prefix(&llama_cpp(), engine).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candle_answers_and_reuses_the_session_prefix() {
    let engine = Engine {
        repeated_prompt_tokens: 0,
        common_prefixes: false,
    };
    answers_and_reuses_the_session_prefix(&candle(), engine).await;
}

/// Dropping the stream stops generation at the next token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_stops_llama_cpp() {
    let model = llama_cpp();
    let context = SessionContext {
        session: SessionInfo {
            title: "Cancel".into(),
            kind: "study".into(),
        },
        project: None,
    };
    let prompt = build_prompt(&context, &[], 3, "Ada", "Tell me all about Rust.");
    let before = model.tokens_generated();
    let (whole, _) = answer_in(&model, &prompt, 200).await;
    let whole_tokens = model.tokens_generated() - before;
    assert!(whole_tokens > 20, "too short to tell: {whole:?}");

    let before = model.tokens_generated();
    let mut stream = model.stream(&prompt, 200).await.unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    // The engine runs one job at a time: this one waits for the first.
    model
        .prepare(&agent::prompt::history_prompt(&context, &[], 3))
        .await
        .unwrap();
    let cancelled_tokens = model.tokens_generated() - before;
    assert!(
        cancelled_tokens < whole_tokens / 2,
        "{cancelled_tokens} of {whole_tokens} tokens generated for a dropped stream"
    );
}
