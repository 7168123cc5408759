//! The `lockin` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::config::LogFormat;

/// Lock In: live focus sessions with a voice AI assistant.
#[derive(Debug, Parser)]
#[command(name = "lockin", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: API, pages and live updates.
    Serve(ServeArgs),
    /// Bring the database schema up to date, then exit.
    Migrate(StoreArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Measure a server under load.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// Options every command that opens the store shares. Each also reads
/// `LOCKIN_<NAME>` from the environment and `<name>` from the config file.
#[derive(Debug, Args, Serialize)]
pub struct StoreArgs {
    /// A TOML file with any of the options below.
    #[arg(long, env = "LOCKIN_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite file and the generated agent token [default: ./data] [env: LOCKIN_DATA_DIR]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite:…` or `postgres://…` [default: lockin.db in the data dir] [env: LOCKIN_DATABASE_URL]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

#[derive(Debug, Args, Serialize)]
pub struct ServeArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub store: StoreArgs,
    /// Address to listen on [default: 127.0.0.1:8080] [env: LOCKIN_LISTEN]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Log lines as text or JSON [default: text] [env: LOCKIN_LOG_FORMAT]
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// Sign-in attempts allowed per email and per client address per minute [default: 10]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_attempts_per_minute: Option<u32>,
    /// `nats://host:4222` to share live updates with other nodes [env: LOCKIN_BUS_URL]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bus_url: Option<String>,
    /// How long someone whose connection dropped stays in a session, e.g. `20s` [default: 20s] [env: LOCKIN_DEPARTURE_TIMEOUT]
    #[arg(long, value_parser = humantime::parse_duration)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    pub departure_timeout: Option<Duration>,
    /// How long a session with nobody in it lasts, e.g. `5m` [default: 5m] [env: LOCKIN_EMPTY_TIMEOUT]
    #[arg(long, value_parser = humantime::parse_duration)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    pub empty_timeout: Option<Duration>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is read from the first line of standard input.
    Create(UserCreateArgs),
}

#[derive(Debug, Args)]
pub struct UserCreateArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(long)]
    pub email: String,
    /// The name other people see.
    #[arg(long)]
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// HTTP API load: concurrent clients doing a realistic mix, against a bare baseline.
    Api(crate::bench::api::ApiBenchArgs),
    /// Live-update fan-out: subscribers over sessions, changes at a steady rate, against a bare WebSocket baseline.
    Live(crate::bench::live::LiveBenchArgs),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
