//! The rules of Lock In, free of IO.
//!
//! # Layout
//!
//! - [`input`]: the error a value gets when it does not parse, and the rules
//!   of a text field as API clients see them (`NonBlank<N>`, `Text<N>`).
//! - [`id`]: opaque ids, parsed once at the edge.
//! - [`user`], [`project`], [`session`], [`ai_log`]: the values a request may
//!   carry (`SessionTitle::parse`, `MaxParticipants::parse`, …) and the records
//!   the API answers with.
//! - [`rules`]: the session state machine and who may do what. Plain functions
//!   over plain data; the store calls them inside its transactions so a rule
//!   is checked against the row it is about to change.
//! - [`ritual`]: a session's shape (planned length, rhythm) and its shared
//!   timer, acted on with `now` passed in.
//! - [`focus`]: the runs of the timer's blocks and people's stays in rooms,
//!   and what they add up to: focused minutes, completed blocks, streaks.
//! - [`goal`]: a person's goal for a session (one line, a checklist) and
//!   their check-out, with who may set them.
//! - [`recap`]: what a person sees of a session once it ended (time, goals,
//!   links, questions, ratings), and the fact sheet the assistant's summary
//!   is held to.
//! - [`room`]: questions the assistant answers about the room itself (the
//!   timer, goals, who is here, the project), read from their words.
//! - [`moderation`]: the host's controls, reports and blocks (their rules
//!   are in [`rules`]).
//! - [`favourite`]: the people someone likes to focus with, who may be one,
//!   and the notice their newly scheduled sessions become.
//! - [`chat`]: room chat and notifications.
//! - [`event`]: what changed, published on the bus for live queries.

pub mod ai_log;
pub mod chat;
pub mod event;
pub mod favourite;
pub mod focus;
pub mod goal;
pub mod id;
pub mod input;
pub mod moderation;
pub mod project;
pub mod recap;
pub mod ritual;
pub mod room;
pub mod rules;
pub mod session;
pub mod user;

pub use id::Id;
pub use input::InvalidInput;
pub use rules::RuleError;
