//! Live features, tested from outside: `/api/live` (docs/LIVE.md), presence,
//! the sweeper's timed work (departures, empty sessions, reminders), chat,
//! the calendar feed, and the TURN credentials `media.config` carries (against
//! a real coturn). Each scenario starts the real application on port 0 with
//! a fresh database and talks to it over HTTP and WebSockets, on SQLite and on
//! PostgreSQL (which must be reachable; see `../common/`). The many-node
//! scenarios run PostgreSQL-only, with two nodes sharing events over NATS.
//!
//! No scenario sleeps: each waits for the message it expects, with a deadline
//! ([`client::PATIENCE`]). The two properties that are about time passing
//! with nothing happening (a reconnect in time is not a departure; a reminder
//! is not sent twice) watch the live connection for a bounded window instead.
//!
//! Run: `cargo nextest run -p server --test live` (PostgreSQL at
//! `LOCKIN_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`;
//! NATS at `LOCKIN_TEST_NATS_URL`, default `nats://127.0.0.1:4222`; `turnserver`,
//! Debian's coturn, on the PATH: `turn.rs` starts its own).

/// Runs each named scenario (`async fn name(backend: Backend)`, which starts
/// the application with the configuration it needs) once per backend, as
/// tests `<module>::sqlite::<name>` and `<module>::postgres::<name>`.
macro_rules! both_backends {
    ($($scenario:ident),+ $(,)?) => {
        mod sqlite {
            $(both_backends!(@test Sqlite $scenario);)+
        }
        mod postgres {
            $(both_backends!(@test Postgres $scenario);)+
        }
    };
    (@test $backend:ident $scenario:ident) => {
        #[tokio::test]
        async fn $scenario() {
            super::$scenario(crate::harness::Backend::$backend).await;
        }
    };
}

mod chat;
mod client;
mod favourites;
#[path = "../common/mod.rs"]
mod harness;
mod host_controls;
mod limits;
mod media;
mod media_home;
mod nodes;
mod presence;
mod protocol;
mod queries;
mod reminders;
mod sign_out;
mod turn;
