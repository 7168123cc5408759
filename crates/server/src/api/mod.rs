//! The JSON API of `API.md`, with its OpenAPI description generated from the
//! same annotations that register the routes, so the two cannot drift apart.

pub(crate) mod accounts;
mod ai_logs;
pub(crate) mod chat;
mod favourites;
mod goals;
mod health;
mod history;
mod internal;
mod moderation;
pub(crate) mod projects;
mod recap;
pub(crate) mod reminders;
pub(crate) mod sessions;
mod timelapses;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::routing::get;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::{AppState, app};

/// Every JSON body is small; anything larger is refused before it is read whole.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Lock In", description = "Live focus sessions with a voice AI assistant."),
    modifiers(&Credentials),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

/// The ways a caller proves who they are (`crate::auth`): a person's token as
/// a bearer header or as the browser's cookie, the agent token, or the
/// metrics token.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            bearer_token("A person's token, from register or login"),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                // The names are `crate::auth`'s constants, spelled out for a `&str`.
                "The browser's sign-in cookie. A request that changes something must also \
                 send the sign-in's CSRF token (the `lockin_csrf` cookie set with it) in the \
                 `x-csrf-token` header, or it gets 403.",
            ))),
        );
        components.add_security_scheme(
            "agent",
            bearer_token("The agent token (LOCKIN_AGENT_TOKEN)"),
        );
        components.add_security_scheme(
            "metrics",
            bearer_token("The metrics token (LOCKIN_METRICS_TOKEN), for /metrics only"),
        );
    }
}

/// A token sent as `Authorization: Bearer …`; `description` says which.
fn bearer_token(description: &str) -> SecurityScheme {
    SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(description))
            .build(),
    )
}

/// The refusals of the request extractors every handler shares, added to each
/// operation from what its annotation already says it takes, so no operation
/// can forget one. Each annotation lists only what its use case adds (403,
/// 404, 409, …).
///
/// | the operation has          | extractor                                      | can answer    |
/// |----------------------------|------------------------------------------------|---------------|
/// | a security requirement     | `CurrentUser`, `AgentCaller`, `MetricsScraper` | 401           |
/// | … and changes something    | the cookie's CSRF check                        | 403           |
/// | the agent's requirement    | `AgentCaller` (a person)                       | 403           |
/// | a path parameter           | `PathId`                                       | 400, 404      |
/// | query parameters           | `ApiQuery`                                     | 400           |
/// | a request body             | `ApiJson`, the body limit                      | 400, 413, 415 |
struct EdgeRefusals;

impl Modify for EdgeRefusals {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::HttpMethod;
        use utoipa::openapi::path::ParameterIn;

        for item in openapi.paths.paths.values_mut() {
            let operations = [
                (HttpMethod::Get, &mut item.get),
                (HttpMethod::Post, &mut item.post),
                (HttpMethod::Put, &mut item.put),
                (HttpMethod::Patch, &mut item.patch),
                (HttpMethod::Delete, &mut item.delete),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let schemes = security_schemes(operation);
                let parameters = operation.parameters.as_deref().unwrap_or_default();
                let located = |place: ParameterIn| {
                    parameters
                        .iter()
                        .any(|parameter| parameter.parameter_in == place)
                };
                let mut refusals: Vec<(&str, &str)> = Vec::new();
                if !schemes.is_empty() {
                    refusals.push(("401", "no credentials, or ones that no longer work"));
                    if method != HttpMethod::Get && schemes.iter().any(|name| name == "cookie") {
                        refusals.push(("403", "signed in by cookie without the CSRF header"));
                    }
                    if schemes.iter().any(|name| name == "agent")
                        && !schemes.iter().any(|name| name == "bearer")
                    {
                        refusals.push(("403", "a person's token where the agent's is needed"));
                    }
                }
                if located(ParameterIn::Path) {
                    refusals.push(("400", "not a valid id"));
                    refusals.push(("404", "nothing has this id (or you may not see it)"));
                }
                if located(ParameterIn::Query) {
                    refusals.push((
                        "400",
                        "a parameter out of range, or one this call does not take",
                    ));
                }
                if operation.request_body.is_some() {
                    refusals.push((
                        "400",
                        "the body is malformed, or a field is missing, unknown or out of range",
                    ));
                    refusals.push(("413", "the body is too large"));
                    refusals.push(("415", "the body is not of a type this call takes"));
                }
                // One response a status: the refusals that share one are
                // described together, unless the annotation describes it.
                let mut described: Vec<(&str, String)> = Vec::new();
                for (status, description) in refusals {
                    match described.iter_mut().find(|(known, _)| *known == status) {
                        Some((_, text)) => *text = format!("{text}; or {description}"),
                        None => described.push((status, description.to_owned())),
                    }
                }
                for (status, description) in described {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(&description));
                }
            }
        }
    }
}

/// The `{id}` of every path, as [`PathId`](crate::extract::PathId) reads it
/// (a uuid), declared here once for every operation rather than by each:
/// "session id" under `…/sessions/{id}`, "AI log id" under `…/ai-logs/{id}`.
struct PathIds;

impl Modify for PathIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{ObjectBuilder, Required, SchemaFormat, Type};

        for (path, item) in openapi.paths.paths.iter_mut() {
            let Some((collection, _)) = path.split_once("/{id}") else {
                continue;
            };
            let plural = collection.rsplit('/').next().unwrap_or_default();
            let what = plural.trim_end_matches('s').replace('-', " ");
            let what = what
                .strip_prefix("ai ")
                .map_or(what.clone(), |rest| format!("AI {rest}"));
            let id = ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(format!("{what} id")))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(SchemaFormat::Custom("uuid".to_owned()))),
                ))
                .build();
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let parameters = operation.parameters.get_or_insert_with(Vec::new);
                parameters.insert(0, id.clone());
            }
        }
    }
}

/// The names of the security schemes any of `operation`'s requirements uses.
fn security_schemes(operation: &utoipa::openapi::path::Operation) -> Vec<String> {
    let requirements = serde_json::to_value(&operation.security).unwrap_or_default();
    requirements
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_object)
        .flat_map(|requirement| requirement.keys().cloned())
        .collect()
}

/// A refusal, with the one error body every refusal has.
fn error_response(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

pub fn openapi_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(accounts::router())
        .merge(projects::router())
        .merge(sessions::router())
        .merge(goals::router())
        .merge(moderation::router())
        .merge(favourites::router())
        .merge(ai_logs::router())
        .merge(chat::router())
        .merge(reminders::router())
        .merge(timelapses::router())
        .merge(history::router())
        .merge(recap::router())
        .merge(internal::router())
        .merge(health::router())
}

/// The OpenAPI document, as served at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes_and_document().1
}

/// The routes, and the document of them with the path ids and every refusal
/// the shared extractors can give. The operations are only known once every
/// feature's router is merged, so [`PathIds`] and [`EdgeRefusals`] run here
/// rather than in `ApiDoc`.
fn routes_and_document() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut document) = openapi_router().split_for_parts();
    PathIds.modify(&mut document);
    EdgeRefusals.modify(&mut document);
    (routes, document)
}

/// A page for people (whose browsers ask for HTML), a JSON error for programs.
async fn not_found(headers: axum::http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        crate::pages::PageError::NotFound.into_response()
    } else {
        ApiError::from(app::Error::NotFound("no such page or endpoint")).into_response()
    }
}

/// What every answer carries, unless it set its own: answers are about now
/// and about who asks (the web app's static files set their own, long,
/// caching); browsers must not guess a type (an uploaded video sniffed as
/// HTML), always; and no other site may frame our pages (clickjacking).
/// The third field: whether it replaces what the answer set itself.
const EVERY_ANSWER: [(header::HeaderName, &str, bool); 4] = [
    (header::CACHE_CONTROL, "no-store", false),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff", true),
    (header::X_FRAME_OPTIONS, "DENY", false),
    (
        header::CONTENT_SECURITY_POLICY,
        "frame-ancestors 'none'",
        false,
    ),
];

async fn every_answer_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    for (name, value, replacing) in EVERY_ANSWER {
        if replacing || !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

pub fn router(state: AppState) -> Router {
    let (routes, document) = routes_and_document();
    let document = serde_json::to_string(&document).expect("the OpenAPI document serializes");
    routes
        .merge(crate::live::router())
        .merge(
            crate::pages::router().layer(axum::middleware::from_fn_with_state(
                state.cookies,
                crate::pages::refresh_csrf_cookie,
            )),
        )
        .route(
            "/api/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], document) }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            state.deadlines,
            crate::connections::request_deadline,
        ))
        .layer(axum::middleware::from_fn(crate::telemetry::track_requests))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(axum::middleware::map_response(every_answer_headers))
        .layer(TraceLayer::new_for_http().make_span_with(crate::telemetry::request_span))
        .with_state(state)
}
