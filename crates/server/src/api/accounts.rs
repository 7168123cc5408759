//! Sign up, sign in, sign out, and who am I.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use domain::input::NonBlank;
use domain::user::{Email, Password, User, UserName};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{self, ClientAddress, CurrentUser};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::{AppState, app};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    #[schema(
        max_length = 254,
        pattern = r"^[^\s@]+@[^\s@.][^\s@]*\.[^\s@]*[^\s@.]$"
    )]
    email: String,
    /// 8–1024 characters.
    #[schema(min_length = 8, max_length = 1024)]
    password: String,
    #[schema(value_type = NonBlank<80>)]
    name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct SignedIn {
    user: User,
    /// Send as `Authorization: Bearer <token>`. Shown once; only its hash is stored.
    token: String,
}

/// The answer to a sign-in: the token in the body for programs, and in
/// cookies for the browser that asked.
fn signed_in(
    cookies: auth::Cookies,
    status: StatusCode,
    signed: app::accounts::SignedIn,
) -> impl IntoResponse {
    (
        status,
        cookies.sign_in(&signed.token),
        Json(SignedIn {
            user: signed.user,
            token: signed.token,
        }),
    )
}

#[utoipa::path(post, path = "/api/auth/register", tag = "accounts", request_body = RegisterBody,
    responses((status = 201, body = SignedIn), (status = 409, description = "email taken", body = ErrorBody),
        (status = 429, description = "too many sign-ups from this client, or in all", body = ErrorBody), (status = 503, description = "too many passwords being hashed; try again", body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiJson(body): ApiJson<RegisterBody>,
) -> ApiResult<impl IntoResponse> {
    let signed = state
        .app
        .sign_up(
            Email::parse(&body.email)?,
            UserName::parse(&body.name)?,
            Password::parse(body.password)?,
            client,
        )
        .await?;
    Ok(signed_in(state.cookies, StatusCode::CREATED, signed))
}

#[utoipa::path(post, path = "/api/auth/login", tag = "accounts", request_body = LoginBody,
    responses((status = 200, body = SignedIn), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<impl IntoResponse> {
    let signed = state
        .app
        .sign_in(&body.email, body.password, address)
        .await?;
    Ok(signed_in(state.cookies, StatusCode::OK, signed))
}

#[utoipa::path(post, path = "/api/auth/logout", tag = "accounts", security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "the token no longer works")))]
async fn logout(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<impl IntoResponse> {
    state.app.sign_out(&caller.caller).await?;
    Ok((StatusCode::NO_CONTENT, state.cookies.sign_out()))
}

#[utoipa::path(get, path = "/api/me", tag = "accounts", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = User)))]
async fn me(caller: CurrentUser) -> Json<User> {
    Json(caller.user().clone())
}
