//! The CSS, JavaScript modules and icon of the web app, built into the binary.
//!
//! They are served under `/static/<version>/…`, where the version is a hash of
//! all of them: a browser may keep them forever, and a new build's pages ask
//! for new URLs. Modules import each other by relative path, so a page and
//! everything it imports always come from one version.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Every static file: its path under `web/static/`, its content type and its bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "css/app.css",
        CSS,
        include_bytes!("../../../../web/static/css/app.css"),
    ),
    (
        "js/app.js",
        JS,
        include_bytes!("../../../../web/static/js/app.js"),
    ),
    (
        "js/live.js",
        JS,
        include_bytes!("../../../../web/static/js/live.js"),
    ),
    (
        "js/home.js",
        JS,
        include_bytes!("../../../../web/static/js/home.js"),
    ),
    (
        "js/session-form.js",
        JS,
        include_bytes!("../../../../web/static/js/session-form.js"),
    ),
    (
        "js/upload.js",
        JS,
        include_bytes!("../../../../web/static/js/upload.js"),
    ),
    (
        "js/room.js",
        JS,
        include_bytes!("../../../../web/static/js/room.js"),
    ),
    (
        "js/timer.js",
        JS,
        include_bytes!("../../../../web/static/js/timer.js"),
    ),
    (
        "js/goals.js",
        JS,
        include_bytes!("../../../../web/static/js/goals.js"),
    ),
    (
        "js/host-controls.js",
        JS,
        include_bytes!("../../../../web/static/js/host-controls.js"),
    ),
    (
        "js/favourites.js",
        JS,
        include_bytes!("../../../../web/static/js/favourites.js"),
    ),
    (
        "js/media.js",
        JS,
        include_bytes!("../../../../web/static/js/media.js"),
    ),
    (
        "js/media-devices.js",
        JS,
        include_bytes!("../../../../web/static/js/media-devices.js"),
    ),
    (
        "js/media-signalling.js",
        JS,
        include_bytes!("../../../../web/static/js/media-signalling.js"),
    ),
    (
        "js/media-stage.js",
        JS,
        include_bytes!("../../../../web/static/js/media-stage.js"),
    ),
    (
        "js/media-problems.js",
        JS,
        include_bytes!("../../../../web/static/js/media-problems.js"),
    ),
    (
        "js/session-page.js",
        JS,
        include_bytes!("../../../../web/static/js/session-page.js"),
    ),
    (
        "icon.svg",
        SVG,
        include_bytes!("../../../../web/static/icon.svg"),
    ),
];

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// The first 12 hex digits of the SHA-256 of every file, in order.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    for (path, _, bytes) in FILES {
        hash.update(path.as_bytes());
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    }
    hash.finalize()
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect()
});

/// Where a page finds a static file.
pub fn url(path: &str) -> String {
    format!("/static/{}/{path}", *VERSION)
}

pub async fn serve(Path((version, path)): Path<(String, String)>) -> Response {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(name, _, _)| *name == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // An old page may still ask for an old version: it gets today's file, but
    // must not keep it under the old name.
    let cache = if version == *VERSION {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        *bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_the_version() {
        let css = url("css/app.css");
        assert!(css.starts_with("/static/") && css.ends_with("/css/app.css"));
        assert_eq!(VERSION.len(), 12);
    }

    #[test]
    fn every_file_has_content() {
        for (path, _, bytes) in FILES {
            assert!(!bytes.is_empty(), "{path} is empty");
        }
    }
}
