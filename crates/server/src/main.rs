use std::io::BufRead;

use anyhow::Context;
use clap::Parser;
use server::cli::{Cli, Command, StoreArgs, UserCommand};
use server::{Application, Config, config::LogFormat, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => {
            let config = args.config()?;
            telemetry::init_tracing(config.log_format);
            let engines = (!args.no_agent).then(|| config.agent.clone());
            let app = Application::build(config).await?;
            server::assistant::serve(app, engines, shutdown_signal()).await
        }
        Command::Agent(args) => {
            let config = args.config()?;
            telemetry::init_tracing(config.log_format);
            server::assistant::work(args, config, shutdown_signal()).await
        }
        Command::Migrate(args) => {
            let config = store_config(&args)?;
            server::open_store(&config).await?;
            println!("the database is up to date");
            Ok(())
        }
        Command::Reports(args) => {
            let config = store_config(&args.store)?;
            print!("{}", server::reports_text(&config, args.limit).await?);
            Ok(())
        }
        Command::User(UserCommand::Create(args)) => {
            let config = store_config(&args.store)?;
            let store = server::open_store(&config).await?;
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("reading the password from stdin")?;
            let user = server::app::accounts::create_user(
                &store,
                domain::user::Email::parse(&args.email)?,
                domain::user::UserName::parse(&args.name)?,
                domain::user::Password::parse(password.trim_end_matches(['\r', '\n']).to_owned())?,
            )
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
            println!("created {} <{}> with id {}", user.name, user.email, user.id);
            Ok(())
        }
    }
}

fn store_config(args: &StoreArgs) -> anyhow::Result<Config> {
    telemetry::init_tracing(LogFormat::Text);
    Config::load(args.config.as_deref(), args)
}

/// Completes on Ctrl-C or SIGTERM, starting a graceful shutdown.
async fn shutdown_signal() {
    let interrupt = async {
        tokio::signal::ctrl_c()
            .await
            .expect("installing the Ctrl-C handler");
    };
    #[cfg(unix)]
    let terminate = async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler")
            .recv()
            .await;
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
