//! The spoken evaluation set: programming and room questions said to the
//! assistant, and decoys that must not wake it.
//!
//! Each question carries its topic word: the one word an answer cannot be
//! right without ("closure", "kubernetes"). Texts are written the way a
//! transcriber writes them (digits for numbers, common spellings), so the
//! word error rate measures hearing, not spelling conventions.

/// Questions said after "hey agent": (question, topic word).
pub const QUESTIONS: &[(&str, &str)] = &[
    ("what is a closure in rust", "closure"),
    ("how do I sort a hash map by value", "sort"),
    ("explain kubernetes pods", "kubernetes"),
    ("what does the borrow checker do", "borrow"),
    ("how do I reverse a linked list", "linked"),
    (
        "what is the difference between a process and a thread",
        "thread",
    ),
    ("why does my docker container exit immediately", "docker"),
    ("how do I write a unit test in python", "python"),
    ("what is a race condition", "race"),
    ("explain big o notation", "notation"),
    ("how does garbage collection work in java", "garbage"),
    ("what is a foreign key in sql", "foreign"),
    ("how do I undo my last git commit", "commit"),
    ("what is the virtual dom in react", "react"),
    ("how do promises work in javascript", "promises"),
    ("what is recursion", "recursion"),
    ("explain binary search", "binary"),
    ("what is a mutex", "mutex"),
    ("what is dependency injection", "dependency"),
    ("how do I center a div with css", "css"),
    ("what is a hash function", "hash"),
    ("explain the cap theorem", "theorem"),
    ("how does a load balancer work", "balancer"),
    ("what is the difference between tcp and udp", "udp"),
    ("what are generics in typescript", "generics"),
    ("how do I find a memory leak", "memory"),
    ("what causes a segmentation fault", "segmentation"),
    ("explain gradient descent", "gradient"),
    ("what is a pointer", "pointer"),
    ("how should I handle errors in rust", "errors"),
    ("what is a database index", "index"),
    ("how do I read a file line by line", "file"),
    ("what is the event loop", "loop"),
    ("when should I use a queue instead of a stack", "queue"),
    ("what is this project about", "project"),
    ("which database does this project use", "database"),
    ("who is here", "here"),
    ("how much time is left", "time"),
    ("what is everyone working on", "working"),
    ("what is my goal", "goal"),
    ("start a 25 minute timer", "timer"),
    ("add 5 minutes", "minutes"),
];

/// Sentences that must not wake the assistant: the word "agent" in other
/// senses, words that sound like it, greetings to the room, and the wake
/// phrase said about the assistant rather than to it.
pub const DECOYS: &[&str] = &[
    "the agent said hello to the team",
    "a gent in a tent was reading a book",
    "hey everyone, let's get started",
    "my agency builds websites for clients",
    "you can say hey agent to ask it a question",
    "I think the agent is really helpful today",
    "hey everybody, welcome back",
    "the travel agency called me this morning",
    "she works as a real estate agent",
    "hey, did anyone see my message in the chat",
    "when you say hey agent it answers out loud",
    "the secret agent movie was great",
    "hey Ada, can you share your screen",
    "a gentle reminder that we start in 5 minutes",
    "let me ask the agent about it later",
    "hey team, I am going to mute for a bit",
    "the user agent string is wrong",
    "our agents handle the support tickets",
    "I said hey agent yesterday and it worked",
    "okay everyone, back to work",
    "he is an agent of change in this company",
    "hey, a gentleman is at the door",
];
