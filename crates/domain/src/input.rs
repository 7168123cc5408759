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

/// Trims `raw` and checks its length in characters (not bytes: titles may be in any script):
/// at most `max` as sent (the API document's `maxLength` counts what the client sends,
/// spaces included), at least `min` once trimmed (spaces alone are not a title).
/// Control characters are refused because they break every place a title is shown.
pub(crate) fn bounded_text(
    field: &str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<String, InvalidInput> {
    let text = raw.trim();
    if text.chars().count() < min {
        return Err(if min == 1 {
            InvalidInput::new(field, "must not be empty")
        } else {
            InvalidInput::new(field, format!("must be at least {min} characters"))
        });
    }
    if raw.chars().count() > max {
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

/// How a field that [`bounded_text`] reads with `min` 1 is described to API
/// clients (`#[schema(value_type = NonBlank<80>)]`): 1 to `MAX` characters,
/// not only white space, and no control characters but tab and newline.
pub struct NonBlank<const MAX: usize>;

/// As [`NonBlank`], but it may be empty: at most `MAX` characters.
pub struct Text<const MAX: usize>;

/// As [`NonBlank`], on one line: no tab or newline either.
pub struct Line<const MAX: usize>;

/// Any character but a control character other than tab and newline.
const TEXT_CHAR: &str = r"[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]";

/// Any character but a control character.
const LINE_CHAR: &str = r"[^\u0000-\u001F\u007F-\u009F]";

fn text_schema(
    description: String,
    min: usize,
    max: usize,
    pattern: String,
) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(description))
        .min_length((min > 0).then_some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .build()
}

impl<const MAX: usize> utoipa::PartialSchema for NonBlank<MAX> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        // Some character that is neither white space nor a control character.
        let pattern = format!(r"^{TEXT_CHAR}*[^\s\u0000-\u001F\u007F-\u009F]{TEXT_CHAR}*$");
        let description = format!("1–{MAX} characters, not only spaces.");
        text_schema(description, 1, MAX, pattern).into()
    }
}

impl<const MAX: usize> utoipa::ToSchema for NonBlank<MAX> {
    fn name() -> std::borrow::Cow<'static, str> {
        format!("NonBlank{MAX}").into()
    }
}

impl<const MAX: usize> utoipa::PartialSchema for Line<MAX> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let pattern = format!(r"^{LINE_CHAR}*[^\s\u0000-\u001F\u007F-\u009F]{LINE_CHAR}*$");
        let description = format!("1–{MAX} characters on one line, not only spaces.");
        text_schema(description, 1, MAX, pattern).into()
    }
}

impl<const MAX: usize> utoipa::ToSchema for Line<MAX> {
    fn name() -> std::borrow::Cow<'static, str> {
        format!("Line{MAX}").into()
    }
}

impl<const MAX: usize> utoipa::PartialSchema for Text<MAX> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let description = format!("At most {MAX} characters.");
        text_schema(description, 0, MAX, format!("^{TEXT_CHAR}*$")).into()
    }
}

impl<const MAX: usize> utoipa::ToSchema for Text<MAX> {
    fn name() -> std::borrow::Cow<'static, str> {
        format!("Text{MAX}").into()
    }
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
    fn trims_and_measures_what_was_sent() {
        assert_eq!(bounded_text("t", "  a  ", 1, 5).unwrap(), "a");
        // The limit counts the spaces sent, as the API document's maxLength does.
        assert!(bounded_text("t", "  a  ", 1, 4).is_err());
        assert!(bounded_text("t", "\tabc", 1, 3).is_err());
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
