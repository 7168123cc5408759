//! Opaque ids. Clients see strings; inside, an [`Id`] is always a well-formed one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::InvalidInput;

/// A UUID (version 7, so ids sort by creation time) in its lowercase hyphenated form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Id(String);

impl Id {
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().hyphenated().to_string())
    }

    /// Parses an id from a client. `field` names where it came from, for the error.
    pub fn parse(field: &str, raw: &str) -> Result<Self, InvalidInput> {
        uuid::Uuid::try_parse(raw)
            .map(|id| Self(id.hyphenated().to_string()))
            .map_err(|_| InvalidInput::new(field, "is not a valid id"))
    }

    /// Wraps an id read back from the store, which only ever holds ids made by [`Id::generate`].
    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        let id = Id::generate();
        assert_eq!(Id::parse("id", id.as_str()).unwrap(), id);
    }

    #[test]
    fn uppercase_is_normalised() {
        let id = Id::generate();
        let upper = id.as_str().to_uppercase();
        assert_eq!(Id::parse("id", &upper).unwrap(), id);
    }

    #[test]
    fn junk_is_refused_with_the_field_name() {
        let err = Id::parse("project_id", "../etc/passwd").unwrap_err();
        assert_eq!(err.field, "project_id");
    }
}
