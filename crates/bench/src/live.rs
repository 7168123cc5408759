//! `lockin-bench live`: how fast and how completely live queries deliver
//! changes, next to a bare WebSocket fan-out baseline.
//!
//! Subscribers spread over sessions each hold one `/api/live` connection
//! subscribed to `chat:{id}` and `participants:{id}` of their session. A driver
//! makes changes at a steady overall rate, spread evenly over the sessions,
//! each session repeating the cycle chat message, join, chat message, leave.
//! A change's latency, per subscriber, runs from sending its HTTP call to
//! receiving the first push that reflects it; a change a subscriber has not
//! seen by the end of the grace period is lost. Coalescing may fold several
//! changes into one push: each of them counts as delivered by it.
//!
//! The baseline is bare axum in this process: the same subscribers connect to
//! it, the driver makes the same changes with the same bodies, and each change
//! becomes one frame shaped like ours (built from elements of pushes captured
//! during the Lock In run), sent through a tokio `broadcast` to every socket of
//! the session. No auth, no store, no queries, no coalescing: the ratio says
//! what live queries cost on top of WebSocket fan-out on this machine.
//!
//! Changes are told apart without timestamps from the server: a chat message
//! carries its step number in its body, and each join+leave pair of a session
//! is made by a user who joins that session only once, so "listed" reflects
//! the join and "left" the leave.

use std::{
    collections::{HashMap, HashSet, hash_map::Entry},
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context, bail, ensure};
use axum::{
    Json, Router,
    extract::{
        Path, Query, State, WebSocketUpgrade,
        ws::{self, Utf8Bytes, WebSocket},
    },
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use futures::{SinkExt, StreamExt, TryStreamExt, stream};
use hdrhistogram::Histogram;
use protocol::live::{ClientMessage, ServerMessage};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::{
    net::TcpStream,
    sync::{broadcast, watch},
    task::JoinHandle,
    time::{Instant, MissedTickBehavior},
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};
use tokio_util::sync::CancellationToken;

use server::app::chat::CHAT_PAGE;
use server::{Application, Config};

#[derive(clap::Args, Debug)]
pub struct LiveBenchArgs {
    /// Drive these running servers, one per node (repeat the flag), instead
    /// of starting Lock In in-process.
    #[arg(long)]
    pub url: Vec<String>,
    /// Database of the in-process nodes (default: a fresh SQLite file in a
    /// temp dir). A postgres:// URL is used as is, not emptied first.
    #[arg(long)]
    pub database_url: Option<String>,
    /// `nats://…` bus shared by the in-process nodes; needed for `--nodes 2`.
    #[arg(long)]
    pub bus_url: Option<String>,
    /// In-process nodes on the one database; subscribers and changes
    /// alternate between them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub nodes: u8,
    /// Live connections, each subscribed to the chat and participants of one session.
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Sessions the subscribers and changes spread over.
    #[arg(long, default_value_t = 20)]
    pub sessions: usize,
    /// Changes per second over all sessions: chat 50 %, join 25 %, leave 25 %.
    #[arg(long, default_value_t = 50)]
    pub rate: u32,
    /// How long latency is measured, on each server, after the warmup.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Changes before latency is measured (connection pools, caches, query
    /// plans); they still count for loss.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
}

/// Users who create the sessions and post the chat.
const HOSTS: usize = 4;
/// Users whose tokens the subscribers share, each joined to every session.
/// Presence is per (session, person): many connections of one person cost the
/// store what one does, while every connection still gets every push.
const WATCHERS: usize = 10;
/// How long after the last change subscribers have to see it before it is lost.
const GRACE: Duration = Duration::from_secs(10);
/// Setup waits this long for a connection and its first results.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECTING_AT_ONCE: usize = 32;
/// The subscription ids, each also its query's name: `chat:{id}`, `participants:{id}`.
const SUBSCRIPTIONS: [&str; 2] = ["chat", "participants"];
/// Failed calls and broken subscribers kept verbatim for the report.
const FAILURE_SAMPLES: usize = 5;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What step `k` of a session's cycle does. Episode `e`'s user joins at step
/// `4e + 1` and leaves at `4e + 3`; the even steps are chat messages.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Change {
    Chat,
    Join(usize),
    Leave(usize),
}

impl Change {
    fn at(step: usize) -> Change {
        match step % 4 {
            1 => Change::Join(step / 4),
            3 => Change::Leave(step / 4),
            _ => Change::Chat,
        }
    }

    fn join_step(episode: usize) -> usize {
        4 * episode + 1
    }

    fn leave_step(episode: usize) -> usize {
        4 * episode + 3
    }
}

/// A chat body naming its run (`lockin` or `baseline`) and step.
fn chat_body(tag: &str, step: usize) -> String {
    format!("{tag}#{step} has anyone profiled the parser yet? most of the time goes to allocation")
}

/// The steps of this run's chat messages in a `chat` result's data.
pub(crate) fn chat_steps(data: &Value, tag: &str) -> anyhow::Result<Vec<usize>> {
    /// What a subscriber reads of a chat page: the bodies.
    #[derive(Deserialize)]
    struct Page<'a> {
        #[serde(borrow)]
        messages: Vec<Posted<'a>>,
    }
    #[derive(Deserialize)]
    struct Posted<'a> {
        body: &'a str,
    }
    let page = Page::deserialize(data).context("reading a chat page")?;
    let marker = format!("{tag}#");
    let numbers = page.messages.iter().filter_map(|message| {
        let rest = message.body.strip_prefix(&marker)?;
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        rest[..digits].parse().ok()
    });
    Ok(numbers.collect())
}

struct Account {
    id: String,
    token: String,
}

/// Who does what, made once on Lock In and replayed unchanged on the baseline.
struct Plan {
    session_ids: Vec<String>,
    /// The host of session `s` is `hosts[s % hosts.len()]`; hosts post the chat.
    hosts: Vec<Account>,
    watchers: Vec<Account>,
    /// Episode `e`'s user makes the `e`-th join+leave of every session.
    episode_users: Vec<Account>,
    /// The same by user id: how a subscriber reads a participant list.
    episode_of: Arc<HashMap<String, usize>>,
    /// Changes per session.
    steps: usize,
}

impl Plan {
    fn host(&self, session: usize) -> &Account {
        &self.hosts[session % self.hosts.len()]
    }
}

/// A server under test as the driver and the subscribers reach it.
struct Target {
    name: &'static str,
    /// Marks this run's chat bodies, so a frame built from Lock In's pushes
    /// can never count for the baseline.
    tag: &'static str,
    /// One base URL per node.
    nodes: Vec<String>,
    /// The baseline has no auth: join and leave name their user in the URL.
    names_user: bool,
}

pub async fn run_live(args: LiveBenchArgs) -> anyhow::Result<()> {
    ensure!(
        args.sessions >= 1 && args.subscribers >= args.sessions,
        "need at least one subscriber per session"
    );
    ensure!(args.rate >= 1, "--rate must be at least 1");
    ensure!(
        args.nodes == 1 || args.bus_url.is_some(),
        "--nodes 2 needs --bus-url: without a shared bus a node never hears of the other's changes"
    );
    // Every subscriber is a socket here, and one more in the server when it runs in-process.
    let sockets_per_subscriber = if args.url.is_empty() { 2 } else { 1 };
    let wanted = (args.subscribers * sockets_per_subscriber + 1024) as u64;
    let allowed = rlimit::increase_nofile_limit(wanted).context("raising the open-files limit")?;
    ensure!(
        allowed >= wanted,
        "{allowed} open files allowed, {wanted} needed: raise the hard limit (ulimit -Hn)"
    );

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.sessions)
        .build()?;
    let changing = args.warmup + args.duration;
    let steps = (args.rate as f64 * changing.as_secs_f64() / args.sessions as f64).ceil();
    let steps = (steps as usize).max(1);
    let scratch = std::env::temp_dir().join(format!("lockin-bench-{}", uuid::Uuid::new_v4()));
    let (nodes, servers) = match args.url.is_empty() {
        false => (args.url.clone(), None),
        true => {
            let (nodes, servers) = start_lockin(&scratch, &args).await?;
            (nodes, Some(servers))
        }
    };
    let measured = async {
        eprintln!("setting up users and {} sessions…", args.sessions);
        let plan = Arc::new(set_up(&http, &nodes[0], &args, steps).await?);
        let lockin = Target {
            name: "Lock In",
            tag: "lockin",
            nodes,
            names_user: false,
        };
        let ours = measure(&http, lockin, &plan, &args).await?;
        anyhow::Ok((plan, ours))
    }
    .await;
    // Stopped before the baseline runs, so it does not compete for the cores.
    if let Some(servers) = servers {
        servers.stop().await.context("stopping Lock In")?;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let (plan, ours) = measured?;

    let (base, baseline_server) = start_baseline(Baseline::new(&plan, &ours.captured)).await?;
    let baseline = Target {
        name: "baseline",
        tag: "baseline",
        nodes: vec![base],
        names_user: true,
    };
    let theirs = measure(&http, baseline, &plan, &args).await;
    baseline_server
        .stop()
        .await
        .context("stopping the baseline")?;
    print_report(&args, &ours, &theirs?);
    // Loss is a bug, not a matter of speed: the run fails on it.
    ensure!(
        ours.lost == 0 && ours.failures.0 == 0,
        "Lock In lost updates or failed changes (see above)"
    );
    Ok(())
}

/// Servers this bench started, all stopped by one token.
struct Running {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        for task in self.tasks {
            task.await.context("a server task panicked")??;
        }
        Ok(())
    }
}

/// Starts `--nodes` Applications on one database (and bus), each on its own port.
async fn start_lockin(
    scratch: &std::path::Path,
    args: &LiveBenchArgs,
) -> anyhow::Result<(Vec<String>, Running)> {
    let database_url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", scratch.join("lockin.db").display()));
    // A subject of its own, so nothing else on the same NATS server mixes in.
    let bus_subject = format!("lockin-bench-{}", uuid::Uuid::new_v4().simple());
    let mut bases = Vec::new();
    let mut servers = Running {
        stop: CancellationToken::new(),
        tasks: Vec::new(),
    };
    for node in 0..args.nodes {
        let config = Config {
            listen: ([127, 0, 0, 1], 0).into(),
            // No media here; a port of its own so several nodes fit on one host.
            rtc_udp: ([127, 0, 0, 1], 0).into(),
            data_dir: scratch.join(format!("node-{node}")),
            database_url: Some(database_url.clone()),
            bus_url: args.bus_url.clone(),
            bus_subject: bus_subject.clone(),
            // The load signs many people up from one address.
            signups_per_minute: u32::MAX,
            signups_per_minute_total: u32::MAX,
            ..Config::default()
        };
        let application = Application::build(config)
            .await
            .with_context(|| format!("starting Lock In node {node}"))?;
        bases.push(format!("http://{}", application.local_addr()));
        let stopped = servers.stop.clone().cancelled_owned();
        servers
            .tasks
            .push(tokio::spawn(application.run_until_stopped(stopped)));
    }
    Ok((bases, servers))
}

/// A setup call; anything but 2xx stops the bench.
pub(crate) async fn call(
    http: &reqwest::Client,
    url: String,
    bearer: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut request = http.post(&url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let answer = response.text().await?;
    ensure!(
        status.is_success(),
        "POST {url} answered {status}: {answer}"
    );
    serde_json::from_str(&answer).with_context(|| format!("reading the answer to POST {url}"))
}

async fn set_up(
    http: &reqwest::Client,
    base: &str,
    args: &LiveBenchArgs,
    steps: usize,
) -> anyhow::Result<Plan> {
    // Unique per run, so `--url` can point at the same server again.
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let register = |i: usize| async move {
        let body = json!({"email": format!("live-{run}-{i}@example.com"),
            "password": "bench-password", "name": format!("Live User {i}")});
        let answer = call(http, format!("{base}/api/auth/register"), None, Some(body)).await?;
        let id = answer["user"]["id"]
            .as_str()
            .context("a user without an id")?;
        let token = answer["token"].as_str().context("no token")?;
        anyhow::Ok(Account {
            id: id.to_owned(),
            token: token.to_owned(),
        })
    };
    // Registration hashes a password: a few at a time.
    let episodes = steps.div_ceil(4);
    let mut users: Vec<Account> = stream::iter(0..HOSTS + WATCHERS + episodes)
        .map(register)
        .buffered(4)
        .try_collect()
        .await
        .context("registering bench users")?;
    let episode_users = users.split_off(HOSTS + WATCHERS);
    let watchers = users.split_off(HOSTS);
    let hosts = users;

    let mut session_ids = Vec::new();
    for s in 0..args.sessions {
        let body = json!({"title": format!("Live bench {s}"), "session_type": "coding",
            "max_participants": 50, "ai_agent_enabled": false});
        let host = &hosts[s % HOSTS];
        let session = call(
            http,
            format!("{base}/api/sessions"),
            Some(&host.token),
            Some(body),
        );
        let session = session.await?;
        session_ids.push(session["id"].as_str().context("no session id")?.to_owned());
    }
    // Watchers must be participants to see the chat.
    let joins = session_ids.iter().flat_map(|id| {
        let url = format!("{base}/api/sessions/{id}/join");
        watchers
            .iter()
            .map(move |watcher| call(http, url.clone(), Some(&watcher.token), None))
    });
    let _: Vec<Value> = stream::iter(joins)
        .buffer_unordered(8)
        .try_collect()
        .await?;

    let episode_of = episode_users.iter().enumerate();
    let episode_of = episode_of.map(|(e, user)| (user.id.clone(), e)).collect();
    Ok(Plan {
        session_ids,
        hosts,
        watchers,
        episode_users,
        episode_of: Arc::new(episode_of),
        steps,
    })
}

/// When each session's changes were sent, by step (`None`: the call failed),
/// and when subscribers stop waiting for them.
struct Expected {
    sent: Vec<Vec<Option<Instant>>>,
    grace_until: Instant,
}

/// What one subscriber saw.
struct Observer {
    session: usize,
    tag: &'static str,
    episode_of: Arc<HashMap<String, usize>>,
    /// When each step of the session was first reflected in a push.
    first_seen: HashMap<usize, Instant>,
    /// Steps sent but not seen yet; known once the driver is done.
    waiting_for: Option<HashSet<usize>>,
    pushes: u64,
    push_bytes: u64,
    /// The newest push of each subscription, kept by one subscriber: the
    /// baseline builds its frames from their elements.
    captured: Option<[Option<String>; 2]>,
    failure: Option<String>,
}

impl Observer {
    fn observe(&mut self, text: &str, at: Instant) -> anyhow::Result<()> {
        #[derive(Deserialize)]
        struct Listed<'a> {
            user_id: &'a str,
            status: &'a str,
        }
        let push: ServerMessage = serde_json::from_str(text).context("reading a push")?;
        let ServerMessage::Result { id, data, .. } = push else {
            bail!("the server sent {text}");
        };
        let (subscription, seen) = match id.as_str() {
            "chat" => (0, chat_steps(&data, self.tag)?),
            "participants" => {
                let listed = Vec::<Listed>::deserialize(&data).context("reading participants")?;
                let episodes = listed.iter().filter_map(|entry| {
                    let episode = *self.episode_of.get(entry.user_id)?;
                    Some((episode, entry.status == "left"))
                });
                let steps = episodes.flat_map(|(episode, left)| {
                    let leave = left.then(|| Change::leave_step(episode));
                    std::iter::once(Change::join_step(episode)).chain(leave)
                });
                (1, steps.collect())
            }
            other => bail!("a push for a subscription never made: {other:?}"),
        };
        for step in seen {
            if let Entry::Vacant(first) = self.first_seen.entry(step) {
                first.insert(at);
                if let Some(waiting) = &mut self.waiting_for {
                    waiting.remove(&step);
                }
            }
        }
        self.pushes += 1;
        self.push_bytes += text.len() as u64;
        if let Some(captured) = &mut self.captured {
            captured[subscription] = Some(text.to_owned());
        }
        Ok(())
    }
}

/// Opens a live connection, subscribes and waits for both first results, so
/// that every push after them is news.
async fn connect(url: &str, session_id: &str) -> anyhow::Result<Socket> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .context("opening a live connection")?;
    for id in SUBSCRIPTIONS {
        let subscribe = ClientMessage::subscribe(id, format!("{id}:{session_id}"));
        let text = serde_json::to_string(&subscribe).expect("live messages serialize");
        socket.send(Message::text(text)).await?;
    }
    let mut results = 0;
    while results < SUBSCRIPTIONS.len() {
        let message = socket.next().await.context("closed while subscribing")??;
        if let Message::Text(text) = message {
            let first: ServerMessage =
                serde_json::from_str(&text).context("reading a first result")?;
            ensure!(
                matches!(first, ServerMessage::Result { .. }),
                "subscribing answered {text}"
            );
            results += 1;
        }
    }
    Ok(socket)
}

/// Reads pushes until every change sent to this subscriber's session has been
/// seen, or the grace period ends.
async fn watch_pushes(
    mut socket: Socket,
    mut observer: Observer,
    mut expected: watch::Receiver<Option<Arc<Expected>>>,
) -> Observer {
    let mut grace_until = None;
    while !observer.waiting_for.as_ref().is_some_and(HashSet::is_empty) {
        let grace = async move {
            match grace_until {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            message = socket.next() => {
                let at = Instant::now();
                let outcome = match message {
                    Some(Ok(Message::Text(text))) => observer.observe(&text, at),
                    // Pings are answered by tungstenite itself.
                    Some(Ok(Message::Close(_))) | None => Err(anyhow::anyhow!("the server closed the connection")),
                    Some(Ok(_)) => Ok(()),
                    Some(Err(error)) => Err(error.into()),
                };
                if let Err(error) = outcome {
                    observer.failure = Some(format!("subscriber of session {}: {error:#}", observer.session));
                    break;
                }
            }
            Ok(()) = expected.changed(), if grace_until.is_none() => {
                let Some(expected) = expected.borrow().clone() else { continue };
                let sent = expected.sent[observer.session].iter().enumerate();
                let unseen = sent.filter(|(step, sent)| sent.is_some() && !observer.first_seen.contains_key(step));
                observer.waiting_for = Some(unseen.map(|(step, _)| step).collect());
                grace_until = Some(expected.grace_until);
            }
            () = grace => break,
        }
    }
    observer
}

/// Makes every session's changes, each session its own paced sequence (so a
/// leave never overtakes its join); returns when each was sent, and failures.
async fn drive(
    http: &reqwest::Client,
    target: &Arc<Target>,
    plan: &Arc<Plan>,
    rate: u32,
) -> anyhow::Result<(Vec<Vec<Option<Instant>>>, Vec<String>)> {
    let sessions = plan.session_ids.len();
    let period = Duration::from_secs_f64(sessions as f64 / rate as f64);
    let start = Instant::now();
    let tasks = (0..sessions).map(|session| {
        let (http, target, plan) = (http.clone(), target.clone(), plan.clone());
        // Staggered, so the overall rate is steady rather than in bursts.
        let first = start + Duration::from_secs_f64(session as f64 / rate as f64);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(first, period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let (mut sent, mut failures) = (vec![None; plan.steps], Vec::new());
            for (step, sent_at) in sent.iter_mut().enumerate() {
                ticks.tick().await;
                let request = change_request(&http, &target, &plan, session, step);
                let at = Instant::now();
                let failure = match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        *sent_at = Some(at);
                        let _ = response.bytes().await;
                        continue;
                    }
                    Ok(response) => {
                        let status = response.status();
                        let answer = response.text().await.unwrap_or_default();
                        format!("{:?} answered {status}: {answer}", Change::at(step))
                    }
                    Err(error) => format!("{:?} got no answer: {error}", Change::at(step)),
                };
                failures.push(failure);
            }
            (sent, failures)
        })
    });
    let mut sent = Vec::new();
    let mut failures = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        let (session_sent, session_failures) = task.await.context("a driver task panicked")?;
        sent.push(session_sent);
        failures.extend(session_failures);
    }
    Ok((sent, failures))
}

fn change_request(
    http: &reqwest::Client,
    target: &Target,
    plan: &Plan,
    session: usize,
    step: usize,
) -> reqwest::RequestBuilder {
    // Alternating nodes (a join and its leave on different ones): on two
    // nodes, half the pushes cross the bus.
    let base = &target.nodes[(session + step / 2) % target.nodes.len()];
    let url = |action| format!("{base}/api/sessions/{}/{action}", plan.session_ids[session]);
    let (url, user, body) = match Change::at(step) {
        Change::Chat => {
            let body = json!({"body": chat_body(target.tag, step)});
            (url("messages"), plan.host(session), Some(body))
        }
        Change::Join(episode) => (url("join"), &plan.episode_users[episode], None),
        Change::Leave(episode) => (url("leave"), &plan.episode_users[episode], None),
    };
    let mut request = http.post(url).bearer_auth(&user.token);
    if target.names_user {
        request = request.query(&[("user", &user.id)]);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request
}

/// What one server's run measured.
struct Measured {
    /// Microseconds from sending a change to a subscriber seeing it, one per delivery.
    latency: Histogram<u64>,
    /// Changes the server accepted.
    changes: usize,
    delivered: u64,
    lost: u64,
    pushes: u64,
    push_bytes: u64,
    /// Changes refused or unanswered, and subscribers that broke; the first few verbatim.
    failures: (usize, Vec<String>),
    /// The newest pushes of one subscriber, for the baseline's frames.
    captured: [Option<String>; 2],
}

async fn measure(
    http: &reqwest::Client,
    target: Target,
    plan: &Arc<Plan>,
    args: &LiveBenchArgs,
) -> anyhow::Result<Measured> {
    let (target, sessions) = (Arc::new(target), args.sessions);
    eprintln!(
        "{}: opening {} live connections…",
        target.name, args.subscribers
    );
    let connections = stream::iter(0..args.subscribers).map(|i| {
        // A session's subscribers alternate between the nodes.
        let base = &target.nodes[(i / sessions) % target.nodes.len()];
        let token = &plan.watchers[(i / sessions) % plan.watchers.len()].token;
        let mut url = reqwest::Url::parse(&format!("{base}/api/live")).expect("a valid base URL");
        url.query_pairs_mut().append_pair("token", token);
        let url = url.as_str().replacen("http", "ws", 1);
        let session_id = &plan.session_ids[i % sessions];
        async move {
            let socket = tokio::time::timeout(SETUP_TIMEOUT, connect(&url, session_id)).await;
            anyhow::Ok((i, socket.context("subscribing timed out")??))
        }
    });
    let sockets: Vec<(usize, Socket)> = connections
        .buffer_unordered(CONNECTING_AT_ONCE)
        .try_collect()
        .await
        .with_context(|| format!("connecting subscribers to {}", target.name))?;

    let (expected_sender, expected) = watch::channel(None);
    let subscribers: Vec<_> = sockets
        .into_iter()
        .map(|(i, socket)| {
            let observer = Observer {
                session: i % sessions,
                tag: target.tag,
                episode_of: plan.episode_of.clone(),
                first_seen: HashMap::new(),
                waiting_for: None,
                pushes: 0,
                push_bytes: 0,
                captured: (i == 0).then_some([None, None]),
                failure: None,
            };
            tokio::spawn(watch_pushes(socket, observer, expected.clone()))
        })
        .collect();
    let total = humantime::format_duration(args.warmup + args.duration);
    eprintln!("{}: {} changes/s for {total}…", target.name, args.rate);
    let measure_from = Instant::now() + args.warmup;
    let (sent, mut failures) = drive(http, &target, plan, args.rate).await?;
    let expected = Arc::new(Expected {
        sent,
        grace_until: Instant::now() + GRACE,
    });
    expected_sender.send_replace(Some(expected.clone()));

    let bounds = Histogram::new_with_bounds(1, 600_000_000, 3);
    let mut measured = Measured {
        latency: bounds.expect("valid bounds"),
        changes: expected.sent.iter().flatten().flatten().count(),
        delivered: 0,
        lost: 0,
        pushes: 0,
        push_bytes: 0,
        failures: (0, Vec::new()),
        captured: [None, None],
    };
    for subscriber in subscribers {
        let observer = subscriber.await.context("a subscriber panicked")?;
        for (step, sent) in expected.sent[observer.session].iter().enumerate() {
            let Some(sent) = sent else { continue };
            match observer.first_seen.get(&step) {
                Some(seen) => {
                    if *sent >= measure_from {
                        let micros = seen.saturating_duration_since(*sent).as_micros();
                        measured.latency.saturating_record(micros as u64);
                    }
                    measured.delivered += 1;
                }
                None => measured.lost += 1,
            }
        }
        measured.pushes += observer.pushes;
        measured.push_bytes += observer.push_bytes;
        failures.extend(observer.failure);
        if let Some(captured) = observer.captured {
            measured.captured = captured;
        }
    }
    measured.failures.0 = failures.len();
    failures.truncate(FAILURE_SAMPLES);
    measured.failures.1 = failures;
    Ok(measured)
}

/// The baseline server: per session, the chat and participant lists in
/// memory, only to build frames of our shape and size, and a broadcast to
/// every socket of the session.
struct Baseline {
    sessions: HashMap<String, BaselineSession>,
    /// The last element of each list in Lock In's captured pushes: what the
    /// baseline's messages and participants look like.
    message: Value,
    participant: Value,
}

struct BaselineSession {
    pushes: broadcast::Sender<Utf8Bytes>,
    lists: Mutex<Lists>,
}

struct Lists {
    version: i64,
    messages: Vec<Value>,
    participants: Vec<Value>,
}

impl Lists {
    /// The full result of one subscription, as Lock In sends it.
    fn frame(&self, id: &str, session_id: &str) -> Utf8Bytes {
        #[derive(Serialize)]
        struct ChatPage<'a> {
            messages: &'a [Value],
            next_cursor: Option<String>,
        }
        fn encode(id: &str, session_id: &str, version: i64, data: impl Serialize) -> String {
            let frame = ServerMessage::Result {
                id: id.to_owned(),
                query: format!("{id}:{session_id}"),
                version,
                data,
            };
            serde_json::to_string(&frame).expect("JSON values serialize")
        }
        let text = match id {
            "chat" => {
                let page = ChatPage {
                    messages: &self.messages,
                    next_cursor: None,
                };
                encode(id, session_id, self.version, page)
            }
            _ => encode(id, session_id, self.version, &self.participants),
        };
        text.into()
    }
}

impl Baseline {
    fn new(plan: &Plan, captured: &[Option<String>; 2]) -> Arc<Baseline> {
        let last_element = |frame: &Option<String>, list: fn(&Value) -> &Value| {
            let Ok(ServerMessage::Result { data, .. }) = serde_json::from_str(frame.as_deref()?)
            else {
                return None;
            };
            list(&data).as_array()?.last().cloned()
        };
        let message = last_element(&captured[0], |data| &data["messages"]);
        let participant = last_element(&captured[1], |data| data);
        let mut baseline = Baseline {
            sessions: HashMap::new(),
            message: message.unwrap_or_else(|| json!({})),
            participant: participant.unwrap_or_else(|| json!({})),
        };
        for (s, id) in plan.session_ids.iter().enumerate() {
            let host = baseline.listed(&plan.host(s).id, "host", "joined");
            let watchers = plan.watchers.iter();
            let watchers =
                watchers.map(|watcher| baseline.listed(&watcher.id, "participant", "joined"));
            let lists = Lists {
                version: 1,
                messages: Vec::new(),
                participants: std::iter::once(host).chain(watchers).collect(),
            };
            let session = BaselineSession {
                pushes: broadcast::channel(256).0,
                lists: Mutex::new(lists),
            };
            baseline.sessions.insert(id.clone(), session);
        }
        Arc::new(baseline)
    }

    fn listed(&self, user_id: &str, role: &str, status: &str) -> Value {
        let mut participant = self.participant.clone();
        participant["user_id"] = user_id.into();
        participant["role"] = role.into();
        participant["status"] = status.into();
        participant
    }

    /// Applies a change to a session's lists and broadcasts the subscription's
    /// new result; under the lock, so frames go out in the order of changes.
    fn change(&self, session_id: &str, id: &str, apply: impl FnOnce(&mut Lists)) -> StatusCode {
        let Some(session) = self.sessions.get(session_id) else {
            return StatusCode::NOT_FOUND;
        };
        let mut lists = session.lists.lock().expect("baseline lock");
        apply(&mut lists);
        lists.version += 1;
        let _ = session.pushes.send(lists.frame(id, session_id));
        StatusCode::OK
    }
}

async fn start_baseline(baseline: Arc<Baseline>) -> anyhow::Result<(String, Running)> {
    #[derive(Deserialize)]
    struct NewMessage {
        body: String,
    }
    #[derive(Deserialize)]
    struct Who {
        user: String,
    }
    async fn post_message(
        State(baseline): State<Arc<Baseline>>,
        Path(session_id): Path<String>,
        Json(posted): Json<NewMessage>,
    ) -> (StatusCode, Json<Value>) {
        let mut message = baseline.message.clone();
        message["body"] = posted.body.into();
        let status = baseline.change(&session_id, "chat", |lists| {
            lists.messages.push(message.clone());
            if lists.messages.len() > CHAT_PAGE {
                lists.messages.remove(0);
            }
        });
        (status, Json(message))
    }
    /// Join and leave, for the user named in the URL.
    async fn set_status(
        State(baseline): State<Arc<Baseline>>,
        Path((session_id, change)): Path<(String, String)>,
        Query(who): Query<Who>,
    ) -> StatusCode {
        let status = match change.as_str() {
            "join" => "joined",
            "leave" => "left",
            _ => return StatusCode::NOT_FOUND,
        };
        baseline.change(&session_id, "participants", |lists| {
            let participants = &mut lists.participants;
            match participants.iter_mut().find(|p| p["user_id"] == who.user) {
                Some(participant) => participant["status"] = status.into(),
                None => participants.push(baseline.listed(&who.user, "participant", status)),
            }
        })
    }
    let router = Router::new()
        .route("/api/live", get(live))
        .route("/api/sessions/{id}/messages", post(post_message))
        .route("/api/sessions/{id}/{change}", post(set_status))
        .with_state(baseline);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let stop = CancellationToken::new();
    let serve =
        axum::serve(listener, router).with_graceful_shutdown(stop.clone().cancelled_owned());
    let task = tokio::spawn(async move { serve.await.context("serving the baseline") });
    Ok((
        base,
        Running {
            stop,
            tasks: vec![task],
        },
    ))
}

async fn live(State(baseline): State<Arc<Baseline>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| baseline_connection(socket, baseline))
}

/// One baseline connection: each subscribe is answered with the current
/// result, then every frame of the session's broadcast is forwarded.
async fn baseline_connection(mut socket: WebSocket, baseline: Arc<Baseline>) {
    let mut pushes: Option<broadcast::Receiver<Utf8Bytes>> = None;
    loop {
        let next_push = async {
            match pushes.as_mut() {
                Some(pushes) => pushes.recv().await,
                None => std::future::pending().await,
            }
        };
        let outgoing = tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(ws::Message::Text(text))) => Some(text),
                Some(Ok(ws::Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => continue,
            },
            push = next_push => match push {
                Ok(frame) => {
                    if socket.send(ws::Message::Text(frame)).await.is_err() {
                        break;
                    }
                    None
                }
                // Frames skipped: the subscribers count them as lost.
                Err(broadcast::error::RecvError::Lagged(_)) => None,
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        let Some(text) = outgoing else { continue };
        let Ok(ClientMessage::Subscribe { id, query }) = serde_json::from_str(&text) else {
            continue;
        };
        let session_id = query.split_once(':').map_or("", |(_, id)| id);
        let Some(session) = baseline.sessions.get(session_id) else {
            continue;
        };
        // Subscribed before reading the lists, so no change falls between.
        pushes.get_or_insert_with(|| session.pushes.subscribe());
        let first = session
            .lists
            .lock()
            .expect("baseline lock")
            .frame(&id, session_id);
        if socket.send(ws::Message::Text(first)).await.is_err() {
            break;
        }
    }
}

fn describe_backend(args: &LiveBenchArgs) -> String {
    if !args.url.is_empty() {
        return format!("the running server(s) at {}", args.url.join(", "));
    }
    let database = match args.database_url.as_deref() {
        None => "a fresh SQLite file".to_owned(),
        Some(url) if url.starts_with("postgres") => {
            // Never print the password; the rest names the server and database.
            let shown = reqwest::Url::parse(url).map_or("postgres://…".to_owned(), |mut url| {
                let _ = url.set_password(None);
                url.to_string()
            });
            format!("PostgreSQL at {shown} (used as is)")
        }
        Some(url) => url.to_owned(),
    };
    let bus = match args.bus_url {
        Some(_) => "NATS bus",
        None => "in-process bus",
    };
    format!("{database}, {bus}, {} node(s) in this process", args.nodes)
}

fn print_report(args: &LiveBenchArgs, ours: &Measured, baseline: &Measured) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let duration = humantime::format_duration(args.duration);
    let warmup = humantime::format_duration(args.warmup);
    println!(
        "Lock In live updates: {} subscribers over {} sessions, {} changes/s, {duration} measured after {warmup} warmup, {cores} cores",
        args.subscribers, args.sessions, args.rate
    );
    println!("backend: {}", describe_backend(args));
    println!(
        "changes: each session cycles chat, join, chat, leave; each subscriber watches chat: and participants: of its session"
    );
    println!(
        "baseline: bare axum WebSocket fan-out through tokio broadcast, same subscribers and changes, frames of our shape; no auth, no store, no queries"
    );
    println!(
        "latency: from sending a change's HTTP call to a subscriber receiving the first push reflecting it, after the warmup"
    );
    println!(
        "deliveries: (subscriber, change) pairs seen, warmup included; lost: pairs never seen; everything shares the cores; ratio = ours / baseline\n"
    );
    println!(
        "| run      | changes | deliveries | lost |  pushes | avg push |  p50 ms |  p99 ms |  max ms |"
    );
    println!(
        "|----------|--------:|-----------:|-----:|--------:|---------:|--------:|--------:|--------:|"
    );
    let ms = |micros: u64| micros as f64 / 1e3;
    let figures = |m: &Measured| {
        let average = m.push_bytes as f64 / m.pushes.max(1) as f64;
        let latency = &m.latency;
        let quantile = |q| ms(latency.value_at_quantile(q));
        (average, quantile(0.5), quantile(0.99), ms(latency.max()))
    };
    for (name, m) in [("Lock In", ours), ("baseline", baseline)] {
        let (average, p50, p99, max) = figures(m);
        println!(
            "| {name:<8} | {:>7} | {:>10} | {:>4} | {:>7} | {:>6.0} B | {p50:>7.2} | {p99:>7.2} | {max:>7.2} |",
            m.changes, m.delivered, m.lost, m.pushes, average
        );
    }
    let (ours_figures, base_figures) = (figures(ours), figures(baseline));
    println!(
        "| ratio    |         |            |      |         | {:>7.2}x | {:>6.2}x | {:>6.2}x | {:>6.2}x |",
        ours_figures.0 / base_figures.0,
        ours_figures.1 / base_figures.1,
        ours_figures.2 / base_figures.2,
        ours_figures.3 / base_figures.3,
    );
    for (name, m) in [("Lock In", ours), ("baseline", baseline)] {
        let (count, samples) = &m.failures;
        if *count > 0 {
            eprintln!("\n!!! {name}: {count} failed changes or broken subscribers. The first:");
            for failure in samples {
                eprintln!("!!!   {failure}");
            }
        }
        if m.lost > 0 {
            eprintln!("!!! {name}: {} deliveries lost", m.lost);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_episode_joins_then_leaves_between_chat_messages() {
        let cycle: Vec<Change> = (0..8).map(Change::at).collect();
        use Change::*;
        assert_eq!(
            cycle,
            [Chat, Join(0), Chat, Leave(0), Chat, Join(1), Chat, Leave(1)]
        );
        assert_eq!(Change::at(Change::join_step(5)), Join(5));
        assert_eq!(Change::at(Change::leave_step(5)), Leave(5));
    }

    #[test]
    fn chat_steps_are_read_from_bodies_of_this_run_only() {
        let data = json!({"messages": [
            {"body": chat_body("lockin", 12)},
            {"body": chat_body("baseline", 14)},
            {"body": "lockin#x not a step"},
            {"body": chat_body("lockin", 7)},
        ], "next_cursor": null});
        assert_eq!(chat_steps(&data, "lockin").unwrap(), [12, 7]);
        assert_eq!(chat_steps(&data, "baseline").unwrap(), [14]);
    }
}
