//! The focus ritual: a session's shape (how long, in what rhythm) and the
//! timer everyone in the room shares.
//!
//! ```text
//!   not started ──start──▶ running ⇄ pause/resume ⇄ paused
//!        ▲                    │ skip, or its block's end passes
//!        │                    ▼
//!        └──────start──── finished (after the last block)
//! ```
//!
//! Sans-IO like the rest of the domain: every function is given `now`, so the
//! sweep, a request and a test all decide the same way. **An action is always
//! applied to the timer as it is at `now`**: blocks whose end has passed are
//! advanced first, so a request never acts on a block that is already over
//! just because the sweep has not run yet.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::rules::RuleError;
use crate::session::{Session, SessionStatus};
use crate::{Id, InvalidInput};

/// The longest session, block or ad-hoc timer, in minutes.
pub const MAX_MINUTES: i64 = 180;
/// An ad-hoc timer's length when the host names none.
pub const DEFAULT_TIMER_MINUTES: i64 = 25;
/// What "+5" adds to the current block.
pub const ADDED_MINUTES: i64 = 5;

/// How a session's time is divided. Its schema is written out below: the
/// derived one would not say that unknown fields are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rhythm {
    /// One work block for the whole planned length. (A struct variant, so
    /// that unknown fields are refused as in the other.)
    Single {},
    /// Work blocks with short breaks between them, and a long break after
    /// every `long_break_every` work blocks.
    Pomodoro {
        work_minutes: i64,
        break_minutes: i64,
        long_break_minutes: i64,
        long_break_every: i64,
    },
}

impl utoipa::PartialSchema for Rhythm {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
        let kind = |name: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([name]))
        };
        let minutes = |max: i64| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Int64,
                )))
                .minimum(Some(1))
                .maximum(Some(max))
        };
        let closed = || Some(AdditionalProperties::FreeForm(false));
        let single = ObjectBuilder::new()
            .description(Some("One work block for the whole planned length."))
            .property("kind", kind("single"))
            .required("kind")
            .additional_properties(closed());
        let pomodoro = ObjectBuilder::new()
            .description(Some(
                "Work blocks with short breaks between them, and a long break after \
                 every `long_break_every` work blocks.",
            ))
            .property("kind", kind("pomodoro"))
            .property("work_minutes", minutes(MAX_MINUTES))
            .property("break_minutes", minutes(60))
            .property("long_break_minutes", minutes(60))
            .property("long_break_every", minutes(12))
            .required("kind")
            .required("work_minutes")
            .required("break_minutes")
            .required("long_break_minutes")
            .required("long_break_every")
            .additional_properties(closed());
        OneOfBuilder::new()
            .description(Some("How a session's time is divided."))
            .item(single)
            .item(pomodoro)
            .into()
    }
}

impl ToSchema for Rhythm {
    fn name() -> std::borrow::Cow<'static, str> {
        "Rhythm".into()
    }
}

impl Rhythm {
    fn parse(self) -> Result<Self, InvalidInput> {
        if let Self::Pomodoro {
            work_minutes,
            break_minutes,
            long_break_minutes,
            long_break_every,
        } = self
        {
            in_range("rhythm.work_minutes", work_minutes, 1, MAX_MINUTES)?;
            in_range("rhythm.break_minutes", break_minutes, 1, 60)?;
            in_range("rhythm.long_break_minutes", long_break_minutes, 1, 60)?;
            in_range("rhythm.long_break_every", long_break_every, 1, 12)?;
        }
        Ok(self)
    }

    /// "Pomodoro 25/5, 15 min break every 4", for cards and calendars.
    pub fn describe(&self) -> String {
        match self {
            Self::Single {} => "One block".to_owned(),
            Self::Pomodoro {
                work_minutes,
                break_minutes,
                long_break_minutes,
                long_break_every,
            } => format!(
                "Pomodoro {work_minutes}/{break_minutes}, {long_break_minutes} min break every {long_break_every}"
            ),
        }
    }
}

/// A shape in words, for cards, the room and calendars: "50 min · Pomodoro
/// 25/5, 15 min break every 4". `None` for a session without one.
pub fn describe_shape(planned_minutes: Option<i64>, rhythm: Option<&Rhythm>) -> Option<String> {
    let parts: Vec<String> = [
        planned_minutes.map(|minutes| format!("{minutes} min")),
        rhythm.map(Rhythm::describe),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join(" · "))
}

fn in_range(field: &str, value: i64, min: i64, max: i64) -> Result<i64, InvalidInput> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(InvalidInput::new(
            field,
            format!("must be between {min} and {max}"),
        ))
    }
}

/// A session's planned length and rhythm, both optional and both valid:
/// holding one means it was parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionShape {
    planned_minutes: Option<i64>,
    rhythm: Option<Rhythm>,
}

impl SessionShape {
    /// The presets the form offers; any whole number of minutes in 1..=180 is accepted.
    pub const PRESETS: [i64; 4] = [25, 50, 75, 90];

    pub fn parse(
        planned_minutes: Option<i64>,
        rhythm: Option<Rhythm>,
    ) -> Result<Self, InvalidInput> {
        Ok(Self {
            planned_minutes: planned_minutes
                .map(|minutes| in_range("planned_minutes", minutes, 1, MAX_MINUTES))
                .transpose()?,
            rhythm: rhythm.map(Rhythm::parse).transpose()?,
        })
    }

    /// From a form's text: empty means none; anything but a whole number in
    /// range is refused in the same words as a number out of range.
    pub fn parse_minutes_text(field: &str, raw: &str) -> Result<Option<i64>, InvalidInput> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        raw.parse::<i64>()
            .ok()
            .and_then(|minutes| in_range(field, minutes, 1, MAX_MINUTES).ok())
            .map(Some)
            .ok_or_else(|| InvalidInput::new(field, format!("must be between 1 and {MAX_MINUTES}")))
    }

    pub fn planned_minutes(&self) -> Option<i64> {
        self.planned_minutes
    }

    pub fn rhythm(&self) -> Option<Rhythm> {
        self.rhythm
    }
}

/// What a block of the timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    Work,
    Break,
    LongBreak,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub kind: BlockKind,
    pub length: Duration,
}

/// Whether the shape sets the timer's blocks; if not, the host names the
/// length of an ad-hoc timer when starting it.
pub fn shape_sets_blocks(planned_minutes: Option<i64>, rhythm: Option<&Rhythm>) -> bool {
    planned_minutes.is_some() || matches!(rhythm, Some(Rhythm::Pomodoro { .. }))
}

/// The blocks of a session's timer, in order.
///
/// - Pomodoro with a planned length: work and breaks in turn until the
///   planned length is used up; the last block is cut to fit.
/// - Pomodoro without one: one cycle, `long_break_every` work blocks with
///   short breaks between them.
/// - Otherwise one work block: the planned length, else the ad-hoc minutes,
///   else [`DEFAULT_TIMER_MINUTES`].
pub fn blocks(
    planned_minutes: Option<i64>,
    rhythm: Option<&Rhythm>,
    adhoc_minutes: Option<i64>,
) -> Vec<Block> {
    let work = |minutes: i64| Block {
        kind: BlockKind::Work,
        length: Duration::minutes(minutes),
    };
    let Some(&Rhythm::Pomodoro {
        work_minutes,
        break_minutes,
        long_break_minutes,
        long_break_every,
    }) = rhythm
    else {
        let minutes = planned_minutes
            .or(adhoc_minutes)
            .unwrap_or(DEFAULT_TIMER_MINUTES);
        return vec![work(minutes)];
    };
    let every = long_break_every.max(1);
    let break_after = |works: i64| {
        if works % every == 0 {
            Block {
                kind: BlockKind::LongBreak,
                length: Duration::minutes(long_break_minutes),
            }
        } else {
            Block {
                kind: BlockKind::Break,
                length: Duration::minutes(break_minutes),
            }
        }
    };
    let mut plan = Vec::new();
    match planned_minutes {
        None => {
            for works in 1..=every {
                plan.push(work(work_minutes));
                if works < every {
                    plan.push(break_after(works));
                }
            }
        }
        Some(total) => {
            let mut left = Duration::minutes(total);
            let mut works = 0;
            while left > Duration::zero() {
                let next = if plan
                    .last()
                    .is_none_or(|b: &Block| b.kind != BlockKind::Work)
                {
                    works += 1;
                    work(work_minutes)
                } else {
                    break_after(works)
                };
                let length = next.length.min(left);
                left -= length;
                plan.push(Block { length, ..next });
            }
        }
    }
    plan
}

/// Where the timer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimerState {
    NotStarted,
    Running,
    Paused,
    Finished,
}

/// A session's shared timer, as the API shows it. `ends_at` is set while
/// running, `remaining_ms` while paused; a client counts down from `ends_at`
/// against the server's clock (`server_now` of `GET /api/sessions/{id}/timer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Timer {
    pub state: TimerState,
    /// The current block, from 0, while running or paused.
    pub block_index: Option<i64>,
    pub block_kind: Option<BlockKind>,
    /// How many blocks the plan has.
    pub block_count: i64,
    /// When the current block ends, while running.
    pub ends_at: Option<DateTime<Utc>>,
    /// What is left of the current block, while paused.
    pub remaining_ms: Option<i64>,
    /// The length of an ad-hoc timer (a session whose shape sets no blocks).
    pub minutes: Option<i64>,
}

/// The timer's stored state: what the store keeps, and what the rules act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerPhase {
    NotStarted,
    Running { block: i64, ends_at: DateTime<Utc> },
    Paused { block: i64, remaining: Duration },
    Finished,
}

impl TimerPhase {
    pub fn state(&self) -> TimerState {
        match self {
            Self::NotStarted => TimerState::NotStarted,
            Self::Running { .. } => TimerState::Running,
            Self::Paused { .. } => TimerState::Paused,
            Self::Finished => TimerState::Finished,
        }
    }

    pub fn block(&self) -> Option<i64> {
        match self {
            Self::Running { block, .. } | Self::Paused { block, .. } => Some(*block),
            Self::NotStarted | Self::Finished => None,
        }
    }

    /// Rebuilds the phase from its stored parts; `None` if they do not fit.
    pub fn from_parts(
        state: TimerState,
        block: i64,
        ends_at: Option<DateTime<Utc>>,
        remaining: Option<Duration>,
    ) -> Option<Self> {
        Some(match state {
            TimerState::NotStarted => Self::NotStarted,
            TimerState::Finished => Self::Finished,
            TimerState::Running => Self::Running {
                block,
                ends_at: ends_at?,
            },
            TimerState::Paused => Self::Paused {
                block,
                remaining: remaining?,
            },
        })
    }

    /// The API's view of this phase under `plan`.
    pub fn view(&self, plan: &[Block], adhoc_minutes: Option<i64>) -> Timer {
        let block = self.block();
        Timer {
            state: self.state(),
            block_index: block,
            block_kind: block
                .and_then(|index| usize::try_from(index).ok())
                .and_then(|index| plan.get(index))
                .map(|b| b.kind),
            block_count: i64::try_from(plan.len()).unwrap_or(i64::MAX),
            ends_at: match self {
                Self::Running { ends_at, .. } => Some(*ends_at),
                _ => None,
            },
            remaining_ms: match self {
                Self::Paused { remaining, .. } => Some(remaining.num_milliseconds()),
                _ => None,
            },
            minutes: adhoc_minutes,
        }
    }
}

/// The timer as one session holds it: its phase, and the ad-hoc length it
/// was started with (if its shape sets no blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerRecord {
    pub phase: TimerPhase,
    pub adhoc_minutes: Option<i64>,
}

impl TimerRecord {
    pub fn plan(&self, session: &Session) -> Vec<Block> {
        blocks(
            session.planned_minutes,
            session.rhythm.as_ref(),
            self.adhoc_minutes,
        )
    }
}

/// What the host asks of the timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimerAction {
    Start,
    Pause,
    Resume,
    Skip,
    AddFive,
}

fn block_length(plan: &[Block], block: i64) -> Option<Duration> {
    usize::try_from(block)
        .ok()
        .and_then(|index| plan.get(index))
        .map(|b| b.length)
}

/// The timer at `now`: every running block whose end has passed gives way to
/// the next, each starting when the last one ended (a late sweep does not
/// stretch the plan), until one is still running or the plan is over.
/// `None` when nothing is due.
pub fn advance(record: &TimerRecord, plan: &[Block], now: DateTime<Utc>) -> Option<TimerRecord> {
    let TimerPhase::Running {
        mut block,
        mut ends_at,
    } = record.phase
    else {
        return None;
    };
    if ends_at > now {
        return None;
    }
    while ends_at <= now {
        block += 1;
        match block_length(plan, block) {
            Some(length) => ends_at += length,
            None => {
                return Some(TimerRecord {
                    phase: TimerPhase::Finished,
                    ..*record
                });
            }
        }
    }
    Some(TimerRecord {
        phase: TimerPhase::Running { block, ends_at },
        ..*record
    })
}

/// What `action` by `actor` does to `session`'s timer at `now`. Only the
/// host runs it, and only while the session is active. `minutes` names an
/// ad-hoc timer's length on start, for a session whose shape sets no blocks.
pub fn act(
    session: &Session,
    record: &TimerRecord,
    actor: &Id,
    action: TimerAction,
    minutes: Option<i64>,
    now: DateTime<Utc>,
) -> Result<TimerRecord, RuleError> {
    if &session.creator_id != actor {
        return Err(RuleError::Forbidden("only the host can run the timer"));
    }
    match session.status {
        SessionStatus::Active => {}
        SessionStatus::Scheduled => {
            return Err(RuleError::Conflict("the session has not started yet"));
        }
        SessionStatus::Ended => return Err(RuleError::Conflict("the session has ended")),
    }
    if minutes.is_some() && action != TimerAction::Start {
        return Err(RuleError::Invalid {
            field: "minutes",
            message: "only a start takes minutes",
        });
    }
    let plan = record.plan(session);
    let current = advance(record, &plan, now).unwrap_or(*record);
    let not_running = RuleError::Conflict("the timer is not running");
    let phase = match (action, current.phase) {
        (TimerAction::Start, TimerPhase::NotStarted | TimerPhase::Finished) => {
            let adhoc_minutes =
                if shape_sets_blocks(session.planned_minutes, session.rhythm.as_ref()) {
                    if minutes.is_some() {
                        return Err(RuleError::Invalid {
                            field: "minutes",
                            message: "this session's length and rhythm set its blocks",
                        });
                    }
                    None
                } else {
                    let minutes = minutes.unwrap_or(DEFAULT_TIMER_MINUTES);
                    if !(1..=MAX_MINUTES).contains(&minutes) {
                        return Err(RuleError::Invalid {
                            field: "minutes",
                            message: "must be between 1 and 180",
                        });
                    }
                    Some(minutes)
                };
            let started = TimerRecord {
                phase: TimerPhase::NotStarted,
                adhoc_minutes,
            };
            let plan = started.plan(session);
            return Ok(TimerRecord {
                phase: TimerPhase::Running {
                    block: 0,
                    ends_at: now + plan[0].length,
                },
                adhoc_minutes,
            });
        }
        (TimerAction::Start, _) => {
            return Err(RuleError::Conflict("the timer is already running"));
        }
        (TimerAction::Pause, TimerPhase::Running { block, ends_at }) => TimerPhase::Paused {
            block,
            remaining: (ends_at - now).max(Duration::zero()),
        },
        (TimerAction::Pause, TimerPhase::Paused { .. }) => {
            return Err(RuleError::Conflict("the timer is already paused"));
        }
        (TimerAction::Resume, TimerPhase::Paused { block, remaining }) => TimerPhase::Running {
            block,
            ends_at: now + remaining,
        },
        (TimerAction::Resume, _) => return Err(RuleError::Conflict("the timer is not paused")),
        (
            TimerAction::Skip,
            TimerPhase::Running { block, .. } | TimerPhase::Paused { block, .. },
        ) => {
            match block_length(&plan, block + 1) {
                None => TimerPhase::Finished,
                // A paused timer stays paused, at the start of the next block.
                Some(length) if matches!(current.phase, TimerPhase::Paused { .. }) => {
                    TimerPhase::Paused {
                        block: block + 1,
                        remaining: length,
                    }
                }
                Some(length) => TimerPhase::Running {
                    block: block + 1,
                    ends_at: now + length,
                },
            }
        }
        (TimerAction::AddFive, TimerPhase::Running { block, ends_at }) => {
            let ends_at = ends_at + Duration::minutes(ADDED_MINUTES);
            within_longest_block(ends_at - now)?;
            TimerPhase::Running { block, ends_at }
        }
        (TimerAction::AddFive, TimerPhase::Paused { block, remaining }) => {
            let remaining = remaining + Duration::minutes(ADDED_MINUTES);
            within_longest_block(remaining)?;
            TimerPhase::Paused { block, remaining }
        }
        (TimerAction::Pause | TimerAction::Skip | TimerAction::AddFive, _) => {
            return Err(not_running);
        }
    };
    Ok(TimerRecord { phase, ..current })
}

/// "+5" stops where a block would last longer than the longest session.
fn within_longest_block(left: Duration) -> Result<(), RuleError> {
    if left <= Duration::minutes(MAX_MINUTES) {
        Ok(())
    } else {
        Err(RuleError::Conflict(
            "a block cannot have more than 180 minutes left",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pomodoro(work: i64, short: i64, long: i64, every: i64) -> Rhythm {
        Rhythm::Pomodoro {
            work_minutes: work,
            break_minutes: short,
            long_break_minutes: long,
            long_break_every: every,
        }
    }

    fn kinds_and_minutes(plan: &[Block]) -> Vec<(BlockKind, i64)> {
        plan.iter()
            .map(|b| (b.kind, b.length.num_minutes()))
            .collect()
    }

    fn session(planned: Option<i64>, rhythm: Option<Rhythm>) -> Session {
        Session {
            planned_minutes: planned,
            rhythm,
            ..Session::example()
        }
    }

    const NOT_STARTED: TimerRecord = TimerRecord {
        phase: TimerPhase::NotStarted,
        adhoc_minutes: None,
    };

    #[test]
    fn shapes_are_bounded() {
        assert!(SessionShape::parse(Some(0), None).is_err());
        assert!(SessionShape::parse(Some(600), None).is_err());
        assert_eq!(
            SessionShape::parse(Some(181), None).unwrap_err().field,
            "planned_minutes"
        );
        assert_eq!(
            SessionShape::parse(Some(180), None)
                .unwrap()
                .planned_minutes(),
            Some(180)
        );
        assert_eq!(
            SessionShape::parse(None, Some(pomodoro(25, 0, 15, 4)))
                .unwrap_err()
                .field,
            "rhythm.break_minutes"
        );
        assert!(SessionShape::parse(None, Some(pomodoro(25, 5, 15, 0))).is_err());
        assert!(SessionShape::parse(Some(50), Some(pomodoro(25, 5, 15, 4))).is_ok());
        assert_eq!(
            SessionShape::parse_minutes_text("planned_minutes", " 75 ").unwrap(),
            Some(75)
        );
        assert_eq!(
            SessionShape::parse_minutes_text("planned_minutes", "").unwrap(),
            None
        );
        assert!(SessionShape::parse_minutes_text("planned_minutes", "ten").is_err());
    }

    #[test]
    fn rhythms_read_as_tagged_objects_and_refuse_strangers() {
        let rhythm: Rhythm = serde_json::from_value(serde_json::json!({
            "kind": "pomodoro", "work_minutes": 25, "break_minutes": 5,
            "long_break_minutes": 15, "long_break_every": 4
        }))
        .unwrap();
        assert_eq!(rhythm, pomodoro(25, 5, 15, 4));
        assert!(serde_json::from_value::<Rhythm>(serde_json::json!({"kind": "waltz"})).is_err());
        assert!(
            serde_json::from_value::<Rhythm>(serde_json::json!({"kind": "single", "x": 1}))
                .is_err()
        );
    }

    #[test]
    fn a_planned_pomodoro_is_cut_to_its_length() {
        let plan = blocks(Some(50), Some(&pomodoro(25, 5, 15, 4)), None);
        assert_eq!(
            kinds_and_minutes(&plan),
            [
                (BlockKind::Work, 25),
                (BlockKind::Break, 5),
                (BlockKind::Work, 20)
            ]
        );
        let plan = blocks(Some(90), Some(&pomodoro(20, 5, 15, 2)), None);
        assert_eq!(
            kinds_and_minutes(&plan),
            [
                (BlockKind::Work, 20),
                (BlockKind::Break, 5),
                (BlockKind::Work, 20),
                (BlockKind::LongBreak, 15),
                (BlockKind::Work, 20),
                (BlockKind::Break, 5),
                (BlockKind::Work, 5)
            ]
        );
    }

    #[test]
    fn an_unplanned_pomodoro_is_one_cycle_and_no_shape_is_one_block() {
        let plan = blocks(None, Some(&pomodoro(25, 5, 15, 3)), None);
        assert_eq!(
            kinds_and_minutes(&plan),
            [
                (BlockKind::Work, 25),
                (BlockKind::Break, 5),
                (BlockKind::Work, 25),
                (BlockKind::Break, 5),
                (BlockKind::Work, 25)
            ]
        );
        assert_eq!(
            kinds_and_minutes(&blocks(Some(75), Some(&Rhythm::Single {}), None)),
            [(BlockKind::Work, 75)]
        );
        assert_eq!(
            kinds_and_minutes(&blocks(None, None, Some(10))),
            [(BlockKind::Work, 10)]
        );
        assert_eq!(
            kinds_and_minutes(&blocks(None, None, None)),
            [(BlockKind::Work, 25)]
        );
    }

    #[test]
    fn the_host_starts_pauses_resumes_skips_and_adds_five() {
        let s = session(Some(50), Some(pomodoro(25, 5, 15, 4)));
        let host = s.creator_id.clone();
        let t0 = Utc::now();
        let run = |record: &TimerRecord, action, at| act(&s, record, &host, action, None, at);
        let started = run(&NOT_STARTED, TimerAction::Start, t0).unwrap();
        assert_eq!(
            started.phase,
            TimerPhase::Running {
                block: 0,
                ends_at: t0 + Duration::minutes(25)
            }
        );
        assert!(run(&started, TimerAction::Start, t0).is_err());
        let t1 = t0 + Duration::minutes(10);
        let paused = run(&started, TimerAction::Pause, t1).unwrap();
        assert_eq!(
            paused.phase,
            TimerPhase::Paused {
                block: 0,
                remaining: Duration::minutes(15)
            }
        );
        // Paused, the clock does not run: resuming an hour later still has 15 minutes.
        let t2 = t1 + Duration::hours(1);
        let resumed = run(&paused, TimerAction::Resume, t2).unwrap();
        assert_eq!(
            resumed.phase,
            TimerPhase::Running {
                block: 0,
                ends_at: t2 + Duration::minutes(15)
            }
        );
        let longer = run(&resumed, TimerAction::AddFive, t2).unwrap();
        assert_eq!(
            longer.phase,
            TimerPhase::Running {
                block: 0,
                ends_at: t2 + Duration::minutes(20)
            }
        );
        let skipped = run(&longer, TimerAction::Skip, t2).unwrap();
        assert_eq!(
            skipped.phase,
            TimerPhase::Running {
                block: 1,
                ends_at: t2 + Duration::minutes(5)
            }
        );
        let last = run(&skipped, TimerAction::Skip, t2).unwrap();
        let done = run(&last, TimerAction::Skip, t2).unwrap();
        assert_eq!(done.phase, TimerPhase::Finished);
        assert!(run(&done, TimerAction::Pause, t2).is_err());
        // Finished, it can start again from the first block.
        assert!(run(&done, TimerAction::Start, t2).is_ok());
    }

    #[test]
    fn only_the_host_of_an_active_session_runs_it() {
        let s = session(None, None);
        let now = Utc::now();
        assert_eq!(
            act(
                &s,
                &NOT_STARTED,
                &Id::generate(),
                TimerAction::Start,
                None,
                now
            ),
            Err(RuleError::Forbidden("only the host can run the timer"))
        );
        let mut ended = s.clone();
        ended.status = SessionStatus::Ended;
        assert!(matches!(
            act(
                &ended,
                &NOT_STARTED,
                &ended.creator_id,
                TimerAction::Start,
                None,
                now
            ),
            Err(RuleError::Conflict(_))
        ));
    }

    #[test]
    fn an_ad_hoc_timer_takes_minutes_and_a_shaped_one_refuses_them() {
        let now = Utc::now();
        let bare = session(None, None);
        let started = act(
            &bare,
            &NOT_STARTED,
            &bare.creator_id,
            TimerAction::Start,
            Some(10),
            now,
        )
        .unwrap();
        assert_eq!(started.adhoc_minutes, Some(10));
        assert_eq!(
            started.phase,
            TimerPhase::Running {
                block: 0,
                ends_at: now + Duration::minutes(10)
            }
        );
        assert!(
            act(
                &bare,
                &NOT_STARTED,
                &bare.creator_id,
                TimerAction::Start,
                Some(0),
                now
            )
            .is_err()
        );
        let shaped = session(Some(50), None);
        assert!(matches!(
            act(
                &shaped,
                &NOT_STARTED,
                &shaped.creator_id,
                TimerAction::Start,
                Some(10),
                now
            ),
            Err(RuleError::Invalid {
                field: "minutes",
                ..
            })
        ));
    }

    #[test]
    fn blocks_advance_on_their_own_from_when_the_last_one_ended() {
        let s = session(Some(50), Some(pomodoro(25, 5, 15, 4)));
        let plan = NOT_STARTED.plan(&s);
        let t0 = Utc::now();
        let running = TimerRecord {
            phase: TimerPhase::Running {
                block: 0,
                ends_at: t0 + Duration::minutes(25),
            },
            adhoc_minutes: None,
        };
        assert_eq!(advance(&running, &plan, t0), None);
        // Swept two minutes late: the break still ends five minutes after the work did.
        let late = t0 + Duration::minutes(27);
        assert_eq!(
            advance(&running, &plan, late).unwrap().phase,
            TimerPhase::Running {
                block: 1,
                ends_at: t0 + Duration::minutes(30)
            }
        );
        // Long after: straight through to finished.
        assert_eq!(
            advance(&running, &plan, t0 + Duration::hours(3))
                .unwrap()
                .phase,
            TimerPhase::Finished
        );
        // An action at `late` acts on the break, not the work block that is over.
        let paused = act(&s, &running, &s.creator_id, TimerAction::Pause, None, late).unwrap();
        assert_eq!(
            paused.phase,
            TimerPhase::Paused {
                block: 1,
                remaining: Duration::minutes(3)
            }
        );
    }

    #[test]
    fn five_more_minutes_stop_at_the_longest_block() {
        let s = session(None, None);
        let now = Utc::now();
        let nearly_full = TimerRecord {
            phase: TimerPhase::Paused {
                block: 0,
                remaining: Duration::minutes(178),
            },
            adhoc_minutes: Some(180),
        };
        assert!(matches!(
            act(
                &s,
                &nearly_full,
                &s.creator_id,
                TimerAction::AddFive,
                None,
                now
            ),
            Err(RuleError::Conflict(_))
        ));
    }
}
