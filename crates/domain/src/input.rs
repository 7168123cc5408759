//! The one error a parse can give: which field, and why, in words a client can show.

/// A value from outside that does not satisfy its type's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    pub field: String,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Trims `raw` and checks its length in characters (not bytes: titles may be in any script).
/// Control characters are refused because they break every place a title is shown.
pub(crate) fn bounded_text(
    field: &str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<String, InvalidInput> {
    let text = raw.trim();
    let length = text.chars().count();
    if length < min {
        return Err(if min == 1 {
            InvalidInput::new(field, "must not be empty")
        } else {
            InvalidInput::new(field, format!("must be at least {min} characters"))
        });
    }
    if length > max {
        return Err(InvalidInput::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(InvalidInput::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(bounded_text("t", "ééé", 1, 3).unwrap(), "ééé");
        assert!(bounded_text("t", "éééé", 1, 3).is_err());
    }

    #[test]
    fn trims_before_measuring() {
        assert_eq!(bounded_text("t", "  a  ", 1, 1).unwrap(), "a");
        assert_eq!(
            bounded_text("t", "   ", 1, 5).unwrap_err().message,
            "must not be empty"
        );
    }

    #[test]
    fn refuses_control_characters() {
        assert!(bounded_text("t", "a\u{0}b", 1, 5).is_err());
        assert!(bounded_text("t", "a\nb", 1, 5).is_ok());
    }
}
