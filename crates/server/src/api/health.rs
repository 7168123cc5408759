//! Is it up, and how is it doing.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::MetricsScraper;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "the store answers"), (status = 503, description = "the store does not answer")))]
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.app.ping().await {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(error) => {
            tracing::warn!(?error, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "the store does not answer")
        }
    }
}

/// For the operator's Prometheus: authenticate with the metrics token
/// (`Authorization: Bearer …`, `--metrics-token`), which a scrape config
/// sends. Without one configured, nobody may scrape.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("metrics" = [])),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"), (status = 401, body = crate::error::ErrorBody)))]
async fn metrics(State(state): State<AppState>, _scraper: MetricsScraper) -> impl IntoResponse {
    // Read from the store, not counted in memory, so every node reports the whole system.
    match state.app.gauges().await {
        Ok(gauges) => {
            metrics::gauge!("lockin_sessions_active").set(gauges.sessions_active as f64);
            metrics::gauge!("lockin_participants_joined").set(gauges.participants_joined as f64);
        }
        Err(error) => tracing::warn!(?error, "reading gauges for /metrics"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::prometheus().render(),
    )
}
