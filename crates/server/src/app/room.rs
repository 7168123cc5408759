//! The assistant as the room's helper: questions about the room itself
//! (`domain::room::RoomCommand`) answered from the session's own data, and
//! changes made as the person who asked — the timer by the host, a goal by
//! its owner — through the same store writes, and so the same rules in the
//! same transactions, as the buttons in the room. The words are made here
//! from exact numbers and names; no language model takes part.

use chrono::{DateTime, Duration, Utc};
use domain::Id;
use domain::goal::Goal;
use domain::ritual::{BlockKind, Timer, TimerAction, TimerState};
use domain::room::RoomCommand;
use domain::session::{Participant, ParticipantStatus, Role, Session};

use super::error::named;
use super::{App, Caller, Error, Result};

/// What the assistant says back, and whether the room changed.
pub use protocol::internal::RoomReply as RoomAnswer;

fn said(answer: impl Into<String>) -> RoomAnswer {
    RoomAnswer {
        answer: answer.into(),
        acted: false,
    }
}

fn did(answer: impl Into<String>) -> RoomAnswer {
    RoomAnswer {
        answer: answer.into(),
        acted: true,
    }
}

impl App {
    /// Answers `command` asked by `asker` in the session (for the assistant's
    /// worker, with the agent token). The asker must be in the room; what
    /// the rules refuse them is said, not raised.
    pub async fn room_command(
        &self,
        caller: &Caller,
        session_id: &Id,
        asker: &Id,
        command: RoomCommand,
    ) -> Result<RoomAnswer> {
        caller.agent()?;
        let session = self.session(session_id).await?;
        let people = self.participants(session_id).await?;
        let Some(me) = people
            .iter()
            .find(|p| &p.user_id == asker && p.status == ParticipantStatus::Joined)
        else {
            return Err(Error::Forbidden("only people in the room ask about it"));
        };
        let answer = match command {
            RoomCommand::TimeLeft => said(timer_words(&session.timer, Utc::now())),
            RoomCommand::StartTimer { minutes } => {
                self.start_timer(&session, asker, minutes).await?
            }
            RoomCommand::PauseTimer => {
                self.act_on_timer_for(&session, asker, TimerAction::Pause)
                    .await?
            }
            RoomCommand::ResumeTimer => {
                self.act_on_timer_for(&session, asker, TimerAction::Resume)
                    .await?
            }
            RoomCommand::SkipBlock => {
                self.act_on_timer_for(&session, asker, TimerAction::Skip)
                    .await?
            }
            RoomCommand::AddFive => {
                self.act_on_timer_for(&session, asker, TimerAction::AddFive)
                    .await?
            }
            RoomCommand::MyGoal => said(my_goal_words(me)),
            RoomCommand::MarkGoalDone => self.mark_goal_done(session_id, me).await?,
            RoomCommand::EveryonesGoals => said(goals_words(&people, asker)),
            RoomCommand::WhoIsHere => said(people_words(&people, asker)),
            RoomCommand::AboutProject => said(self.project_words(&session).await?),
        };
        Ok(answer)
    }

    async fn start_timer(
        &self,
        session: &Session,
        asker: &Id,
        minutes: Option<i64>,
    ) -> Result<RoomAnswer> {
        let shaped =
            domain::ritual::shape_sets_blocks(session.planned_minutes, session.rhythm.as_ref());
        // A session whose shape sets its blocks starts its plan, whatever
        // minutes were named; the answer says so.
        let named = minutes.filter(|_| !shaped);
        let started = self
            .store
            .act_on_timer(&session.id, asker, TimerAction::Start, named, Utc::now())
            .await;
        let started = match self.publish_write(started, "no such session").await {
            Ok(started) => started,
            Err(refusal) => return refused(session, refusal),
        };
        let timer = &started.timer;
        let block = block_words(timer);
        let length = current_length(timer, Utc::now()).map(duration_words);
        let mut answer = match (timer.minutes, length) {
            (Some(minutes), _) => format!("Started a {minutes} minute timer."),
            (None, Some(length)) => format!("Started the timer: {block}, {length}."),
            (None, None) => format!("Started the timer: {block}."),
        };
        if shaped && minutes.is_some() {
            answer.push_str(" This session's plan sets its blocks, so I started that.");
        }
        Ok(did(answer))
    }

    async fn act_on_timer_for(
        &self,
        session: &Session,
        asker: &Id,
        action: TimerAction,
    ) -> Result<RoomAnswer> {
        let now = Utc::now();
        let ran = self
            .store
            .act_on_timer(&session.id, asker, action, None, now)
            .await;
        let changed = match self.publish_write(ran, "no such session").await {
            Ok(changed) => changed,
            Err(refusal) => return refused(session, refusal),
        };
        let timer = &changed.timer;
        let left = current_length(timer, now).map(duration_words);
        let answer = match (action, timer.state) {
            (TimerAction::Pause, _) => match left {
                Some(left) => format!("Paused the timer with {left} left."),
                None => "Paused the timer.".to_owned(),
            },
            (TimerAction::Resume, _) => match left {
                Some(left) => format!("Resumed the timer: {left} left."),
                None => "Resumed the timer.".to_owned(),
            },
            (TimerAction::Skip, TimerState::Finished) => {
                "Skipped the last block: the timer has finished.".to_owned()
            }
            (TimerAction::Skip, _) => format!("Skipped to {}.", block_words(timer)),
            (_, _) => match left {
                Some(left) => format!("Added five minutes: {left} left."),
                None => "Added five minutes.".to_owned(),
            },
        };
        Ok(did(answer))
    }

    async fn mark_goal_done(&self, session_id: &Id, me: &Participant) -> Result<RoomAnswer> {
        let marked = self
            .store
            .mark_goal_done(session_id, &me.user_id, Utc::now())
            .await
            .map_err(named("no such session"))?;
        let Some(marked) = marked else {
            return Ok(said(
                "You have not set a goal yet, so there is nothing to mark done. Say what you will do under Your goal.",
            ));
        };
        let marked = self.publish(marked).await;
        let goal = marked.goal.map(|goal| goal.text).unwrap_or_default();
        Ok(did(format!("Marked your goal done: {goal}. Well done.")))
    }

    async fn project_words(&self, session: &Session) -> Result<String> {
        let Some(project_id) = &session.project_id else {
            return Ok("This session has no linked project.".to_owned());
        };
        let project = self
            .store
            .project(project_id)
            .await
            .map_err(named("no such project"))?;
        let Some(project) = project else {
            return Ok("This session has no linked project.".to_owned());
        };
        let mut words = format!("This session works on {}", project.name);
        match project.description.as_deref().map(str::trim) {
            Some(description) if !description.is_empty() => {
                words.push_str(": ");
                words.push_str(description.trim_end_matches('.'));
                words.push('.');
            }
            _ => words.push('.'),
        }
        if !project.tech_stack.is_empty() {
            words.push_str(&format!(" Its stack: {}.", list(&project.tech_stack)));
        }
        if let Some(repo) = &project.repo_url {
            words.push_str(&format!(" The code is at {repo}."));
        }
        Ok(words)
    }
}

/// A refusal by the rules, said to the asker; anything else is an error.
fn refused(session: &Session, refusal: Error) -> Result<RoomAnswer> {
    match refusal {
        Error::Forbidden(_) => Ok(said(format!(
            "Only the host, {}, can change the timer.",
            session.creator_name
        ))),
        Error::Conflict { message, .. } => Ok(said(sentence(message))),
        Error::Invalid(invalid) => Ok(said(format!(
            "I could not do that: the minutes {}.",
            invalid.message
        ))),
        other => Err(other),
    }
}

/// "the timer is not running" → "The timer is not running."
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// "Ada", "Ada and Bob", "Ada, Bob and Cy".
fn list(items: &[impl AsRef<str>]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [rest @ .., last] => format!(
            "{} and {}",
            rest.iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}

/// "18 minutes 30 seconds", "1 minute", "40 seconds".
fn duration_words(left: Duration) -> String {
    let seconds = left.num_seconds().max(0);
    let (minutes, seconds) = (seconds / 60, seconds % 60);
    let unit = |n: i64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    match (minutes, seconds) {
        (0, s) => unit(s, "second"),
        (m, 0) => unit(m, "minute"),
        (m, s) => format!("{} {}", unit(m, "minute"), unit(s, "second")),
    }
}

/// What is left of the current block: till its end when running, as kept
/// when paused.
fn current_length(timer: &Timer, now: DateTime<Utc>) -> Option<Duration> {
    match timer.state {
        TimerState::Running => timer.ends_at.map(|ends_at| ends_at - now),
        TimerState::Paused => timer.remaining_ms.map(Duration::milliseconds),
        TimerState::NotStarted | TimerState::Finished => None,
    }
}

/// "work block 1 of 3", "the break after block 1 of 3"…
fn block_words(timer: &Timer) -> String {
    let kind = match timer.block_kind {
        Some(BlockKind::Work) | None => "work block",
        Some(BlockKind::Break) => "break, block",
        Some(BlockKind::LongBreak) => "long break, block",
    };
    let index = timer.block_index.unwrap_or(0) + 1;
    format!("{kind} {index} of {}", timer.block_count)
}

/// How much of the current block is left, in words.
pub fn timer_words(timer: &Timer, now: DateTime<Utc>) -> String {
    let block = block_words(timer);
    match (timer.state, current_length(timer, now)) {
        (TimerState::NotStarted, _) => "The timer has not started yet.".to_owned(),
        (TimerState::Finished, _) => {
            let blocks = timer.block_count;
            format!(
                "The timer has finished: {} done.",
                if blocks == 1 {
                    "its block is".to_owned()
                } else {
                    format!("all {blocks} blocks are")
                }
            )
        }
        (TimerState::Running, Some(left)) => format!("{} left in {block}.", duration_words(left)),
        (TimerState::Paused, Some(left)) => {
            format!(
                "The timer is paused with {} left in {block}.",
                duration_words(left)
            )
        }
        (_, None) => "The timer is running.".to_owned(),
    }
}

/// "2 of 3 tasks done" after a goal, when it has tasks.
fn goal_with_progress(goal: &Goal) -> String {
    match goal.progress() {
        Some(progress) => format!("{}, {progress}", goal.text.trim_end_matches('.')),
        None => goal.text.trim_end_matches('.').to_owned(),
    }
}

fn my_goal_words(me: &Participant) -> String {
    let Some(goal) = &me.goal else {
        return "You have not set a goal yet. Say what you will do under Your goal.".to_owned();
    };
    let mut words = format!("Your goal is: {}.", goal_with_progress(goal));
    if let Some(check_out) = &me.check_out {
        words.push_str(&format!(
            " You checked out: {}.",
            check_out.outcome.words().to_lowercase()
        ));
    }
    words
}

/// The people in the room now, the assistant apart.
fn present(people: &[Participant]) -> impl Iterator<Item = &Participant> {
    people
        .iter()
        .filter(|p| p.status == ParticipantStatus::Joined && p.role != Role::Agent)
}

fn name_for(person: &Participant, asker: &Id) -> String {
    if &person.user_id == asker {
        format!("you, {}", person.name)
    } else {
        person.name.clone()
    }
}

fn goals_words(people: &[Participant], asker: &Id) -> String {
    let mut with = Vec::new();
    let mut without = Vec::new();
    for person in present(people) {
        match &person.goal {
            Some(goal) => with.push(format!("{}: {}.", person.name, goal_with_progress(goal))),
            None => without.push(if &person.user_id == asker {
                "you".to_owned()
            } else {
                person.name.clone()
            }),
        }
    }
    if with.is_empty() {
        return "No one here has set a goal yet.".to_owned();
    }
    let mut words = with.join(" ");
    match without.as_slice() {
        [] => {}
        [one] if one == "you" => words.push_str(" You have not set one yet."),
        [one] => words.push_str(&format!(" {one} has not set one yet.")),
        many => words.push_str(&format!(" {} have not set one yet.", list(many))),
    }
    words
}

fn people_words(people: &[Participant], asker: &Id) -> String {
    let here: Vec<&Participant> = present(people).collect();
    let names: Vec<String> = here
        .iter()
        .map(|person| {
            let name = name_for(person, asker);
            if person.role == Role::Host {
                format!("{name}, the host")
            } else {
                name
            }
        })
        .collect();
    match names.len() {
        0 => "No one is here but me.".to_owned(),
        1 if &here[0].user_id == asker => "Only you are here, and me, the assistant.".to_owned(),
        1 => format!("Only {} is here, and me, the assistant.", names[0]),
        n => format!(
            "{n} people are here: {}. And me, the assistant.",
            list(&names)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::goal::Task;

    fn person(name: &str, role: Role, status: ParticipantStatus) -> Participant {
        Participant {
            session_id: Id::generate(),
            user_id: Id::generate(),
            name: name.into(),
            role,
            status,
            joined_at: Utc::now(),
            left_at: None,
            goal: None,
            check_out: None,
            removed: false,
        }
    }

    fn goal(text: &str, tasks: &[(&str, bool)]) -> Option<Goal> {
        Some(Goal {
            text: text.into(),
            tasks: tasks
                .iter()
                .map(|(text, done)| Task {
                    text: (*text).into(),
                    done: *done,
                })
                .collect(),
            set_at: Utc::now(),
        })
    }

    fn timer(state: TimerState) -> Timer {
        Timer {
            state,
            block_index: Some(0),
            block_kind: Some(BlockKind::Work),
            block_count: 3,
            ends_at: None,
            remaining_ms: None,
            minutes: None,
        }
    }

    #[test]
    fn time_left_is_said_exactly() {
        let now = Utc::now();
        let running = Timer {
            ends_at: Some(now + Duration::seconds(18 * 60 + 30)),
            ..timer(TimerState::Running)
        };
        assert_eq!(
            timer_words(&running, now),
            "18 minutes 30 seconds left in work block 1 of 3."
        );
        let paused = Timer {
            remaining_ms: Some(60_000),
            ..timer(TimerState::Paused)
        };
        assert_eq!(
            timer_words(&paused, now),
            "The timer is paused with 1 minute left in work block 1 of 3."
        );
        assert_eq!(
            timer_words(&timer(TimerState::NotStarted), now),
            "The timer has not started yet."
        );
        assert_eq!(
            timer_words(&timer(TimerState::Finished), now),
            "The timer has finished: all 3 blocks are done."
        );
    }

    #[test]
    fn the_room_is_named_with_the_asker_and_the_host() {
        let ada = person("Ada", Role::Host, ParticipantStatus::Joined);
        let bob = person("Bob", Role::Participant, ParticipantStatus::Joined);
        let cy = person("Cy", Role::Participant, ParticipantStatus::Left);
        let agent = person("Assistant", Role::Agent, ParticipantStatus::Joined);
        let people = vec![ada.clone(), bob.clone(), cy, agent];
        assert_eq!(
            people_words(&people, &bob.user_id),
            "2 people are here: Ada, the host and you, Bob. And me, the assistant."
        );
        assert_eq!(
            people_words(&people[..1], &ada.user_id),
            "Only you are here, and me, the assistant."
        );
    }

    #[test]
    fn goals_are_read_with_their_progress() {
        let mut ada = person("Ada", Role::Host, ParticipantStatus::Joined);
        ada.goal = goal(
            "Ship the parser errors",
            &[("spans", true), ("hints", false)],
        );
        let bob = person("Bob", Role::Participant, ParticipantStatus::Joined);
        let people = vec![ada.clone(), bob.clone()];
        assert_eq!(
            goals_words(&people, &bob.user_id),
            "Ada: Ship the parser errors, 1 of 2 tasks done. You have not set one yet."
        );
        assert_eq!(
            goals_words(std::slice::from_ref(&bob), &ada.user_id),
            "No one here has set a goal yet."
        );
        assert_eq!(
            my_goal_words(&ada),
            "Your goal is: Ship the parser errors, 1 of 2 tasks done."
        );
        assert!(my_goal_words(&bob).starts_with("You have not set a goal yet."));
    }

    #[test]
    fn durations_and_lists_read_naturally() {
        assert_eq!(duration_words(Duration::seconds(40)), "40 seconds");
        assert_eq!(duration_words(Duration::seconds(60)), "1 minute");
        assert_eq!(duration_words(Duration::seconds(121)), "2 minutes 1 second");
        assert_eq!(list(&["a", "b", "c"]), "a, b and c");
        assert_eq!(
            sentence("the timer is not running"),
            "The timer is not running."
        );
    }
}
