//! The HTTP API, tested from outside: each scenario starts the real
//! application on port 0 with a fresh database and talks to it over HTTP.
//! Every scenario runs twice, on SQLite and on PostgreSQL (the PostgreSQL half
//! fails, never skips, when no server is reachable; see `../common/`).
//!
//! Run: `cargo nextest run -p server --test api` (or `cargo test -p server --test api`).

/// Runs each named scenario (`async fn name(app: &TestApp)`) once per backend,
/// as tests `<module>::sqlite::<name>` and `<module>::postgres::<name>`.
/// A scenario runs under `#[tokio::test]` unless a runtime attribute precedes
/// its name, e.g. `#[tokio::test(flavor = "multi_thread", worker_threads = 4)] racing_joins`.
macro_rules! both_backends {
    ($($(# $runtime:tt)? $scenario:ident),+ $(,)?) => {
        mod sqlite {
            $(both_backends!(@test Sqlite [$(# $runtime)?] $scenario);)+
        }
        mod postgres {
            $(both_backends!(@test Postgres [$(# $runtime)?] $scenario);)+
        }
    };
    (@test $backend:ident [] $scenario:ident) => {
        both_backends!(@test $backend [#[tokio::test]] $scenario);
    };
    (@test $backend:ident [# $runtime:tt] $scenario:ident) => {
        # $runtime
        async fn $scenario() {
            let app = crate::harness::spawn_app(crate::harness::Backend::$backend).await;
            super::$scenario(&app).await;
            app.stop().await;
        }
    };
}

/// Runs `scenario` on both backends against a server configured by `adjust`.
macro_rules! both_backends_with {
    ($adjust:expr, $($scenario:ident),+ $(,)?) => {
        $(mod $scenario {
            #[tokio::test]
            async fn sqlite() {
                let app = crate::harness::spawn_app_with(crate::harness::Backend::Sqlite, $adjust).await;
                super::$scenario(&app).await;
                app.stop().await;
            }
            #[tokio::test]
            async fn postgres() {
                let app = crate::harness::spawn_app_with(crate::harness::Backend::Postgres, $adjust).await;
                super::$scenario(&app).await;
                app.stop().await;
            }
        })+
    };
}

mod accounts;
mod agent;
mod ai_logs;
mod bad_input;
mod end_to_end;
mod favourites;
mod focus;
mod goals;
#[path = "../common/mod.rs"]
mod harness;
mod host_controls;
mod liveness;
mod logs;
mod operations;
mod projects;
mod recap;
mod ritual;
mod room_commands;
mod seats;
mod session_lists;
mod sessions;
