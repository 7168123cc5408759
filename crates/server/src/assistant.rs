//! Running the AI assistant: inside `lockin serve` (the default), or as a
//! `lockin agent` worker beside any number of servers. Either way it is an
//! `agent::worker::Worker` talking to a server's API with the agent token.

use std::future::Future;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::Application;
use crate::cli::AgentArgs;

fn worker_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    format!(
        "{}-{}-{}",
        host.trim(),
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The assistant's engines as configured by `LOCKIN_AGENT_*`: for the
/// workers here and for the agent benchmark, which must time the same ones.
pub fn engines() -> anyhow::Result<agent::AgentConfig> {
    agent::AgentConfig::from_env().context("reading the assistant's configuration (LOCKIN_AGENT_*)")
}

/// Serves `app` until `shutdown`, with an assistant worker beside it unless
/// `with_assistant` is false. The worker stops first, leaving its rooms.
pub async fn serve(
    app: Application,
    with_assistant: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stopping = CancellationToken::new();
    let worker = if with_assistant {
        let config = agent::worker::WorkerConfig {
            server_url: format!("http://{}", app.local_addr()),
            agent_token: agent::Secret::new(app.agent_token().expose().to_owned()),
            worker_id: worker_id(),
            agent: engines()?,
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
pub async fn work(
    args: AgentArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let token = match &args.agent_token_file {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => std::env::var("LOCKIN_AGENT_TOKEN")
            .context("set LOCKIN_AGENT_TOKEN or pass --agent-token-file")?,
    };
    let config = agent::worker::WorkerConfig {
        server_url: args.server.trim_end_matches('/').to_owned(),
        agent_token: agent::Secret::new(token.trim().to_owned()),
        worker_id: worker_id(),
        agent: engines()?,
    };
    agent::worker::Worker::run(config, shutdown).await
}
