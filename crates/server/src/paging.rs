//! Cursor paging, shared by every list that pages.

use chrono::DateTime;
use domain::{Id, InvalidInput};
use store::ListCursor;

/// A cursor is the (time, id) of the last item of a page; opaque to clients.
pub fn encode_cursor(cursor: &ListCursor) -> String {
    format!("{}_{}", cursor.at.timestamp_micros(), cursor.id)
}

pub fn decode_cursor(raw: &str) -> Result<ListCursor, InvalidInput> {
    let invalid = || InvalidInput::new("cursor", "is not a cursor from a previous page");
    let (micros, id) = raw.split_once('_').ok_or_else(invalid)?;
    let at = micros
        .parse()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(invalid)?;
    let id = Id::parse("cursor", id).map_err(|_| invalid())?;
    Ok(ListCursor { at, id })
}

/// A `limit` query parameter: `default` when absent, else 1 to `max`.
pub fn parse_limit(raw: Option<&str>, default: usize, max: usize) -> Result<usize, InvalidInput> {
    match raw {
        None => Ok(default),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=max).contains(limit))
            .ok_or_else(|| {
                InvalidInput::new("limit", format!("must be a whole number from 1 to {max}"))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        let cursor = ListCursor {
            at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: Id::generate(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&cursor)).unwrap(), cursor);
        for junk in [
            "",
            "abc",
            "12_notanid",
            "x_0190a1b2-0000-7000-8000-000000000000",
        ] {
            assert_eq!(decode_cursor(junk).unwrap_err().field, "cursor");
        }
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(parse_limit(None, 20, 100).unwrap(), 20);
        assert_eq!(parse_limit(Some("100"), 20, 100).unwrap(), 100);
        for bad in ["0", "101", "-1", "ten", ""] {
            assert!(parse_limit(Some(bad), 20, 100).is_err(), "{bad}");
        }
    }
}
