//! What Lock In's parts say to each other on the wire, as serde types: one
//! definition for the server that sends a message, and for the assistant
//! worker, the benchmarks and the tests that read it (and the other way
//! round). Plain values, no IO.
//!
//! **The JSON these types make is the one the browser's JavaScript
//! (`web/static/js`) and API.md already speak: a field or tag may be added,
//! never renamed or removed.** Each module's tests hold literal messages in
//! today's format and check both directions against them.
//!
//! # Layout
//!
//! - [`live`]: the live queries of `/api/live` (docs/LIVE.md): subscribe,
//!   unsubscribe and ping in; result, error and pong out; and the error
//!   object every refusal carries, over HTTP too.
//! - [`media`]: the `media.*` messages on the same socket (docs/MEDIA.md),
//!   both directions, spelling the SFU's own vocabulary
//!   ([`sfu::TrackKind`], [`sfu::MediaSource`], …).
//! - [`internal`]: the bodies of the agent's `/internal/…` API (claim, status
//!   report, context, chat message, AI log entry, an ended session's
//!   summary). The records they carry are the domain's (`Session`, `AiLog`,
//!   `SummaryFacts`, …), not copies.

pub mod internal;
pub mod live;
pub mod media;

/// The wire-format check every module's tests share.
#[cfg(test)]
mod wire {
    use serde::{Deserialize, Serialize};

    /// `literal` (a message as the browser, API.md or the server spells it
    /// today) reads into `value`, and `value` writes back as `literal`.
    pub(crate) fn round_trip<T>(literal: &str, value: T)
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
    {
        assert_eq!(
            serde_json::from_str::<T>(literal).unwrap(),
            value,
            "{literal}"
        );
        assert_eq!(serde_json::to_string(&value).unwrap(), literal);
    }
}
