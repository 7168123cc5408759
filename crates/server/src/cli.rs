//! The `lockin` command line.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::config::{LogFormat, Secret};

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
    /// Run an AI assistant worker against a Lock In server (for scale; `serve` runs one itself).
    Agent(AgentArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
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
    /// The one UDP socket for all audio and video [default: 0.0.0.0:50000] [env: LOCKIN_RTC_UDP]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtc_udp: Option<SocketAddr>,
    /// The address browsers reach the media socket at, when it is not this machine's own (1:1 NAT) [env: LOCKIN_PUBLIC_IP]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<IpAddr>,
    /// A TURN (or STUN) server for browsers, e.g. `turn:turn.example.org:3478?transport=udp`; repeat it or separate with commas [env: LOCKIN_TURN_URL]
    #[arg(long, value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub turn_url: Vec<String>,
    /// The TURN servers' username [env: LOCKIN_TURN_USERNAME]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn_username: Option<String>,
    /// The TURN servers' password; prefer LOCKIN_TURN_CREDENTIAL or the config file, which `ps` does not show [env: LOCKIN_TURN_CREDENTIAL]
    #[arg(long, value_parser = secret)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn_credential: Option<Secret>,
    /// Do not run the AI assistant inside this server (run `lockin agent` workers instead).
    #[arg(long)]
    #[serde(skip)]
    pub no_agent: bool,
}

/// Reads a secret flag straight into a [`Secret`], so no `Debug` of the
/// arguments can print it.
fn secret(value: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(value.to_owned()))
}

/// A worker serves the sessions it claims; several can share one server.
/// The agent token comes from `LOCKIN_AGENT_TOKEN`; the engines from the
/// `LOCKIN_AGENT_*` variables (docs/AGENT.md).
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The server to serve, e.g. `http://lockin.internal:8080` [env: LOCKIN_SERVER_URL]
    #[arg(long, env = "LOCKIN_SERVER_URL")]
    pub server: String,
    /// A file holding the agent token, instead of LOCKIN_AGENT_TOKEN (e.g. the server's data/agent_token).
    #[arg(long)]
    pub agent_token_file: Option<PathBuf>,
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn media_flags_reach_the_config_and_turn_urls_repeat() {
        let cli = Cli::try_parse_from([
            "lockin",
            "serve",
            "--rtc-udp",
            "127.0.0.1:0",
            "--public-ip",
            "203.0.113.7",
            "--turn-url",
            "turn:a.example.org:3478",
            "--turn-url",
            "turns:a.example.org:5349,stun:b.example.org",
            "--turn-username",
            "lockin",
            "--turn-credential",
            "s3cr3t-turn",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve");
        };
        assert!(!format!("{args:?}").contains("s3cr3t"));
        let config = crate::Config::load(None, &args).unwrap();
        assert_eq!(config.rtc_udp, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.public_ip, Some("203.0.113.7".parse().unwrap()));
        assert_eq!(config.turn_url.len(), 3);
        let sfu = config.sfu().unwrap();
        assert_eq!(
            sfu.ice_servers[0].credential.as_deref(),
            Some("s3cr3t-turn")
        );
    }
}
