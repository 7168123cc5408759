//! The `lockin` server.
//!
//! # Layout
//!
//! - [`config`] and [`cli`]: what to run and how, from flags, environment and file.
//! - [`Application`]: builds everything from a [`Config`] and serves until told to stop.
//! - [`api`]: the JSON API, one module per feature, each owning its `router()`.
//!   Handlers glue: parse ([`extract`]) → authorize ([`auth`]) → call the store,
//!   whose transactions apply `domain`'s rules → answer, or [`error::ApiError`].
//! - [`telemetry`]: logs and Prometheus metrics.
//! - [`bench`]: load generators that measure a running server against a baseline.

pub mod api;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod config;
pub mod error;
pub mod extract;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bus::{Bus, LocalBus};
use store::{SqlStore, Store};
use tokio::net::TcpListener;

pub use config::Config;

/// What every handler can reach. Cheap to clone: everything is behind an `Arc`.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    /// Only the hash is kept in memory, as with people's tokens.
    pub agent_token_hash: String,
    pub login_limiter: Arc<auth::LoginLimiter>,
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    sql: Arc<SqlStore>,
}

impl Application {
    /// Opens the store (running migrations), loads or creates the agent token
    /// and binds the listener. Nothing is served until [`Self::run_until_stopped`].
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        telemetry::prometheus();
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
        let sql = Arc::new(open_store(&config).await?);
        let agent_token = match &config.agent_token {
            Some(secret) => secret.expose().to_owned(),
            None => agent_token_from_file(&config.data_dir.join("agent_token"))?,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let state = AppState {
            store: sql.clone(),
            bus: Arc::new(LocalBus::default()),
            agent_token_hash: auth::hash_token(&agent_token),
            login_limiter: auth::LoginLimiter::new(config.login_attempts_per_minute),
        };
        Ok(Self { listener, state, sql })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then stops taking connections, lets
    /// requests in flight finish and closes the store.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        tracing::info!(address = %self.local_addr(), backend = self.sql.backend().name(), "serving");
        let router = api::router(self.state);
        axum::serve(self.listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP")?;
        self.sql.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Connects to the configured database and brings its schema up to date.
pub async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    let url = config.resolved_database_url();
    let store = SqlStore::connect(&url).await?;
    store.migrate().await?;
    Ok(store)
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
