//! The JSON API of `API.md`, with its OpenAPI description generated from the
//! same annotations that register the routes, so the two cannot drift apart.

pub(crate) mod accounts;
mod ai_logs;
pub(crate) mod chat;
mod health;
mod history;
mod internal;
pub(crate) mod projects;
pub(crate) mod reminders;
pub(crate) mod sessions;
mod timelapses;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::routing::get;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::error::ApiError;

/// Every JSON body is small; anything larger is refused before it is read whole.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Lock In", description = "Live focus sessions with a voice AI assistant."),
    modifiers(&BearerAuth),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "agent",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The agent token (LOCKIN_AGENT_TOKEN)"))
                    .build(),
            ),
        );
    }
}

pub fn openapi_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(accounts::router())
        .merge(projects::router())
        .merge(sessions::router())
        .merge(ai_logs::router())
        .merge(chat::router())
        .merge(reminders::router())
        .merge(timelapses::router())
        .merge(history::router())
        .merge(internal::router())
        .merge(health::router())
}

/// The OpenAPI document, as served at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi_router().split_for_parts().1
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
        ApiError::NotFound("no such page or endpoint").into_response()
    }
}

pub fn router(state: AppState) -> Router {
    let (routes, document) = openapi_router().split_for_parts();
    let document = serde_json::to_string(&document).expect("the OpenAPI document serializes");
    routes
        .merge(crate::live::router())
        .merge(crate::pages::router())
        .route(
            "/api/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], document) }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn(crate::telemetry::track_requests))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        // Answers are about now and about who asks; the web app's static files
        // set their own (long) caching, which this leaves alone.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        // Browsers must not guess a type (an uploaded video sniffed as HTML),
        // and no other site may frame our pages (clickjacking).
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        ))
        .layer(TraceLayer::new_for_http().make_span_with(crate::telemetry::request_span))
        .with_state(state)
}
