//! A session's pages: the create form, the room, and the page of a session
//! you are not in (to join it, to be reminded of it, or to look back at it).

use std::collections::HashSet;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::{NaiveDateTime, Utc};
use domain::goal::{CheckOutDraft, Goal, Outcome};
use domain::recap::{Recap, RecapPerson, SessionSummary, SummaryAuthor, SummaryStatus};
use domain::ritual::{Rhythm, SessionShape, TimerState};
use domain::session::{
    MaxParticipants, Participant, ParticipantStatus, Role, Schedule, SessionDraft, SessionStatus,
    SessionTitle, SessionType,
};
use domain::{Id, InvalidInput, project};
use serde::Deserialize;

use super::display::{self, When};
use super::session_card::{CardMaker, SessionCard};
use super::viewer::{CarriesCsrf, CheckedForm, CsrfForm};
use super::{
    FieldErrors, Layout, PageError, PageId, PageResult, Section, Viewer, html, ok, see_other,
};
use crate::AppState;
use crate::error::ApiError;

/// The create-session form's values, as typed.
pub struct SessionForm {
    pub title: String,
    pub description: String,
    pub session_type: String,
    /// `now` or `later`.
    pub when: String,
    /// A `datetime-local` value; the server reads it as UTC.
    pub scheduled_start: String,
    pub project_id: String,
    pub max_participants: String,
    pub ai: bool,
    /// `""` (not planned), one of the presets' minutes, or `custom`.
    pub planned_length: String,
    pub custom_minutes: String,
    /// `""` (none), `single` or `pomodoro`.
    pub rhythm: String,
    pub work_minutes: String,
    pub break_minutes: String,
    pub long_break_minutes: String,
    pub long_break_every: String,
    pub quiet_work: bool,
}

impl Default for SessionForm {
    fn default() -> Self {
        Self {
            title: String::new(),
            description: String::new(),
            session_type: "coding".into(),
            when: "now".into(),
            scheduled_start: String::new(),
            project_id: String::new(),
            max_participants: "8".into(),
            ai: true,
            planned_length: String::new(),
            custom_minutes: String::new(),
            rhythm: String::new(),
            work_minutes: "25".into(),
            break_minutes: "5".into(),
            long_break_minutes: "15".into(),
            long_break_every: "4".into(),
            quiet_work: false,
        }
    }
}

pub struct ProjectOption {
    pub id: String,
    pub name: String,
}

/// The create-session form with its choices, in the dialog of a page or on a page of its own.
pub struct CreateDialog {
    pub form: SessionForm,
    pub projects: Vec<ProjectOption>,
    pub errors: FieldErrors,
    pub min_seats: i64,
    pub max_seats: i64,
    pub horizon_days: i64,
}

impl CreateDialog {
    /// The planned lengths offered, in minutes, before "custom".
    pub fn presets(&self) -> Vec<String> {
        SessionShape::PRESETS.iter().map(i64::to_string).collect()
    }

    pub fn types(&self) -> [(&'static str, &'static str); 3] {
        [
            ("coding", "Coding"),
            ("study", "Study"),
            ("general", "General"),
        ]
    }
}

/// The form for `viewer`, with `project` chosen when it was opened from that project's page.
pub async fn create_dialog(
    state: &AppState,
    viewer: &Viewer,
    project: Option<&Id>,
) -> PageResult<CreateDialog> {
    let projects: Vec<ProjectOption> = state
        .app
        .my_projects(&viewer.caller)
        .await?
        .into_iter()
        .map(|project| ProjectOption {
            id: project.id.to_string(),
            name: project.name,
        })
        .collect();
    let mut form = SessionForm::default();
    // Only the viewer's own projects can be linked; opened from another
    // person's project, the form starts with none chosen.
    if let Some(id) = project
        && projects.iter().any(|option| option.id == id.as_str())
    {
        form.project_id = id.to_string();
    }
    Ok(CreateDialog {
        form,
        projects,
        errors: FieldErrors::default(),
        min_seats: MaxParticipants::MIN,
        max_seats: MaxParticipants::MAX,
        horizon_days: Schedule::HORIZON_DAYS,
    })
}

#[derive(Template)]
#[template(path = "new_session.html")]
struct NewSessionPage {
    layout: Layout,
    create: CreateDialog,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewSessionQuery {
    project: String,
}

pub async fn new_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<NewSessionQuery>,
) -> PageResult {
    let project = Id::parse("project", &query.project).ok();
    let page = NewSessionPage {
        create: create_dialog(&state, &viewer, project.as_ref()).await?,
        layout: Layout::new("Start a session", Section::Home, Some(&viewer)),
    };
    ok(&page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SessionFormInput {
    #[serde(rename = "_csrf")]
    csrf: String,
    title: String,
    description: String,
    session_type: String,
    when: String,
    /// Read as UTC: with JavaScript the form is sent to the API with the
    /// browser's own conversion instead, and the form says which applies.
    scheduled_start: String,
    project_id: String,
    max_participants: String,
    ai_agent_enabled: Option<String>,
    planned_length: String,
    custom_minutes: String,
    rhythm: String,
    work_minutes: String,
    break_minutes: String,
    long_break_minutes: String,
    long_break_every: String,
    quiet_work: Option<String>,
}

impl CarriesCsrf for SessionFormInput {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl SessionFormInput {
    /// The session the form asks for, parsed as the API parses its JSON and
    /// in the same order, so both refuse the same input with the same words.
    /// Choosing "later" is a promise of a future start; the API's missing or
    /// past start means "now".
    fn to_draft(&self) -> Result<SessionDraft, InvalidInput> {
        let session_type = SessionType::from_str_opt(&self.session_type)
            .ok_or_else(|| InvalidInput::new("session_type", "choose coding, study or general"))?;
        let title = SessionTitle::parse(&self.title)?;
        let description = project::parse_description(Some(&self.description))?;
        let max_participants = MaxParticipants::parse_text(&self.max_participants)?;
        let schedule = if self.when == "later" {
            let local = parse_local_time(&self.scheduled_start).ok_or_else(|| {
                InvalidInput::new("scheduled_start", "choose a date and time to start")
            })?;
            Schedule::later(local.and_utc(), Utc::now())?
        } else {
            Schedule::Instant
        };
        let project_id = Some(self.project_id.as_str())
            .filter(|id| !id.is_empty())
            .map(|raw| Id::parse("project_id", raw))
            .transpose()?;
        Ok(SessionDraft {
            title,
            description,
            session_type,
            schedule,
            project_id,
            max_participants,
            ai_agent_enabled: self.ai_agent_enabled.is_some(),
            shape: self.shape()?,
            quiet_work: self.quiet_work.is_some(),
        })
    }

    /// The length and rhythm chosen, read into the API's terms and parsed by
    /// the same rules.
    fn shape(&self) -> Result<SessionShape, InvalidInput> {
        let planned_minutes = match self.planned_length.as_str() {
            "custom" => Some(
                SessionShape::parse_minutes_text("planned_minutes", &self.custom_minutes)?
                    .ok_or_else(|| {
                        InvalidInput::new("planned_minutes", "choose a number of minutes")
                    })?,
            ),
            preset => SessionShape::parse_minutes_text("planned_minutes", preset)?,
        };
        let number = |field: &str, raw: &str| {
            raw.trim()
                .parse::<i64>()
                .map_err(|_| InvalidInput::new(field, "must be a whole number"))
        };
        let rhythm = match self.rhythm.as_str() {
            "" => None,
            "single" => Some(Rhythm::Single {}),
            "pomodoro" => Some(Rhythm::Pomodoro {
                work_minutes: number("rhythm.work_minutes", &self.work_minutes)?,
                break_minutes: number("rhythm.break_minutes", &self.break_minutes)?,
                long_break_minutes: number("rhythm.long_break_minutes", &self.long_break_minutes)?,
                long_break_every: number("rhythm.long_break_every", &self.long_break_every)?,
            }),
            _ => {
                return Err(InvalidInput::new("rhythm", "choose one block or pomodoro"));
            }
        };
        SessionShape::parse(planned_minutes, rhythm)
    }

    fn into_form(self) -> SessionForm {
        SessionForm {
            title: self.title,
            description: self.description,
            session_type: self.session_type,
            when: self.when,
            scheduled_start: self.scheduled_start,
            project_id: self.project_id,
            max_participants: self.max_participants,
            ai: self.ai_agent_enabled.is_some(),
            planned_length: self.planned_length,
            custom_minutes: self.custom_minutes,
            rhythm: self.rhythm,
            work_minutes: self.work_minutes,
            break_minutes: self.break_minutes,
            long_break_minutes: self.long_break_minutes,
            long_break_every: self.long_break_every,
            quiet_work: self.quiet_work.is_some(),
        }
    }
}

/// A `datetime-local` value: `2026-11-24T09:30`, maybe with seconds.
fn parse_local_time(raw: &str) -> Option<NaiveDateTime> {
    let raw = raw.trim();
    NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
        .ok()
}

/// The form's fields, by the API's names for them.
const SESSION_FIELDS: &[&str] = &[
    "title",
    "description",
    "session_type",
    "scheduled_start",
    "project_id",
    "max_participants",
    "planned_minutes",
    "rhythm",
    "rhythm.work_minutes",
    "rhythm.break_minutes",
    "rhythm.long_break_minutes",
    "rhythm.long_break_every",
];

pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    CheckedForm(input): CheckedForm<SessionFormInput>,
) -> PageResult {
    let created = match input.to_draft() {
        Ok(draft) => state
            .app
            .create_session(&viewer.caller, draft)
            .await
            .map_err(ApiError::from),
        Err(invalid) => Err(ApiError::from(invalid)),
    };
    match created {
        Ok(session) => Ok(see_other(&format!("/sessions/{}", session.id))),
        Err(error) => {
            let mut create = create_dialog(&state, &viewer, None).await?;
            create.errors = FieldErrors::from_api(&error, SESSION_FIELDS);
            create.form = input.into_form();
            let page = NewSessionPage {
                create,
                layout: Layout::new("Start a session", Section::Home, Some(&viewer)),
            };
            html(FieldErrors::status(&error), &page)
        }
    }
}

/// A person in the session, as its pages list them.
pub struct PersonView {
    pub user_id: String,
    pub name: String,
    pub role: Role,
    pub present: bool,
    pub is_viewer: bool,
    /// What they said they would do, with its checklist.
    pub goal: Option<Goal>,
    /// How they said it went: "Partly", and their note.
    pub check_out: Option<(&'static str, Option<String>)>,
    /// Whether the viewer keeps them as a favourite.
    pub favourite: bool,
}

impl PersonView {
    /// The first letter of the name, for the round avatar.
    pub fn initial(&self) -> String {
        self.name
            .chars()
            .next()
            .map(|first| first.to_uppercase().collect())
            .unwrap_or_default()
    }

    /// Whether the viewer may mark them as a favourite (or unmark them):
    /// anyone but the viewer and the assistant.
    pub fn can_favourite(&self) -> bool {
        !self.is_viewer && self.role != Role::Agent
    }

    /// The badge next to the name: the host and the assistant are marked, others are not.
    pub fn badge(&self) -> Option<&'static str> {
        match self.role {
            Role::Host => Some("Host"),
            Role::Agent => Some("AI agent"),
            Role::Participant => None,
        }
    }
}

fn people(
    participants: &[Participant],
    viewer: &Viewer,
    favourites: &HashSet<Id>,
) -> Vec<PersonView> {
    participants
        .iter()
        .map(|participant| PersonView {
            user_id: participant.user_id.to_string(),
            favourite: favourites.contains(&participant.user_id),
            name: participant.name.clone(),
            role: participant.role,
            present: participant.status == ParticipantStatus::Joined,
            is_viewer: participant.user_id == viewer.user.id,
            goal: participant.goal.clone(),
            check_out: participant
                .check_out
                .as_ref()
                .map(|check_out| (check_out.outcome.words(), check_out.note.clone())),
        })
        .collect()
}

/// An assistant interaction, for the recap of an ended session.
pub struct LogView {
    /// The AI log entry's id, for the rate buttons.
    pub id: String,
    pub question: String,
    pub asked_by: Option<String>,
    pub answer: Vec<display::AnswerPart>,
    pub failed: bool,
    /// The viewer's own rating.
    pub your_rating: Option<bool>,
    pub helpful_votes: i64,
    pub unhelpful_votes: i64,
    pub when: When,
}

impl LogView {
    /// Whether the viewer rated it `helpful` (true) or not (false).
    pub fn rated(&self, helpful: bool) -> bool {
        self.your_rating == Some(helpful)
    }
}

pub struct MessageView {
    pub name: String,
    pub body: String,
    pub when: When,
    pub mine: bool,
}

#[derive(Template)]
#[template(path = "room.html")]
struct RoomPage {
    layout: Layout,
    card: SessionCard,
    user_id: String,
    is_creator: bool,
    max_chat_chars: usize,
    goal_max_chars: usize,
    note_max_chars: usize,
    /// The timer's state as the page is made; the script takes over from there.
    timer_state: &'static str,
    /// Whether the host names the timer's length (the shape sets no blocks).
    timer_adhoc: bool,
}

#[derive(Template)]
#[template(path = "session.html")]
struct SessionPage {
    layout: Layout,
    card: SessionCard,
    people: Vec<PersonView>,
    /// Whether the viewer is or was in the session: then its transcript is theirs to read.
    was_in: bool,
    messages: Vec<MessageView>,
    /// The recap, for someone who was in the session once it ended.
    recap: Option<RecapView>,
    note_max_chars: usize,
    /// How long it ran, once it ended.
    duration: Option<String>,
    /// Shown once after a form on this page worked.
    notice: Option<&'static str>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ShowQuery {
    /// Set by the redirect after a form on the page: which notice to show.
    done: String,
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    Query(query): Query<ShowQuery>,
) -> PageResult {
    let session = state.app.session(&id).await?;
    let participants = state.app.participants(&id).await?;
    let mine = participants
        .iter()
        .find(|participant| participant.user_id == viewer.user.id);
    let joined = mine.is_some_and(|me| me.status == ParticipantStatus::Joined);
    let was_in = mine.is_some();
    let is_creator = session.creator_id == viewer.user.id;
    if session.status == SessionStatus::Active && joined {
        let page = RoomPage {
            layout: Layout::new(session.title.clone(), Section::Home, Some(&viewer)),
            user_id: viewer.user.id.to_string(),
            is_creator,
            max_chat_chars: domain::chat::MessageBody::MAX_CHARS,
            goal_max_chars: domain::goal::GOAL_MAX_CHARS,
            note_max_chars: domain::goal::NOTE_MAX_CHARS,
            timer_adhoc: !domain::ritual::shape_sets_blocks(
                session.planned_minutes,
                session.rhythm.as_ref(),
            ),
            timer_state: match session.timer.state {
                TimerState::NotStarted => "not_started",
                TimerState::Running => "running",
                TimerState::Paused => "paused",
                TimerState::Finished => "finished",
            },
            card: CardMaker::new(&state, &viewer).card(session).await?,
        };
        return ok(&page);
    }
    let (recap, messages) = if was_in && session.status == SessionStatus::Ended {
        let recap = state.app.recap(&viewer.caller, &id).await?;
        (
            Some(RecapView::of(recap)),
            chat(&state, &id, &viewer).await?,
        )
    } else {
        (None, Vec::new())
    };
    let duration = match (session.started_at, session.ended_at) {
        (Some(start), Some(end)) => Some(display::duration((end - start).num_seconds())),
        _ => None,
    };
    let notice = match query.done.as_str() {
        "reminder" => Some("We will remind you 10 minutes before it starts."),
        "left" => Some("You left this session."),
        "favourite" => {
            Some("Added to your favourites: their sessions come first on your home page.")
        }
        "unfavourite" => Some("Removed from your favourites."),
        "checked-out" => Some("Thanks: your check-out is saved."),
        "rated" => Some("Thanks: your rating is saved."),
        _ => None,
    };
    let favourites: HashSet<Id> = state
        .app
        .favourites(&viewer.caller)
        .await?
        .into_iter()
        .map(|favourite| favourite.user_id)
        .collect();
    let mut people = people(&participants, &viewer, &favourites);
    if session.status == SessionStatus::Active {
        // "Here now": those who left are history, shown once it ended.
        people.retain(|person| person.present);
    }
    let page = SessionPage {
        layout: Layout::new(session.title.clone(), Section::Home, Some(&viewer)),
        people,
        was_in,
        messages,
        recap,
        note_max_chars: domain::goal::NOTE_MAX_CHARS,
        duration,
        notice,
        card: CardMaker::new(&state, &viewer).card(session).await?,
    };
    ok(&page)
}

/// The latest chat of a session the viewer was in, as the recap shows it.
async fn chat(state: &AppState, id: &Id, viewer: &Viewer) -> PageResult<Vec<MessageView>> {
    let page = state
        .app
        .messages(&viewer.caller, id, crate::app::chat::CHAT_PAGE, None)
        .await?;
    Ok(page
        .messages
        .into_iter()
        .map(|message| MessageView {
            mine: message.user_id == viewer.user.id,
            name: message.name,
            body: message.body,
            when: display::when(message.created_at),
        })
        .collect())
}

/// What the recap shows of an ended session, for the person it is for.
pub struct RecapView {
    /// "50 min", when a length was planned.
    pub planned: Option<String>,
    /// "42 min", from its start to its end.
    pub actual: String,
    /// How the two compare: "8 min short of the plan", "5 min over the plan".
    pub against_plan: Option<String>,
    /// Work blocks that ran out: "2 of 3", or "2" when none were planned.
    pub blocks: String,
    /// The viewer's minutes in the room while work ran, and their blocks:
    /// "45 min · 2 blocks".
    pub your_focus: String,
    /// The viewer's own goal and check-out.
    pub you: Option<PersonView>,
    pub links: Vec<LinkView>,
    pub questions: Vec<LogView>,
    pub summary: Option<SummaryView>,
}

pub struct LinkView {
    pub url: String,
    pub posted_by: String,
    pub when: When,
}

/// The assistant's summary, as the recap shows it.
pub struct SummaryView {
    /// None: wanted, not written yet (the assistant's worker is busy or down).
    pub text: Option<String>,
    /// The model's own words (else composed from the session's facts).
    pub by_assistant: bool,
    /// "local, 840 ms".
    pub how: Option<String>,
}

impl RecapView {
    fn of(recap: Recap) -> Self {
        let time = &recap.time;
        let against_plan = time.planned_minutes.map(|planned| {
            let difference = time.actual_seconds - planned * 60;
            match difference {
                d if d.abs() < 60 => "as planned".to_owned(),
                d if d < 0 => format!("{} short of the plan", display::duration(-d)),
                d => format!("{} over the plan", display::duration(d)),
            }
        });
        let blocks = match time.blocks_planned {
            0 => time.blocks_completed.to_string(),
            planned => format!("{} of {planned}", time.blocks_completed),
        };
        let your_blocks = match time.your_blocks_completed {
            1 => "1 block".to_owned(),
            count => format!("{count} blocks"),
        };
        let your_focus = format!(
            "{} · {your_blocks}",
            display::minutes(time.your_focused_minutes)
        );
        Self {
            blocks,
            your_focus,
            planned: time.planned_minutes.map(|m| display::duration(m * 60)),
            actual: display::duration(time.actual_seconds),
            against_plan,
            you: recap.you.map(PersonView::of_recap),
            links: recap
                .links
                .into_iter()
                .map(|link| LinkView {
                    url: link.url,
                    posted_by: link.posted_by_name,
                    when: display::when(link.posted_at),
                })
                .collect(),
            questions: recap
                .questions
                .into_iter()
                .map(|asked| LogView {
                    id: asked.id.to_string(),
                    failed: asked.failed,
                    question: asked.question,
                    asked_by: asked.asked_by_name,
                    answer: display::answer_parts(&asked.answer),
                    your_rating: asked.your_rating,
                    helpful_votes: asked.helpful_votes,
                    unhelpful_votes: asked.unhelpful_votes,
                    when: display::when(asked.asked_at),
                })
                .collect(),
            summary: recap.summary.map(SummaryView::of),
        }
    }
}

impl SummaryView {
    fn of(summary: SessionSummary) -> Self {
        let how = match (summary.provider, summary.latency_ms) {
            (Some(provider), Some(ms)) => Some(format!("{provider}, {ms} ms")),
            (Some(provider), None) => Some(provider),
            (None, _) => None,
        };
        Self {
            text: summary
                .text
                .filter(|_| summary.status == SummaryStatus::Written),
            by_assistant: summary.written_by == Some(SummaryAuthor::Assistant),
            how,
        }
    }
}

impl PersonView {
    /// The viewer's own part of the recap (no one is their own favourite).
    fn of_recap(person: RecapPerson) -> Self {
        Self {
            user_id: person.user_id.to_string(),
            favourite: false,
            name: person.name,
            role: person.role,
            present: false,
            is_viewer: person.is_you,
            goal: person.goal,
            check_out: person
                .check_out
                .map(|check_out| (check_out.outcome.words(), check_out.note)),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CheckOutForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    /// `done`, `partly` or `not_yet`.
    outcome: String,
    note: String,
}

impl CarriesCsrf for CheckOutForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The recap's check-out form, for a page without JavaScript too: the same
/// use case as `POST /api/sessions/{id}/check-out`.
pub async fn check_out(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CheckedForm(form): CheckedForm<CheckOutForm>,
) -> PageResult {
    let outcome = Outcome::from_str_opt(&form.outcome)
        .ok_or_else(|| InvalidInput::new("outcome", "choose done, partly or not yet"))
        .map_err(ApiError::from)?;
    let draft = CheckOutDraft::parse(outcome, Some(&form.note)).map_err(ApiError::from)?;
    state.app.check_out(&viewer.caller, &id, draft).await?;
    Ok(see_other(&format!(
        "/sessions/{id}?done=checked-out#your-goal"
    )))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RateForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    /// `true` (helpful) or `false`.
    helpful: String,
}

impl CarriesCsrf for RateForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The recap's rate buttons: the same use case as `POST /api/ai-logs/{id}/feedback`.
pub async fn rate(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((raw_session, raw_log)): Path<(String, String)>,
    CheckedForm(form): CheckedForm<RateForm>,
) -> PageResult {
    Id::parse("id", &raw_session).map_err(|_| PageError::NotFound)?;
    let log_id = Id::parse("id", &raw_log).map_err(|_| PageError::NotFound)?;
    let helpful = match form.helpful.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return Err(
                ApiError::from(InvalidInput::new("helpful", "choose helpful or not")).into(),
            );
        }
    };
    let rated = state
        .app
        .rate_answer(&viewer.caller, &log_id, helpful)
        .await?;
    // Back to the recap of the answer's own session, whatever the path said.
    Ok(see_other(&format!(
        "/sessions/{}?done=rated#question-{log_id}",
        rated.session_id
    )))
}

/// The buttons of a session's pages (`POST /sessions/{id}/{button}`), each
/// one use case.
#[derive(Clone, Copy)]
enum Button {
    Join,
    Leave,
    End,
    Start,
    Remind,
}

impl Button {
    fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "join" => Self::Join,
            "leave" => Self::Leave,
            "end" => Self::End,
            "start" => Self::Start,
            "remind" => Self::Remind,
            _ => return None,
        })
    }
}

/// Runs one of the session's buttons for the viewer, then shows where it leads.
pub async fn press(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((raw, button)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    let button = Button::parse(&button).ok_or(PageError::NotFound)?;
    viewer.check_csrf(&form.csrf)?;
    let id = Id::parse("id", &raw).map_err(|_| PageError::NotFound)?;
    let (app, caller) = (&state.app, &viewer.caller);
    let done = match button {
        Button::Join => app.join_session(caller, &id).await.map(|_| ""),
        Button::Leave => app.leave_session(caller, &id).await.map(|_| "?done=left"),
        Button::End => app.end_session(caller, &id).await.map(|_| ""),
        Button::Start => app.start_session(caller, &id).await.map(|_| ""),
        Button::Remind => app.remind_me(caller, &id).await.map(|()| "?done=reminder"),
    }?;
    Ok(see_other(&format!("/sessions/{id}{done}")))
}

/// The star by a person's name on a session's page, without the script.
#[derive(Deserialize)]
pub struct FavouriteForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    /// `on` marks them as a favourite, `off` unmarks them.
    favourite: String,
}

impl CarriesCsrf for FavouriteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /sessions/{id}/people/{user_id}/favourite`: marks or unmarks a
/// person of the session as the viewer's favourite, then shows the session
/// again with a notice.
pub async fn favourite(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((raw_session, raw_user)): Path<(String, String)>,
    CheckedForm(form): CheckedForm<FavouriteForm>,
) -> PageResult {
    let id = Id::parse("id", &raw_session).map_err(|_| PageError::NotFound)?;
    let user_id = Id::parse("user_id", &raw_user).map_err(|_| PageError::NotFound)?;
    let (app, caller) = (&state.app, &viewer.caller);
    let done = match form.favourite.as_str() {
        "on" => app
            .mark_favourite(caller, &user_id)
            .await
            .map(|_| "favourite"),
        "off" => app
            .unmark_favourite(caller, &user_id)
            .await
            .map(|()| "unfavourite"),
        _ => return Err(ApiError::invalid("favourite", "must be on or off").into()),
    }?;
    Ok(see_other(&format!("/sessions/{id}?done={done}")))
}

/// One session as an iCalendar file, for "Add to calendar".
pub async fn calendar(
    State(state): State<AppState>,
    _viewer: Viewer,
    PageId(id): PageId,
    headers: HeaderMap,
) -> PageResult {
    let session = state.app.session(&id).await?;
    let host = headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost:8080");
    let calendar = crate::calendar::calendar_of(std::slice::from_ref(&session), host);
    Ok((
        StatusCode::OK,
        [
            (CONTENT_TYPE, "text/calendar; charset=utf-8".to_owned()),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"lock-in-session.ics\"".to_owned(),
            ),
        ],
        calendar.to_string(),
    )
        .into_response())
}
