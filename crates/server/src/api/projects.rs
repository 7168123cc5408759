//! Projects: the context a session (and its assistant) works in.

use axum::Json;
use axum::http::StatusCode;
use domain::input::{NonBlank, Text};
use domain::project::{self, Project, ProjectName, RepoUrl, TechStack};
use domain::session::Session;
use serde::{Deserialize, Deserializer};
use store::{NewProject, ProjectChanges};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiResult, ErrorBody};
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
    #[schema(value_type = NonBlank<100>)]
    name: String,
    /// Empty means none.
    #[schema(value_type = Option<Text<2000>>)]
    description: Option<String>,
    /// An http(s) link; empty means none.
    #[schema(
        max_length = 500,
        pattern = r"^(https?://[A-Za-z0-9]+(\.[A-Za-z0-9]+)*(:[0-9]{1,4})?(/[A-Za-z0-9._~/-]*)?)?$"
    )]
    repo_url: Option<String>,
    /// At most 20 languages or tools, e.g. `rust`.
    #[schema(value_type = Option<Vec<NonBlank<40>>>, max_items = 20)]
    tech_stack: Option<Vec<String>>,
    /// Let the people in the project's active sessions watch its timelapses
    /// (default false: they are the owner's).
    timelapses_shared: Option<bool>,
}

/// Absent fields stay as they are; `null` (or "") clears `description` and `repo_url`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    #[schema(value_type = Option<NonBlank<100>>)]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Text<2000>>)]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 500, pattern = r"^(https?://[A-Za-z0-9]+(\.[A-Za-z0-9]+)*(:[0-9]{1,4})?(/[A-Za-z0-9._~/-]*)?)?$")]
    repo_url: Option<Option<String>>,
    #[schema(value_type = Option<Vec<NonBlank<40>>>, max_items = 20)]
    tech_stack: Option<Vec<String>>,
    timelapses_shared: Option<bool>,
}

/// Tells "given as null" (`Some(None)`) from "not given" (`None`, via `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[utoipa::path(post, path = "/api/projects", tag = "projects", security(("bearer" = []), ("cookie" = [])), request_body = CreateProject,
    responses((status = 201, body = Project)))]
async fn create_project(
    me: CurrentUser,
    ApiJson(body): ApiJson<CreateProject>,
) -> ApiResult<(StatusCode, Json<Project>)> {
    let new = NewProject {
        name: ProjectName::parse(&body.name)?.into_inner(),
        description: project::parse_description(body.description.as_deref())?,
        repo_url: RepoUrl::parse_optional(body.repo_url.as_deref())?.map(RepoUrl::into_inner),
        tech_stack: TechStack::parse(&body.tech_stack.unwrap_or_default())?.into_inner(),
        timelapses_shared: body.timelapses_shared.unwrap_or(false),
    };
    Ok((
        StatusCode::CREATED,
        Json(me.app.create_project(&me.caller, new).await?),
    ))
}

#[utoipa::path(get, path = "/api/projects", tag = "projects", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "my projects, newest first", body = [Project])))]
async fn list_projects(me: CurrentUser) -> ApiResult<Json<Vec<Project>>> {
    Ok(Json(me.app.my_projects(&me.caller).await?))
}

#[utoipa::path(get, path = "/api/projects/{id}", tag = "projects", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Project)))]
async fn get_project(me: CurrentUser, PathId(id): PathId) -> ApiResult<Json<Project>> {
    Ok(Json(me.app.project(&me.caller, &id).await?))
}

#[utoipa::path(patch, path = "/api/projects/{id}", tag = "projects", security(("bearer" = []), ("cookie" = [])),
    request_body = UpdateProject,
    responses((status = 200, body = Project), (status = 403, body = ErrorBody)))]
async fn update_project(
    me: CurrentUser,
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
        timelapses_shared: body.timelapses_shared,
    };
    Ok(Json(me.app.update_project(&me.caller, &id, changes).await?))
}

#[utoipa::path(delete, path = "/api/projects/{id}", tag = "projects", security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "deleted; its sessions keep running without a project"), (status = 403, body = ErrorBody)))]
async fn delete_project(me: CurrentUser, PathId(id): PathId) -> ApiResult<StatusCode> {
    me.app.delete_project(&me.caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/projects/{id}/sessions", tag = "projects", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "sessions linked to the project, newest first", body = [Session])))]
async fn project_sessions(me: CurrentUser, PathId(id): PathId) -> ApiResult<Json<Vec<Session>>> {
    Ok(Json(me.app.project_sessions(&me.caller, &id).await?))
}
