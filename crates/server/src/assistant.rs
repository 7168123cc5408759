//! Running the AI assistant: inside `lockin serve` (the default), or as a
//! `lockin agent` worker beside any number of servers. Either way it is an
//! `agent::worker::Worker` talking to a server's API with the agent token.

use std::future::Future;
use std::path::PathBuf;

use anyhow::Context;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::cli::AgentArgs;
use crate::{Application, Config};

fn worker_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    format!(
        "{}-{}-{}",
        host.trim(),
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The assistant's engines as `lockin serve` would configure them, without
/// its flags: the `LOCKIN_CONFIG` file and the environment (for
/// `lockin-bench agent`, which must time the same ones).
pub fn engines() -> anyhow::Result<agent::AgentConfig> {
    let file = std::env::var_os("LOCKIN_CONFIG").map(PathBuf::from);
    Ok(Config::load(file.as_deref(), serde_json::Map::new())?.agent)
}

/// Serves `app` until `shutdown`, with an assistant worker on the `engines`
/// beside it unless they are `None`. The worker stops first, leaving its rooms.
pub async fn serve(
    app: Application,
    engines: Option<agent::AgentConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stopping = CancellationToken::new();
    let worker = if let Some(engines) = engines {
        let config = agent::worker::WorkerConfig {
            server_url: format!("http://{}", app.local_addr()),
            agent_token: app.agent_token().clone(),
            worker_id: worker_id(),
            agent: engines,
        };
        let stop = stopping.clone();
        Some(tokio::spawn(async move {
            if let Err(error) = agent::worker::Worker::run(config, stop.cancelled_owned()).await {
                tracing::error!(?error, "the assistant stopped");
            }
        }))
    } else {
        None
    };
    let server_stop = stopping.clone();
    let signal = tokio::spawn(async move {
        shutdown.await;
        stopping.cancel();
    });
    let served = app.run_until_stopped(server_stop.cancelled_owned()).await;
    signal.abort();
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    served
}

/// `lockin agent`: one worker against a remote server, until `shutdown`.
/// `config` is `args.config()`: the engines and, unless `--agent-token-file`
/// names one, the agent token.
pub async fn work(
    args: AgentArgs,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let agent_token = match (&args.agent_token_file, config.agent_token) {
        (Some(path), _) => {
            let token = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            SecretString::from(token.trim())
        }
        (None, Some(token)) => token,
        (None, None) => anyhow::bail!(
            "no agent token: set LOCKIN_AGENT_TOKEN, give `agent_token` in the config file or pass --agent-token-file"
        ),
    };
    let config = agent::worker::WorkerConfig {
        server_url: args.server.trim_end_matches('/').to_owned(),
        agent_token,
        worker_id: worker_id(),
        agent: config.agent,
    };
    agent::worker::Worker::run(config, shutdown).await
}
