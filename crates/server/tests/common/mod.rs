//! The one harness of the server's integration suites (`api`, `live`,
//! `agent_worker`; each mounts this directory as its module `harness`): the
//! real application on port 0 with a database of its own, driven over HTTP
//! like any client.
//!
//! `spawn_app(backend)` starts it with the test configuration and
//! `spawn_app_with(backend, |config| …)` with that configuration adjusted;
//! the REST calls scenarios make (`register`, `create_session`, `join`, …)
//! are methods of the [`TestApp`] either returns, and any other request is
//! one line as someone ([`Credential`]: a person, or the agent's token):
//! `get_as`, `get_ok`, `post_as`, `patch_as`, `delete_as`. A table of bodies
//! that must each be refused 400 `invalid` naming a field is checked with
//! [`refuses_each`].

// Each suite uses a part of the harness.
#![allow(dead_code, unused_imports)]

mod app;
mod requests;
mod rest;
mod running_server;
mod test_database;

pub use app::{Backend, TestApp, own_bus, spawn_app, spawn_app_with};
pub use requests::{Call, Credential, Failures, Reply, SetCookie, refuses_each};
pub use rest::{
    PASSWORD, User, encode_query, id_of, ids, overlaid, rfc3339, session_body, timestamp,
};
pub use test_database::TestDatabase;
