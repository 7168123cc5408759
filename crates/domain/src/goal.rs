//! What a person says they will do in a session, and how it went: a goal
//! (one line, with an optional checklist of tasks) stated on joining, and a
//! check-out (done, partly, not yet, with an optional note) at the end or on
//! leaving. Both are kept on the person's seat, so they stay with the session.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::input::{InvalidInput, bounded_text};
use crate::rules::RuleError;
use crate::session::{Participant, ParticipantStatus, Role, Session, SessionStatus};

/// The longest goal, and the longest task: one line each.
pub const GOAL_MAX_CHARS: usize = 200;
/// How many tasks a goal's checklist may hold.
pub const MAX_TASKS: usize = 10;
/// The longest check-out note.
pub const NOTE_MAX_CHARS: usize = 500;

/// One item of a goal's checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Task {
    pub text: String,
    pub done: bool,
}

/// A person's goal for the session, as they last stated it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Goal {
    pub text: String,
    pub tasks: Vec<Task>,
    pub set_at: DateTime<Utc>,
}

impl Goal {
    /// "2 of 3 tasks done", when it has tasks.
    pub fn progress(&self) -> Option<String> {
        if self.tasks.is_empty() {
            return None;
        }
        let done = self.tasks.iter().filter(|task| task.done).count();
        Some(format!("{done} of {} tasks done", self.tasks.len()))
    }
}

/// How a person says their goal went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Done,
    Partly,
    NotYet,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Partly => "partly",
            Outcome::NotYet => "not_yet",
        }
    }

    pub fn from_str_opt(text: &str) -> Option<Self> {
        match text {
            "done" => Some(Outcome::Done),
            "partly" => Some(Outcome::Partly),
            "not_yet" => Some(Outcome::NotYet),
            _ => None,
        }
    }

    /// As a person reads it: "Done", "Partly", "Not yet".
    pub fn words(self) -> &'static str {
        match self {
            Outcome::Done => "Done",
            Outcome::Partly => "Partly",
            Outcome::NotYet => "Not yet",
        }
    }
}

/// A person's check-out, as they last gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CheckOut {
    pub outcome: Outcome,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

/// Reads one line of 1 to `GOAL_MAX_CHARS` characters.
fn one_line(field: &str, raw: &str) -> Result<String, InvalidInput> {
    let text = bounded_text(field, raw, 1, GOAL_MAX_CHARS)?;
    if raw.contains(['\n', '\r', '\t']) {
        return Err(InvalidInput::new(field, "must be one line"));
    }
    Ok(text)
}

/// A goal as a request states it, parsed: the text and its tasks in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalDraft {
    text: String,
    tasks: Vec<Task>,
}

impl GoalDraft {
    pub fn parse(text: &str, tasks: Vec<Task>) -> Result<Self, InvalidInput> {
        let text = one_line("goal", text)?;
        if tasks.len() > MAX_TASKS {
            return Err(InvalidInput::new(
                "tasks",
                format!("must hold at most {MAX_TASKS} tasks"),
            ));
        }
        let tasks = tasks
            .into_iter()
            .enumerate()
            .map(|(index, task)| {
                Ok(Task {
                    text: one_line(&format!("tasks[{index}].text"), &task.text)?,
                    done: task.done,
                })
            })
            .collect::<Result<_, InvalidInput>>()?;
        Ok(Self { text, tasks })
    }

    pub fn into_goal(self, at: DateTime<Utc>) -> Goal {
        Goal {
            text: self.text,
            tasks: self.tasks,
            set_at: at,
        }
    }
}

/// A check-out as a request gives it, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutDraft {
    outcome: Outcome,
    note: Option<String>,
}

impl CheckOutDraft {
    pub fn parse(outcome: Outcome, note: Option<&str>) -> Result<Self, InvalidInput> {
        let note = match note {
            Some(raw) => Some(bounded_text("note", raw, 0, NOTE_MAX_CHARS)?),
            None => None,
        }
        .filter(|note| !note.is_empty());
        Ok(Self { outcome, note })
    }

    pub fn into_check_out(self, at: DateTime<Utc>) -> CheckOut {
        CheckOut {
            outcome: self.outcome,
            note: self.note,
            at,
        }
    }
}

/// A goal is stated, or changed (its tasks ticked), by a person in the room
/// while the session runs.
pub fn set_goal(session: &Session, participation: Option<&Participant>) -> Result<(), RuleError> {
    match session.status {
        SessionStatus::Active => {}
        SessionStatus::Scheduled => {
            return Err(RuleError::Conflict("the session has not started yet"));
        }
        SessionStatus::Ended => {
            return Err(RuleError::Conflict(
                "the session has ended: check out instead",
            ));
        }
    }
    match participation {
        Some(p) if p.role != Role::Agent && p.status == ParticipantStatus::Joined => Ok(()),
        _ => Err(RuleError::Forbidden("join the session to set a goal")),
    }
}

/// A check-out is given by someone who was in the session, while it runs
/// (as they leave, or before) or after it ended; giving it again replaces it.
pub fn check_out(participation: Option<&Participant>) -> Result<(), RuleError> {
    match participation {
        Some(p) if p.role != Role::Agent => Ok(()),
        _ => Err(RuleError::Forbidden(
            "only people who joined the session can check out",
        )),
    }
}

/// "Mark my goal done": every task of the goal as it is stored ticked, and a
/// check-out of done, decided together on the seat as it is, under the
/// rules of both a goal change and a check-out. `None`: there is no goal
/// to mark.
pub fn mark_done(
    session: &Session,
    participation: Option<&Participant>,
    at: DateTime<Utc>,
) -> Result<Option<(Goal, CheckOut)>, RuleError> {
    set_goal(session, participation)?;
    check_out(participation)?;
    let Some(goal) = participation.and_then(|seat| seat.goal.clone()) else {
        return Ok(None);
    };
    let ticked = goal.tasks.iter().any(|task| !task.done);
    let goal = Goal {
        tasks: goal
            .tasks
            .into_iter()
            .map(|task| Task { done: true, ..task })
            .collect(),
        set_at: if ticked { at } else { goal.set_at },
        ..goal
    };
    let done = CheckOut {
        outcome: Outcome::Done,
        note: None,
        at,
    };
    Ok(Some((goal, done)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Id;

    fn task(text: &str) -> Task {
        Task {
            text: text.into(),
            done: false,
        }
    }

    fn seat(session: &Session, role: Role, status: ParticipantStatus) -> Participant {
        Participant::example(session, &Id::generate(), role, status)
    }

    #[test]
    fn a_goal_is_one_line_of_at_most_200_characters() {
        let draft = GoalDraft::parse("  finish the parser  ", vec![task("tokens")]).unwrap();
        let goal = draft.into_goal(Utc::now());
        assert_eq!(goal.text, "finish the parser");
        assert_eq!(goal.tasks, vec![task("tokens")]);
        assert_eq!(
            GoalDraft::parse(&"x".repeat(10_000), vec![]).unwrap_err(),
            InvalidInput::new("goal", "must be at most 200 characters")
        );
        assert_eq!(
            GoalDraft::parse("two\nlines", vec![]).unwrap_err().message,
            "must be one line"
        );
        assert_eq!(GoalDraft::parse("   ", vec![]).unwrap_err().field, "goal");
    }

    #[test]
    fn tasks_are_counted_and_each_is_read_like_a_goal() {
        let eleven = (0..11).map(|n| task(&format!("task {n}"))).collect();
        assert_eq!(
            GoalDraft::parse("ship it", eleven).unwrap_err().field,
            "tasks"
        );
        let blank = vec![task("fine"), task(" ")];
        assert_eq!(
            GoalDraft::parse("ship it", blank).unwrap_err().field,
            "tasks[1].text"
        );
    }

    #[test]
    fn progress_counts_the_ticked_tasks() {
        let mut goal = GoalDraft::parse("ship it", vec![task("a"), task("b")])
            .unwrap()
            .into_goal(Utc::now());
        assert_eq!(goal.progress().as_deref(), Some("0 of 2 tasks done"));
        goal.tasks[1].done = true;
        assert_eq!(goal.progress().as_deref(), Some("1 of 2 tasks done"));
        goal.tasks.clear();
        assert_eq!(goal.progress(), None);
    }

    #[test]
    fn a_blank_note_is_no_note_and_a_long_one_is_refused() {
        let draft = CheckOutDraft::parse(Outcome::Partly, Some("  ")).unwrap();
        assert_eq!(draft.into_check_out(Utc::now()).note, None);
        assert_eq!(
            CheckOutDraft::parse(Outcome::Done, Some(&"n".repeat(501)))
                .unwrap_err()
                .field,
            "note"
        );
    }

    #[test]
    fn only_a_person_in_a_running_session_sets_a_goal() {
        let mut session = Session::example();
        session.status = SessionStatus::Active;
        let joined = seat(&session, Role::Participant, ParticipantStatus::Joined);
        let left = seat(&session, Role::Participant, ParticipantStatus::Left);
        let agent = seat(&session, Role::Agent, ParticipantStatus::Joined);
        assert_eq!(set_goal(&session, Some(&joined)), Ok(()));
        assert!(matches!(
            set_goal(&session, Some(&left)),
            Err(RuleError::Forbidden(_))
        ));
        assert!(matches!(
            set_goal(&session, Some(&agent)),
            Err(RuleError::Forbidden(_))
        ));
        assert!(matches!(
            set_goal(&session, None),
            Err(RuleError::Forbidden(_))
        ));
        session.status = SessionStatus::Ended;
        assert!(matches!(
            set_goal(&session, Some(&joined)),
            Err(RuleError::Conflict(_))
        ));
    }

    #[test]
    fn anyone_who_was_in_the_session_checks_out_and_no_one_else() {
        let session = Session::example();
        let left = seat(&session, Role::Participant, ParticipantStatus::Left);
        let agent = seat(&session, Role::Agent, ParticipantStatus::Joined);
        assert_eq!(check_out(Some(&left)), Ok(()));
        assert!(check_out(Some(&agent)).is_err());
        assert!(check_out(None).is_err());
    }

    #[test]
    fn marking_done_ticks_the_stored_tasks_and_checks_out_done() {
        let mut session = Session::example();
        session.status = SessionStatus::Active;
        let mut joined = seat(&session, Role::Participant, ParticipantStatus::Joined);
        let at = Utc::now();
        assert_eq!(mark_done(&session, Some(&joined), at), Ok(None));
        let set_at = at - chrono::Duration::minutes(10);
        joined.goal = Some(Goal {
            text: "Ship it".into(),
            tasks: vec![
                Task {
                    done: true,
                    ..task("tests")
                },
                task("docs"),
            ],
            set_at,
        });
        let (goal, done) = mark_done(&session, Some(&joined), at).unwrap().unwrap();
        assert!(goal.tasks.iter().all(|task| task.done));
        assert_eq!((goal.text.as_str(), goal.set_at), ("Ship it", at));
        assert_eq!((done.outcome, done.at), (Outcome::Done, at));
        // Nothing left to tick: the goal is as it was stated.
        joined.goal = Some(goal.clone());
        let (again, _) = mark_done(&session, Some(&joined), at + chrono::Duration::minutes(1))
            .unwrap()
            .unwrap();
        assert_eq!(again, goal);
        session.status = SessionStatus::Ended;
        assert!(matches!(
            mark_done(&session, Some(&joined), at),
            Err(RuleError::Conflict(_))
        ));
    }
}
