//! People: who they are and the credentials they sign in with.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::input::bounded_text;
use crate::{Id, InvalidInput};

/// How long a sign-in lasts: its token, and the browser's cookie holding it.
/// After that the person signs in again.
pub const SIGN_IN_LIFETIME: chrono::Duration = chrono::Duration::days(30);

/// A signed-up person, as every API answer shows them. Never carries the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    #[schema(value_type = String)]
    pub id: Id,
    pub email: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// An email address, lowercased so that one person cannot sign up twice by changing case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let email = raw.trim().to_lowercase();
        let invalid =
            || InvalidInput::new("email", "must be an email address like ada@example.com");
        if email.len() > 254 || email.chars().any(char::is_whitespace) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@');
        if local.is_empty() || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed. Held only long enough to hash or verify it; never stored or logged.
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    /// Hashing cost grows with length; a bound keeps a request from buying minutes of CPU.
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(raw: String) -> Result<Self, InvalidInput> {
        let length = raw.chars().count();
        if length < Self::MIN_CHARS {
            return Err(InvalidInput::new(
                "password",
                format!("must be at least {} characters", Self::MIN_CHARS),
            ));
        }
        if length > Self::MAX_CHARS {
            return Err(InvalidInput::new(
                "password",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

/// The name other people see in rooms and transcripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        bounded_text("name", raw, 1, 80).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_lowercased_and_trimmed() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn email_needs_a_local_part_and_a_dotted_domain() {
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@localhost",
            "a b@x.io",
            "a@@x.io",
            "a@.x",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn password_length_is_bounded_both_ways() {
        assert!(Password::parse("short".into()).is_err());
        assert!(Password::parse("eight ch".into()).is_ok());
        assert!(Password::parse("x".repeat(1025)).is_err());
    }

    #[test]
    fn password_never_prints() {
        let password = Password::parse("hunter2hunter2".into()).unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[test]
    fn name_is_required() {
        assert!(UserName::parse("  ").is_err());
        assert_eq!(UserName::parse(" Ada ").unwrap().as_str(), "Ada");
    }
}
