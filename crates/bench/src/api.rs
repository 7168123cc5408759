//! `lockin-bench api`: HTTP load on the JSON API, next to a bare-axum baseline.
//!
//! Signed-in clients loop over the calls a busy home page and session room
//! make (list active sessions, read one, join and leave, log an AI
//! interaction, rate one) for a fixed time; every call's latency goes into a
//! histogram. The same clients then drive the baseline: bare axum with the
//! same routes, answering the bodies the real server gave during setup, with
//! no auth and no store. Ratios to the baseline say what auth, domain rules
//! and the store cost on top of HTTP and JSON on this machine.

use std::{
    collections::BTreeMap,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use axum::{
    Router,
    body::Bytes,
    routing::{get, post},
};
use futures::{FutureExt, StreamExt, TryStreamExt, future::BoxFuture, stream};
use hdrhistogram::Histogram;
use reqwest::{
    Method, StatusCode,
    header::{AUTHORIZATION, CONTENT_TYPE},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::{sync::oneshot, task::JoinHandle};

use server::{Application, Config};

#[derive(clap::Args, Debug)]
pub struct ApiBenchArgs {
    /// Drive this running server instead of starting one in-process.
    #[arg(long)]
    pub url: Option<String>,
    /// Database for the in-process server (default: a fresh SQLite file in a
    /// temp dir). A postgres:// URL is used as is, not emptied first.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Concurrent clients, each a signed-in user with one call in flight.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// How long each server is measured, after the warmup.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Load before measuring starts (connections, caches, query plans).
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Active sessions the clients spread over (at least 2).
    #[arg(long, default_value_t = 20)]
    pub sessions: usize,
}

/// Declares [`Operation`] from its variants and their labels, so the list
/// is written once: the enum, [`Operation::ALL`] and [`Operation::label`].
macro_rules! operations {
    ($($variant:ident => $label:literal),+ $(,)?) => {
        /// One kind of call, with its own histogram.
        #[derive(Clone, Copy, Debug, PartialEq)]
        enum Operation {
            $($variant),+
        }

        impl Operation {
            const ALL: [Operation; [$(Operation::$variant),+].len()] = [$(Operation::$variant),+];

            fn label(self) -> &'static str {
                match self {
                    $(Operation::$variant => $label),+
                }
            }
        }
    };
}

operations! {
    ListActive => "list active",
    GetSession => "get session",
    Join => "join",
    Leave => "leave",
    LogInteraction => "log interaction",
    RateInteraction => "rate interaction",
}

impl Operation {
    fn method(self) -> Method {
        match self {
            Operation::ListActive | Operation::GetSession => Method::GET,
            _ => Method::POST,
        }
    }
}

/// The mix as a fixed cycle of 20 steps of 5 % each: list 40 %, get 25 %,
/// join 15 % (each followed by a leave of the same session), log 10 %, rate
/// 10 %. Fixed rather than random, so ours and the baseline get the same calls.
const MIX: [Operation; 20] = {
    use Operation::{
        GetSession as Get, Join, ListActive as List, LogInteraction as Log, RateInteraction as Rate,
    };
    [
        List, Get, List, Join, Get, List, Log, List, Rate, Get, List, Join, Get, List, Log, List,
        Get, Rate, List, Join,
    ]
};

const LIST_ACTIVE: &str = "/api/sessions?status=active&limit=20";
/// Users who create the projects and sessions, apart from the clients.
const HOSTS: usize = 4;
/// 5xx answers and unanswered calls kept verbatim for the report.
const FAILURE_SAMPLES: usize = 5;

/// Who the clients are and what they act on: made once on the real server,
/// replayed unchanged against the baseline.
struct Plan {
    session_ids: Vec<String>,
    clients: Vec<PlannedClient>,
    /// AI log ids per session, one seeded by each client at home there.
    log_ids: Vec<Vec<String>>,
}

struct PlannedClient {
    bearer: String,
    /// The session this client stays joined to, so its log and rate calls
    /// are always allowed; its join+leave calls go to the others.
    home: usize,
}

/// The real server's answers, replayed by the baseline.
struct Answers {
    list: (StatusCode, Bytes),
    session: (StatusCode, Bytes),
    join: (StatusCode, Bytes),
    leave: (StatusCode, Bytes),
    ai_log: (StatusCode, Bytes),
    feedback: (StatusCode, Bytes),
}

pub async fn run_api(args: ApiBenchArgs) -> anyhow::Result<()> {
    ensure!(args.clients >= 1, "--clients must be at least 1");
    ensure!(
        args.sessions >= 2,
        "--sessions must be at least 2: clients join others than their own"
    );
    if args.clients.div_ceil(args.sessions) + 1 + args.clients > 50 {
        eprintln!("note: that many clients can fill a session (max 50); a full one answers 409");
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let scratch = std::env::temp_dir().join(format!("lockin-bench-{}", uuid::Uuid::new_v4()));
    let (base, server, backend) = match &args.url {
        Some(url) => (url.clone(), None, format!("the server running at {url}")),
        None => {
            let (base, server) = start_lockin(&scratch, args.database_url.clone()).await?;
            (
                base,
                Some(server),
                describe_backend(&scratch, args.database_url.as_deref()),
            )
        }
    };

    eprintln!(
        "setting up {} users and {} sessions…",
        HOSTS + args.clients,
        args.sessions
    );
    let total = humantime::format_duration(args.warmup + args.duration);
    let measured = async {
        let lockin = Endpoint::new(&http, &base);
        let (plan, answers) = set_up(&lockin, &args).await?;
        let plan = Arc::new(plan);
        eprintln!("loading Lock In for {total}…");
        let ours = drive(&lockin, &plan, &args).await?;
        anyhow::Ok((plan, answers, ours))
    }
    .await;
    // Stopped before the baseline runs, so it does not compete for the cores.
    if let Some(server) = server {
        server.stop().await.context("stopping the Lock In server")?;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let (plan, answers, ours) = measured?;

    let (base, baseline_server) = start_baseline(answers).await?;
    eprintln!("loading the baseline for {total}…");
    let baseline = drive(&Endpoint::new(&http, &base), &plan, &args).await;
    baseline_server
        .stop()
        .await
        .context("stopping the baseline")?;
    print_report(&args, &backend, &ours, &baseline?);
    Ok(())
}

fn describe_backend(data_dir: &Path, database_url: Option<&str>) -> String {
    match database_url {
        None => format!(
            "SQLite file in {} (fresh; server in this process)",
            data_dir.display()
        ),
        Some(url) if url.starts_with("postgres") => {
            // Never print the password; the rest names the server and database.
            let shown = reqwest::Url::parse(url).map_or("postgres://…".to_owned(), |mut url| {
                let _ = url.set_password(None);
                url.to_string()
            });
            format!("PostgreSQL at {shown} (used as is, not emptied; server in this process)")
        }
        Some(url) => format!("{url} (server in this process)"),
    }
}

/// A server this bench started; it stops when its shutdown future resolves.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    fn spawn<F>(serve: impl FnOnce(BoxFuture<'static, ()>) -> F) -> Running
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(stopped.map(drop).boxed()));
        Running { stop, task }
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await.context("server task panicked")?
    }
}

async fn start_lockin(
    data_dir: &Path,
    database_url: Option<String>,
) -> anyhow::Result<(String, Running)> {
    std::fs::create_dir_all(data_dir).context("creating the bench data dir")?;
    let config = Config {
        listen: ([127, 0, 0, 1], 0).into(),
        // No media here; a port of its own so several nodes fit on one host.
        rtc_udp: ([127, 0, 0, 1], 0).into(),
        data_dir: data_dir.to_path_buf(),
        database_url,
        // The load signs many people up from one address.
        signups_per_minute: u32::MAX,
        signups_per_minute_total: u32::MAX,
        ..Config::default()
    };
    let application = Application::build(config)
        .await
        .context("starting Lock In")?;
    let base = format!("http://{}", application.local_addr());
    Ok((
        base,
        Running::spawn(|shutdown| application.run_until_stopped(shutdown)),
    ))
}

/// The baseline: the same routes over bare axum, each answering what the real
/// server answered. It reads each request body, as any handler must, and does
/// nothing else.
async fn start_baseline(answers: Answers) -> anyhow::Result<(String, Running)> {
    let replay = |(status, body): (StatusCode, Bytes)| {
        move |_request: Bytes| {
            let body = body.clone();
            async move { (status, [(CONTENT_TYPE, "application/json")], body) }
        }
    };
    let router = Router::new()
        .route("/api/sessions", get(replay(answers.list)))
        .route("/api/sessions/{id}", get(replay(answers.session)))
        .route("/api/sessions/{id}/join", post(replay(answers.join)))
        .route("/api/sessions/{id}/leave", post(replay(answers.leave)))
        .route("/api/sessions/{id}/ai-logs", post(replay(answers.ai_log)))
        .route("/api/ai-logs/{id}/feedback", post(replay(answers.feedback)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = Running::spawn(|shutdown| async move {
        let serve = axum::serve(listener, router).with_graceful_shutdown(shutdown);
        serve.await.context("serving the baseline")
    });
    Ok((base, server))
}

/// A server under test as the clients reach it, through one shared pool.
struct Endpoint {
    http: reqwest::Client,
    base: Arc<str>,
}

impl Endpoint {
    fn new(http: &reqwest::Client, base: &str) -> Arc<Endpoint> {
        Arc::new(Endpoint {
            http: http.clone(),
            base: base.trim_end_matches('/').into(),
        })
    }

    async fn send(
        &self,
        bearer: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Result<(StatusCode, Bytes)> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(bearer) = bearer {
            request = request.header(AUTHORIZATION, bearer);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        Ok((response.status(), response.bytes().await?))
    }

    /// A setup call. Anything but 2xx stops the bench: the load after it
    /// would measure something other than the mix.
    async fn expect_ok(
        &self,
        bearer: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let call = format!("{method} {path}");
        let (status, answer) = self
            .send(bearer, method, path, body.as_ref())
            .await
            .context(call.clone())?;
        let shown = String::from_utf8_lossy(&answer);
        ensure!(status.is_success(), "{call} answered {status}: {shown}");
        Ok((status, answer))
    }
}

fn id_of((_, body): &(StatusCode, Bytes)) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    struct WithId {
        id: String,
    }
    Ok(serde_json::from_slice::<WithId>(body)
        .context("reading an id")?
        .id)
}

fn log_body() -> Value {
    json!({
        "question": "why does the borrow checker reject pushing to a vec while I hold a reference into it?",
        "answer": "Pushing may reallocate the vector and leave your reference dangling. Copy the value \
            out first, or keep an index instead of a reference and look the element up again.",
        "trigger": "text",
    })
}

async fn set_up(site: &Endpoint, args: &ApiBenchArgs) -> anyhow::Result<(Plan, Answers)> {
    #[derive(Deserialize)]
    struct Registered {
        token: String,
    }
    // Unique per run, so `--url` can point at the same server again.
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let register = |i| async move {
        let email = format!("bench-{run}-{i}@example.com");
        let body = json!({"email": email, "password": "bench-password", "name": format!("Bench User {i}")});
        let (_, answer) = site
            .expect_ok(None, Method::POST, "/api/auth/register", Some(body))
            .await?;
        anyhow::Ok(format!(
            "Bearer {}",
            serde_json::from_slice::<Registered>(&answer)?.token
        ))
    };
    // Registration hashes a password: a few at a time keeps setup short
    // without queueing dozens of hashes at once.
    let registering = stream::iter(0..HOSTS + args.clients)
        .map(register)
        .buffered(4);
    let mut bearers: Vec<String> = registering
        .try_collect()
        .await
        .context("registering bench users")?;

    // Hosts are not clients: a creator stays joined as host, and no client's
    // join+leave may take that away.
    let mut session_ids = vec![String::new(); args.sessions];
    for (h, host) in bearers.drain(..HOSTS).enumerate() {
        let host = Some(host.as_str());
        let body = json!({"name": format!("Bench project {h}"), "description": "A Rust web service.",
            "tech_stack": ["rust", "axum", "sqlx"]});
        let project = site
            .expect_ok(host, Method::POST, "/api/projects", Some(body))
            .await?;
        let project_id = id_of(&project)?;
        for s in (h..args.sessions).step_by(HOSTS) {
            let body = json!({"title": format!("Focus block {s}"), "session_type": "coding",
                "project_id": project_id, "max_participants": 50, "ai_agent_enabled": false});
            let session = site
                .expect_ok(host, Method::POST, "/api/sessions", Some(body))
                .await?;
            session_ids[s] = id_of(&session)?;
        }
    }

    let mut clients = Vec::new();
    let mut log_ids = vec![Vec::new(); args.sessions];
    let mut ai_log = None;
    for (c, bearer) in bearers.into_iter().enumerate() {
        let (home, client) = (c % args.sessions, Some(bearer.as_str()));
        let path = format!("/api/sessions/{}", session_ids[home]);
        site.expect_ok(client, Method::POST, &format!("{path}/join"), None)
            .await?;
        let logged = site
            .expect_ok(
                client,
                Method::POST,
                &format!("{path}/ai-logs"),
                Some(log_body()),
            )
            .await?;
        log_ids[home].push(id_of(&logged)?);
        ai_log = Some(logged);
        clients.push(PlannedClient { bearer, home });
    }

    let client = Some(clients[0].bearer.as_str());
    let other = format!(
        "/api/sessions/{}",
        session_ids[(clients[0].home + 1) % args.sessions]
    );
    let rate = format!("/api/ai-logs/{}/feedback", log_ids[clients[0].home][0]);
    let answers = Answers {
        list: site
            .expect_ok(client, Method::GET, LIST_ACTIVE, None)
            .await?,
        session: site.expect_ok(client, Method::GET, &other, None).await?,
        join: site
            .expect_ok(client, Method::POST, &format!("{other}/join"), None)
            .await?,
        leave: site
            .expect_ok(client, Method::POST, &format!("{other}/leave"), None)
            .await?,
        ai_log: ai_log.context("no client logged an interaction")?,
        feedback: site
            .expect_ok(client, Method::POST, &rate, Some(json!({"helpful": true})))
            .await?,
    };
    Ok((
        Plan {
            session_ids,
            clients,
            log_ids,
        },
        answers,
    ))
}

/// What one load run measured.
struct Tally {
    /// Microseconds, indexed by `Operation as usize`; non-2xx answers included.
    latency: [Histogram<u64>; 6],
    /// Non-2xx answers by operation and status; status 0 means no answer.
    errors: BTreeMap<(&'static str, u16), u64>,
    /// The first 5xx answers and unanswered calls, verbatim: each is a bug.
    failures: Vec<String>,
    elapsed: Duration,
}

impl Tally {
    fn new() -> Tally {
        let histogram = |_| Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
        let latency = Operation::ALL.map(histogram);
        Tally {
            latency,
            errors: BTreeMap::new(),
            failures: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    fn merge(&mut self, other: Tally) {
        for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
            mine.add(theirs).expect("histograms share bounds");
        }
        for (key, count) in other.errors {
            *self.errors.entry(key).or_default() += count;
        }
        self.failures.extend(other.failures);
        self.failures.truncate(FAILURE_SAMPLES);
    }

    fn overall(&self) -> Histogram<u64> {
        let mut all = self.latency[0].clone();
        for histogram in &self.latency[1..] {
            all.add(histogram).expect("histograms share bounds");
        }
        all
    }

    fn errors_where(&self, pick: impl Fn(&str, u16) -> bool) -> u64 {
        let picked = self
            .errors
            .iter()
            .filter(|((label, status), _)| pick(label, *status));
        picked.map(|(_, count)| count).sum()
    }

    fn throughput(&self) -> f64 {
        let calls = self.overall().len() + self.errors_where(|_, status| status == 0);
        calls as f64 / self.elapsed.as_secs_f64()
    }
}

/// One client's side of a load run.
struct Caller {
    endpoint: Arc<Endpoint>,
    bearer: String,
    measure_from: Instant,
    tally: Tally,
}

impl Caller {
    /// Makes one call and, unless it started during the warmup, records its
    /// latency and any error. Returns whether it got a 2xx.
    async fn call(&mut self, operation: Operation, path: &str, body: Option<&Value>) -> bool {
        let started = Instant::now();
        let method = operation.method();
        let outcome = self
            .endpoint
            .send(Some(&self.bearer), method, path, body)
            .await;
        if started < self.measure_from {
            return matches!(outcome, Ok((status, _)) if status.is_success());
        }
        let label = operation.label();
        let (status, failure) = match outcome {
            Ok((status, answer)) => {
                let micros = started.elapsed().as_micros() as u64;
                self.tally.latency[operation as usize].saturating_record(micros);
                if status.is_success() {
                    return true;
                }
                let shown = String::from_utf8_lossy(&answer);
                let failure = status
                    .is_server_error()
                    .then(|| format!("{label} answered {status}: {shown}"));
                (status.as_u16(), failure)
            }
            Err(error) => (0, Some(format!("{label} got no answer: {error}"))),
        };
        *self.tally.errors.entry((label, status)).or_default() += 1;
        if self.tally.failures.len() < FAILURE_SAMPLES {
            self.tally.failures.extend(failure);
        }
        false
    }
}

async fn drive(
    endpoint: &Arc<Endpoint>,
    plan: &Arc<Plan>,
    args: &ApiBenchArgs,
) -> anyhow::Result<Tally> {
    let measure_from = Instant::now() + args.warmup;
    let stop_at = measure_from + args.duration;
    let tasks: Vec<_> = (0..plan.clients.len())
        .map(|index| {
            let bearer = plan.clients[index].bearer.clone();
            let caller = Caller {
                endpoint: endpoint.clone(),
                bearer,
                measure_from,
                tally: Tally::new(),
            };
            // A task each, so the clients use every core as real ones would.
            tokio::spawn(run_client(caller, plan.clone(), index, stop_at))
        })
        .collect();
    let mut tally = Tally::new();
    for task in tasks {
        tally.merge(task.await.context("bench client panicked")?);
    }
    tally.elapsed = measure_from.elapsed();
    Ok(tally)
}

async fn run_client(mut caller: Caller, plan: Arc<Plan>, index: usize, stop_at: Instant) -> Tally {
    let sessions = &plan.session_ids;
    let home = plan.clients[index].home;
    let logs = &plan.log_ids[home];
    let log = log_body();
    let votes = [json!({"helpful": true}), json!({"helpful": false})];
    // Clients start at different points of the cycle, not in lockstep.
    let mut step = index * 7;
    while Instant::now() < stop_at {
        let operation = MIX[step % MIX.len()];
        match operation {
            Operation::ListActive => {
                caller.call(operation, LIST_ACTIVE, None).await;
            }
            Operation::GetSession => {
                let id = &sessions[(index + step) % sessions.len()];
                caller
                    .call(operation, &format!("/api/sessions/{id}"), None)
                    .await;
            }
            Operation::Join | Operation::Leave => {
                // Never the home session: leaving it would forbid this
                // client's later log and rate calls.
                let other = (home + 1 + step % (sessions.len() - 1)) % sessions.len();
                let path = format!("/api/sessions/{}", sessions[other]);
                if caller
                    .call(Operation::Join, &format!("{path}/join"), None)
                    .await
                {
                    caller
                        .call(Operation::Leave, &format!("{path}/leave"), None)
                        .await;
                }
            }
            Operation::LogInteraction => {
                let path = format!("/api/sessions/{}/ai-logs", sessions[home]);
                caller.call(operation, &path, Some(&log)).await;
            }
            Operation::RateInteraction => {
                let path = format!("/api/ai-logs/{}/feedback", logs[step % logs.len()]);
                caller.call(operation, &path, Some(&votes[step % 2])).await;
            }
        }
        step += 1;
    }
    caller.tally
}

fn print_report(args: &ApiBenchArgs, backend: &str, ours: &Tally, baseline: &Tally) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let duration = humantime::format_duration(args.duration);
    let warmup = humantime::format_duration(args.warmup);
    println!(
        "Lock In API load: {} clients, {} sessions, {duration} measured after {warmup} warmup, {cores} cores",
        args.clients, args.sessions
    );
    println!("backend: {backend}");
    println!(
        "mix: list active 40%, get session 25%, join+leave 15%, log interaction 10%, rate interaction 10%"
    );
    println!(
        "baseline: bare axum, same routes and clients, replaying the server's answers; no auth, no store"
    );
    println!("clients and servers share the cores; times in ms; ratio = ours / baseline\n");
    println!(
        "| operation        | requests | errors |  p50 ms |  p99 ms |  max ms | base p50 | base p99 | p50 ratio | p99 ratio |"
    );
    println!(
        "|------------------|---------:|-------:|--------:|--------:|--------:|---------:|---------:|----------:|----------:|"
    );
    let line = |label: &str, ours: &Histogram<u64>, base: &Histogram<u64>, errors: u64| {
        let ms = |micros: u64| micros as f64 / 1e3;
        let (p50, p99, max) = (
            ms(ours.value_at_quantile(0.5)),
            ms(ours.value_at_quantile(0.99)),
            ms(ours.max()),
        );
        let (b50, b99) = (
            ms(base.value_at_quantile(0.5)),
            ms(base.value_at_quantile(0.99)),
        );
        let (r50, r99) = (p50 / b50, p99 / b99);
        let requests = ours.len();
        println!(
            "| {label:<16} | {requests:>8} | {errors:>6} | {p50:>7.2} | {p99:>7.2} | {max:>7.2} | {b50:>8.2} | {b99:>8.2} | {r50:>8.2}x | {r99:>8.2}x |"
        );
    };
    for operation in Operation::ALL {
        let errors = ours.errors_where(|label, _| label == operation.label());
        let index = operation as usize;
        line(
            operation.label(),
            &ours.latency[index],
            &baseline.latency[index],
            errors,
        );
    }
    line(
        "all",
        &ours.overall(),
        &baseline.overall(),
        ours.errors_where(|_, _| true),
    );
    let (ours_rate, base_rate) = (ours.throughput(), baseline.throughput());
    let ratio = ours_rate / base_rate;
    println!(
        "\nthroughput: {ours_rate:.0} req/s; baseline {base_rate:.0} req/s; ratio {ratio:.2}x"
    );

    for (name, tally) in [("Lock In", ours), ("baseline", baseline)] {
        let listed: Vec<String> = tally
            .errors
            .iter()
            .map(|((label, status), n)| format!("{label} {status} x{n}"))
            .collect();
        let listed = if listed.is_empty() {
            "none".to_owned()
        } else {
            listed.join(", ")
        };
        println!("{name} errors (status 0 = no answer): {listed}");
        let failures = tally.errors_where(|_, status| status == 0 || status >= 500);
        if failures > 0 {
            eprintln!(
                "\n!!! {name}: {failures} calls answered 5xx or not at all; each is a bug. The first:"
            );
            for failure in &tally.failures {
                eprintln!("!!!   {failure}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_has_the_documented_weights() {
        let share = |operation| MIX.iter().filter(|step| **step == operation).count() * 5;
        // list, get, join (then leave), leave (never on its own), log, rate
        assert_eq!(Operation::ALL.map(share), [40, 25, 15, 0, 10, 10]);
    }
}
