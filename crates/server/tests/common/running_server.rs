//! The application on a task of its own: started, and stopped as an operator
//! would stop it.

use std::time::Duration;

use server::{Application, Config};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a stopped server may take to finish its in-flight work.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(15);

pub struct RunningServer {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub address: String,
    pub client: reqwest::Client,
    /// Dropping it (or sending on it) stops the server, so a panicking test
    /// still stops its server.
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), String>>>,
}

impl RunningServer {
    pub async fn start(config: Config) -> Self {
        let app = Application::build(config)
            .await
            .unwrap_or_else(|error| panic!("building the application: {error:#}"));
        let address = format!("http://{}", app.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until_stopped(async move {
                let _ = stopped.await;
            })
            .await
            .map_err(|error| format!("{error:#}"))
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("building an HTTP client");
        Self {
            address,
            client,
            shutdown: Some(stop),
            server: Some(server),
        }
    }

    /// Stops the server as an operator would, with its shutdown signal, and
    /// waits for it; it must finish within the deadline and without error.
    pub async fn stop(mut self) {
        // The client's idle connections would hold the graceful shutdown up.
        drop(self.client);
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        let server = self.server.take().expect("the server task");
        let outcome = tokio::time::timeout(SHUTDOWN_DEADLINE, server)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the server did not stop within {SHUTDOWN_DEADLINE:?} of the shutdown signal"
                )
            })
            .expect("the server task panicked");
        if let Err(error) = outcome {
            panic!("the server stopped with an error: {error}");
        }
    }
}
