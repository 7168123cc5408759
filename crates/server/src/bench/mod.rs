//! Load benchmarks run from the `lockin` binary (`lockin bench …`).
//!
//! Each benchmark measures a baseline in the same run, on the same machine,
//! and prints its figures as ratios to it: absolute numbers depend on the
//! machine, the ratio says what our own code costs. Nothing here asserts a
//! timing; the numbers are for people and for docs/PERFORMANCE.md.

pub mod agent;
pub mod api;
pub mod live;
pub mod sfu;

pub use agent::{AgentBenchArgs, run_agent};
pub use api::{ApiBenchArgs, run_api};
pub use live::{LiveBenchArgs, run_live};
pub use sfu::{SfuBenchArgs, run_sfu};
