//! Projects: mine, one project with its sessions and timelapses, and the
//! create and edit forms.

use askama::Template;
use axum::extract::State;
use domain::InvalidInput;
use domain::project::{self, Project, ProjectName, RepoUrl, TechStack, VideoFormat};
use domain::session::SessionStatus;
use serde::Deserialize;
use store::{NewProject, ProjectChanges};

use super::display::{self, When};
use super::session_card::{CardMaker, SessionCard};
use super::sessions::{CreateDialog, create_dialog};
use super::viewer::{CarriesCsrf, CheckedForm};
use super::{FieldErrors, Layout, PageId, PageResult, Section, Viewer, html, ok, see_other};
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

impl CarriesCsrf for ProjectForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
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
    fn parse(&self) -> Result<NewProject, InvalidInput> {
        Ok(NewProject {
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

pub async fn list(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    let page = ProjectsPage {
        projects: state.app.my_projects(&viewer.caller).await?,
        layout: Layout::new("Projects", Section::Projects, Some(&viewer)),
    };
    ok(&page)
}

impl ProjectFormPage {
    /// The form for a new project, or for editing `project`.
    fn new(
        viewer: &Viewer,
        project: Option<&Project>,
        form: ProjectForm,
        errors: FieldErrors,
    ) -> Self {
        let title = match project {
            None => "New project".to_owned(),
            Some(project) => format!("Edit {}", project.name),
        };
        Self {
            layout: Layout::new(title, Section::Projects, Some(viewer)),
            project_id: project.map(|project| project.id.to_string()),
            form,
            errors,
        }
    }
}

pub async fn new_page(viewer: Viewer) -> PageResult {
    let page = ProjectFormPage::new(
        &viewer,
        None,
        ProjectForm::default(),
        FieldErrors::default(),
    );
    ok(&page)
}

pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    CheckedForm(form): CheckedForm<ProjectForm>,
) -> PageResult {
    save(&state, &viewer, None, form).await
}

pub async fn edit_page(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
) -> PageResult {
    let project = state.app.owned_project(&viewer.caller, &id).await?;
    let form = ProjectForm::of(&project);
    ok(&ProjectFormPage::new(
        &viewer,
        Some(&project),
        form,
        FieldErrors::default(),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    viewer: Viewer,
    PageId(id): PageId,
    CheckedForm(form): CheckedForm<ProjectForm>,
) -> PageResult {
    let project = state.app.owned_project(&viewer.caller, &id).await?;
    save(&state, &viewer, Some(project), form).await
}

/// Saves the form as a new project, or over the one being edited, and shows
/// it; or the form again, with the refusal next to the field at fault.
async fn save(
    state: &AppState,
    viewer: &Viewer,
    editing: Option<Project>,
    form: ProjectForm,
) -> PageResult {
    let saved = match (form.parse(), &editing) {
        (Ok(new), None) => state.app.create_project(&viewer.caller, new).await,
        // Every field of the form is sent: an emptied one is cleared.
        (Ok(parsed), Some(project)) => {
            let changes = ProjectChanges {
                name: Some(parsed.name),
                description: Some(parsed.description),
                repo_url: Some(parsed.repo_url),
                tech_stack: Some(parsed.tech_stack),
                timelapses_shared: Some(parsed.timelapses_shared),
            };
            let id = &project.id;
            state.app.update_project(&viewer.caller, id, changes).await
        }
        (Err(invalid), _) => Err(invalid.into()),
    };
    match saved.map_err(ApiError::from) {
        Ok(project) => Ok(see_other(&format!("/projects/{}", project.id))),
        Err(error) => {
            let errors = FieldErrors::from_api(&error, PROJECT_FIELDS);
            let page = ProjectFormPage::new(viewer, editing.as_ref(), form, errors);
            html(FieldErrors::status(&error), &page)
        }
    }
}

pub async fn show(State(state): State<AppState>, viewer: Viewer, PageId(id): PageId) -> PageResult {
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
    PageId(id): PageId,
) -> PageResult {
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
