//! Favourites: the people someone likes to focus with. Their sessions come
//! first on the home page, and scheduling one tells everyone who keeps them
//! as a favourite (docs/RITUAL.md, "Favourites").
//!
//! The decisions are plain functions over what the store reads in the
//! transaction that writes (the person marked, how many favourites the
//! marker keeps), so a race cannot pass the cap or mark the assistant.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Id, RuleError};

/// How many favourites one person may keep: enough for everyone they ever
/// focus with, and a bound on what one account can make the home page and
/// every scheduling look through.
pub const MAX_FAVOURITES: usize = 500;

/// Someone a person marked as a favourite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Favourite {
    /// The person marked.
    #[schema(value_type = String)]
    pub user_id: Id,
    pub name: String,
    /// When they were marked.
    pub since: DateTime<Utc>,
}

/// The person someone asks to mark or unmark, as the store found them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub user_id: &'a Id,
    /// The assistant's own account: it is in every room it serves, but it
    /// schedules nothing and is nobody's company.
    pub is_assistant: bool,
}

/// What marking someone does, once allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkPlan {
    /// Marking twice is harmless: the first mark stays, with its date.
    AlreadyFavourite,
    Add,
}

/// Refuses a candidate who can never be a favourite: the person themselves,
/// or the assistant. Both are a field at fault (`user_id`), like reporting
/// yourself.
pub fn check_candidate(marker: &Id, candidate: Candidate<'_>) -> Result<(), RuleError> {
    if candidate.user_id == marker {
        return Err(RuleError::Invalid {
            field: "user_id",
            message: "you cannot mark yourself as a favourite",
        });
    }
    if candidate.is_assistant {
        return Err(RuleError::Invalid {
            field: "user_id",
            message: "the assistant cannot be a favourite",
        });
    }
    Ok(())
}

/// Whether `marker`, who keeps `kept` favourites (`already` among them or
/// not), may mark `candidate`. A mark already kept is answered even at the
/// cap, so asking again is always harmless.
pub fn mark(
    marker: &Id,
    candidate: Candidate<'_>,
    already: bool,
    kept: usize,
) -> Result<MarkPlan, RuleError> {
    check_candidate(marker, candidate)?;
    if already {
        return Ok(MarkPlan::AlreadyFavourite);
    }
    if kept >= MAX_FAVOURITES {
        return Err(RuleError::Conflict(
            "you keep as many favourites as there can be (500); remove one first",
        ));
    }
    Ok(MarkPlan::Add)
}

/// The notification a favourite's new session becomes:
/// "Ada scheduled “Pair on the parser” for Tue 1 Dec 2026, 14:00 UTC".
/// The server does not know each reader's time zone, so the time is in UTC,
/// as every page says it before its script localizes it.
pub fn scheduled_notice(host: &str, title: &str, starts_at: DateTime<Utc>) -> String {
    format!(
        "{host} scheduled “{title}” for {}",
        starts_at.format("%a %-d %b %Y, %H:%M UTC")
    )
}

/// The kind a favourite's scheduling notification is stored and sent with
/// (`Notification::kind`); one per person and session.
pub const SCHEDULED_KIND: &str = "favourite_scheduled";

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn person(id: &Id) -> Candidate<'_> {
        Candidate {
            user_id: id,
            is_assistant: false,
        }
    }

    #[test]
    fn someone_else_is_added_until_the_cap() {
        let (ada, bob) = (Id::generate(), Id::generate());
        assert_eq!(mark(&bob, person(&ada), false, 0), Ok(MarkPlan::Add));
        assert_eq!(
            mark(&bob, person(&ada), false, MAX_FAVOURITES - 1),
            Ok(MarkPlan::Add)
        );
        assert!(matches!(
            mark(&bob, person(&ada), false, MAX_FAVOURITES),
            Err(RuleError::Conflict(_))
        ));
    }

    #[test]
    fn marking_again_is_harmless_even_at_the_cap() {
        let (ada, bob) = (Id::generate(), Id::generate());
        assert_eq!(
            mark(&bob, person(&ada), true, MAX_FAVOURITES),
            Ok(MarkPlan::AlreadyFavourite)
        );
    }

    #[test]
    fn nobody_marks_themselves_or_the_assistant() {
        let (assistant, bob) = (Id::generate(), Id::generate());
        let refused_field = |outcome| match outcome {
            Err(RuleError::Invalid { field, .. }) => field,
            other => panic!("expected a field at fault, got {other:?}"),
        };
        assert_eq!(refused_field(mark(&bob, person(&bob), false, 0)), "user_id");
        let the_assistant = Candidate {
            user_id: &assistant,
            is_assistant: true,
        };
        assert_eq!(
            refused_field(mark(&bob, the_assistant, false, 0)),
            "user_id"
        );
        // Already "kept" changes nothing: the refusal comes first.
        assert_eq!(refused_field(mark(&bob, the_assistant, true, 0)), "user_id");
        assert!(check_candidate(&bob, person(&assistant)).is_ok());
    }

    #[test]
    fn the_notice_names_the_host_the_title_and_the_time() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 14, 0, 0).unwrap();
        assert_eq!(
            scheduled_notice("Ada", "Pair on the parser", at),
            "Ada scheduled “Pair on the parser” for Tue 1 Dec 2026, 14:00 UTC"
        );
    }
}
