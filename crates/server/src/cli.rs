//! The `lockin` command line.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use serde::Serialize;

use crate::Config;
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
    Serve(Box<ServeArgs>),
    /// Bring the database schema up to date, then exit.
    Migrate(StoreArgs),
    /// Run an AI assistant worker against a Lock In server (for scale; `serve` runs one itself).
    Agent(AgentArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Print the newest reports people filed about each other, newest first.
    Reports(ReportsArgs),
}

#[derive(Debug, Args)]
pub struct ReportsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// How many to print.
    #[arg(long, default_value_t = crate::app::moderation::REPORTS_SHOWN)]
    pub limit: usize,
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
    /// Failed sign-ins allowed per account from one client per minute (five times as many per client) [default: 10]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_attempts_per_minute: Option<u32>,
    /// Sign-ups allowed per client address per minute [default: 20]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signups_per_minute: Option<u32>,
    /// Sign-ups allowed per minute in all [default: 200]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signups_per_minute_total: Option<u32>,
    /// A proxy (load balancer) whose X-Forwarded-For names the client; repeat it or separate with commas [env: LOCKIN_TRUSTED_PROXY]
    #[arg(long, value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxy: Vec<IpAddr>,
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
    #[serde(skip)]
    pub turn_credential: Option<SecretString>,
    /// The secret shared with the TURN server (coturn's `static-auth-secret`): each person then gets credentials of their own, good for --turn-credential-ttl; instead of --turn-username/--turn-credential; prefer LOCKIN_TURN_SECRET or the config file [env: LOCKIN_TURN_SECRET]
    #[arg(long, value_parser = secret)]
    #[serde(skip)]
    pub turn_secret: Option<SecretString>,
    /// How long the credentials made from --turn-secret are good for, e.g. `1h` [default: 1h] [env: LOCKIN_TURN_CREDENTIAL_TTL]
    #[arg(long, value_parser = humantime::parse_duration)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    pub turn_credential_ttl: Option<Duration>,
    /// Subscribes and unsubscribes one live connection may send per second [default: 100] [env: LOCKIN_LIVE_SUBSCRIPTIONS_PER_SECOND]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_subscriptions_per_second: Option<u32>,
    /// Live connections one person may hold at once on a node [default: 16] [env: LOCKIN_LIVE_CONNECTIONS_PER_PERSON]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_connections_per_person: Option<usize>,
    /// Open connections (live ones included) one client address may hold [default: 256] [env: LOCKIN_CONNECTIONS_PER_ADDRESS]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections_per_address: Option<usize>,
    /// Media lines a person may send on: microphone, camera, screen share and its sound [default: 4] [env: LOCKIN_MEDIA_SEND_LINES_PER_PEER]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_send_lines_per_peer: Option<usize>,
    /// Media lines one person's connection may hold in all, stopped ones included [default: 256] [env: LOCKIN_MEDIA_LINES_PER_PEER]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_lines_per_peer: Option<usize>,
    /// How long a client may take to send a request's header, e.g. `30s` [default: 30s] [env: LOCKIN_HEADER_READ_TIMEOUT]
    #[arg(long, value_parser = humantime::parse_duration)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    pub header_read_timeout: Option<Duration>,
    /// How long a request may take, its body included, before 408, e.g. `30s` [default: 30s] [env: LOCKIN_REQUEST_TIMEOUT]
    #[arg(long, value_parser = humantime::parse_duration)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    pub request_timeout: Option<Duration>,
    /// How long a timelapse upload may take [default: 1h] [env: LOCKIN_UPLOAD_TIMEOUT]
    #[arg(long, value_parser = humantime::parse_duration)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    pub upload_timeout: Option<Duration>,
    /// Bytes of timelapse video one person may keep, all projects together [default: 2147483648 (2 GiB)] [env: LOCKIN_UPLOAD_QUOTA_PER_PERSON]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_quota_per_person: Option<u64>,
    /// Bytes uploads must leave free on the data dir's disk; past it they get 507 [default: 1073741824 (1 GiB)] [env: LOCKIN_MIN_FREE_SPACE]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_free_space: Option<u64>,
    /// The secret Prometheus sends to scrape /metrics, at least 24 characters; unset, nobody may scrape. Prefer LOCKIN_METRICS_TOKEN or the config file, which `ps` does not show [env: LOCKIN_METRICS_TOKEN]
    #[arg(long, value_parser = secret)]
    #[serde(skip)]
    pub metrics_token: Option<SecretString>,
    /// The address people reach the site at, e.g. `https://lockin.example`; behind https cookies are `Secure` [env: LOCKIN_PUBLIC_URL]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[command(flatten)]
    #[serde(rename = "agent")]
    pub engines: EngineArgs,
    /// Do not run the AI assistant inside this server (run `lockin agent` workers instead).
    #[arg(long)]
    #[serde(skip)]
    pub no_agent: bool,
}

impl ServeArgs {
    /// The configuration, with these flags as its top layer.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.store.config.as_deref(), self)?;
        // A secret cannot be serialised, so it does not ride figment's flag
        // layer; set last, it still beats every other source.
        if let Some(credential) = &self.turn_credential {
            config.turn_credential = Some(credential.clone());
        }
        if let Some(secret) = &self.turn_secret {
            config.turn_secret = Some(secret.clone());
        }
        if let Some(token) = &self.metrics_token {
            config.metrics_token = Some(token.clone());
        }
        Ok(config)
    }
}

/// Reads a secret flag straight into a [`SecretString`], so no `Debug` of
/// the arguments can print it.
fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

/// The assistant's engines, for `serve` and `agent`: the `[agent]` keys worth
/// a flag. The rest, API keys above all (`ps` shows flags), are set in the
/// config file or as `LOCKIN_AGENT_<KEY>` (docs/AGENT.md).
#[derive(Debug, Args, Serialize)]
pub struct EngineArgs {
    /// Speech-to-text: `whisper` or `deepgram` [default: whisper] [env: LOCKIN_AGENT_STT]
    #[arg(long = "agent-stt")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stt: Option<String>,
    /// Language model: `local` or `openai` (any OpenAI-compatible endpoint) [default: local] [env: LOCKIN_AGENT_LLM]
    #[arg(long = "agent-llm")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<String>,
    /// Text-to-speech: `piper`, `flite` or `elevenlabs` [default: piper] [env: LOCKIN_AGENT_TTS]
    #[arg(long = "agent-tts")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tts: Option<String>,
    /// The OpenAI-compatible endpoint, up to and including `/v1` [env: LOCKIN_AGENT_OPENAI_BASE_URL]
    #[arg(long = "agent-openai-base-url")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openai_base_url: Option<String>,
    /// The model to ask at that endpoint [env: LOCKIN_AGENT_OPENAI_MODEL]
    #[arg(long = "agent-openai-model")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openai_model: Option<String>,
}

/// A worker serves the sessions it claims; several can share one server. It
/// reads the same configuration as `serve` (file, `LOCKIN_…` environment,
/// flags): the `[agent]` table and the agent token.
#[derive(Debug, Args, Serialize)]
pub struct AgentArgs {
    /// A TOML file with an `[agent]` table and the `agent_token` (docs/AGENT.md).
    #[arg(long, env = "LOCKIN_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// The server to serve, e.g. `http://lockin.internal:8080` [env: LOCKIN_SERVER_URL]
    #[arg(long, env = "LOCKIN_SERVER_URL")]
    #[serde(skip)]
    pub server: String,
    /// A file holding the agent token (e.g. the server's data/agent_token), instead of `agent_token` in the configuration [env: LOCKIN_AGENT_TOKEN].
    #[arg(long)]
    #[serde(skip)]
    pub agent_token_file: Option<PathBuf>,
    #[command(flatten)]
    #[serde(rename = "agent")]
    pub engines: EngineArgs,
}

impl AgentArgs {
    /// The configuration, with these flags as its top layer.
    pub fn config(&self) -> anyhow::Result<Config> {
        Config::load(self.config.as_deref(), self)
    }
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
// figment's `Jail` closures must return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use clap::CommandFactory;
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn media_and_secret_flags_reach_the_config_and_turn_urls_repeat() {
        // In a jail: other tests set `LOCKIN_…` variables meanwhile.
        figment::Jail::expect_with(|_| {
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
                "--metrics-token",
                "s3cr3t-metrics-token-for-prometheus",
                "--upload-quota-per-person",
                "1048576",
            ])
            .unwrap();
            let Command::Serve(args) = cli.command else {
                panic!("not serve");
            };
            assert!(!format!("{args:?}").contains("s3cr3t"));
            let config = args.config().unwrap();
            assert_eq!(
                config
                    .metrics_token
                    .as_ref()
                    .map(secrecy::ExposeSecret::expose_secret),
                Some("s3cr3t-metrics-token-for-prometheus")
            );
            assert_eq!(config.upload_quota_per_person, 1_048_576);
            assert_eq!(config.rtc_udp, "127.0.0.1:0".parse().unwrap());
            assert_eq!(config.public_ip, Some("203.0.113.7".parse().unwrap()));
            assert_eq!(config.turn_url.len(), 3);
            let servers = config
                .ice_servers()
                .unwrap()
                .for_person(&domain::Id::generate(), std::time::SystemTime::now());
            assert_eq!(servers[0].credential.as_deref(), Some("s3cr3t-turn"));
            Ok(())
        });
    }

    #[test]
    fn the_turn_secret_flag_stays_secret_and_the_ttl_reads_as_a_duration() {
        figment::Jail::expect_with(|_| {
            let cli = Cli::try_parse_from([
                "lockin",
                "serve",
                "--turn-url",
                "turn:a.example.org:3478",
                "--turn-secret",
                "s3cr3t-shared-with-coturn",
                "--turn-credential-ttl",
                "15m",
            ])
            .unwrap();
            let Command::Serve(args) = cli.command else {
                panic!("not serve");
            };
            assert!(!format!("{args:?}").contains("s3cr3t"));
            let config = args.config().unwrap();
            assert_eq!(config.turn_credential_ttl, Duration::from_secs(15 * 60));
            assert_eq!(
                config.turn_secret.as_ref().map(ExposeSecret::expose_secret),
                Some("s3cr3t-shared-with-coturn")
            );
            assert!(config.ice_servers().is_ok());
            Ok(())
        });
    }

    #[test]
    fn engine_flags_beat_the_environment_for_serve_and_agent() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LOCKIN_AGENT_OPENAI_MODEL", "from-env");
            jail.set_env("LOCKIN_AGENT_TOKEN", "token-from-env");
            let flags = [
                "--agent-llm",
                "openai",
                "--agent-openai-base-url",
                "http://127.0.0.1:11434/v1",
                "--agent-openai-model",
                "from-flag",
            ];
            let serve = Cli::try_parse_from(["lockin", "serve"].into_iter().chain(flags)).unwrap();
            let agent = Cli::try_parse_from(
                ["lockin", "agent", "--server", "http://lockin.internal:8080"]
                    .into_iter()
                    .chain(flags),
            )
            .unwrap();
            let configs = match (serve.command, agent.command) {
                (Command::Serve(serve), Command::Agent(agent)) => {
                    [serve.config().unwrap(), agent.config().unwrap()]
                }
                _ => panic!("not serve and agent"),
            };
            for config in configs {
                let agent::LlmConfig::OpenAi {
                    base_url, model, ..
                } = &config.agent.llm
                else {
                    panic!("not openai: {config:?}");
                };
                assert_eq!(base_url, "http://127.0.0.1:11434/v1");
                assert_eq!(model, "from-flag");
                assert!(config.agent_token.is_some());
            }
            Ok(())
        });
    }
}
