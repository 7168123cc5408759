//! Sign up, sign in, sign out, and who am I.

use axum::Json;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use domain::user::{Email, Password, User, UserName};
use serde::{Deserialize, Serialize};
use store::Store;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{self, ClientAddress, CurrentUser};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;

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
    email: String,
    /// At least 8 characters.
    password: String,
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

/// Issues a token for `user` and answers with it, also as browser cookies.
async fn sign_in(
    state: &AppState,
    user: User,
    status: StatusCode,
) -> ApiResult<(StatusCode, HeaderMap, Json<SignedIn>)> {
    let (token, headers) = issue_token(state, &user).await?;
    Ok((status, headers, Json(SignedIn { user, token })))
}

/// A new token for `user`, and the headers that set it as browser cookies;
/// shared by the API and the sign-in and sign-up pages.
pub(crate) async fn issue_token(state: &AppState, user: &User) -> ApiResult<(String, HeaderMap)> {
    let token = auth::new_token("lk_");
    state
        .store
        .insert_token(&user.id, &auth::hash_token(&token))
        .await?;
    let mut headers = HeaderMap::new();
    for cookie in auth::sign_in_cookies(&token) {
        headers.append(SET_COOKIE, cookie);
    }
    Ok((token, headers))
}

#[utoipa::path(post, path = "/api/auth/register", tag = "accounts", request_body = RegisterBody,
    responses((status = 201, body = SignedIn), (status = 400, body = ErrorBody), (status = 409, description = "email taken", body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> ApiResult<impl IntoResponse> {
    let user = create_user(
        state.store.as_ref(),
        &body.email,
        &body.name,
        &body.password,
    )
    .await?;
    sign_in(&state, user, StatusCode::CREATED).await
}

/// Parses and creates an account; shared by sign-up and `lockin user create`.
pub async fn create_user(
    store: &dyn Store,
    email: &str,
    name: &str,
    password: &str,
) -> ApiResult<User> {
    let email = Email::parse(email)?;
    let name = UserName::parse(name)?;
    let password = Password::parse(password.to_owned())?;
    let password_hash = auth::hash_password(password).await?;
    let user = store
        .create_user(store::NewUser {
            email: email.as_str().to_owned(),
            name: name.as_str().to_owned(),
            password_hash,
        })
        .await?;
    Ok(user)
}

#[utoipa::path(post, path = "/api/auth/login", tag = "accounts", request_body = LoginBody,
    responses((status = 200, body = SignedIn), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<impl IntoResponse> {
    let user = check_password(&state, address, &body.email, body.password).await?;
    sign_in(&state, user, StatusCode::OK).await
}

/// The account these credentials open, within the sign-in rate limit; shared
/// by the API and the sign-in page.
pub(crate) async fn check_password(
    state: &AppState,
    address: Option<std::net::IpAddr>,
    email: &str,
    password: String,
) -> ApiResult<User> {
    let wrong = || ApiError::Unauthenticated("that email and password do not match an account");
    let Ok(email) = Email::parse(email) else {
        return Err(wrong());
    };
    state.login_limiter.check(email.as_str(), address)?;
    let found = state.store.user_credentials(email.as_str()).await?;
    let (user, hash) = found.map_or((None, None), |(user, hash)| (Some(user), Some(hash)));
    let matches = auth::verify_password(password, hash).await?;
    match user {
        Some(user) if matches => Ok(user),
        _ => Err(wrong()),
    }
}

#[utoipa::path(post, path = "/api/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "the token no longer works"), (status = 401, body = ErrorBody)))]
async fn logout(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> ApiResult<impl IntoResponse> {
    Ok((
        StatusCode::NO_CONTENT,
        sign_out(&state, &caller.token_hash).await?,
    ))
}

/// Revokes a token; the headers clear the browser's cookies. Shared with the sign-out button.
pub(crate) async fn sign_out(state: &AppState, token_hash: &str) -> ApiResult<HeaderMap> {
    state.store.revoke_token(token_hash).await?;
    let mut headers = HeaderMap::new();
    for cookie in auth::sign_out_cookies() {
        headers.append(SET_COOKIE, cookie);
    }
    Ok(headers)
}

#[utoipa::path(get, path = "/api/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
async fn me(caller: CurrentUser) -> Json<User> {
    Json(caller.user)
}
