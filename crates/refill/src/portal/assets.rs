//! The page's style sheet and script, embedded in the binary (nothing is fetched
//! from elsewhere), and the operator's colours as a style sheet of their own.

use super::Portal;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

pub const CSS: &str = include_str!("assets/portal.css");
pub const JS: &str = include_str!("assets/portal.js");

pub(super) fn routes() -> Router<Portal> {
    Router::new()
        .route("/portal/assets/portal.css", get(css))
        .route("/portal/assets/portal.js", get(js))
        .route("/portal/theme.css", get(theme))
}

const CACHE: &str = "public, max-age=3600";

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        JS,
    )
}

/// The colours were checked as `#rrggbb` when the settings were read.
async fn theme(State(p): State<Portal>) -> impl IntoResponse {
    let css = format!(
        ":root {{ --primary: {}; --bg: {}; }}\n",
        p.settings.color_primary, p.settings.color_background
    );
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], css)
}
