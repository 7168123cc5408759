//! Goals and check-outs (docs/RITUAL.md, Goals).

use axum::Json;
use domain::goal::{CheckOutDraft, GoalDraft, Outcome, Task};
use domain::input::{Line, Text};
use domain::session::Participant;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, PathId};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_goal))
        .routes(routes!(check_out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetGoal {
    /// What you will do in this session, on one line.
    #[schema(value_type = Line<200>)]
    goal: String,
    /// Its checklist, in order; absent: none. Send the whole list again to
    /// tick a task.
    #[schema(max_items = 10)]
    tasks: Option<Vec<NewTask>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    #[schema(value_type = Line<200>)]
    text: String,
    /// Absent: not done.
    done: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GiveCheckOut {
    outcome: Outcome,
    /// Empty or absent: no note.
    #[schema(value_type = Option<Text<500>>)]
    note: Option<String>,
}

#[utoipa::path(put, path = "/api/sessions/{id}/goal", tag = "sessions", security(("bearer" = []), ("cookie" = [])),
    request_body = SetGoal,
    responses((status = 200, description = "your seat, with the goal", body = Participant),
        (status = 400, body = ErrorBody),
        (status = 403, description = "not in the session", body = ErrorBody),
        (status = 409, description = "the session is not running", body = ErrorBody)))]
async fn set_goal(
    me: CurrentUser,
    PathId(id): PathId,
    ApiJson(body): ApiJson<SetGoal>,
) -> ApiResult<Json<Participant>> {
    let tasks = body
        .tasks
        .unwrap_or_default()
        .into_iter()
        .map(|task| Task {
            text: task.text,
            done: task.done.unwrap_or(false),
        })
        .collect();
    let draft = GoalDraft::parse(&body.goal, tasks)?;
    Ok(Json(me.app.set_goal(&me.caller, &id, draft).await?))
}

#[utoipa::path(post, path = "/api/sessions/{id}/check-out", tag = "sessions", security(("bearer" = []), ("cookie" = [])),
    request_body = GiveCheckOut,
    responses((status = 200, description = "your seat, with the check-out", body = Participant),
        (status = 400, body = ErrorBody),
        (status = 403, description = "never in the session", body = ErrorBody)))]
async fn check_out(
    me: CurrentUser,
    PathId(id): PathId,
    ApiJson(body): ApiJson<GiveCheckOut>,
) -> ApiResult<Json<Participant>> {
    let draft = CheckOutDraft::parse(body.outcome, body.note.as_deref())?;
    Ok(Json(me.app.check_out(&me.caller, &id, draft).await?))
}
