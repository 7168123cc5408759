//! Starting the application under test: [`spawn_app`] (the test configuration)
//! or [`spawn_app_with`] (that configuration, adjusted by the scenario), each
//! on a fresh SQLite file or a fresh PostgreSQL database; then more nodes on
//! the same state ([`TestApp::another_node`]) or a restart on it
//! ([`TestApp::restart`]).

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use secrecy::SecretString;
use server::Config;

use super::requests::Call;
use super::running_server::RunningServer;
use super::test_database::TestDatabase;

/// Where the application under test keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The NATS server nodes share events through, unless `LOCKIN_TEST_NATS_URL` says otherwise.
const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// How often a test server sweeps for timed work: short enough that
/// departures, empty sessions and reminders show up within a test.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// The real application on `127.0.0.1:0` with the test configuration.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// The real application on `127.0.0.1:0`, its test configuration adjusted by
/// `adjust` before it is built (timeouts, a bus, …).
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let state = State::fresh(backend).await;
    TestApp::start(Arc::new(state), adjust).await
}

/// Gives `config` a bus of its own on the test NATS server: a subject prefix
/// no other test uses, so tests running at the same time do not hear each
/// other's events. Nodes started with [`TestApp::another_node`] share it.
pub fn own_bus(config: &mut Config) {
    config.bus_url =
        Some(std::env::var("LOCKIN_TEST_NATS_URL").unwrap_or_else(|_| DEFAULT_NATS_URL.to_owned()));
    config.bus_subject = format!("lockin_t_{}", uuid::Uuid::new_v4().simple());
}

/// What outlives one server: the data directory and the database. The nodes
/// of one test share it, and a restarted server finds it again.
struct State {
    /// Holds the SQLite file, if any.
    data_dir: tempfile::TempDir,
    database_url: String,
    /// The token the agent authenticates with on `/internal/…`.
    agent_token: String,
    /// The token `/metrics` is scraped with.
    metrics_token: String,
    /// The PostgreSQL database made for this test.
    postgres: Option<TestDatabase>,
}

impl State {
    async fn fresh(backend: Backend) -> Self {
        let data_dir = tempfile::tempdir().expect("creating a data directory");
        let (database_url, postgres) = match backend {
            Backend::Sqlite => {
                let file = data_dir.path().join("lockin.db");
                (format!("sqlite://{}?mode=rwc", file.display()), None)
            }
            Backend::Postgres => {
                let database = TestDatabase::create().await;
                (database.url.clone(), Some(database))
            }
        };
        Self {
            data_dir,
            database_url,
            agent_token: format!("agent-secret-{}", uuid::Uuid::new_v4().simple()),
            metrics_token: format!("metrics-secret-{}", uuid::Uuid::new_v4().simple()),
            postgres,
        }
    }

    /// The test configuration: the server's defaults, on this state.
    fn config(&self) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().expect("a socket address"),
            // The media socket too: the default port would be taken by the first app.
            rtc_udp: "127.0.0.1:0".parse().expect("a socket address"),
            data_dir: self.data_dir.path().to_path_buf(),
            database_url: Some(self.database_url.clone()),
            agent_token: Some(SecretString::from(self.agent_token.clone())),
            metrics_token: Some(SecretString::from(self.metrics_token.clone())),
            sweep_interval: SWEEP_INTERVAL,
            // Scenarios sign many people up from one address in seconds; the
            // scenarios about the limits set their own.
            signups_per_minute: 10_000,
            signups_per_minute_total: 10_000,
            ..Config::default()
        }
    }
}

/// One running server (a node), and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub address: String,
    /// The token the agent authenticates with on `/internal/…`.
    pub agent_token: String,
    /// The token `/metrics` is scraped with (unless the scenario's
    /// configuration took it away).
    pub metrics_token: String,
    /// What this node was built from, for [`TestApp::another_node`].
    config: Config,
    /// `None` once stopped.
    running: Option<RunningServer>,
    state: Arc<State>,
}

impl TestApp {
    async fn start(state: Arc<State>, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = state.config();
        adjust(&mut config);
        let running = RunningServer::start(config.clone()).await;
        Self {
            address: running.address.clone(),
            agent_token: state.agent_token.clone(),
            metrics_token: state.metrics_token.clone(),
            config,
            running: Some(running),
            state,
        }
    }

    /// The server's data directory (its SQLite file, its uploaded videos).
    pub fn data_dir(&self) -> &std::path::Path {
        self.state.data_dir.path()
    }

    /// The database this server runs on, for scenarios that play another
    /// node through the store.
    pub fn database_url(&self) -> &str {
        &self.state.database_url
    }

    /// The NATS server and subject prefix of this node's bus, for scenarios
    /// that play another node on it. None on the embedded bus.
    pub fn bus_address(&self) -> Option<(String, String)> {
        let url = self.config.bus_url.clone()?;
        Some((url, self.config.bus_subject.clone()))
    }

    /// A second server on this one's database, configured as this one (so on
    /// its bus, if it has one).
    pub async fn another_node(&self) -> TestApp {
        let config = self.config.clone();
        Self::start(Arc::clone(&self.state), |same| *same = config).await
    }

    /// Stops this server and starts another on the same data, with the test
    /// configuration.
    pub async fn restart(mut self) -> TestApp {
        self.running.take().expect("the server").stop().await;
        Self::start(self.state, |_| {}).await
    }

    /// Stops the server (as an operator would, with its shutdown signal) and
    /// waits for it. The last node of a test to stop drops its PostgreSQL
    /// database. Only passing tests get here: a failing test leaves its
    /// database for a look.
    pub async fn stop(mut self) {
        self.running.take().expect("the server").stop().await;
        if let Ok(state) = Arc::try_unwrap(self.state)
            && let Some(database) = state.postgres
        {
            database.drop_database().await;
        }
    }

    /// A request to `path` on this server, or to `path` itself when it is a
    /// whole URL (one the server handed out).
    pub fn request(&self, method: Method, path: &str) -> Call {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.address)
        };
        let client = &self.running.as_ref().expect("the server runs").client;
        Call::new(format!("{method} {path}"), client.request(method, url))
    }

    pub fn get(&self, path: &str) -> Call {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Call {
        self.request(Method::POST, path)
    }

    pub fn patch(&self, path: &str) -> Call {
        self.request(Method::PATCH, path)
    }

    pub fn put(&self, path: &str) -> Call {
        self.request(Method::PUT, path)
    }

    pub fn delete(&self, path: &str) -> Call {
        self.request(Method::DELETE, path)
    }

    /// `ws://…/api/live`, with `?token=` when one is given.
    pub fn live_url(&self, token: Option<&str>) -> String {
        let base = format!("{}/api/live", self.address.replacen("http", "ws", 1));
        match token {
            Some(token) => format!("{base}?token={}", super::encode_query(token)),
            None => base,
        }
    }
}
