//! Sign up, sign in and sign out, as forms.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::viewer::{CsrfForm, MaybeViewer, csrf_matches, local_path, posted_csrf, visitor_csrf};
use super::{FieldErrors, Layout, PageResult, Section, Viewer, html, see_other};
use domain::user::{Email, Password, UserName};

use crate::AppState;
use crate::auth::ClientAddress;
use crate::error::ApiError;

#[derive(Deserialize, Default)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SignupForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    next: String,
    name: String,
    email: String,
    password: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    next: String,
    email: String,
    password: String,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    layout: Layout,
    next: String,
    name: String,
    email: String,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    email: String,
    errors: FieldErrors,
}

/// Where to go after signing in: `next` if it is a page of ours, else home.
fn destination(next: &str) -> String {
    local_path(next).unwrap_or_else(|| "/".to_owned())
}

fn visitor_layout(title: &str, csrf: String) -> Layout {
    let mut layout = Layout::new(title, Section::Account, None);
    layout.csrf = csrf;
    layout
}

pub async fn signup_page(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> PageResult {
    if viewer.is_some() {
        return Ok(see_other(&destination(&query.next)));
    }
    let (csrf, set_cookie) = visitor_csrf(&headers, state.cookies);
    let page = SignupPage {
        layout: visitor_layout("Sign up", csrf),
        next: query.next,
        name: String::new(),
        email: String::new(),
        errors: FieldErrors::default(),
    };
    Ok((set_cookie, html(StatusCode::OK, &page)?).into_response())
}

pub async fn signup(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    Form(form): Form<SignupForm>,
) -> PageResult {
    csrf_matches(posted_csrf(&headers), &form.csrf)?;
    let refused = |error: ApiError, form: SignupForm| {
        let page = SignupPage {
            layout: visitor_layout("Sign up", form.csrf),
            errors: FieldErrors::from_api(&error, &["name", "email", "password"]),
            next: form.next,
            name: form.name,
            email: form.email,
        };
        html(FieldErrors::status(&error), &page)
    };
    let signed = match parse_signup(&form) {
        Ok((email, name, password)) => state.app.sign_up(email, name, password, client).await,
        Err(error) => return refused(error, form),
    };
    match signed {
        Ok(signed) => Ok((
            state.cookies.sign_in(&signed.token),
            see_other(&destination(&form.next)),
        )
            .into_response()),
        Err(error) => refused(error.into(), form),
    }
}

/// The form's fields in the API's order, so both refuse the same input alike.
fn parse_signup(form: &SignupForm) -> Result<(Email, UserName, Password), ApiError> {
    Ok((
        Email::parse(&form.email)?,
        UserName::parse(&form.name)?,
        Password::parse(form.password.clone())?,
    ))
}

pub async fn login_page(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> PageResult {
    if viewer.is_some() {
        return Ok(see_other(&destination(&query.next)));
    }
    let (csrf, set_cookie) = visitor_csrf(&headers, state.cookies);
    let page = LoginPage {
        layout: visitor_layout("Sign in", csrf),
        next: query.next,
        email: String::new(),
        errors: FieldErrors::default(),
    };
    Ok((set_cookie, html(StatusCode::OK, &page)?).into_response())
}

pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> PageResult {
    csrf_matches(posted_csrf(&headers), &form.csrf)?;
    let mut errors = FieldErrors::default();
    if form.email.trim().is_empty() {
        errors.fields.push((
            "email".into(),
            "Enter the email address you signed up with.".into(),
        ));
    }
    if form.password.is_empty() {
        errors
            .fields
            .push(("password".into(), "Enter your password.".into()));
    }
    let status = if errors.is_empty() {
        match state.app.sign_in(&form.email, form.password, address).await {
            Ok(signed) => {
                let cookies = state.cookies.sign_in(&signed.token);
                return Ok((cookies, see_other(&destination(&form.next))).into_response());
            }
            Err(error) => {
                let error = ApiError::from(error);
                errors = FieldErrors::from_api(&error, &[]);
                FieldErrors::status(&error)
            }
        }
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = LoginPage {
        layout: visitor_layout("Sign in", form.csrf),
        next: form.next,
        email: form.email,
        errors,
    };
    html(status, &page)
}

pub async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    state.app.sign_out(&viewer.caller).await?;
    Ok((state.cookies.sign_out(), see_other("/login")).into_response())
}
