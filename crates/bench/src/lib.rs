//! Load benchmarks of Lock In, run from their own binary (`lockin-bench …`),
//! so the product binary carries no load generator.
//!
//! Each benchmark measures a baseline in the same run, on the same machine,
//! and prints its figures as ratios to it: absolute numbers depend on the
//! machine, the ratio says what our own code costs. Nothing here asserts a
//! timing; the numbers are for people and for docs/PERFORMANCE.md.
//!
//! # Layout
//!
//! - [`Cli`]: the `lockin-bench` command line, one subcommand per benchmark.
//! - [`api`]: HTTP load on the JSON API of a server built from the `server`
//!   crate's `Application`, against bare axum replaying its answers.
//! - [`live`]: live-query fan-out over `/api/live`, against a bare WebSocket
//!   broadcast.
//! - [`sfu`]: media forwarding through the `sfu` crate against Janus's
//!   VideoRoom; [`sfu::synthetic`] holds the participants (client peers of
//!   the `sfu` crate) that send and receive stamped media through either.
//! - [`agent`]: the assistant's voice-to-voice latency with the configured
//!   engines; [`agent::voice_to_voice`] feeds spoken questions through the
//!   same session task the rooms use and times each stage;
//!   [`agent::turn`] times turn-taking (Silero VAD, Smart Turn, and the wait
//!   from the end of a question to the end of its utterance).
//! - [`abuse`]: a flood of sign-ups, hand-logged AI interactions, live
//!   subscription churn and half-open connections, against honest
//!   participants measured quiet first, in the same run.

pub mod abuse;
pub mod agent;
pub mod api;
pub mod live;
pub mod sfu;

use clap::{Parser, Subcommand};

/// Load benchmarks of Lock In, each against a baseline measured in the same run.
#[derive(Debug, Parser)]
#[command(name = "lockin-bench", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// HTTP API load: concurrent clients doing a realistic mix, against a bare baseline.
    Api(api::ApiBenchArgs),
    /// Live-update fan-out: subscribers over sessions, changes at a steady rate, against a bare WebSocket baseline.
    Live(live::LiveBenchArgs),
    /// Media forwarding: synthetic publishers and subscribers through our SFU, against Janus's VideoRoom.
    Sfu(sfu::SfuBenchArgs),
    /// The assistant's voice-to-voice latency over 20 spoken questions, stage by stage, with the configured engines.
    Agent(agent::AgentBenchArgs),
    /// The assistant's turn-taking: Silero VAD and Smart Turn per call, and the wait from the end of a spoken question to the end of its utterance.
    TurnTaking(agent::turn::TurnBenchArgs),
    /// Abuse: floods of sign-ups, AI logs, live churn and half-open connections, against honest participants measured quiet first.
    Abuse(abuse::AbuseBenchArgs),
}

impl Command {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Command::Api(args) => api::run_api(args).await,
            Command::Live(args) => live::run_live(args).await,
            Command::Sfu(args) => sfu::run_sfu(args).await,
            Command::Agent(args) => agent::run_agent(args).await,
            Command::TurnTaking(args) => agent::turn::run_turn_taking(args).await,
            Command::Abuse(args) => abuse::run_abuse(args).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
