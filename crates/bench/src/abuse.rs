//! `lockin-bench abuse`: what a flood of abuse does to honest people, next to
//! the same people measured without it, in one run.
//!
//! One server runs in this process with its default limits (the sign-up
//! limits included). Two honest participants share a session: one posts chat
//! messages at a steady rate, the other watches `chat:{id}` on a live socket
//! and times each message from its POST to its first push. They are measured
//! first in a quiet phase, then while, concurrently:
//!
//! - sign-up workers register distinct emails as fast as they are answered,
//!   each from an address of its own (`127.0.1.x`), so the per-address limit
//!   and the limit in all both bite;
//! - a few participants log AI interactions by hand with 20 000-character
//!   answers;
//! - a few live sockets of those participants subscribe and unsubscribe
//!   without pause;
//! - half-open connections send part of a request header and stall, and are
//!   opened again whenever the server closes them.
//!
//! Abusers come from other loopback addresses than the honest pair
//! (`127.0.0.1`), as they would from other machines, so the per-address
//! limits measure what they are meant for. A prober times `/healthz`
//! throughout; RSS is the whole process's (server, abusers and honest
//! clients), sampled from `/proc/self/status`.

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context, ensure};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use protocol::live::{ClientMessage, ServerMessage};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    task::JoinHandle,
    time::{Instant, MissedTickBehavior},
};
use tokio_tungstenite::{WebSocketStream, tungstenite::Message};
use tokio_util::sync::CancellationToken;

use crate::live::{call, chat_steps};
use server::{Application, Config};

#[derive(clap::Args, Debug)]
pub struct AbuseBenchArgs {
    /// How long each phase (quiet, then flood) is measured, after its warmup.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Load before each phase is measured.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Concurrent sign-up workers, each from an address of its own.
    #[arg(long, default_value_t = 16)]
    pub signups: usize,
    /// Participants logging AI interactions by hand, one call in flight each.
    #[arg(long, default_value_t = 3)]
    pub loggers: usize,
    /// Live sockets churning subscriptions, shared among the loggers' tokens.
    #[arg(long, default_value_t = 4)]
    pub churners: usize,
    /// Half-open connections held at once, all from one address.
    #[arg(long, default_value_t = 300)]
    pub half_open: usize,
    /// The honest participant's chat messages a second.
    #[arg(long, default_value_t = 5)]
    pub chat_rate: u32,
}

/// The honest participants' address; abusers come from others.
const HONEST: Ipv4Addr = Ipv4Addr::LOCALHOST;
const LOGGERS_FROM: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const HALF_OPEN_FROM: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// Sign-up worker `w` comes from `127.0.1.(w + 1)`.
fn signup_address(worker: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 1 + (worker / 250) as u8, 1 + (worker % 250) as u8)
}
/// How long after a phase its last chat message may still arrive.
const GRACE: Duration = Duration::from_secs(5);
const HEALTH_PROBE_EVERY: Duration = Duration::from_millis(50);
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// The largest answer a hand-logged AI interaction may carry.
const BIG_ANSWER: usize = 20_000;

/// The abuse kinds and the honest calls, each counted by outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    SignUp,
    AiLog,
    LiveChurn,
    HalfOpen,
    HonestChat,
    Healthz,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::SignUp => "sign-up",
            Kind::AiLog => "AI log by hand",
            Kind::LiveChurn => "live (un)subscribe",
            Kind::HalfOpen => "half-open conn",
            Kind::HonestChat => "honest chat",
            Kind::Healthz => "/healthz",
        }
    }
}

/// What became of an attempt. A live message refused as `rate_limited`
/// counts as 429; a half-open connection the server closed as `Closed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Ok,
    TooMany,
    Unavailable,
    Other,
    Closed,
}

impl Outcome {
    fn of(status: StatusCode) -> Outcome {
        match status.as_u16() {
            200..=299 => Outcome::Ok,
            429 => Outcome::TooMany,
            503 => Outcome::Unavailable,
            _ => Outcome::Other,
        }
    }
}

/// Outcomes counted per kind, shared by every worker of a phase, and the
/// live errors other than `rate_limited` by their code.
#[derive(Clone, Default)]
struct Counts {
    outcomes: Arc<Mutex<BTreeMap<(Kind, Outcome), u64>>>,
    live_errors: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl Counts {
    fn add(&self, kind: Kind, outcome: Outcome) {
        *self
            .outcomes
            .lock()
            .unwrap()
            .entry((kind, outcome))
            .or_default() += 1;
    }

    fn get(&self, kind: Kind, outcome: Outcome) -> u64 {
        self.outcomes
            .lock()
            .unwrap()
            .get(&(kind, outcome))
            .copied()
            .unwrap_or(0)
    }

    /// A live answer that was an error other than `rate_limited`.
    fn live_error(&self, code: &str) {
        self.add(Kind::LiveChurn, Outcome::Other);
        *self
            .live_errors
            .lock()
            .unwrap()
            .entry(code.to_owned())
            .or_default() += 1;
    }
}

/// Reads a `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`), in bytes.
fn status_field_bytes(status: &str, field: &str) -> Option<u64> {
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?;
    let kib = line.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
    Some(kib * 1024)
}

fn memory(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status_field_bytes(&status, field).unwrap_or(0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A flood/quiet ratio, or `-` where quiet measured nothing to divide by.
fn ratio(flood: f64, quiet: f64) -> String {
    if quiet > 0.0 {
        format!("{:.2}x", flood / quiet)
    } else {
        "-".to_owned()
    }
}

fn http_from(ip: Ipv4Addr) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .local_address(IpAddr::V4(ip))
        .build()?)
}

async fn tcp_from(ip: Ipv4Addr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(ip), 0))?;
    socket.connect(server).await
}

type Live = WebSocketStream<TcpStream>;

/// A live connection from `ip` that holds `token`'s person present in the
/// session, as the room page does, until the task is aborted.
async fn stay_present(
    ip: Ipv4Addr,
    server: SocketAddr,
    token: &str,
    session_id: &str,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut present = live_from(ip, server, token).await?;
    present
        .send(subscribe_text(
            "participants",
            format!("participants:{session_id}"),
        ))
        .await?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(_)) = present.next().await {}
    }))
}

async fn live_from(ip: Ipv4Addr, server: SocketAddr, token: &str) -> anyhow::Result<Live> {
    let stream = tcp_from(ip, server).await?;
    let url = format!("ws://{server}/api/live?token={token}");
    let (socket, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .context("opening a live connection")?;
    Ok(socket)
}

fn subscribe_text(id: &str, query: String) -> Message {
    let message = ClientMessage::subscribe(id, query);
    Message::text(serde_json::to_string(&message).expect("live messages serialize"))
}

struct Person {
    id: String,
    token: String,
}

async fn register(http: &reqwest::Client, base: &str, email: &str) -> anyhow::Result<Person> {
    let body = json!({"email": email, "password": "bench-password", "name": "Abuse Bench"});
    let answer = call(http, format!("{base}/api/auth/register"), None, Some(body)).await?;
    Ok(Person {
        id: answer["user"]["id"]
            .as_str()
            .context("no user id")?
            .to_owned(),
        token: answer["token"].as_str().context("no token")?.to_owned(),
    })
}

/// What one phase measured.
struct Phase {
    /// Microseconds from an honest POST to the watcher's first push of it.
    chat: Histogram<u64>,
    /// Honest messages sent in the measured window and never seen.
    chat_lost: u64,
    healthz: Histogram<u64>,
    peak_rss: u64,
    counts: Counts,
}

pub async fn run_abuse(args: AbuseBenchArgs) -> anyhow::Result<()> {
    ensure!(args.chat_rate >= 1, "--chat-rate must be at least 1");
    ensure!(args.loggers >= 1, "--loggers must be at least 1");
    // Half-open and live sockets, each also held by the server in this process.
    let wanted = (2 * (args.half_open + args.churners + args.signups) + 1024) as u64;
    let allowed = rlimit::increase_nofile_limit(wanted).context("raising the open-files limit")?;
    ensure!(
        allowed >= wanted,
        "{allowed} open files allowed, {wanted} needed"
    );

    let scratch = std::env::temp_dir().join(format!("lockin-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&scratch).context("creating the bench data dir")?;
    // The server's defaults, sign-up limits included: those are what is tested.
    let config = Config {
        listen: ([127, 0, 0, 1], 0).into(),
        rtc_udp: ([127, 0, 0, 1], 0).into(),
        data_dir: scratch.clone(),
        ..Config::default()
    };
    let defaults = format!(
        "sign-ups {}/min per address, {}/min in all; AI logs {}/min per person; \
         {} live (un)subscribes/s per socket; {} connections per address; header read timeout {}",
        config.signups_per_minute,
        config.signups_per_minute_total,
        config.ai_logs_per_minute,
        config.live_subscriptions_per_second,
        config.connections_per_address,
        humantime::format_duration(config.header_read_timeout),
    );
    let application = Application::build(config)
        .await
        .context("starting Lock In")?;
    let server = application.local_addr();
    let stop_server = CancellationToken::new();
    let serving =
        tokio::spawn(application.run_until_stopped(stop_server.clone().cancelled_owned()));

    let measured = measure(&args, server).await;
    stop_server.cancel();
    serving.await.context("the server task panicked")??;
    let _ = std::fs::remove_dir_all(&scratch);
    let (quiet, flood, end) = measured?;
    print_report(&args, &defaults, &quiet, &flood, &end);
    ensure!(
        end.problems().is_empty(),
        "honest participants were refused, lost messages or were ejected (see above)"
    );
    Ok(())
}

/// How the honest pair stood when the flood ended.
struct End {
    chatter_joined: bool,
    watcher_joined: bool,
    /// Why the watcher's live socket closed, if it did.
    watcher_closed: Option<String>,
    rss_after: u64,
    hwm: u64,
    honest_refused: u64,
    honest_lost: u64,
}

impl End {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.chatter_joined || !self.watcher_joined {
            problems.push("an honest participant is no longer joined".to_owned());
        }
        if let Some(why) = &self.watcher_closed {
            problems.push(format!("the honest watcher's live socket closed: {why}"));
        }
        if self.honest_refused > 0 {
            problems.push(format!("{} honest calls were refused", self.honest_refused));
        }
        if self.honest_lost > 0 {
            problems.push(format!(
                "{} honest chat messages never arrived",
                self.honest_lost
            ));
        }
        problems
    }
}

/// When honest message `n` was posted, and when the watcher first saw it.
#[derive(Default)]
struct Timings {
    sent: HashMap<usize, Instant>,
    seen: HashMap<usize, Instant>,
}

async fn measure(args: &AbuseBenchArgs, server: SocketAddr) -> anyhow::Result<(Phase, Phase, End)> {
    let base = format!("http://{server}");
    let honest_http = http_from(HONEST)?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    eprintln!(
        "setting up 2 honest participants and {} loggers…",
        args.loggers
    );
    let chatter = register(&honest_http, &base, &format!("chatter-{run}@example.com")).await?;
    let watcher = register(&honest_http, &base, &format!("watcher-{run}@example.com")).await?;
    let mut loggers = Vec::new();
    for l in 0..args.loggers {
        loggers.push(
            register(
                &honest_http,
                &base,
                &format!("logger-{run}-{l}@example.com"),
            )
            .await?,
        );
    }
    let body = json!({"title": "Abuse bench", "session_type": "coding",
        "max_participants": 50, "ai_agent_enabled": false});
    let session = call(
        &honest_http,
        format!("{base}/api/sessions"),
        Some(&chatter.token),
        Some(body),
    )
    .await?;
    let session_id = session["id"].as_str().context("no session id")?.to_owned();
    for person in std::iter::once(&watcher).chain(&loggers) {
        call(
            &honest_http,
            format!("{base}/api/sessions/{session_id}/join"),
            Some(&person.token),
            None,
        )
        .await?;
    }

    // The honest watcher: one socket for both phases, recording first sightings.
    let mut socket = live_from(HONEST, server, &watcher.token).await?;
    socket
        .send(subscribe_text("chat", format!("chat:{session_id}")))
        .await?;
    let timings = Arc::new(Mutex::new(Timings::default()));
    let watching = tokio::spawn(watch_chat(socket, timings.clone()));
    // The chatter holds a live subscription to the session too, as the room
    // page does: a participant who never subscribes is given up after the
    // departure timeout. So do the loggers, from their own address, or a long
    // quiet phase would leave a flood of logs from people no longer in the room.
    let mut staying = vec![stay_present(HONEST, server, &chatter.token, &session_id).await?];
    for logger in &loggers {
        staying.push(stay_present(LOGGERS_FROM, server, &logger.token, &session_id).await?);
    }

    let stage = Stage {
        args,
        server,
        session_id: &session_id,
        chatter: &chatter,
        loggers: &loggers,
        timings: &timings,
    };
    let mut next_step = 0;
    eprintln!("quiet phase: honest chat only…");
    let quiet = phase(stage, &mut next_step, false).await?;
    eprintln!("flood phase…");
    let flood = phase(stage, &mut next_step, true).await?;

    let participants: Value = honest_http
        .get(format!("{base}/api/sessions/{session_id}/participants"))
        .bearer_auth(&chatter.token)
        .send()
        .await?
        .json()
        .await
        .context("reading the participants")?;
    let joined = |person: &Person| {
        participants.as_array().is_some_and(|listed| {
            listed
                .iter()
                .any(|entry| entry["user_id"] == person.id.as_str() && entry["status"] == "joined")
        })
    };
    for present in staying {
        present.abort();
    }
    let watcher_closed = if watching.is_finished() {
        Some(watching.await.context("the watcher panicked")?)
    } else {
        watching.abort();
        None
    };
    let honest_refused = [&quiet, &flood]
        .iter()
        .map(|phase| {
            [
                Outcome::TooMany,
                Outcome::Unavailable,
                Outcome::Other,
                Outcome::Closed,
            ]
            .into_iter()
            .map(|outcome| phase.counts.get(Kind::HonestChat, outcome))
            .sum::<u64>()
        })
        .sum();
    let end = End {
        chatter_joined: joined(&chatter),
        watcher_joined: joined(&watcher),
        watcher_closed,
        rss_after: memory("VmRSS"),
        hwm: memory("VmHWM"),
        honest_refused,
        honest_lost: quiet.chat_lost + flood.chat_lost,
    };
    Ok((quiet, flood, end))
}

/// Reads the honest watcher's pushes for good; returns why the socket ended.
async fn watch_chat(mut socket: Live, timings: Arc<Mutex<Timings>>) -> String {
    loop {
        let text = match socket.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => return format!("closed by the server: {frame:?}"),
            Some(Ok(_)) => continue,
            Some(Err(error)) => return format!("{error}"),
            None => return "the connection ended".to_owned(),
        };
        let at = Instant::now();
        let Ok(ServerMessage::Result { data, .. }) = serde_json::from_str::<ServerMessage>(&text)
        else {
            return format!("the server sent {text}");
        };
        let steps = chat_steps(&data, "honest").unwrap_or_default();
        let mut timings = timings.lock().unwrap();
        for step in steps {
            timings.seen.entry(step).or_insert(at);
        }
    }
}

/// What both phases run against: the server and its session, the honest
/// chatter, the loggers, and the honest watcher's record of sightings.
#[derive(Clone, Copy)]
struct Stage<'a> {
    args: &'a AbuseBenchArgs,
    server: SocketAddr,
    session_id: &'a str,
    chatter: &'a Person,
    loggers: &'a [Person],
    timings: &'a Arc<Mutex<Timings>>,
}

/// One phase on `stage`: honest chat alone, or with the `flood` of abusers.
/// Honest messages are numbered on from `next_step`.
async fn phase(stage: Stage<'_>, next_step: &mut usize, flood: bool) -> anyhow::Result<Phase> {
    let Stage {
        args,
        server,
        session_id,
        chatter,
        loggers,
        timings,
    } = stage;
    let counts = Counts::default();
    let measure_from = Instant::now() + args.warmup;
    let stop_at = measure_from + args.duration;
    let stop = CancellationToken::new();
    let mut abusers: Vec<JoinHandle<()>> = Vec::new();
    if flood {
        for worker in 0..args.signups {
            let http = http_from(signup_address(worker))?;
            abusers.push(tokio::spawn(sign_up(
                http,
                server,
                worker,
                counts.clone(),
                stop.clone(),
            )));
        }
        let loggers_http = http_from(LOGGERS_FROM)?;
        for logger in loggers {
            let url = format!("http://{server}/api/sessions/{session_id}/ai-logs");
            let task = log_by_hand(
                loggers_http.clone(),
                url,
                logger.token.clone(),
                counts.clone(),
                stop.clone(),
            );
            abusers.push(tokio::spawn(task));
        }
        for churner in 0..args.churners {
            let token = loggers[churner % loggers.len()].token.clone();
            let query = format!("chat:{session_id}");
            abusers.push(tokio::spawn(churn(
                server,
                token,
                query,
                counts.clone(),
                stop.clone(),
            )));
        }
        for _ in 0..args.half_open {
            abusers.push(tokio::spawn(half_open(
                server,
                counts.clone(),
                stop.clone(),
            )));
        }
    }
    let prober = tokio::spawn(probe_health(
        server,
        measure_from,
        counts.clone(),
        stop.clone(),
    ));
    let sampler = tokio::spawn(sample_rss(measure_from, stop.clone()));

    // The honest chatter, at a steady rate, from the honest address.
    let honest_http = http_from(HONEST)?;
    let url = format!("http://{server}/api/sessions/{session_id}/messages");
    let mut tick = tokio::time::interval(Duration::from_secs(1) / args.chat_rate);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut measured_steps = Vec::new();
    while Instant::now() < stop_at {
        tick.tick().await;
        let step = *next_step;
        *next_step += 1;
        let body =
            json!({"body": format!("honest#{step} did the flaky test pass on your machine?")});
        let sent = Instant::now();
        timings.lock().unwrap().sent.insert(step, sent);
        let answer = honest_http
            .post(&url)
            .bearer_auth(&chatter.token)
            .json(&body)
            .send()
            .await;
        let outcome = answer.map_or(Outcome::Closed, |answer| Outcome::of(answer.status()));
        if sent >= measure_from {
            counts.add(Kind::HonestChat, outcome);
            if outcome == Outcome::Ok {
                measured_steps.push(step);
            }
        }
    }
    stop.cancel();
    for abuser in abusers {
        let _ = abuser.await;
    }
    let healthz = prober.await.context("the health prober panicked")?;
    let peak_rss = sampler.await.context("the RSS sampler panicked")?;

    // Honest messages still on their way get a grace period, not a verdict.
    let grace_until = Instant::now() + GRACE;
    loop {
        let done = {
            let timings = timings.lock().unwrap();
            measured_steps
                .iter()
                .all(|step| timings.seen.contains_key(step))
        };
        if done || Instant::now() >= grace_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut chat = Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let mut chat_lost = 0;
    let timings = timings.lock().unwrap();
    for step in measured_steps {
        match timings.seen.get(&step) {
            Some(seen) => chat.saturating_record((*seen - timings.sent[&step]).as_micros() as u64),
            None => chat_lost += 1,
        }
    }
    Ok(Phase {
        chat,
        chat_lost,
        healthz,
        peak_rss,
        counts,
    })
}

/// Runs `work` until `stop`; `None` if stopped first.
async fn until<T>(stop: &CancellationToken, work: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        () = stop.cancelled() => None,
        done = work => Some(done),
    }
}

async fn sign_up(
    http: reqwest::Client,
    server: SocketAddr,
    worker: usize,
    counts: Counts,
    stop: CancellationToken,
) {
    let url = format!("http://{server}/api/auth/register");
    let run = uuid::Uuid::new_v4().simple().to_string();
    for n in 0.. {
        let body = json!({"email": format!("flood-{run}-{worker}-{n}@example.com"),
            "password": "flood-password", "name": "Flood"});
        let Some(answer) = until(&stop, http.post(&url).json(&body).send()).await else {
            return;
        };
        counts.add(
            Kind::SignUp,
            answer.map_or(Outcome::Closed, |answer| Outcome::of(answer.status())),
        );
    }
}

async fn log_by_hand(
    http: reqwest::Client,
    url: String,
    token: String,
    counts: Counts,
    stop: CancellationToken,
) {
    let body = json!({"question": "why is this slow?", "answer": "x".repeat(BIG_ANSWER), "trigger": "text"});
    loop {
        let Some(answer) = until(
            &stop,
            http.post(&url).bearer_auth(&token).json(&body).send(),
        )
        .await
        else {
            return;
        };
        counts.add(
            Kind::AiLog,
            answer.map_or(Outcome::Closed, |answer| Outcome::of(answer.status())),
        );
    }
}

/// Subscribes and unsubscribes on one socket as fast as it will take them,
/// reading every answer; opens another socket when the server closes it.
async fn churn(
    server: SocketAddr,
    token: String,
    query: String,
    counts: Counts,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let Some(Ok(socket)) = until(&stop, live_from(LOGGERS_FROM, server, &token)).await else {
            counts.add(Kind::LiveChurn, Outcome::Closed);
            let _ = until(&stop, tokio::time::sleep(Duration::from_millis(100))).await;
            continue;
        };
        let (mut sink, mut stream) = socket.split();
        let sending = async {
            for n in 0usize.. {
                let id = format!("churn{}", n % 50);
                sink.send(subscribe_text(&id, query.clone())).await?;
                let unsubscribe =
                    serde_json::to_string(&ClientMessage::unsubscribe(id)).expect("serializes");
                sink.send(Message::text(unsubscribe)).await?;
            }
            anyhow::Ok(())
        };
        let reading = async {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                match serde_json::from_str::<ServerMessage>(&text) {
                    Ok(ServerMessage::Result { .. }) => counts.add(Kind::LiveChurn, Outcome::Ok),
                    Ok(ServerMessage::Error { error, .. }) if error.code == "rate_limited" => {
                        counts.add(Kind::LiveChurn, Outcome::TooMany)
                    }
                    Ok(ServerMessage::Error { error, .. }) => counts.live_error(&error.code),
                    _ => counts.live_error("(not a result or an error)"),
                }
            }
        };
        let ended = until(&stop, async {
            tokio::select! {
                _ = sending => {},
                () = reading => {},
            }
        });
        if ended.await.is_some() {
            counts.add(Kind::LiveChurn, Outcome::Closed);
        }
    }
}

/// Holds one connection that sent half a request header; opens another
/// whenever the server closes it (or refuses it at accept).
async fn half_open(server: SocketAddr, counts: Counts, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let held = async {
            let mut stream = tcp_from(HALF_OPEN_FROM, server).await?;
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: lockin\r\nX-Stall: ")
                .await?;
            counts.add(Kind::HalfOpen, Outcome::Ok);
            // Nothing more is sent: this returns when the server gives up on us.
            let mut answer = [0u8; 512];
            while stream.read(&mut answer).await? > 0 {}
            std::io::Result::Ok(())
        };
        if until(&stop, held).await.is_some() {
            counts.add(Kind::HalfOpen, Outcome::Closed);
            let _ = until(&stop, tokio::time::sleep(Duration::from_millis(100))).await;
        }
    }
}

async fn probe_health(
    server: SocketAddr,
    measure_from: Instant,
    counts: Counts,
    stop: CancellationToken,
) -> Histogram<u64> {
    let http = http_from(HONEST).expect("a client builds");
    let url = format!("http://{server}/healthz");
    let mut latency = Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let mut tick = tokio::time::interval(HEALTH_PROBE_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    while until(&stop, tick.tick()).await.is_some() {
        let started = Instant::now();
        let Some(answer) = until(&stop, http.get(&url).send()).await else {
            break;
        };
        if started < measure_from {
            continue;
        }
        latency.saturating_record(started.elapsed().as_micros() as u64);
        counts.add(
            Kind::Healthz,
            answer.map_or(Outcome::Closed, |answer| Outcome::of(answer.status())),
        );
    }
    latency
}

/// The highest RSS seen while measuring.
async fn sample_rss(measure_from: Instant, stop: CancellationToken) -> u64 {
    let _ = until(&stop, tokio::time::sleep_until(measure_from)).await;
    let mut peak = memory("VmRSS");
    let mut tick = tokio::time::interval(RSS_SAMPLE_EVERY);
    while until(&stop, tick.tick()).await.is_some() {
        peak = peak.max(memory("VmRSS"));
    }
    peak
}

fn print_report(args: &AbuseBenchArgs, defaults: &str, quiet: &Phase, flood: &Phase, end: &End) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let duration = humantime::format_duration(args.duration);
    let warmup = humantime::format_duration(args.warmup);
    println!(
        "Lock In under abuse: quiet then flood, each {duration} measured after {warmup} warmup, {cores} cores"
    );
    println!("server: in this process, fresh SQLite file, default limits ({defaults})");
    println!(
        "flood: {} sign-up workers (one address each), {} AI loggers ({BIG_ANSWER}-char answers), \
         {} live churn sockets, {} half-open connections (one address)",
        args.signups, args.loggers, args.churners, args.half_open
    );
    println!(
        "honest: one participant chats {}/s from 127.0.0.1, another times each message to its chat: push",
        args.chat_rate
    );
    println!(
        "RSS is the whole process: server, abusers and honest clients; ratio = flood / quiet\n"
    );
    println!("| measure                 |   quiet |   flood |  ratio |");
    println!("|-------------------------|--------:|--------:|-------:|");
    let ms =
        |histogram: &Histogram<u64>, quantile| histogram.value_at_quantile(quantile) as f64 / 1e3;
    let mut rows = Vec::new();
    for (what, quiet, flood) in [
        ("honest chat", &quiet.chat, &flood.chat),
        ("/healthz", &quiet.healthz, &flood.healthz),
    ] {
        for (name, quantile) in [("p50", 0.5), ("p99", 0.99)] {
            let label = format!("{what} {name} ms");
            rows.push((label, ms(quiet, quantile), ms(flood, quantile)));
        }
    }
    let rss = (mib(quiet.peak_rss), mib(flood.peak_rss));
    rows.push(("peak RSS MiB".to_owned(), rss.0, rss.1));
    for (label, quiet, flood) in rows {
        let ratio = ratio(flood, quiet);
        println!("| {label:<23} | {quiet:>7.2} | {flood:>7.2} | {ratio:>6} |");
    }
    println!(
        "\nRSS after the flood {:.1} MiB; VmHWM (peak of the whole run) {:.1} MiB",
        mib(end.rss_after),
        mib(end.hwm)
    );
    println!(
        "\nduring the flood (live: messages answered; half-open: connections opened, closed = by the server):\n"
    );
    println!("| kind               |      ok |     429 |     503 |   other | closed/no answer |");
    println!("|--------------------|--------:|--------:|--------:|--------:|-----------------:|");
    let kinds = [
        Kind::SignUp,
        Kind::AiLog,
        Kind::LiveChurn,
        Kind::HalfOpen,
        Kind::HonestChat,
        Kind::Healthz,
    ];
    for kind in kinds {
        let count = |outcome| flood.counts.get(kind, outcome);
        println!(
            "| {:<18} | {:>7} | {:>7} | {:>7} | {:>7} | {:>16} |",
            kind.label(),
            count(Outcome::Ok),
            count(Outcome::TooMany),
            count(Outcome::Unavailable),
            count(Outcome::Other),
            count(Outcome::Closed),
        );
    }
    let live_errors = flood.counts.live_errors.lock().unwrap().clone();
    if !live_errors.is_empty() {
        let listed: Vec<String> = live_errors
            .iter()
            .map(|(code, n)| format!("{code} {n}"))
            .collect();
        println!(
            "\nlive answers counted as other, by error code: {}",
            listed.join(", ")
        );
    }
    let yes = |joined| if joined { "yes" } else { "NO" };
    println!(
        "\nat the end: chatter joined {}, watcher joined {}, watcher's live socket {}; honest chat lost: quiet {}, flood {}",
        yes(end.chatter_joined),
        yes(end.watcher_joined),
        end.watcher_closed
            .as_deref()
            .map_or("open".to_owned(), |why| format!("CLOSED ({why})")),
        quiet.chat_lost,
        flood.chat_lost,
    );
    for problem in end.problems() {
        eprintln!("!!! {problem}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_fields_are_read_in_bytes() {
        let status =
            "Name:\tlockin-bench\nVmPeak:\t  812344 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n";
        assert_eq!(status_field_bytes(status, "VmHWM"), Some(200 * 1024 * 1024));
        assert_eq!(status_field_bytes(status, "VmRSS"), Some(100 * 1024 * 1024));
        // A field must match whole, not as a prefix of another.
        assert_eq!(status_field_bytes(status, "VmR"), None);
        assert_eq!(status_field_bytes("VmRSS: lots", "VmRSS"), None);
    }

    #[test]
    fn statuses_count_as_their_outcome() {
        assert_eq!(Outcome::of(StatusCode::CREATED), Outcome::Ok);
        assert_eq!(Outcome::of(StatusCode::TOO_MANY_REQUESTS), Outcome::TooMany);
        assert_eq!(
            Outcome::of(StatusCode::SERVICE_UNAVAILABLE),
            Outcome::Unavailable
        );
        assert_eq!(Outcome::of(StatusCode::FORBIDDEN), Outcome::Other);
    }

    #[test]
    fn ratios_need_a_quiet_figure() {
        assert_eq!(ratio(3.0, 2.0), "1.50x");
        assert_eq!(ratio(3.0, 0.0), "-");
    }

    #[test]
    fn sign_up_workers_have_addresses_of_their_own() {
        assert_eq!(signup_address(0), Ipv4Addr::new(127, 0, 1, 1));
        assert_eq!(signup_address(249), Ipv4Addr::new(127, 0, 1, 250));
        assert_eq!(signup_address(250), Ipv4Addr::new(127, 0, 2, 1));
    }
}
