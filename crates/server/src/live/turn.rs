//! The ICE servers a page gets in `media.config`, and the TURN credentials
//! in them (docs/MEDIA.md, docs/SECURITY.md).
//!
//! A TURN server relays media for browsers behind strict firewalls, and only
//! for clients that present a username and password. The server hands them
//! out in one of two ways:
//!
//! - **Time-limited** (`--turn-secret`, `--turn-credential-ttl`): the TURN
//!   REST scheme that coturn checks with `use-auth-secret` and
//!   `static-auth-secret`. Each `media.config` carries the username
//!   `<unix expiry>:<user id>` and the password
//!   `base64(HMAC-SHA1(secret, username))`. The secret itself never leaves
//!   the server and the TURN server. **A password is good only with the
//!   username it was made for**, so nobody can move its expiry or put another
//!   person's id in it, and the TURN server refuses it once the expiry has
//!   passed.
//! - **Shared** (`--turn-username`, `--turn-credential`): one pair, the same
//!   for everyone who joins, good until the operator changes it on the TURN
//!   server.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use domain::Id;
use hmac::{Hmac, Mac};
use protocol::media::IceServer;
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;

/// The `--turn-url`s, and how their credentials are made. Holding one means
/// the settings fit together: every URL has a known scheme, and a `turn:` or
/// `turns:` URL has credentials.
#[derive(Debug, Clone, Default)]
pub struct IceServers {
    urls: Vec<String>,
    credentials: Option<TurnCredentials>,
}

/// How the TURN servers' credentials are made. Their `Debug` shows no secret.
#[derive(Debug, Clone)]
pub enum TurnCredentials {
    /// One username and password for everyone.
    Shared {
        username: String,
        credential: SecretString,
    },
    /// A fresh username and password for each `media.config`, good for `ttl`.
    TimeLimited { secret: SecretString, ttl: Duration },
}

impl IceServers {
    pub fn new(urls: &[String], credentials: Option<TurnCredentials>) -> anyhow::Result<Self> {
        let mut checked = Vec::new();
        for url in urls {
            let url = url.trim();
            anyhow::ensure!(
                ["turn:", "turns:", "stun:", "stuns:"]
                    .iter()
                    .any(|scheme| url.starts_with(scheme)),
                "--turn-url {url:?} must start with turn:, turns: or stun:"
            );
            checked.push(url.to_owned());
        }
        let relays = checked.iter().any(|url| url.starts_with("turn"));
        anyhow::ensure!(
            !relays || credentials.is_some(),
            "a TURN server needs --turn-secret, or --turn-username and --turn-credential"
        );
        if let Some(TurnCredentials::TimeLimited { ttl, .. }) = &credentials {
            anyhow::ensure!(
                ttl.as_secs() >= 1,
                "--turn-credential-ttl must be at least 1s"
            );
        }
        Ok(Self {
            urls: checked,
            credentials,
        })
    }

    /// The browser's `iceServers` for `user_id`, asking at `now`: all the
    /// URLs as one server, with its credentials.
    pub fn for_person(&self, user_id: &Id, now: SystemTime) -> Vec<IceServer> {
        if self.urls.is_empty() {
            return Vec::new();
        }
        let (username, credential) = match &self.credentials {
            None => (None, None),
            Some(TurnCredentials::Shared {
                username,
                credential,
            }) => (
                Some(username.clone()),
                Some(credential.expose_secret().to_owned()),
            ),
            Some(TurnCredentials::TimeLimited { secret, ttl }) => {
                let issued = TimeLimited::new(secret, user_id, now + *ttl);
                (Some(issued.username), Some(issued.credential))
            }
        };
        vec![IceServer {
            urls: self.urls.clone(),
            username,
            credential,
        }]
    }
}

/// One person's TURN username and password under the TURN REST scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeLimited {
    /// `<unix expiry>:<user id>`: the TURN server reads the expiry from it.
    pub username: String,
    /// `base64(HMAC-SHA1(secret, username))`.
    pub credential: String,
}

impl TimeLimited {
    /// The credentials for `user_id` that the TURN server sharing `secret`
    /// accepts until `expires` (to the second, rounded down).
    pub fn new(secret: &SecretString, user_id: &Id, expires: SystemTime) -> Self {
        let expiry = expires
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let username = format!("{expiry}:{user_id}");
        let mut mac = Hmac::<Sha1>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(username.as_bytes());
        let credential =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        Self {
            username,
            credential,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "north-wind-turn-secret";

    fn ada() -> Id {
        Id::parse("user_id", "0190d6b2-6f2c-7a4e-9b1a-3c5d7e9f1a2b").unwrap()
    }

    fn at(unix_seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix_seconds)
    }

    #[test]
    fn time_limited_credentials_follow_the_turn_rest_scheme() {
        // Computed apart from this code, with Python's standard library:
        // base64.b64encode(hmac.new(b"north-wind-turn-secret",
        //   b"1700003600:0190d6b2-6f2c-7a4e-9b1a-3c5d7e9f1a2b", hashlib.sha1).digest())
        let issued = TimeLimited::new(&SECRET.into(), &ada(), at(1_700_003_600));
        assert_eq!(
            issued,
            TimeLimited {
                username: "1700003600:0190d6b2-6f2c-7a4e-9b1a-3c5d7e9f1a2b".into(),
                credential: "Nk+nHCJLmlEK+S0OCGo4sdkwg4k=".into(),
            }
        );
    }

    #[test]
    fn each_person_gets_their_own_credentials_expiring_after_the_ttl() {
        let servers = IceServers::new(
            &["turn:turn.example.org:3478".into()],
            Some(TurnCredentials::TimeLimited {
                secret: SECRET.into(),
                ttl: Duration::from_secs(3600),
            }),
        )
        .unwrap();
        let adas = servers.for_person(&ada(), at(1_700_000_000) + Duration::from_millis(900));
        assert_eq!(adas.len(), 1);
        assert_eq!(adas[0].urls, ["turn:turn.example.org:3478"]);
        assert_eq!(
            adas[0].username.as_deref(),
            Some("1700003600:0190d6b2-6f2c-7a4e-9b1a-3c5d7e9f1a2b")
        );
        assert_eq!(
            adas[0].credential.as_deref(),
            Some("Nk+nHCJLmlEK+S0OCGo4sdkwg4k=")
        );
        let bobs = servers.for_person(&Id::generate(), at(1_700_000_000));
        assert_ne!(bobs[0].username, adas[0].username);
        assert_ne!(bobs[0].credential, adas[0].credential);
        assert!(!format!("{servers:?}").contains(SECRET));
    }

    #[test]
    fn shared_credentials_are_the_same_for_everyone() {
        let servers = IceServers::new(
            &["turn:turn.example.org:3478".into()],
            Some(TurnCredentials::Shared {
                username: "lockin".into(),
                credential: "hunter2-turn".into(),
            }),
        )
        .unwrap();
        assert!(!format!("{servers:?}").contains("hunter2"));
        let now = SystemTime::now();
        let adas = servers.for_person(&ada(), now);
        assert_eq!(adas, servers.for_person(&Id::generate(), now));
        assert_eq!(adas[0].username.as_deref(), Some("lockin"));
        assert_eq!(adas[0].credential.as_deref(), Some("hunter2-turn"));
    }

    #[test]
    fn a_relay_without_credentials_a_bad_scheme_or_a_zero_ttl_is_refused() {
        assert!(IceServers::new(&["turn:turn.example.org:3478".into()], None).is_err());
        assert!(IceServers::new(&["https://turn.example.org".into()], None).is_err());
        let zero = TurnCredentials::TimeLimited {
            secret: SECRET.into(),
            ttl: Duration::from_millis(500),
        };
        assert!(IceServers::new(&["turn:turn.example.org:3478".into()], Some(zero)).is_err());
        let stun = IceServers::new(&["stun:stun.example.org:3478".into()], None).unwrap();
        assert_eq!(stun.for_person(&ada(), SystemTime::now())[0].username, None);
        assert!(
            IceServers::default()
                .for_person(&ada(), SystemTime::now())
                .is_empty()
        );
    }
}
