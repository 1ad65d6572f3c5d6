//! Browser sessions: the web app keeps its access token in memory and
//! leaves the refresh token to an `HttpOnly`, `SameSite=Strict` cookie
//! that its scripts cannot read.
//!
//! A request opts in with `X-Cutroom-Session: cookie`. Signup, login,
//! invitation acceptance and refresh then set the cookie (scoped to
//! `/v1/auth`) and leave `refresh_token` out of the body. Refresh and
//! logout without a token in the body read the cookie, and only when that
//! header is sent: a page on another site cannot send it (a form cannot
//! set headers, and a cross-origin `fetch` that does needs a CORS
//! preflight this API never grants), so the cookie alone never suffices.
//! That, with `SameSite=Strict`, is the CSRF defence.

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use cookie::{Cookie, SameSite, time::Duration as CookieDuration};

use super::session::TokenResponse;
use crate::ProblemCode;
use crate::{app::App, error::ApiError, extract::Json};

/// The cookie's name.
pub const COOKIE: &str = "cutroom_refresh";
/// The request header that asks for a browser session.
pub const HEADER: &str = "x-cutroom-session";
const PATH: &str = "/v1/auth";

/// Whether the request asked for a browser session.
pub fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("cookie"))
}

/// The refresh token of a browser session: the cookie, when the request
/// also carries [`HEADER`]. A cookie without the header is refused rather
/// than ignored, so a forged request is told why.
pub fn token(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_owned());
    match found {
        Some(_) if !wanted(headers) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ProblemCode::SessionHeaderMissing,
            "a session cookie is only accepted with `X-Cutroom-Session: cookie`",
        )),
        found => Ok(found),
    }
}

/// The answer carrying `tokens`: in a browser session the refresh token
/// moves from the body to the cookie.
pub fn respond(
    app: &App,
    headers: &HeaderMap,
    status: StatusCode,
    mut tokens: TokenResponse,
) -> Response {
    if !wanted(headers) {
        return (status, Json(tokens)).into_response();
    }
    let value = tokens.refresh_token.take().unwrap_or_default();
    let max_age = (tokens.refresh_expires_at - chrono::Utc::now()).num_seconds();
    let cookie = build(app, value, max_age.max(0));
    let mut response = (status, Json(tokens)).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// `Set-Cookie` that removes the cookie (logout).
pub fn cleared(app: &App) -> HeaderValue {
    build(app, String::new(), 0)
}

fn build(app: &App, value: String, max_age_secs: i64) -> HeaderValue {
    let cookie = Cookie::build((COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        // Plain http only for a local install; anything public is https.
        .secure(app.config.public_url.starts_with("https://"))
        .path(PATH)
        .max_age(CookieDuration::seconds(max_age_secs))
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("a cookie is a valid header")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_cookie_counts_only_with_the_header() {
        let with = headers(&[
            ("cookie", "other=1; cutroom_refresh=crr_abc; x=2"),
            ("x-cutroom-session", "Cookie"),
        ]);
        assert_eq!(token(&with).unwrap().as_deref(), Some("crr_abc"));
        let forged = headers(&[("cookie", "cutroom_refresh=crr_abc")]);
        assert_eq!(token(&forged).unwrap_err().code(), "session_header_missing");
        assert_eq!(token(&headers(&[])).unwrap(), None);
        let elsewhere = headers(&[("cookie", "a=b"), ("x-cutroom-session", "cookie")]);
        assert_eq!(token(&elsewhere).unwrap(), None);
    }
}
