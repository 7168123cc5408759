//! Configuration: defaults, then an optional TOML file, then `LOCKIN_…`
//! environment variables, then command-line flags; each overrides the one before.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
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
    pub agent_token: Option<Secret>,
    pub log_format: LogFormat,
    /// Sign-in attempts allowed per email address, and per client address, per minute.
    pub login_attempts_per_minute: u32,
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
    pub turn_username: Option<String>,
    /// The TURN password. Browsers of joined participants receive it; logs never do.
    pub turn_credential: Option<Secret>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            agent_token: None,
            log_format: LogFormat::Text,
            login_attempts_per_minute: 10,
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
        }
    }
}

impl Config {
    /// Layers the sources. `overrides` holds only the flags given on the command line.
    pub fn load(file: Option<&Path>, overrides: impl Serialize) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
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
            .merge(Serialized::defaults(overrides))
            .extract()
            .context("reading configuration")
    }

    /// The media server's settings: its socket, the address in its
    /// candidates, and the TURN servers as one browser `RTCIceServer`.
    pub fn sfu(&self) -> anyhow::Result<sfu::SfuConfig> {
        let mut urls = Vec::new();
        for url in &self.turn_url {
            let url = url.trim();
            anyhow::ensure!(
                ["turn:", "turns:", "stun:", "stuns:"]
                    .iter()
                    .any(|scheme| url.starts_with(scheme)),
                "--turn-url {url:?} must start with turn:, turns: or stun:"
            );
            urls.push(url.to_owned());
        }
        let needs_credentials = urls.iter().any(|url| url.starts_with("turn"));
        anyhow::ensure!(
            !needs_credentials || (self.turn_username.is_some() && self.turn_credential.is_some()),
            "a TURN server needs --turn-username and --turn-credential"
        );
        let ice_servers = if urls.is_empty() {
            Vec::new()
        } else {
            vec![sfu::IceServer {
                urls,
                username: self.turn_username.clone(),
                credential: self
                    .turn_credential
                    .as_ref()
                    .map(|secret| secret.expose().to_owned()),
            }]
        };
        Ok(sfu::SfuConfig {
            udp_listen: self.rtc_udp,
            public_ip: self.public_ip,
            ice_servers,
        })
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
const ENV_KEYS: [&str; 16] = [
    "listen",
    "data_dir",
    "database_url",
    "agent_token",
    "log_format",
    "login_attempts_per_minute",
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
];

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

/// A secret value that never prints: `Debug` shows only that it is set.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[cfg(test)]
// figment's `Jail` closures must return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
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
    fn unknown_keys_in_the_file_are_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("lockin.toml", "lisen = \"0.0.0.0:9000\"")?;
            assert!(Config::load(Some(Path::new("lockin.toml")), Flags::default()).is_err());
            Ok(())
        });
    }

    #[test]
    fn secrets_do_not_print() {
        let config = Config {
            agent_token: Some(Secret::new("s3cr3t-value".into())),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("s3cr3t"));
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
            let sfu = config.sfu().unwrap();
            assert_eq!(sfu.udp_listen, "127.0.0.1:40000".parse().unwrap());
            assert_eq!(sfu.ice_servers.len(), 1);
            assert_eq!(
                sfu.ice_servers[0].urls,
                [
                    "turn:turn.example.org:3478?transport=udp",
                    "turns:turn.example.org:5349?transport=tcp"
                ]
            );
            assert_eq!(
                sfu.ice_servers[0].credential.as_deref(),
                Some("hunter2-turn")
            );
            Ok(())
        });
    }

    #[test]
    fn a_turn_server_without_credentials_or_with_a_bad_scheme_is_refused() {
        let without = Config {
            turn_url: vec!["turn:turn.example.org:3478".into()],
            ..Config::default()
        };
        assert!(without.sfu().is_err());
        let http = Config {
            turn_url: vec!["https://turn.example.org".into()],
            ..Config::default()
        };
        assert!(http.sfu().is_err());
        let stun = Config {
            turn_url: vec!["stun:stun.example.org:3478".into()],
            ..Config::default()
        };
        assert_eq!(stun.sfu().unwrap().ice_servers[0].username, None);
        assert!(Config::default().sfu().unwrap().ice_servers.is_empty());
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
