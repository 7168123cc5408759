//! Projects: the context a session (and its assistant) works in.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::Id;
use domain::project::{self, Project, ProjectName, RepoUrl, TechStack};
use domain::session::Session;
use serde::{Deserialize, Deserializer};
use store::{NewProject, ProjectChanges};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, PathId};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_project, list_projects))
        .routes(routes!(get_project, update_project, delete_project))
        .routes(routes!(project_sessions))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    name: String,
    description: Option<String>,
    repo_url: Option<String>,
    tech_stack: Option<Vec<String>>,
}

/// Absent fields stay as they are; `null` (or "") clears `description` and `repo_url`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    repo_url: Option<Option<String>>,
    tech_stack: Option<Vec<String>>,
}

/// Tells "given as null" (`Some(None)`) from "not given" (`None`, via `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A project the caller may see, or 404: a project you may not see does not exist for you.
pub(crate) async fn visible_project(state: &AppState, id: &Id, viewer: &Id) -> ApiResult<Project> {
    let not_found = || ApiError::NotFound("no such project");
    if !state.store.can_see_project(id, viewer).await? {
        return Err(not_found());
    }
    state.store.project(id).await?.ok_or_else(not_found)
}

pub(crate) async fn owned_project(state: &AppState, id: &Id, caller: &Id) -> ApiResult<Project> {
    let project = visible_project(state, id, caller).await?;
    if &project.owner_id != caller {
        return Err(ApiError::Forbidden(
            "only the project's owner can change it",
        ));
    }
    Ok(project)
}

#[utoipa::path(post, path = "/api/projects", tag = "projects", security(("bearer" = [])), request_body = CreateProject,
    responses((status = 201, body = Project), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn create_project(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiJson(body): ApiJson<CreateProject>,
) -> ApiResult<(StatusCode, Json<Project>)> {
    let new = NewProject {
        owner_id: caller.user.id,
        name: ProjectName::parse(&body.name)?.into_inner(),
        description: project::parse_description(body.description.as_deref())?,
        repo_url: RepoUrl::parse_optional(body.repo_url.as_deref())?.map(RepoUrl::into_inner),
        tech_stack: TechStack::parse(&body.tech_stack.unwrap_or_default())?.into_inner(),
    };
    Ok((
        StatusCode::CREATED,
        Json(state.store.create_project(new).await?),
    ))
}

#[utoipa::path(get, path = "/api/projects", tag = "projects", security(("bearer" = [])),
    responses((status = 200, description = "my projects, newest first", body = [Project]), (status = 401, body = ErrorBody)))]
async fn list_projects(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<Json<Vec<Project>>> {
    Ok(Json(state.store.projects_of(&caller.user.id).await?))
}

#[utoipa::path(get, path = "/api/projects/{id}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "project id")),
    responses((status = 200, body = Project), (status = 404, body = ErrorBody)))]
async fn get_project(
    State(state): State<AppState>,
    caller: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Json<Project>> {
    Ok(Json(visible_project(&state, &id, &caller.user.id).await?))
}

#[utoipa::path(patch, path = "/api/projects/{id}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "project id")), request_body = UpdateProject,
    responses((status = 200, body = Project), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_project(
    State(state): State<AppState>,
    caller: CurrentUser,
    PathId(id): PathId,
    ApiJson(body): ApiJson<UpdateProject>,
) -> ApiResult<Json<Project>> {
    // Parse everything before touching anything: a refused request changes nothing.
    let changes = ProjectChanges {
        name: body
            .name
            .map(|name| ProjectName::parse(&name))
            .transpose()?
            .map(ProjectName::into_inner),
        description: body
            .description
            .map(|description| project::parse_description(description.as_deref()))
            .transpose()?,
        repo_url: body
            .repo_url
            .map(|url| {
                RepoUrl::parse_optional(url.as_deref()).map(|url| url.map(RepoUrl::into_inner))
            })
            .transpose()?,
        tech_stack: body
            .tech_stack
            .map(|stack| TechStack::parse(&stack).map(TechStack::into_inner))
            .transpose()?,
    };
    owned_project(&state, &id, &caller.user.id).await?;
    Ok(Json(state.store.update_project(&id, changes).await?))
}

#[utoipa::path(delete, path = "/api/projects/{id}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "project id")),
    responses((status = 204, description = "deleted; its sessions keep running without a project"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_project(
    State(state): State<AppState>,
    caller: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    owned_project(&state, &id, &caller.user.id).await?;
    state.store.delete_project(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/projects/{id}/sessions", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "project id")),
    responses((status = 200, description = "sessions linked to the project, newest first", body = [Session]), (status = 404, body = ErrorBody)))]
async fn project_sessions(
    State(state): State<AppState>,
    caller: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Json<Vec<Session>>> {
    visible_project(&state, &id, &caller.user.id).await?;
    Ok(Json(state.store.project_sessions(&id).await?))
}
