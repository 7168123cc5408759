//! The `lockin` server.
//!
//! # Layout
//!
//! - [`config`] and [`cli`]: what to run and how, from flags, environment and file.
//! - [`Application`]: builds everything from a [`Config`] and serves until told to stop.
//! - [`app`]: the application layer, one function per use case: a caller and
//!   parsed input in, one store transaction applying `domain`'s rules, the
//!   events it implies published in one place, a domain value or an
//!   [`app::Error`] out. Everything below is a thin adapter over it.
//! - [`api`]: the JSON API, one module per feature, each owning its `router()`.
//!   Handlers glue: parse ([`extract`]) → find the caller ([`auth`], which
//!   hands over the app with it) → call [`app`] → answer, or
//!   [`error::ApiError`] (an [`app::Error`] as it is, or a refusal only the
//!   edge gives).
//! - [`pages`]: the server-rendered web app, over the same use cases.
//! - [`limits`]: what one client may do how often, how much password
//!   hashing runs at once, and how many connections each client address (or
//!   person, for live ones) holds open.
//! - [`passwords`]: Argon2id hashing and checking, on one thread per core,
//!   each with its memory allocated once.
//! - [`paging`]: the opaque cursors every paged list hands out.
//! - [`calendar`]: sessions as iCalendar events (the feed, "Add to calendar").
//! - [`connections`]: the HTTP listener: header-read timeout and the cap on
//!   connections per client address.
//! - [`live`]: `/api/live`, live queries over a WebSocket, and [`presence`];
//!   also the WebRTC signalling of the embedded media server (the `sfu` crate,
//!   run by [`Application`] on its own UDP socket).
//! - [`sweeper`]: timed work (departures, empty sessions, reminders), on every node.
//! - [`assistant`]: the AI assistant's worker, inside `serve` or as `lockin agent`.
//! - [`telemetry`]: logs and Prometheus metrics.
//!
//! The load benchmarks are the `bench` crate's own binary, `lockin-bench`,
//! built on this library; none of them is linked into `lockin`.

pub mod api;
pub mod app;
pub mod assistant;
pub mod auth;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod connections;
pub mod error;
pub mod extract;
pub mod limits;
pub mod live;
pub mod pages;
pub mod paging;
pub mod passwords;
pub mod presence;
pub mod sweeper;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bus::{Bus, LocalBus};
use secrecy::{ExposeSecret, SecretString};
use store::{SqlStore, Store, Timeouts};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;

/// What every handler can reach. Cheap to clone: everything is behind an `Arc`.
#[derive(Clone)]
pub struct AppState {
    /// The use cases; the only way to the store and the bus.
    pub app: app::App,
    /// Proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub trusted_proxies: Arc<[std::net::IpAddr]>,
    /// How long a request, and an upload, may take.
    pub deadlines: connections::Deadlines,
    /// How cookies are set (`Secure` behind https).
    pub cookies: auth::Cookies,
    pub hub: Arc<live::hub::Hub>,
    /// Where uploaded files (timelapses) are kept.
    pub data_dir: std::path::PathBuf,
    pub presence: Arc<presence::Presence>,
    /// Cancelled when the node stops: live connections close so clients move
    /// to another node, and background work ends.
    pub shutdown: CancellationToken,
    /// The live connections of this node, so a stop can wait for them to hand
    /// back their presence before the node signs off.
    pub live_connections: TaskTracker,
    /// The media server (SFU) and who holds media in which session on this
    /// node. Joins go through it, so leaving tears their media down.
    pub media: Arc<live::media::MediaRooms>,
    /// What one live connection may do.
    pub live_limits: live::Limits,
    /// Each person's live connections on this node, against `live_limits`.
    pub live_holders: Arc<limits::Holdings<domain::Id>>,
}

pub struct Application {
    listener: TcpListener,
    /// Kept for the assistant this process may run; handlers see only its hash.
    agent_token: SecretString,
    /// Bound, not yet running: it runs beside the HTTP server.
    sfu: sfu::Sfu,
    state: AppState,
    sql: Arc<SqlStore>,
    timeouts: Timeouts,
    sweep_interval: Duration,
    connection_limits: connections::Limits,
    /// Other nodes' letters to this one: media signalling relayed to the
    /// sessions homed here, and the homes' messages for pages here.
    media_letters: tokio::sync::mpsc::Receiver<bus::Letter>,
}

impl Application {
    /// Opens the store (running migrations), loads or creates the agent token
    /// and binds the listener. Nothing is served until [`Self::run_until_stopped`].
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        telemetry::prometheus();
        let ice_servers = config.ice_servers()?;
        create_private_dir(&config.data_dir)
            .with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
        let sql = Arc::new(open_store(&config).await?);
        keep_private(&config.data_dir)
            .with_context(|| format!("restricting the files in {}", config.data_dir.display()))?;
        let agent_token = match &config.agent_token {
            Some(secret) => secret.expose_secret().to_owned(),
            None => agent_token_from_file(&config.data_dir.join("agent_token"))?,
        };
        check_agent_token(&agent_token)?;
        let metrics_token_hash = metrics_token_hash(&config, &agent_token)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let sfu = sfu::Sfu::bind(config.sfu()?)
            .with_context(|| format!("binding the media socket --rtc-udp {}", config.rtc_udp))?;
        let bus = open_bus(&config).await?;
        let store: Arc<dyn Store> = sql.clone();
        let node_id = uuid::Uuid::new_v4().simple().to_string();
        let timeouts = Timeouts {
            departure: config.departure_timeout,
            empty: config.empty_timeout,
            // Several missed heartbeats, and never less than a few seconds of grace.
            node_dead_after: (config.sweep_interval * 5).max(Duration::from_secs(5)),
            remind_before: Duration::from_secs(10 * 60),
        };
        // Alive from the start: a session's media may be pinned here at once.
        sql.heartbeat(&node_id).await?;
        let media_letters = bus
            .letters(&node_id)
            .await
            .context("taking this node's letters on the bus")?;
        let here = store::MediaHome {
            node_id: node_id.clone(),
            media_address: sfu
                .candidates()
                .addrs()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
        };
        let media = live::media::MediaRooms::new(
            sfu.handle(),
            ice_servers,
            bus.clone(),
            here,
            timeouts.node_dead_after,
        );
        let state = AppState {
            hub: live::hub::Hub::start(bus.subscribe()),
            data_dir: config.data_dir.clone(),
            presence: presence::Presence::new(node_id, store.clone()),
            app: app::App::new(
                store,
                bus,
                sql.ensure_agent_user().await?,
                auth::hash_token(&agent_token),
                metrics_token_hash,
                app::Limits {
                    ai_logs_per_minute: config.ai_logs_per_minute,
                    sign_in_failures_per_minute: config.login_attempts_per_minute,
                    sign_ups_per_minute: config.signups_per_minute,
                    sign_ups_per_minute_total: config.signups_per_minute_total,
                    uploads: app::timelapses::UploadLimits {
                        quota_per_person: config.upload_quota_per_person,
                        min_free_space: config.min_free_space,
                    },
                },
                config.data_dir.join("timelapses"),
            ),
            trusted_proxies: config.trusted_proxy.clone().into(),
            cookies: auth::Cookies {
                secure: config.serves_https(),
            },
            deadlines: connections::Deadlines {
                request: config.request_timeout,
                upload: config.upload_timeout,
            },
            shutdown: CancellationToken::new(),
            live_connections: TaskTracker::new(),
            media,
            live_limits: live::Limits {
                subscriptions_per_second: std::num::NonZeroU32::new(
                    config.live_subscriptions_per_second,
                )
                .context("live_subscriptions_per_second must be at least 1")?,
                connections_per_person: config.live_connections_per_person,
            },
            live_holders: Arc::default(),
        };
        Ok(Self {
            agent_token: SecretString::from(agent_token),
            listener,
            sfu,
            state,
            sql,
            timeouts,
            sweep_interval: config.sweep_interval,
            media_letters,
            connection_limits: connections::Limits {
                header_read_timeout: config.header_read_timeout,
                per_address: config.connections_per_address,
            },
        })
    }

    /// The secret the AI agent presents; for starting the in-process worker.
    pub fn agent_token(&self) -> &SecretString {
        &self.agent_token
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The media server's UDP socket (with the real port when bound to port 0).
    pub fn media_addr(&self) -> SocketAddr {
        self.sfu.local_addr()
    }

    /// Serves until `shutdown` completes, then stops taking connections, lets
    /// requests in flight finish and closes the store.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(address = %self.local_addr(), media = %self.media_addr(), backend = self.sql.backend().name(), "serving");
        let state = self.state.clone();
        let sweeper = sweeper::spawn(state.clone(), self.timeouts, self.sweep_interval);
        let departures = live::media::watch_departures(state.clone());
        let letters = live::media::serve_letters(state.clone(), self.media_letters);
        let homes = live::media::watch_homes(state.clone());
        // The media server stops with the node, once this node has given up
        // its media homes: pages here hear `room_closed` (their sockets
        // close too), pages relayed from other nodes `moved`, and their
        // next join pins the session to a living node.
        let media = self.sfu.spawn().context("starting the media thread")?;
        let media = tokio::spawn({
            let state = state.clone();
            async move {
                live::media::hand_over(state).await;
                media.stop().await;
            }
        });
        let router = api::router(self.state);
        let stopping = state.shutdown.clone();
        connections::serve(self.listener, router, self.connection_limits, async move {
            shutdown.await;
            // Live connections are upgraded out of the HTTP server's sight: tell them.
            stopping.cancel();
        })
        .await;
        state.shutdown.cancel();
        let _ = sweeper.await;
        let _ = departures.await;
        let _ = letters.await;
        let _ = homes.await;
        let _ = media.await;
        state.live_connections.close();
        if tokio::time::timeout(Duration::from_secs(5), state.live_connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("live connections did not close within 5 s of the stop");
        }
        // This node's live connections count as closed from now.
        if let Err(error) = state.app.forget_node(state.presence.node_id()).await {
            tracing::warn!(?error, "recording this node's departure");
        }
        self.sql.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The data dir holds the database, the agent token and people's videos: it is
/// made readable by this user only (0700).
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// The SQLite files (and their journal) are this user's only (0600), whatever
/// the umask gave them.
fn keep_private(data_dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    for name in ["lockin.db", "lockin.db-wal", "lockin.db-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let file = data_dir.join(name);
        if file.exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = data_dir;
    Ok(())
}

/// Connects to the configured database and brings its schema up to date.
pub async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    let url = config.resolved_database_url();
    let store = SqlStore::connect(&url).await?;
    store.migrate().await?;
    Ok(store)
}

/// What `lockin reports` prints: the newest `limit` reports people filed,
/// read from the configured database.
pub async fn reports_text(config: &Config, limit: usize) -> anyhow::Result<String> {
    let store = open_store(config).await?;
    let reports = app::moderation::newest_reports(&store, limit).await;
    store.close().await;
    let reports = reports.map_err(|error| anyhow::anyhow!("reading the reports: {error}"))?;
    Ok(app::moderation::print_reports(&reports))
}

/// The in-process bus, or NATS when a bus URL is configured.
async fn open_bus(config: &Config) -> anyhow::Result<Arc<dyn Bus>> {
    match &config.bus_url {
        None => Ok(Arc::new(LocalBus::default())),
        Some(url) => {
            let bus = bus::NatsBus::connect(url, &config.bus_subject)
                .await
                .with_context(|| format!("connecting to the bus at {url}"))?;
            Ok(Arc::new(bus))
        }
    }
}

/// The fewest characters an agent token (or the metrics token) may have. The
/// agent token opens a seat in every session the assistant serves; a short
/// one could be guessed.
pub const AGENT_TOKEN_MIN_CHARS: usize = 24;

/// Refuses an agent token anyone could guess or send by accident (an empty
/// `LOCKIN_AGENT_TOKEN` would match an empty `?token=`).
fn check_agent_token(token: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        token.trim().chars().count() >= AGENT_TOKEN_MIN_CHARS,
        "the agent token (LOCKIN_AGENT_TOKEN, agent_token or data/agent_token) must be at least \
         {AGENT_TOKEN_MIN_CHARS} characters; unset it to have one generated"
    );
    Ok(())
}

/// The hash of the metrics token, if one is set: as long as an agent token
/// must be, and not the agent token, which must not open `/metrics`.
fn metrics_token_hash(config: &Config, agent_token: &str) -> anyhow::Result<Option<String>> {
    let Some(token) = &config.metrics_token else {
        tracing::info!(
            "no metrics token: /metrics is closed (set LOCKIN_METRICS_TOKEN to scrape it)"
        );
        return Ok(None);
    };
    let token = token.expose_secret();
    anyhow::ensure!(
        token.trim().chars().count() >= AGENT_TOKEN_MIN_CHARS,
        "the metrics token (--metrics-token, LOCKIN_METRICS_TOKEN or metrics_token) must be at \
         least {AGENT_TOKEN_MIN_CHARS} characters"
    );
    anyhow::ensure!(
        token != agent_token,
        "the metrics token must not be the agent token: each opens only its own door"
    );
    Ok(Some(auth::hash_token(token)))
}

/// Reads the agent token from `path`, creating it (readable by this user only) on first start.
fn agent_token_from_file(path: &Path) -> anyhow::Result<String> {
    if let Ok(token) = std::fs::read_to_string(path) {
        let token = token.trim().to_owned();
        anyhow::ensure!(!token.is_empty(), "{} is empty", path.display());
        return Ok(token);
    }
    let token = auth::new_token("lk_agent_");
    write_private(path, &token).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated an agent token (set LOCKIN_AGENT_TOKEN to choose one)");
    Ok(token)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}
