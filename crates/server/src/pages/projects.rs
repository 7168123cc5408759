//! Projects: mine, one project with its sessions and timelapses, and the
//! create and edit forms.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use domain::Id;
use domain::project::{self, Project, ProjectName, RepoUrl, TechStack, VideoFormat};
use domain::session::SessionStatus;
use serde::Deserialize;
use store::{NewProject, ProjectChanges};

use super::display::{self, When};
use super::session_card::{CardMaker, SessionCard};
use super::sessions::{CreateDialog, create_dialog};
use super::{FieldErrors, Layout, PageError, PageResult, Section, Viewer, html, ok, see_other};
use crate::AppState;
use crate::error::ApiError;

/// The project form's values, as typed.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ProjectForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    pub name: String,
    pub description: String,
    pub repo_url: String,
    /// Comma-separated: "rust, axum, sqlite".
    pub tech_stack: String,
    /// Present (`on`) when the box is ticked.
    pub timelapses_shared: Option<String>,
}

impl ProjectForm {
    fn of(project: &Project) -> Self {
        Self {
            csrf: String::new(),
            name: project.name.clone(),
            description: project.description.clone().unwrap_or_default(),
            repo_url: project.repo_url.clone().unwrap_or_default(),
            tech_stack: project.tech_stack.join(", "),
            timelapses_shared: project.timelapses_shared.then(|| "on".to_owned()),
        }
    }

    pub fn shares_timelapses(&self) -> bool {
        self.timelapses_shared.is_some()
    }

    fn stack(&self) -> Vec<String> {
        self.tech_stack
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Every field parsed by the API's rules; the first refusal names its field.
    fn parse(&self, owner_id: Id) -> Result<NewProject, ApiError> {
        Ok(NewProject {
            owner_id,
            name: ProjectName::parse(&self.name)?.into_inner(),
            description: project::parse_description(Some(&self.description))?,
            repo_url: RepoUrl::parse_optional(Some(&self.repo_url))?.map(RepoUrl::into_inner),
            tech_stack: TechStack::parse(&self.stack())?.into_inner(),
            timelapses_shared: self.shares_timelapses(),
        })
    }
}

const PROJECT_FIELDS: &[&str] = &["name", "description", "repo_url", "tech_stack"];

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    layout: Layout,
    projects: Vec<Project>,
}

#[derive(Template)]
#[template(path = "project_form.html")]
struct ProjectFormPage {
    layout: Layout,
    /// The project being edited; none for a new one.
    project_id: Option<String>,
    form: ProjectForm,
    errors: FieldErrors,
}

pub struct TimelapseView {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub url: String,
    pub size: String,
    pub when: When,
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    layout: Layout,
    project: Project,
    is_owner: bool,
    active: Vec<SessionCard>,
    upcoming: Vec<SessionCard>,
    past: Vec<SessionCard>,
    timelapses: Vec<TimelapseView>,
    /// False when its owner keeps them: the section is left out.
    timelapses_shown: bool,
    create: CreateDialog,
    max_upload_mb: u64,
}

#[derive(Template)]
#[template(path = "upload.html")]
struct UploadPage {
    layout: Layout,
    project: Project,
    max_upload_mb: u64,
}

fn parse_id(raw: &str) -> PageResult<Id> {
    Id::parse("id", raw).map_err(|_| PageError::NotFound)
}

pub async fn list(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    let page = ProjectsPage {
        projects: state.app.my_projects(&viewer.caller).await?,
        layout: Layout::new("Projects", Section::Projects, Some(&viewer)),
    };
    ok(&page)
}

pub async fn new_page(viewer: Viewer) -> PageResult {
    let page = ProjectFormPage {
        layout: Layout::new("New project", Section::Projects, Some(&viewer)),
        project_id: None,
        form: ProjectForm::default(),
        errors: FieldErrors::default(),
    };
    ok(&page)
}

pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<ProjectForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    let created = match form.parse(viewer.user.id.clone()) {
        Ok(new) => state
            .app
            .create_project(&viewer.caller, new)
            .await
            .map_err(ApiError::from),
        Err(error) => Err(error),
    };
    match created {
        Ok(project) => Ok(see_other(&format!("/projects/{}", project.id))),
        Err(error) => refused_form(&viewer, "New project".into(), None, form, &error),
    }
}

/// The project form again, with the refusal next to the fields at fault.
fn refused_form(
    viewer: &Viewer,
    title: String,
    project_id: Option<String>,
    form: ProjectForm,
    error: &ApiError,
) -> PageResult {
    let page = ProjectFormPage {
        layout: Layout::new(title, Section::Projects, Some(viewer)),
        project_id,
        errors: FieldErrors::from_api(error, PROJECT_FIELDS),
        form,
    };
    html(FieldErrors::status(error), &page)
}

pub async fn edit_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> PageResult {
    let id = parse_id(&raw)?;
    let project = state.app.owned_project(&viewer.caller, &id).await?;
    let page = ProjectFormPage {
        layout: Layout::new(
            format!("Edit {}", project.name),
            Section::Projects,
            Some(&viewer),
        ),
        project_id: Some(project.id.to_string()),
        form: ProjectForm::of(&project),
        errors: FieldErrors::default(),
    };
    ok(&page)
}

pub async fn update(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    Form(form): Form<ProjectForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    let id = parse_id(&raw)?;
    let project = state.app.owned_project(&viewer.caller, &id).await?;
    let updated = match form.parse(viewer.user.id.clone()) {
        // Every field of the form is sent: an emptied one is cleared.
        Ok(parsed) => state
            .app
            .update_project(
                &viewer.caller,
                &id,
                ProjectChanges {
                    name: Some(parsed.name),
                    description: Some(parsed.description),
                    repo_url: Some(parsed.repo_url),
                    tech_stack: Some(parsed.tech_stack),
                    timelapses_shared: Some(parsed.timelapses_shared),
                },
            )
            .await
            .map_err(ApiError::from),
        Err(error) => Err(error),
    };
    match updated {
        Ok(_) => Ok(see_other(&format!("/projects/{id}"))),
        Err(error) => refused_form(
            &viewer,
            format!("Edit {}", project.name),
            Some(id.to_string()),
            form,
            &error,
        ),
    }
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> PageResult {
    let id = parse_id(&raw)?;
    let project = state.app.project(&viewer.caller, &id).await?;
    let sessions = state.app.project_sessions(&viewer.caller, &id).await?;
    let mut maker = CardMaker::new(&state, &viewer);
    let (mut active, mut upcoming, mut past) = (Vec::new(), Vec::new(), Vec::new());
    for card in maker.cards(sessions).await? {
        match card.status {
            SessionStatus::Active => active.push(card),
            SessionStatus::Scheduled => upcoming.push(card),
            SessionStatus::Ended => past.push(card),
        }
    }
    // Newest first from the store; the next one to start comes first.
    upcoming.reverse();
    // Not shared with this viewer: the section is not shown at all.
    let shown = match state.app.timelapses(&viewer.caller, &id).await {
        Ok(timelapses) => Some(timelapses),
        Err(crate::app::Error::Forbidden(_)) => None,
        Err(error) => return Err(error.into()),
    };
    let timelapses_shown = shown.is_some();
    let timelapses = shown
        .unwrap_or_default()
        .into_iter()
        .map(|timelapse| TimelapseView {
            id: timelapse.id.to_string(),
            filename: timelapse.filename,
            content_type: timelapse.content_type,
            url: timelapse.url,
            size: display::file_size(timelapse.size_bytes),
            when: display::when(timelapse.created_at),
        })
        .collect();
    let page = ProjectPage {
        layout: Layout::new(project.name.clone(), Section::Projects, Some(&viewer)),
        is_owner: project.owner_id == viewer.user.id,
        create: create_dialog(&state, &viewer, Some(&id)).await?,
        project,
        active,
        upcoming,
        past,
        timelapses,
        timelapses_shown,
        max_upload_mb: VideoFormat::MAX_BYTES / (1024 * 1024),
    };
    ok(&page)
}

/// The upload form on a page of its own, for a link opened in a new tab or without the dialog.
pub async fn upload_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
) -> PageResult {
    let id = parse_id(&raw)?;
    let project = state.app.owned_project(&viewer.caller, &id).await?;
    let page = UploadPage {
        layout: Layout::new(
            format!("Upload a timelapse to {}", project.name),
            Section::Projects,
            Some(&viewer),
        ),
        project,
        max_upload_mb: VideoFormat::MAX_BYTES / (1024 * 1024),
    };
    ok(&page)
}
