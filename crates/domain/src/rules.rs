//! The session state machine and who may do what.
//!
//! ```text
//!   scheduled ──start──▶ active ──end──▶ ended
//!       └───────────────end (cancel)──────▲
//! ```
//!
//! Each function looks at the current state and either says what to do or why
//! not. The store calls them inside the transaction that holds the session row,
//! so **a decision is always made on the state it is about to change**.

use crate::Id;
use crate::moderation::{HostAction, SilencedMedia};
use crate::project::Project;
use crate::session::{AgentStatus, Participant, ParticipantStatus, Role, Session, SessionStatus};

/// Why a well-formed request is refused by the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    /// The request names something the rules cannot accept (a field at fault).
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: &'static str,
    },
    /// Keeping it would pass a limit on how much one may keep (the upload quota).
    #[error("{0}")]
    TooLarge(&'static str),
}

fn creator_only(session: &Session, actor: &Id, message: &'static str) -> Result<(), RuleError> {
    if &session.creator_id == actor {
        Ok(())
    } else {
        Err(RuleError::Forbidden(message))
    }
}

pub fn start(session: &Session, actor: &Id) -> Result<(), RuleError> {
    creator_only(session, actor, "only the session's creator can start it")?;
    match session.status {
        SessionStatus::Scheduled => Ok(()),
        SessionStatus::Active => Err(RuleError::Conflict("the session is already active")),
        SessionStatus::Ended => Err(RuleError::Conflict("the session has ended")),
    }
}

/// What a join does, once allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinPlan {
    /// Joining twice is harmless: nothing changes.
    AlreadyJoined,
    /// Take a seat (unless the role is `agent`, which never takes one).
    Join { role: Role },
}

impl JoinPlan {
    pub fn takes_seat(self) -> bool {
        matches!(self, Self::Join { role } if role != Role::Agent)
    }
}

pub fn join(
    session: &Session,
    user: &Id,
    is_agent: bool,
    existing: Option<&Participant>,
) -> Result<JoinPlan, RuleError> {
    if existing.is_some_and(|p| p.status == ParticipantStatus::Joined) {
        return Ok(JoinPlan::AlreadyJoined);
    }
    match session.status {
        SessionStatus::Active => {}
        SessionStatus::Scheduled => {
            return Err(RuleError::Conflict("the session has not started yet"));
        }
        SessionStatus::Ended => return Err(RuleError::Conflict("the session has ended")),
    }
    let role = if is_agent {
        Role::Agent
    } else if &session.creator_id == user {
        Role::Host
    } else {
        Role::Participant
    };
    if role != Role::Agent && session.participant_count >= session.max_participants {
        return Err(RuleError::Conflict("the session is full"));
    }
    Ok(JoinPlan::Join { role })
}

/// What a leave does, once allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeavePlan {
    /// Leaving twice is harmless too.
    AlreadyLeft,
    Leave {
        frees_seat: bool,
    },
}

pub fn leave(existing: Option<&Participant>) -> Result<LeavePlan, RuleError> {
    match existing {
        None => Err(RuleError::Conflict("you have not joined this session")),
        Some(p) if p.status == ParticipantStatus::Left => Ok(LeavePlan::AlreadyLeft),
        Some(p) => Ok(LeavePlan::Leave {
            frees_seat: p.role != Role::Agent,
        }),
    }
}

/// Ending is for the creator; a scheduled session can be ended before it starts (cancelled).
pub fn end(session: &Session, actor: &Id) -> Result<(), RuleError> {
    creator_only(session, actor, "only the session's creator can end it")?;
    if session.status == SessionStatus::Ended {
        return Err(RuleError::Conflict("the session has already ended"));
    }
    Ok(())
}

/// Switching the assistant is for the creator of a session that has not ended.
/// Returns the assistant's status from now on.
pub fn toggle_ai_agent(
    session: &Session,
    actor: &Id,
    enabled: bool,
) -> Result<AgentStatus, RuleError> {
    creator_only(
        session,
        actor,
        "only the session's creator can switch the assistant",
    )?;
    if session.status == SessionStatus::Ended {
        return Err(RuleError::Conflict("the session has ended"));
    }
    Ok(match (enabled, session.agent_status) {
        (false, _) => AgentStatus::Off,
        // Already on: whatever the agent is doing carries on.
        (true, AgentStatus::Off) => AgentStatus::Joining,
        (true, current) => current,
    })
}

/// A session nobody has been in for the empty timeout ends by itself.
pub fn end_when_empty(session: &Session) -> Result<(), RuleError> {
    if session.status == SessionStatus::Active && session.participant_count == 0 {
        Ok(())
    } else {
        Err(RuleError::Conflict("the session is not empty"))
    }
}

/// The assistant joins, and reports what it is doing, only in an active
/// session whose creator has it switched on.
pub fn agent_serves(session: &Session) -> Result<(), RuleError> {
    if session.status != SessionStatus::Active {
        return Err(RuleError::Conflict("the session is not active"));
    }
    if !session.ai_agent_enabled {
        return Err(RuleError::Conflict(
            "the assistant is switched off in this session",
        ));
    }
    Ok(())
}

/// Reminders are for sessions that have not started yet.
pub fn request_reminder(session: &Session) -> Result<(), RuleError> {
    match session.status {
        SessionStatus::Scheduled => Ok(()),
        SessionStatus::Active => Err(RuleError::Conflict("the session has already started")),
        SessionStatus::Ended => Err(RuleError::Conflict("the session has ended")),
    }
}

/// Chatting is for the people in the session now.
pub fn post_message(participation: Option<&Participant>) -> Result<(), RuleError> {
    match participation {
        Some(p) if p.status == ParticipantStatus::Joined => Ok(()),
        _ => Err(RuleError::Forbidden("join the session to chat")),
    }
}

/// Writing to a session's AI log is for the people in it now.
pub fn log_interaction(participation: Option<&Participant>) -> Result<(), RuleError> {
    match participation {
        Some(p) if p.status == ParticipantStatus::Joined => Ok(()),
        _ => Err(RuleError::Forbidden(
            "only people in the session can log to it",
        )),
    }
}

/// Reading the log and rating answers is for anyone who is or was in the session.
pub fn view_session_history(participation: Option<&Participant>) -> Result<(), RuleError> {
    match participation {
        Some(_) => Ok(()),
        None => Err(RuleError::Forbidden(
            "only people who were in the session can see its log",
        )),
    }
}

/// Whether a person not in the session can take a seat now, whoever they are.
pub fn open_for_joining(session: &Session) -> bool {
    session.status == SessionStatus::Active
        && session.participant_count < session.max_participants
        && !session.locked
}

/// What a session's card offers one person: the same answer [`join`] would give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOffer {
    Open,
    /// Already in it: the button goes back to the room.
    Joined,
    Full,
    /// The host locked the room: nobody new can join.
    Locked,
    NotStarted,
    Ended,
}

pub fn join_offer(session: &Session, participation: Option<&Participant>) -> JoinOffer {
    let joined = participation.is_some_and(|p| p.status == ParticipantStatus::Joined);
    match session.status {
        SessionStatus::Ended => JoinOffer::Ended,
        SessionStatus::Scheduled => JoinOffer::NotStarted,
        SessionStatus::Active if joined => JoinOffer::Joined,
        SessionStatus::Active if open_for_joining(session) => JoinOffer::Open,
        SessionStatus::Active if session.locked => JoinOffer::Locked,
        SessionStatus::Active => JoinOffer::Full,
    }
}

/// Holding media (camera, microphone, screen) is for the people joined to an
/// active session.
pub fn hold_media(session: &Session, participation: Option<&Participant>) -> Result<(), RuleError> {
    if session.status != SessionStatus::Active {
        return Err(RuleError::Forbidden("the session is not active"));
    }
    match participation {
        Some(p) if p.status == ParticipantStatus::Joined => Ok(()),
        _ => Err(RuleError::Forbidden("join the session before its media")),
    }
}

/// The host's controls (mute, camera off, stop share, remove; mute
/// everyone; lock) are for the session's creator while it is active.
fn host_control(session: &Session, actor: &Id) -> Result<(), RuleError> {
    creator_only(session, actor, "only the session's host can do this")?;
    match session.status {
        SessionStatus::Active => Ok(()),
        SessionStatus::Scheduled => Err(RuleError::Conflict("the session has not started yet")),
        SessionStatus::Ended => Err(RuleError::Conflict("the session has ended")),
    }
}

/// What a host action does to its target, once allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModerationPlan {
    /// Their media of this kind stops reaching the others.
    Silence(SilencedMedia),
    /// Their seat goes (freeing it) and they may not join again.
    Remove,
}

/// The host acts on one person: someone joined to the session now, neither
/// the host themselves nor the assistant (which has its own switch).
pub fn moderate(
    session: &Session,
    actor: &Id,
    target: Option<&Participant>,
    action: HostAction,
) -> Result<ModerationPlan, RuleError> {
    host_control(session, actor)?;
    let target = match target {
        Some(p) if p.status == ParticipantStatus::Joined => p,
        _ => return Err(RuleError::Conflict("this person is not in the session")),
    };
    match target.role {
        Role::Host => Err(RuleError::Invalid {
            field: "user_id",
            message: "the host's own media and seat are theirs to switch",
        }),
        Role::Agent => Err(RuleError::Invalid {
            field: "user_id",
            message: "the assistant is switched on and off with the session's AI switch",
        }),
        Role::Participant => Ok(match action.silences() {
            Some(media) => ModerationPlan::Silence(media),
            None => ModerationPlan::Remove,
        }),
    }
}

/// Muting everyone mutes the people joined now, the host and the assistant aside.
pub fn mute_everyone(session: &Session, actor: &Id) -> Result<(), RuleError> {
    host_control(session, actor)
}

/// Locking (or unlocking) the room is the host's, while it is active.
pub fn lock(session: &Session, actor: &Id) -> Result<(), RuleError> {
    host_control(session, actor)
}

/// Whether someone may take a seat, as far as the host's controls go: a
/// removed person never again; someone the host blocked never; in a locked
/// room only the host and people who were in it already. (Seats and status
/// are [`join`]'s to decide.) Someone joined now is let be: joining twice
/// is harmless.
pub fn admit(
    session: &Session,
    user: &Id,
    existing: Option<&Participant>,
    blocked_by_host: bool,
) -> Result<(), RuleError> {
    if existing.is_some_and(|p| p.status == ParticipantStatus::Joined) {
        return Ok(());
    }
    if existing.is_some_and(|p| p.removed) {
        return Err(RuleError::Forbidden(
            "the host removed you from this session",
        ));
    }
    if &session.creator_id == user {
        return Ok(());
    }
    if blocked_by_host {
        return Err(RuleError::Forbidden(
            "you cannot join sessions this host runs",
        ));
    }
    if session.locked && existing.is_none() {
        return Err(RuleError::Forbidden(
            "the host has locked this session: nobody new can join",
        ));
    }
    Ok(())
}

/// Reporting is for anyone who is or was in the session, about someone else
/// who is or was in it (not the assistant: its answers are rated instead).
pub fn report(
    reporter: &Id,
    reporter_seat: Option<&Participant>,
    reported: Option<&Participant>,
) -> Result<(), RuleError> {
    if reporter_seat.is_none() {
        return Err(RuleError::Forbidden(
            "only people in the session can report someone in it",
        ));
    }
    let Some(reported) = reported else {
        return Err(RuleError::Conflict(
            "this person has not been in the session",
        ));
    };
    if &reported.user_id == reporter {
        return Err(RuleError::Invalid {
            field: "user_id",
            message: "you cannot report yourself",
        });
    }
    if reported.role == Role::Agent {
        return Err(RuleError::Invalid {
            field: "user_id",
            message: "the assistant cannot be reported; rate its answers instead",
        });
    }
    Ok(())
}

/// Anyone may block anyone else. (Blocking oneself is a well-formed request
/// that cannot be done: a conflict, not bad input.)
pub fn block(blocker: &Id, blocked: &Id) -> Result<(), RuleError> {
    if blocker == blocked {
        Err(RuleError::Conflict("you cannot block yourself"))
    } else {
        Ok(())
    }
}

/// The assistant logs a question for the person who asked it, who must have
/// been in the session.
pub fn log_for_asker(asker: Option<&Participant>) -> Result<(), RuleError> {
    match asker {
        Some(_) => Ok(()),
        None => Err(RuleError::Invalid {
            field: "user_id",
            message: "this person has not been in the session",
        }),
    }
}

/// Only a project's owner links a session to it: seeing a project (through a
/// session of it) gives no right to pass it on.
pub fn link_project(project: &Project, actor: &Id) -> Result<(), RuleError> {
    if &project.owner_id == actor {
        Ok(())
    } else {
        Err(RuleError::Invalid {
            field: "project_id",
            message: "no project with this id that you own",
        })
    }
}

/// A project's timelapses are its owner's, and its viewers' when the owner
/// shares them. `may_see_project` is what the project's visibility rule
/// decided for this viewer.
pub fn watch_timelapses(project: &Project, viewer: &Id, may_see_project: bool) -> bool {
    &project.owner_id == viewer || (may_see_project && project.timelapses_shared)
}

/// Changing or deleting a project is for its owner.
pub fn change_project(project: &Project, actor: &Id) -> Result<(), RuleError> {
    if &project.owner_id == actor {
        Ok(())
    } else {
        Err(RuleError::Forbidden(
            "only the project's owner can change it",
        ))
    }
}

/// What a refused upload is told when the quota is the reason.
pub const OVER_UPLOAD_QUOTA: &str =
    "this video would take you past your upload quota; delete a timelapse to make room";

/// A new video of `size` bytes is kept only if its uploader's videos, `kept`
/// bytes before it, stay within `quota` bytes.
pub fn keep_video(kept: u64, size: u64, quota: u64) -> Result<(), RuleError> {
    if size <= quota.saturating_sub(kept) {
        Ok(())
    } else {
        Err(RuleError::TooLarge(OVER_UPLOAD_QUOTA))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(status: SessionStatus, seats_taken: i64) -> Session {
        Session {
            status,
            ai_agent_enabled: true,
            participant_count: seats_taken,
            agent_status: AgentStatus::Joining,
            ..Session::example()
        }
    }

    fn participant(s: &Session, user: &Id, role: Role, status: ParticipantStatus) -> Participant {
        Participant::example(s, user, role, status)
    }

    /// A rule only a session's creator passes.
    type CreatorRule = fn(&Session, &Id) -> Result<(), RuleError>;

    #[test]
    fn only_the_creator_starts_a_scheduled_session_or_ends_one_not_over() {
        // Each rule, the states it acts in, and the one too late for it.
        let rules: [(CreatorRule, &[SessionStatus], SessionStatus); 2] = [
            (start, &[SessionStatus::Scheduled], SessionStatus::Active),
            (
                end,
                &[SessionStatus::Active, SessionStatus::Scheduled],
                SessionStatus::Ended,
            ),
        ];
        for (rule, acts_in, too_late) in rules {
            for &status in acts_in {
                let s = session(status, 1);
                assert!(rule(&s, &s.creator_id).is_ok());
                assert!(matches!(
                    rule(&s, &Id::generate()),
                    Err(RuleError::Forbidden(_))
                ));
            }
            let late = session(too_late, 1);
            assert!(matches!(
                rule(&late, &late.creator_id),
                Err(RuleError::Conflict(_))
            ));
        }
    }

    /// One person's seat in `s` while they are in it, and after they left.
    fn joined_and_left(s: &Session) -> (Participant, Participant) {
        let user = Id::generate();
        (
            participant(s, &user, Role::Participant, ParticipantStatus::Joined),
            participant(s, &user, Role::Participant, ParticipantStatus::Left),
        )
    }

    #[test]
    fn join_needs_an_active_session_with_a_free_seat() {
        let stranger = Id::generate();
        assert!(matches!(
            join(
                &session(SessionStatus::Scheduled, 0),
                &stranger,
                false,
                None
            ),
            Err(RuleError::Conflict("the session has not started yet"))
        ));
        assert!(matches!(
            join(&session(SessionStatus::Ended, 0), &stranger, false, None),
            Err(RuleError::Conflict("the session has ended"))
        ));
        assert!(matches!(
            join(&session(SessionStatus::Active, 3), &stranger, false, None),
            Err(RuleError::Conflict("the session is full"))
        ));
        assert_eq!(
            join(&session(SessionStatus::Active, 2), &stranger, false, None),
            Ok(JoinPlan::Join {
                role: Role::Participant
            })
        );
    }

    #[test]
    fn the_creator_joins_as_host_and_the_agent_needs_no_seat() {
        let full = session(SessionStatus::Active, 3);
        assert_eq!(
            join(&full, &Id::generate(), true, None),
            Ok(JoinPlan::Join { role: Role::Agent })
        );
        assert!(!JoinPlan::Join { role: Role::Agent }.takes_seat());
        let open = session(SessionStatus::Active, 0);
        assert_eq!(
            join(&open, &open.creator_id, false, None),
            Ok(JoinPlan::Join { role: Role::Host })
        );
    }

    #[test]
    fn joining_twice_is_harmless_even_when_full() {
        let s = session(SessionStatus::Active, 3);
        let user = Id::generate();
        let me = participant(&s, &user, Role::Participant, ParticipantStatus::Joined);
        assert_eq!(
            join(&s, &user, false, Some(&me)),
            Ok(JoinPlan::AlreadyJoined)
        );
    }

    #[test]
    fn rejoining_after_leaving_needs_a_seat_again() {
        let s = session(SessionStatus::Active, 3);
        let user = Id::generate();
        let me = participant(&s, &user, Role::Participant, ParticipantStatus::Left);
        assert!(join(&s, &user, false, Some(&me)).is_err());
    }

    #[test]
    fn leave_frees_a_seat_once() {
        let s = session(SessionStatus::Active, 1);
        let user = Id::generate();
        assert!(leave(None).is_err());
        let joined = participant(&s, &user, Role::Participant, ParticipantStatus::Joined);
        assert_eq!(
            leave(Some(&joined)),
            Ok(LeavePlan::Leave { frees_seat: true })
        );
        let left = participant(&s, &user, Role::Participant, ParticipantStatus::Left);
        assert_eq!(leave(Some(&left)), Ok(LeavePlan::AlreadyLeft));
        let agent = participant(&s, &user, Role::Agent, ParticipantStatus::Joined);
        assert_eq!(
            leave(Some(&agent)),
            Ok(LeavePlan::Leave { frees_seat: false })
        );
    }

    #[test]
    fn toggle_is_for_the_creator_of_a_live_session() {
        let s = session(SessionStatus::Active, 1);
        let ended = session(SessionStatus::Ended, 0);
        assert_eq!(
            toggle_ai_agent(&s, &s.creator_id, false),
            Ok(AgentStatus::Off)
        );
        assert!(toggle_ai_agent(&ended, &ended.creator_id, true).is_err());
        assert!(toggle_ai_agent(&s, &Id::generate(), true).is_err());
    }

    #[test]
    fn switching_the_assistant_on_makes_it_join_and_keeps_a_busy_one_busy() {
        let mut s = session(SessionStatus::Active, 1);
        s.agent_status = AgentStatus::Off;
        assert_eq!(
            toggle_ai_agent(&s, &s.creator_id, true),
            Ok(AgentStatus::Joining)
        );
        s.agent_status = AgentStatus::Speaking;
        assert_eq!(
            toggle_ai_agent(&s, &s.creator_id, true),
            Ok(AgentStatus::Speaking)
        );
    }

    #[test]
    fn only_an_active_empty_session_ends_by_itself() {
        assert!(end_when_empty(&session(SessionStatus::Active, 0)).is_ok());
        assert!(end_when_empty(&session(SessionStatus::Active, 1)).is_err());
        assert!(end_when_empty(&session(SessionStatus::Scheduled, 0)).is_err());
        assert!(end_when_empty(&session(SessionStatus::Ended, 0)).is_err());
    }

    #[test]
    fn the_agent_serves_only_active_sessions_with_the_assistant_on() {
        let mut s = session(SessionStatus::Active, 1);
        assert!(agent_serves(&s).is_ok());
        s.ai_agent_enabled = false;
        assert!(agent_serves(&s).is_err());
        assert!(agent_serves(&session(SessionStatus::Scheduled, 0)).is_err());
        assert!(agent_serves(&session(SessionStatus::Ended, 0)).is_err());
    }

    #[test]
    fn reminders_only_before_the_start() {
        assert!(request_reminder(&session(SessionStatus::Scheduled, 0)).is_ok());
        assert!(request_reminder(&session(SessionStatus::Active, 1)).is_err());
        assert!(request_reminder(&session(SessionStatus::Ended, 0)).is_err());
    }

    /// A rule deciding on someone's seat in a session, if they have one.
    type SeatRule = fn(Option<&Participant>) -> Result<(), RuleError>;

    #[test]
    fn chat_and_logs_are_written_by_present_people_and_read_by_past_ones() {
        let s = session(SessionStatus::Active, 1);
        let (joined, left) = joined_and_left(&s);
        let writes: [SeatRule; 2] = [post_message, log_interaction];
        for write in writes {
            assert!(write(Some(&joined)).is_ok());
            assert!(write(Some(&left)).is_err());
            assert!(write(None).is_err());
        }
        assert!(view_session_history(Some(&left)).is_ok());
        assert!(view_session_history(None).is_err());
    }

    #[test]
    fn a_card_offers_what_a_join_would_do() {
        let mut s = session(SessionStatus::Active, 2);
        let user = Id::generate();
        assert_eq!(join_offer(&s, None), JoinOffer::Open);
        assert!(join(&s, &user, false, None).is_ok());
        s.participant_count = s.max_participants;
        assert_eq!(join_offer(&s, None), JoinOffer::Full);
        assert!(join(&s, &user, false, None).is_err());
        let joined = participant(&s, &user, Role::Participant, ParticipantStatus::Joined);
        assert_eq!(join_offer(&s, Some(&joined)), JoinOffer::Joined);
        assert_eq!(
            join_offer(&session(SessionStatus::Scheduled, 0), None),
            JoinOffer::NotStarted
        );
        assert_eq!(
            join_offer(&session(SessionStatus::Ended, 0), None),
            JoinOffer::Ended
        );
    }

    #[test]
    fn media_is_for_joined_people_of_an_active_session() {
        let s = session(SessionStatus::Active, 1);
        let (joined, left) = joined_and_left(&s);
        assert!(hold_media(&s, Some(&joined)).is_ok());
        assert!(hold_media(&s, Some(&left)).is_err());
        assert!(hold_media(&s, None).is_err());
        assert!(hold_media(&session(SessionStatus::Ended, 0), Some(&joined)).is_err());
    }

    #[test]
    fn videos_are_kept_up_to_the_quota_and_not_a_byte_more() {
        assert_eq!(keep_video(0, 100, 100), Ok(()));
        assert_eq!(keep_video(60, 40, 100), Ok(()));
        assert_eq!(
            keep_video(60, 41, 100),
            Err(RuleError::TooLarge(OVER_UPLOAD_QUOTA))
        );
        // Someone already past a quota since lowered keeps what they have,
        // and adds nothing.
        assert!(keep_video(150, 1, 100).is_err());
        assert!(keep_video(0, 1, 0).is_err());
    }

    #[test]
    fn only_the_host_acts_and_only_on_a_guest_joined_now() {
        let s = session(SessionStatus::Active, 2);
        let (guest, gone) = joined_and_left(&s);
        let host = participant(&s, &s.creator_id, Role::Host, ParticipantStatus::Joined);
        let agent = participant(&s, &Id::generate(), Role::Agent, ParticipantStatus::Joined);
        let mute = HostAction::MuteMicrophone;
        assert_eq!(
            moderate(&s, &s.creator_id, Some(&guest), mute),
            Ok(ModerationPlan::Silence(SilencedMedia::Microphone))
        );
        assert_eq!(
            moderate(&s, &s.creator_id, Some(&guest), HostAction::Remove),
            Ok(ModerationPlan::Remove)
        );
        assert!(matches!(
            moderate(&s, &guest.user_id, Some(&guest), mute),
            Err(RuleError::Forbidden(_))
        ));
        for absent in [Some(&gone), None] {
            assert!(matches!(
                moderate(&s, &s.creator_id, absent, HostAction::Remove),
                Err(RuleError::Conflict(_))
            ));
        }
        for untouchable in [&host, &agent] {
            assert!(matches!(
                moderate(&s, &s.creator_id, Some(untouchable), HostAction::Remove),
                Err(RuleError::Invalid {
                    field: "user_id",
                    ..
                })
            ));
        }
        let ended = session(SessionStatus::Ended, 0);
        assert!(matches!(
            moderate(&ended, &ended.creator_id, Some(&guest), mute),
            Err(RuleError::Conflict(_))
        ));
        assert!(mute_everyone(&s, &s.creator_id).is_ok());
        assert!(lock(&s, &guest.user_id).is_err());
    }

    #[test]
    fn the_removed_the_blocked_and_newcomers_to_a_locked_room_stay_out() {
        let mut s = session(SessionStatus::Active, 1);
        let (joined, left) = joined_and_left(&s);
        let stranger = Id::generate();
        assert_eq!(admit(&s, &stranger, None, false), Ok(()));
        let removed = Participant {
            removed: true,
            ..left.clone()
        };
        assert!(matches!(
            admit(&s, &removed.user_id, Some(&removed), false),
            Err(RuleError::Forbidden(_))
        ));
        assert!(admit(&s, &stranger, None, true).is_err());
        // Someone in the room now is let be, blocked or not.
        assert_eq!(admit(&s, &joined.user_id, Some(&joined), true), Ok(()));
        s.locked = true;
        assert!(admit(&s, &stranger, None, false).is_err());
        assert_eq!(admit(&s, &left.user_id, Some(&left), false), Ok(()));
        assert_eq!(admit(&s, &s.creator_id.clone(), None, false), Ok(()));
        assert!(!open_for_joining(&s));
        assert_eq!(join_offer(&s, None), JoinOffer::Locked);
    }

    #[test]
    fn reports_are_about_someone_else_who_was_in_the_session() {
        let s = session(SessionStatus::Active, 2);
        let (reporter, _) = joined_and_left(&s);
        let (_, reported) = joined_and_left(&s);
        let agent = participant(&s, &Id::generate(), Role::Agent, ParticipantStatus::Joined);
        let me = &reporter.user_id;
        assert_eq!(report(me, Some(&reporter), Some(&reported)), Ok(()));
        assert!(matches!(
            report(me, Some(&reporter), Some(&reporter)),
            Err(RuleError::Invalid { .. })
        ));
        assert!(matches!(
            report(me, Some(&reporter), Some(&agent)),
            Err(RuleError::Invalid { .. })
        ));
        assert!(matches!(
            report(me, Some(&reporter), None),
            Err(RuleError::Conflict(_))
        ));
        assert!(matches!(
            report(me, None, Some(&reported)),
            Err(RuleError::Forbidden(_))
        ));
        assert!(block(me, me).is_err());
        assert!(block(me, &reported.user_id).is_ok());
    }
}
