//! The dashboard: the files `make web` builds, embedded at compile time (see `build.rs`) and served
//! at `/` with a history-API fallback.
//!
//! Every path the router does not know lands here. Paths under `/api/` and `/agent/` and the
//! operational ones (`/metrics`, `/healthz`, `/readyz`) keep the API's JSON 404, so a typo in an
//! API call never answers 200 with HTML. Other paths are a file when one matches exactly, a 404
//! when they look like a file (a missing `/assets/…` chunk must not be parsed as HTML), and
//! `index.html` otherwise, so the dashboard's client-side routes survive a reload.
//! Vite names the files under `assets/` by their content hash, so those are cached for a year and
//! marked immutable; everything else (`index.html` above all) is revalidated on every load.
//! Every answer carries a strict Content-Security-Policy: scripts and styles only from this
//! origin (no inline script can run, whatever text a log line or a host name smuggles in), and
//! connections only back to this origin (CSP Level 3 `'self'` covers `ws:`/`wss:` to the same host).

use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::http::ApiError;

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// The Content-Security-Policy of every dashboard answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
    manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/// `Cache-Control` of content-hashed files.
pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of everything else.
pub const CACHE_REVALIDATE: &str = "no-cache";

/// What a server built without the dashboard answers at `/`.
const NOT_BUILT: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>gsm: dashboard not built</title></head><body>\n\
<h1>The gsm dashboard is not built into this server</h1>\n\
<p>This gsm-server binary was compiled without the dashboard's files. To include them, run \
<code>make web</code> in the gsm checkout (it needs Node.js 20 and npm; it runs \
<code>npm ci</code> and <code>npm run build</code> in <code>web/</code>), then rebuild the server \
with <code>cargo build -p gsm-server</code>.</p>\n\
<p>The REST API works without it: see <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>\n\
</body></html>\n";

/// The dashboard's files: the embedded ones, or a set a test provides.
#[derive(Debug, Clone, Copy)]
pub struct Assets {
    files: &'static [(&'static str, &'static [u8])],
}

impl Assets {
    /// The files embedded when this binary was compiled (none if `web/dist` was missing).
    pub fn embedded() -> Self {
        Self { files: EMBEDDED }
    }

    /// A given set of files (path relative to the dist folder, contents).
    pub fn from_files(files: &'static [(&'static str, &'static [u8])]) -> Self {
        Self { files }
    }

    fn get(&self, path: &str) -> Option<&'static [u8]> {
        self.files.iter().find(|(name, _)| *name == path).map(|(_, bytes)| *bytes)
    }
}

/// The router's fallback: the dashboard, or the API's 404 for API paths.
pub async fn fallback(method: Method, uri: Uri) -> Response {
    respond(Assets::embedded(), &method, uri.path())
}

/// Whether a path belongs to the API or operations, never to the dashboard.
fn is_api_path(path: &str) -> bool {
    ["/api", "/agent"]
        .iter()
        .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")))
        || matches!(path, "/metrics" | "/healthz" | "/readyz")
}

/// The answer for `method` on `path` from `assets`.
pub fn respond(assets: Assets, method: &Method, path: &str) -> Response {
    if is_api_path(path) {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            "no such route; see /api/v1",
        )
        .into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "the dashboard's pages only answer GET and HEAD",
        )
        .into_response();
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let Some(index) = assets.get("index.html") else {
        return page(
            StatusCode::NOT_FOUND,
            "text/html; charset=utf-8",
            CACHE_REVALIDATE,
            NOT_BUILT.as_bytes(),
        );
    };
    let name = path.trim_start_matches('/');
    if name.is_empty() {
        return page(StatusCode::OK, "text/html; charset=utf-8", CACHE_REVALIDATE, index);
    }
    if let Some(bytes) = assets.get(name) {
        let cache = if name.starts_with("assets/") { CACHE_IMMUTABLE } else { CACHE_REVALIDATE };
        return page(StatusCode::OK, content_type(name), cache, bytes);
    }
    if looks_like_file(name) {
        return page(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            CACHE_REVALIDATE,
            b"no such file in the dashboard build\n",
        );
    }
    page(StatusCode::OK, "text/html; charset=utf-8", CACHE_REVALIDATE, index)
}

/// A path under `assets/`, or whose last segment has an extension, names a file, not a page.
fn looks_like_file(name: &str) -> bool {
    name.starts_with("assets/") || name.rsplit('/').next().is_some_and(|last| last.contains('.'))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn page(
    status: StatusCode,
    content_type: &'static str,
    cache: &'static str,
    body: &'static [u8],
) -> Response {
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, cache),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    (status, headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    static BUILT: &[(&str, &[u8])] = &[
        ("index.html", b"<!doctype html><div id=root></div>"),
        ("assets/index-3f2a1b.js", b"console.log(1)"),
        ("assets/index-9c8d7e.css", b"body{}"),
        ("favicon.svg", b"<svg/>"),
    ];

    struct Answer {
        status: StatusCode,
        header: Box<dyn Fn(header::HeaderName) -> String>,
        body: Vec<u8>,
    }

    fn check(assets: Assets, method: Method, path: &str) -> Answer {
        let response = respond(assets, &method, path);
        let status = response.status();
        let headers = response.headers().clone();
        let body = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
            .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .expect("a static body")
            .to_vec();
        let header = Box::new(move |name: header::HeaderName| {
            headers.get(name).map(|v| v.to_str().unwrap_or("").to_owned()).unwrap_or_default()
        });
        Answer { status, header, body }
    }

    #[test]
    fn root_and_client_routes_answer_index_revalidated() {
        for path in ["/", "/hosts", "/orgs/1/jobs/2", "/settings/api-keys"] {
            let answer = check(Assets::from_files(BUILT), Method::GET, path);
            assert_eq!(answer.status, StatusCode::OK, "{path}");
            assert_eq!(answer.body, BUILT[0].1, "{path}");
            assert_eq!((answer.header)(header::CACHE_CONTROL), "no-cache", "{path}");
            assert!((answer.header)(header::CONTENT_TYPE).starts_with("text/html"), "{path}");
        }
    }

    #[test]
    fn hashed_assets_are_cached_for_a_year() {
        let answer = check(Assets::from_files(BUILT), Method::GET, "/assets/index-3f2a1b.js");
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.body, b"console.log(1)");
        assert_eq!((answer.header)(header::CACHE_CONTROL), CACHE_IMMUTABLE);
        assert_eq!((answer.header)(header::CONTENT_TYPE), "text/javascript; charset=utf-8");
        let css = check(Assets::from_files(BUILT), Method::GET, "/assets/index-9c8d7e.css");
        assert_eq!((css.header)(header::CONTENT_TYPE), "text/css; charset=utf-8");
        let icon = check(Assets::from_files(BUILT), Method::GET, "/favicon.svg");
        assert_eq!((icon.header)(header::CACHE_CONTROL), "no-cache");
    }

    #[test]
    fn a_missing_file_is_404_not_the_index() {
        for path in ["/assets/index-000000.js", "/assets/gone", "/robots.txt", "/x/y.map"] {
            let answer = check(Assets::from_files(BUILT), Method::GET, path);
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
            assert_ne!(answer.body, BUILT[0].1, "{path}");
        }
    }

    #[test]
    fn api_paths_keep_the_json_404() {
        for path in [
            "/api",
            "/api/v2/x",
            "/api/v1/nope",
            "/agent/v1/nope",
            "/agent",
            "/metrics",
            "/healthz",
            "/readyz",
        ] {
            let answer = check(Assets::from_files(BUILT), Method::GET, path);
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!((answer.header)(header::CONTENT_TYPE), "application/json", "{path}");
            let body: serde_json::Value = serde_json::from_slice(&answer.body).expect("JSON");
            assert_eq!(body["error"]["code"], "route_not_found", "{path}");
        }
        // Only whole segments count: a page named like an API prefix is still a page.
        let page = check(Assets::from_files(BUILT), Method::GET, "/apiary");
        assert_eq!(page.status, StatusCode::OK);
    }

    #[test]
    fn every_answer_carries_the_strict_policy() {
        for path in ["/", "/hosts/1", "/assets/index-3f2a1b.js", "/assets/missing.js"] {
            let answer = check(Assets::from_files(BUILT), Method::GET, path);
            let csp = (answer.header)(header::CONTENT_SECURITY_POLICY);
            assert_eq!(csp, CONTENT_SECURITY_POLICY, "{path}");
            assert_eq!((answer.header)(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        }
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
        assert!(CONTENT_SECURITY_POLICY.contains("connect-src 'self';"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    }

    #[test]
    fn other_methods_are_refused_on_pages() {
        let answer = check(Assets::from_files(BUILT), Method::POST, "/hosts");
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!((answer.header)(header::ALLOW), "GET, HEAD");
    }

    #[test]
    fn a_server_without_assets_says_how_to_build_them() {
        for path in ["/", "/hosts", "/assets/index-3f2a1b.js"] {
            let answer = check(Assets::from_files(&[]), Method::GET, path);
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
            let text = String::from_utf8(answer.body).expect("UTF-8");
            assert!(text.contains("make web"), "{path}: {text}");
            assert_eq!((answer.header)(header::CONTENT_SECURITY_POLICY), CONTENT_SECURITY_POLICY);
        }
        // The API is unaffected.
        let api = check(Assets::from_files(&[]), Method::GET, "/api/v1/nope");
        assert_eq!((api.header)(header::CONTENT_TYPE), "application/json");
    }
}
