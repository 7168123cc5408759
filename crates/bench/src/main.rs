use bench::Cli;
use clap::Parser;
use server::{config::LogFormat, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init_tracing(LogFormat::Text);
    cli.command.run().await
}
