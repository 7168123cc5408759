//! Configuration: defaults, then an optional TOML file, then `LOCKIN_…`
//! environment variables, then command-line flags; each overrides the one before.
//!
//! The assistant's engines are the `[agent]` table (`agent::AgentConfig`),
//! in the same layers: its key `k` is also `LOCKIN_AGENT_<K>` and, for
//! `lockin serve` and `lockin agent`, a `--agent-…` flag where one makes
//! sense. **Secrets (the agent token, the metrics token, the TURN
//! credential and secret, API keys) are held as `SecretString`**: `Debug`
//! redacts them and nothing can serialise them.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::live::turn::{IceServers, TurnCredentials};

/// Every setting of the `lockin` binary. Missing keys take their value from
/// [`Config::default`] (`serde(default)`), which is the bottom layer.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the HTTP server listens.
    pub listen: SocketAddr,
    /// Holds the SQLite file (by default) and the generated agent token.
    pub data_dir: PathBuf,
    /// `sqlite:…` or `postgres://…`; unset means `lockin.db` in `data_dir`.
    pub database_url: Option<String>,
    /// The secret the AI agent presents on `/internal/…`. Unset means one is
    /// generated into `data_dir/agent_token` on first start.
    pub agent_token: Option<SecretString>,
    /// The secret Prometheus presents on `/metrics`. Unset means nobody may
    /// scrape; the agent token never opens it.
    pub metrics_token: Option<SecretString>,
    pub log_format: LogFormat,
    /// Sign-in attempts allowed per email address, and per client address, per minute.
    pub login_attempts_per_minute: u32,
    /// AI log entries a person may write by hand per minute (the assistant's
    /// own are not limited).
    pub ai_logs_per_minute: u32,
    /// Sign-ups per client address per minute.
    pub signups_per_minute: u32,
    /// Sign-ups per minute in all.
    pub signups_per_minute_total: u32,
    /// Proxies whose `X-Forwarded-For` is believed: behind a load balancer
    /// every request comes from it, and limits must count the real clients.
    #[serde(deserialize_with = "addresses")]
    pub trusted_proxy: Vec<IpAddr>,
    /// `nats://…` to share live events with other nodes; unset means this node is alone.
    pub bus_url: Option<String>,
    /// The NATS subject prefix; nodes that share one share their events.
    pub bus_subject: String,
    /// How long a participant whose live connection dropped stays joined.
    #[serde(with = "humantime_serde")]
    pub departure_timeout: Duration,
    /// How long an active session with nobody in it lasts.
    #[serde(with = "humantime_serde")]
    pub empty_timeout: Duration,
    /// How often this node looks for due timed work (departures, reminders, …).
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
    /// The one UDP socket all audio and video goes through (docs/MEDIA.md).
    pub rtc_udp: SocketAddr,
    /// The address browsers reach `rtc_udp` at, when it is not one of the
    /// machine's own (a cloud VM behind a 1:1 NAT).
    pub public_ip: Option<IpAddr>,
    /// TURN (or STUN) URLs handed to browsers as ICE servers. The environment
    /// and the file may give them as one comma-separated string.
    #[serde(deserialize_with = "one_or_many")]
    pub turn_url: Vec<String>,
    /// One TURN username and password for everyone (`turn_credential`).
    /// Exclusive with `turn_secret`.
    pub turn_username: Option<String>,
    /// The TURN password. Browsers of joined participants receive it; logs never do.
    pub turn_credential: Option<SecretString>,
    /// The secret shared with the TURN server (coturn's `static-auth-secret`):
    /// each `media.config` then carries credentials of its own, made from it,
    /// for one person and `turn_credential_ttl` (`live::turn`). Never sent,
    /// never logged.
    pub turn_secret: Option<SecretString>,
    /// How long the credentials made from `turn_secret` are good for.
    #[serde(with = "humantime_serde")]
    pub turn_credential_ttl: Duration,
    /// The assistant's engines, keys and time limits: the `[agent]` table.
    pub agent: agent::AgentConfig,
    /// Subscribes and unsubscribes one live connection may send per second,
    /// as many at once; more are refused with `rate_limited`. The default lets
    /// a page (re)open its 100 subscriptions at once.
    pub live_subscriptions_per_second: u32,
    /// Live connections one person may hold at once on a node.
    pub live_connections_per_person: usize,
    /// Open connections (live ones included) one client address may hold.
    pub connections_per_address: usize,
    /// Media lines a person's offer may send on (microphone, camera, screen
    /// share and its sound: 4); each costs every other person a line.
    pub media_send_lines_per_peer: usize,
    /// Media lines an offer may hold in all, stopped ones included.
    pub media_lines_per_peer: usize,
    /// How long a client may take to send a request's header before the
    /// connection is closed.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// How long a request (its body read, its answer made) may take; past it
    /// the client gets 408. Not the live socket, which lives on after its
    /// handshake.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The same for a timelapse upload, whose body may be hundreds of megabytes.
    #[serde(with = "humantime_serde")]
    pub upload_timeout: Duration,
    /// Bytes of timelapse video one person may keep, all their projects together.
    pub upload_quota_per_person: u64,
    /// Bytes uploads must leave free on the disk videos are written to.
    pub min_free_space: u64,
    /// The address people reach the site at, e.g. `https://lockin.example`.
    /// Behind https, cookies are `Secure`.
    pub public_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            agent_token: None,
            metrics_token: None,
            log_format: LogFormat::Text,
            login_attempts_per_minute: 10,
            ai_logs_per_minute: 30,
            signups_per_minute: 20,
            signups_per_minute_total: 200,
            trusted_proxy: Vec::new(),
            bus_url: None,
            bus_subject: "lockin".into(),
            departure_timeout: Duration::from_secs(20),
            empty_timeout: Duration::from_secs(5 * 60),
            sweep_interval: Duration::from_secs(1),
            rtc_udp: SocketAddr::from(([0, 0, 0, 0], 50000)),
            public_ip: None,
            turn_url: Vec::new(),
            turn_username: None,
            turn_credential: None,
            turn_secret: None,
            turn_credential_ttl: Duration::from_secs(60 * 60),
            agent: agent::AgentConfig::default(),
            live_subscriptions_per_second: 100,
            live_connections_per_person: 16,
            connections_per_address: 256,
            media_send_lines_per_peer: 4,
            media_lines_per_peer: 256,
            header_read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            upload_timeout: Duration::from_secs(3600),
            upload_quota_per_person: 2 * GIB,
            min_free_space: GIB,
            public_url: None,
        }
    }
}

const GIB: u64 = 1024 * 1024 * 1024;

impl Config {
    /// Layers the sources. `overrides` holds only the flags given on the command line.
    pub fn load(file: Option<&Path>, overrides: impl Serialize) -> anyhow::Result<Self> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            anyhow::ensure!(
                file.exists(),
                "config file {} does not exist",
                file.display()
            );
            figment = figment.merge(Toml::file(file));
        }
        figment
            .merge(Env::prefixed("LOCKIN_").only(&ENV_KEYS))
            .merge(Env::prefixed("LOCKIN_").only(&CONNECTION_ENV_KEYS))
            .merge(
                Env::prefixed("LOCKIN_")
                    .only(&AGENT_ENV_ALIASES)
                    .map(|key| format!("agent.{key}").into()),
            )
            .merge(
                Env::prefixed("LOCKIN_AGENT_")
                    .only(&agent::providers::AGENT_KEYS)
                    .map(|key| format!("agent.{key}").into()),
            )
            .merge(Serialized::defaults(overrides))
            .extract()
            .context("reading configuration")
    }

    /// Whether people reach the site over https (`public_url`).
    pub fn serves_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|url| url.trim().to_ascii_lowercase().starts_with("https://"))
    }

    /// The media server's settings: its socket, the address in its
    /// candidates, and the caps on a peer's media lines.
    pub fn sfu(&self) -> anyhow::Result<sfu::SfuConfig> {
        anyhow::ensure!(
            self.media_send_lines_per_peer >= 1,
            "media_send_lines_per_peer must be at least 1"
        );
        anyhow::ensure!(
            self.media_lines_per_peer >= self.media_send_lines_per_peer,
            "media_lines_per_peer must be at least media_send_lines_per_peer"
        );
        Ok(sfu::SfuConfig {
            udp_listen: self.rtc_udp,
            public_ip: self.public_ip,
            max_send_lines: self.media_send_lines_per_peer,
            max_media_lines: self.media_lines_per_peer,
            fanout_thread: true,
        })
    }

    /// The TURN (or STUN) servers handed to browsers, and how their
    /// credentials are made: from `turn_secret`, or the one
    /// `turn_username`/`turn_credential` pair; never both.
    pub fn ice_servers(&self) -> anyhow::Result<IceServers> {
        let credentials = match (
            &self.turn_secret,
            &self.turn_username,
            &self.turn_credential,
        ) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => anyhow::bail!(
                "--turn-secret makes credentials of its own: give it, or --turn-username and --turn-credential, not both"
            ),
            (Some(secret), None, None) => Some(TurnCredentials::TimeLimited {
                secret: secret.clone(),
                ttl: self.turn_credential_ttl,
            }),
            (None, Some(username), Some(credential)) => Some(TurnCredentials::Shared {
                username: username.clone(),
                credential: credential.clone(),
            }),
            (None, None, None) => None,
            (None, _, _) => anyhow::bail!("--turn-username and --turn-credential go together"),
        };
        IceServers::new(&self.turn_url, credentials)
    }

    /// The database URL in use: the configured one, or the SQLite file in the data dir.
    pub fn resolved_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("lockin.db").display()
            ),
        }
    }
}

/// The environment variables read, as `LOCKIN_<KEY>`. Listing them keeps an
/// unrelated `LOCKIN_…` variable (a test's, say) from being taken for configuration.
const ENV_KEYS: [&str; 25] = [
    "listen",
    "data_dir",
    "database_url",
    "agent_token",
    "metrics_token",
    "log_format",
    "login_attempts_per_minute",
    "ai_logs_per_minute",
    "signups_per_minute",
    "signups_per_minute_total",
    "trusted_proxy",
    "bus_url",
    "bus_subject",
    "departure_timeout",
    "empty_timeout",
    "sweep_interval",
    "rtc_udp",
    "public_ip",
    "turn_url",
    "turn_username",
    "turn_credential",
    "turn_secret",
    "turn_credential_ttl",
    "upload_quota_per_person",
    "min_free_space",
];

/// The connection limits, read as `LOCKIN_<KEY>` like [`ENV_KEYS`].
const CONNECTION_ENV_KEYS: [&str; 9] = [
    "live_subscriptions_per_second",
    "live_connections_per_person",
    "connections_per_address",
    "media_send_lines_per_peer",
    "media_lines_per_peer",
    "header_read_timeout",
    "request_timeout",
    "upload_timeout",
    "public_url",
];

/// The names the assistant's cloud settings had before they joined the
/// `[agent]` table, still read as `LOCKIN_<KEY>` (e.g.
/// `LOCKIN_OPENAI_API_KEY` for `LOCKIN_AGENT_OPENAI_API_KEY`). The new name
/// wins when both are set.
const AGENT_ENV_ALIASES: [&str; 5] = [
    "openai_api_key",
    "openai_base_url",
    "openai_model",
    "deepgram_api_key",
    "elevenlabs_api_key",
];

/// Addresses given as a list or as one comma-separated string.
fn addresses<'de, D>(deserializer: D) -> Result<Vec<IpAddr>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    one_or_many(deserializer)?
        .iter()
        .flat_map(|entry| entry.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("{entry:?} is not an IP address")))
        })
        .collect()
}

/// A list given either as a list or as one comma-separated string (how an
/// environment variable carries it).
fn one_or_many<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(text) => text
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_owned)
            .collect(),
        OneOrMany::Many(list) => list,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[cfg(test)]
// figment's `Jail` closures must return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use std::time::SystemTime;

    use secrecy::ExposeSecret;

    use super::*;

    #[derive(Serialize, Default)]
    struct Flags {
        #[serde(skip_serializing_if = "Option::is_none")]
        listen: Option<SocketAddr>,
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "lockin.toml",
                "listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/lockin\"",
            )?;
            let from_file = Config::load(Some(Path::new("lockin.toml")), Flags::default()).unwrap();
            assert_eq!(from_file.listen.port(), 9000);
            assert_eq!(from_file.data_dir, PathBuf::from("/srv/lockin"));
            let flags = Flags {
                listen: Some("127.0.0.1:7000".parse().unwrap()),
            };
            let from_flags = Config::load(Some(Path::new("lockin.toml")), flags).unwrap();
            assert_eq!(from_flags.listen.port(), 7000);
            Ok(())
        });
    }

    #[test]
    fn environment_beats_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("lockin.toml", "database_url = \"sqlite://file.db\"")?;
            jail.set_env("LOCKIN_DATABASE_URL", "postgres://db/lockin");
            jail.set_env("LOCKIN_TEST_UNRELATED", "ignored");
            let config = Config::load(Some(Path::new("lockin.toml")), Flags::default()).unwrap();
            assert_eq!(config.database_url.as_deref(), Some("postgres://db/lockin"));
            Ok(())
        });
    }

    #[test]
    fn timeouts_read_as_human_durations() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("lockin.toml", "departure_timeout = \"3s\"")?;
            jail.set_env("LOCKIN_EMPTY_TIMEOUT", "2m");
            let config = Config::load(Some(Path::new("lockin.toml")), Flags::default()).unwrap();
            assert_eq!(config.departure_timeout, Duration::from_secs(3));
            assert_eq!(config.empty_timeout, Duration::from_secs(120));
            Ok(())
        });
    }

    #[test]
    fn upload_limits_default_and_read_as_bytes() {
        figment::Jail::expect_with(|jail| {
            let defaults = Config::load(None, Flags::default()).unwrap();
            assert_eq!(defaults.upload_quota_per_person, 2 * GIB);
            assert_eq!(defaults.min_free_space, GIB);
            assert!(defaults.metrics_token.is_none());
            jail.create_file("lockin.toml", "upload_quota_per_person = 1000")?;
            jail.set_env("LOCKIN_MIN_FREE_SPACE", "5000");
            jail.set_env("LOCKIN_METRICS_TOKEN", "metrics-token-from-the-env");
            let config = Config::load(Some(Path::new("lockin.toml")), Flags::default()).unwrap();
            assert_eq!(config.upload_quota_per_person, 1000);
            assert_eq!(config.min_free_space, 5000);
            assert_eq!(
                config
                    .metrics_token
                    .as_ref()
                    .map(ExposeSecret::expose_secret),
                Some("metrics-token-from-the-env")
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_in_the_file_are_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("lockin.toml", "lisen = \"0.0.0.0:9000\"")?;
            assert!(Config::load(Some(Path::new("lockin.toml")), Flags::default()).is_err());
            Ok(())
        });
    }

    #[test]
    fn secrets_do_not_print() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "lockin.toml",
                r#"
                agent_token = "s3cr3t-token"
                metrics_token = "s3cr3t-metrics"
                turn_credential = "s3cr3t-turn"
                turn_secret = "s3cr3t-shared-with-coturn"
                [agent]
                stt = "deepgram"
                llm = "openai"
                tts = "elevenlabs"
                deepgram_api_key = "s3cr3t-deepgram"
                openai_api_key = "s3cr3t-openai"
                elevenlabs_api_key = "s3cr3t-elevenlabs"
                "#,
            )?;
            let config = Config::load(Some(Path::new("lockin.toml")), Flags::default()).unwrap();
            let printed = format!("{config:?} {config:#?} {:?}", config.agent);
            assert!(!printed.contains("s3cr3t"), "{printed}");
            // Held, not dropped: each is there to be used.
            let agent::SttConfig::Deepgram { api_key, .. } = &config.agent.stt else {
                panic!("not deepgram: {config:?}");
            };
            assert_eq!(api_key.expose_secret(), "s3cr3t-deepgram");
            let agent::TtsConfig::ElevenLabs { api_key, .. } = &config.agent.tts else {
                panic!("not elevenlabs: {config:?}");
            };
            assert_eq!(api_key.expose_secret(), "s3cr3t-elevenlabs");
            assert_eq!(
                config.agent_token.as_ref().map(ExposeSecret::expose_secret),
                Some("s3cr3t-token")
            );
            assert_eq!(
                config
                    .metrics_token
                    .as_ref()
                    .map(ExposeSecret::expose_secret),
                Some("s3cr3t-metrics")
            );
            assert_eq!(
                config
                    .turn_credential
                    .as_ref()
                    .map(ExposeSecret::expose_secret),
                Some("s3cr3t-turn")
            );
            Ok(())
        });
    }

    /// The OpenAI-compatible settings the assistant was built with.
    fn openai_settings(config: &Config) -> (String, String, Option<String>) {
        match &config.agent.llm {
            agent::LlmConfig::OpenAi {
                api_key,
                base_url,
                model,
            } => (
                base_url.clone(),
                model.clone(),
                api_key.as_ref().map(|key| key.expose_secret().to_owned()),
            ),
            other => panic!("not the OpenAI-compatible model: {other:?}"),
        }
    }

    const OPENAI_IN_THE_FILE: &str = r#"
        listen = "127.0.0.1:9000"
        [agent]
        llm = "openai"
        openai_base_url = "http://127.0.0.1:11434/v1"
        openai_model = "llama3.2"
        openai_api_key = "sk-from-the-file"
        wake_phrase = "hey lockin"
        first_token_timeout = "2s"
        answer_timeout = "1m 30s"
    "#;

    #[test]
    fn the_agent_table_chooses_the_assistants_engines() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("lockin.toml", OPENAI_IN_THE_FILE)?;
            let config = Config::load(Some(Path::new("lockin.toml")), Flags::default()).unwrap();
            assert_eq!(
                openai_settings(&config),
                (
                    "http://127.0.0.1:11434/v1".into(),
                    "llama3.2".into(),
                    Some("sk-from-the-file".into())
                )
            );
            assert_eq!(config.agent.wake_phrase, "hey lockin");
            assert_eq!(config.agent.timeouts.first_token, Duration::from_secs(2));
            assert_eq!(config.agent.timeouts.answer, Duration::from_secs(90));
            // What the table does not name keeps its offline default.
            assert!(matches!(config.agent.stt, agent::SttConfig::Whisper));
            assert!(matches!(config.agent.tts, agent::TtsConfig::Piper { .. }));
            assert_eq!(config.listen.port(), 9000);
            Ok(())
        });
    }

    #[test]
    fn the_environment_beats_the_agent_table_and_the_old_names_still_work() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("lockin.toml", OPENAI_IN_THE_FILE)?;
            jail.set_env("LOCKIN_AGENT_OPENAI_MODEL", "llama3.3");
            jail.set_env("LOCKIN_AGENT_ANSWER_TIMEOUT", "45s");
            // The names from before the `[agent]` table beat the file...
            jail.set_env("LOCKIN_OPENAI_BASE_URL", "http://gpu.internal:8000/v1");
            // ...and lose to the new ones.
            jail.set_env("LOCKIN_OPENAI_API_KEY", "sk-old-name");
            jail.set_env("LOCKIN_AGENT_OPENAI_API_KEY", "sk-new-name");
            // The server's own `agent_token`, not a key of the table.
            jail.set_env("LOCKIN_AGENT_TOKEN", "token-from-env");
            let config = Config::load(Some(Path::new("lockin.toml")), Flags::default()).unwrap();
            assert_eq!(
                openai_settings(&config),
                (
                    "http://gpu.internal:8000/v1".into(),
                    "llama3.3".into(),
                    Some("sk-new-name".into())
                )
            );
            assert_eq!(config.agent.timeouts.answer, Duration::from_secs(45));
            assert_eq!(
                config.agent_token.as_ref().map(ExposeSecret::expose_secret),
                Some("token-from-env")
            );
            Ok(())
        });
    }

    #[test]
    fn the_environment_alone_can_choose_a_cloud_engine_and_one_without_a_key_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LOCKIN_AGENT_LLM", "openai");
            jail.set_env("LOCKIN_OPENAI_MODEL", "gpt-4o");
            let config = Config::load(None, Flags::default()).unwrap();
            assert_eq!(openai_settings(&config).1, "gpt-4o");

            jail.set_env("LOCKIN_AGENT_STT", "deepgram");
            let error = Config::load(None, Flags::default()).unwrap_err();
            assert!(
                format!("{error:#}").contains("deepgram needs an API key"),
                "{error:#}"
            );
            jail.set_env("LOCKIN_DEEPGRAM_API_KEY", "dg-key");
            assert!(Config::load(None, Flags::default()).is_ok());
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_in_the_agent_table_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("lockin.toml", "[agent]\nopenai_modle = \"llama3.2\"")?;
            assert!(Config::load(Some(Path::new("lockin.toml")), Flags::default()).is_err());
            Ok(())
        });
    }

    #[test]
    fn turn_servers_come_from_a_comma_list_and_the_credential_stays_secret() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "LOCKIN_TURN_URL",
                "turn:turn.example.org:3478?transport=udp, turns:turn.example.org:5349?transport=tcp",
            );
            jail.set_env("LOCKIN_TURN_USERNAME", "lockin");
            jail.set_env("LOCKIN_TURN_CREDENTIAL", "hunter2-turn");
            jail.set_env("LOCKIN_RTC_UDP", "127.0.0.1:40000");
            let config = Config::load(None, Flags::default()).unwrap();
            assert!(!format!("{config:?}").contains("hunter2"));
            assert_eq!(
                config.sfu().unwrap().udp_listen,
                "127.0.0.1:40000".parse().unwrap()
            );
            let servers = config
                .ice_servers()
                .unwrap()
                .for_person(&domain::Id::generate(), SystemTime::now());
            assert_eq!(servers.len(), 1);
            assert_eq!(
                servers[0].urls,
                [
                    "turn:turn.example.org:3478?transport=udp",
                    "turns:turn.example.org:5349?transport=tcp"
                ]
            );
            assert_eq!(servers[0].credential.as_deref(), Some("hunter2-turn"));
            Ok(())
        });
    }

    #[test]
    fn a_turn_secret_makes_credentials_for_each_person_for_the_ttl() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("lockin.toml", "turn_credential_ttl = \"10m\"")?;
            jail.set_env("LOCKIN_TURN_URL", "turn:turn.example.org:3478");
            jail.set_env("LOCKIN_TURN_SECRET", "s3cr3t-shared-with-coturn");
            let config = Config::load(Some(Path::new("lockin.toml")), Flags::default()).unwrap();
            assert!(!format!("{config:?}").contains("s3cr3t"));
            assert_eq!(config.turn_credential_ttl, Duration::from_secs(600));
            let user_id = domain::Id::generate();
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
            let servers = config.ice_servers().unwrap().for_person(&user_id, now);
            assert_eq!(
                servers[0].username.as_deref(),
                Some(format!("1700000600:{user_id}").as_str())
            );
            assert!(!servers[0].credential.as_deref().unwrap().contains("s3cr3t"));
            assert_eq!(
                Config::default().turn_credential_ttl,
                Duration::from_secs(3600)
            );
            Ok(())
        });
    }

    #[test]
    fn media_line_caps_reach_the_sfu_and_must_make_sense() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LOCKIN_MEDIA_SEND_LINES_PER_PEER", "2");
            jail.set_env("LOCKIN_MEDIA_LINES_PER_PEER", "64");
            let config = Config::load(None, Flags::default()).unwrap();
            let sfu = config.sfu().unwrap();
            assert_eq!((sfu.max_send_lines, sfu.max_media_lines), (2, 64));
            Ok(())
        });
        let defaults = Config::default().sfu().unwrap();
        assert_eq!(
            (defaults.max_send_lines, defaults.max_media_lines),
            (4, 256)
        );
        for (sending, in_all) in [(0, 256), (8, 4)] {
            let config = Config {
                media_send_lines_per_peer: sending,
                media_lines_per_peer: in_all,
                ..Config::default()
            };
            assert!(config.sfu().is_err(), "{sending} and {in_all}");
        }
    }

    #[test]
    fn a_turn_secret_and_a_shared_password_are_exclusive() {
        let with_secret = Config {
            turn_url: vec!["turn:turn.example.org:3478".into()],
            turn_secret: Some("s3cr3t-shared-with-coturn".into()),
            ..Config::default()
        };
        assert!(with_secret.ice_servers().is_ok());
        for both in [
            Config {
                turn_username: Some("lockin".into()),
                turn_credential: Some("hunter2-turn".into()),
                ..with_secret.clone()
            },
            Config {
                turn_username: Some("lockin".into()),
                ..with_secret.clone()
            },
            Config {
                turn_credential: Some("hunter2-turn".into()),
                ..with_secret.clone()
            },
        ] {
            let error = both.ice_servers().unwrap_err();
            assert!(error.to_string().contains("not both"), "{error}");
        }
        let half_a_pair = Config {
            turn_url: vec!["turn:turn.example.org:3478".into()],
            turn_username: Some("lockin".into()),
            ..Config::default()
        };
        assert!(half_a_pair.ice_servers().is_err());
        let without = Config {
            turn_url: vec!["turn:turn.example.org:3478".into()],
            ..Config::default()
        };
        assert!(without.ice_servers().is_err());
        assert!(Config::default().ice_servers().is_ok());
    }

    #[test]
    fn default_database_is_sqlite_in_the_data_dir() {
        let url = Config::default().resolved_database_url();
        assert!(
            url.starts_with("sqlite://") && url.contains("lockin.db"),
            "{url}"
        );
    }
}
