//! Sign up, sign in and sign out, as forms.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::viewer::{
    CarriesCsrf, CheckedForm, CsrfForm, MaybeViewer, VisitorForm, local_path, visitor_csrf,
};
use super::{FieldErrors, Layout, PageResult, Section, Viewer, html, see_other};
use domain::user::{Email, Password, UserName};

use crate::AppState;
use crate::app::accounts::SignedIn;
use crate::auth::ClientAddress;
use crate::error::ApiError;
use crate::limits::ClientKey;

#[derive(Deserialize, Default)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

/// The sign-up and sign-in forms' fields, as typed (sign-in has no name).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AccountForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    next: String,
    name: String,
    email: String,
    password: String,
}

impl CarriesCsrf for AccountForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The sign-up and sign-in pages: the same form (`account.html`), but for
/// the name and the words.
#[derive(Template)]
enum AccountPage {
    #[template(path = "signup.html")]
    SignUp {
        layout: Layout,
        form: AccountForm,
        errors: FieldErrors,
    },
    #[template(path = "login.html")]
    SignIn {
        layout: Layout,
        form: AccountForm,
        errors: FieldErrors,
    },
}

impl AccountPage {
    /// The form for a visitor, who has no CSRF cookie of a sign-in yet: the
    /// page carries the visitor's own.
    fn new(signing_up: bool, csrf: String, form: AccountForm, errors: FieldErrors) -> Self {
        let title = if signing_up { "Sign up" } else { "Sign in" };
        let mut layout = Layout::new(title, Section::Account, None);
        layout.csrf = csrf;
        if signing_up {
            Self::SignUp {
                layout,
                form,
                errors,
            }
        } else {
            Self::SignIn {
                layout,
                form,
                errors,
            }
        }
    }
}

/// Where to go after signing in: `next` if it is a page of ours, else home.
fn destination(next: &str) -> String {
    local_path(next).unwrap_or_else(|| "/".to_owned())
}

/// `GET /signup` (`SIGN_UP`) and `GET /login`: the form, blank. Someone
/// already signed in goes on to `next`.
pub async fn form_page<const SIGN_UP: bool>(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> PageResult {
    if viewer.is_some() {
        return Ok(see_other(&destination(&query.next)));
    }
    let (csrf, set_cookie) = visitor_csrf(&headers, state.cookies);
    let form = AccountForm {
        next: query.next,
        ..AccountForm::default()
    };
    let page = AccountPage::new(SIGN_UP, csrf, form, FieldErrors::default());
    Ok((set_cookie, html(StatusCode::OK, &page)?).into_response())
}

/// `POST /signup` (`SIGN_UP`) and `POST /login`: signed in (the cookie set)
/// and on to `next`, or the form again with why not next to the field at fault.
pub async fn submit<const SIGN_UP: bool>(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    VisitorForm(form): VisitorForm<AccountForm>,
) -> PageResult {
    let signed = if SIGN_UP {
        sign_up(&state, &form, client).await
    } else {
        sign_in(&state, &form, client).await
    };
    match signed {
        Ok(signed) => Ok((
            state.cookies.sign_in(&signed.token),
            see_other(&destination(&form.next)),
        )
            .into_response()),
        Err((status, errors)) => {
            let page = AccountPage::new(SIGN_UP, form.csrf.clone(), form, errors);
            html(status, &page)
        }
    }
}

/// Why a form was refused, and the status it is answered with.
type Refused = (StatusCode, FieldErrors);

async fn sign_up(
    state: &AppState,
    form: &AccountForm,
    client: ClientKey,
) -> Result<SignedIn, Refused> {
    let signed = match parse_signup(form) {
        Ok((email, name, password)) => state
            .app
            .sign_up(email, name, password, client)
            .await
            .map_err(ApiError::from),
        Err(error) => Err(error),
    };
    signed.map_err(|error| {
        let errors = FieldErrors::from_api(&error, &["name", "email", "password"]);
        (FieldErrors::status(&error), errors)
    })
}

/// The form's fields in the API's order, so both refuse the same input alike.
fn parse_signup(form: &AccountForm) -> Result<(Email, UserName, Password), ApiError> {
    Ok((
        Email::parse(&form.email)?,
        UserName::parse(&form.name)?,
        Password::parse(form.password.clone())?,
    ))
}

/// A blank field is pointed out before anything is checked; a wrong email
/// or password is not told apart, above the form.
async fn sign_in(
    state: &AppState,
    form: &AccountForm,
    client: ClientKey,
) -> Result<SignedIn, Refused> {
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
    if !errors.is_empty() {
        return Err((StatusCode::BAD_REQUEST, errors));
    }
    state
        .app
        .sign_in(&form.email, form.password.clone(), client)
        .await
        .map_err(|error| {
            let error = ApiError::from(error);
            (
                FieldErrors::status(&error),
                FieldErrors::from_api(&error, &[]),
            )
        })
}

pub async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    CheckedForm(_): CheckedForm<CsrfForm>,
) -> PageResult {
    state.app.sign_out(&viewer.caller).await?;
    Ok((state.cookies.sign_out(), see_other("/login")).into_response())
}
