//! The SSRF guard: which URLs a job may name as its source.
//!
//! The worker fetches exactly what this module returns, so anything that is
//! not a YouTube video URL of a known shape is refused here. A YouTube URL is
//! reduced to its video id and rebuilt, so nothing else from the user's
//! string (query, fragment, odd host spelling) ever reaches the downloader.
//! Hosts listed in `CUTROOM_EXTRA_SOURCE_HOSTS` are trusted as-is.

use std::collections::BTreeSet;

use crate::outbound::{self, UrlError};
use url::Url;

const YOUTUBE_HOSTS: [&str; 7] = [
    "youtube.com",
    "www.youtube.com",
    "m.youtube.com",
    "music.youtube.com",
    "youtu.be",
    "youtube-nocookie.com",
    "www.youtube-nocookie.com",
];

/// Path shapes `/<kind>/<id>` on the YouTube hosts, besides `/watch?v=<id>`.
const ID_PATHS: [&str; 3] = ["shorts", "embed", "live"];

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourceUrlError {
    #[error("not a valid absolute URL")]
    NotAUrl,
    #[error("only http and https URLs are accepted")]
    Scheme,
    #[error("URLs with a user name or password are not accepted")]
    UserInfo,
    #[error("only YouTube URLs are accepted")]
    Host,
    #[error("YouTube URLs cannot name a port")]
    Port,
    #[error(
        "not a YouTube video URL (expected /watch?v=ID, youtu.be/ID, /shorts/ID, /embed/ID or /live/ID)"
    )]
    Shape,
    #[error("a YouTube video id is 11 characters of letters, digits, '-' and '_'")]
    VideoId,
}

/// Returns the URL the worker may fetch: `https://www.youtube.com/watch?v=ID`
/// for YouTube, the parsed URL itself for an extra host.
pub fn validate(raw: &str, extra_hosts: &BTreeSet<String>) -> Result<String, SourceUrlError> {
    let url = outbound::parse_http_url(raw).map_err(|e| match e {
        UrlError::Scheme => SourceUrlError::Scheme,
        UrlError::UserInfo => SourceUrlError::UserInfo,
        UrlError::NotAUrl | UrlError::NoHost | UrlError::Internal => SourceUrlError::NotAUrl,
    })?;
    let host = url
        .host_str()
        .ok_or(SourceUrlError::NotAUrl)?
        .to_ascii_lowercase();
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    if extra_hosts.contains(&authority) {
        return Ok(url.to_string());
    }
    if !YOUTUBE_HOSTS.contains(&host.as_str()) {
        return Err(SourceUrlError::Host);
    }
    // `url` drops a port that is the scheme's default; any other is odd.
    if url.port().is_some() {
        return Err(SourceUrlError::Port);
    }
    let id = video_id(&url, &host)?;
    Ok(format!("https://www.youtube.com/watch?v={id}"))
}

fn video_id(url: &Url, host: &str) -> Result<String, SourceUrlError> {
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let id = match (host, segments.as_slice()) {
        ("youtu.be", [id]) => (*id).to_owned(),
        (_, ["watch"]) => url
            .query_pairs()
            .find(|(k, _)| k == "v")
            .map(|(_, v)| v.into_owned())
            .ok_or(SourceUrlError::Shape)?,
        (h, [kind, id]) if h != "youtu.be" && ID_PATHS.contains(kind) => (*id).to_owned(),
        _ => return Err(SourceUrlError::Shape),
    };
    let valid = id.len() == 11
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(id)
    } else {
        Err(SourceUrlError::VideoId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANON: &str = "https://www.youtube.com/watch?v=dQw4w9WgXcQ";

    fn none() -> BTreeSet<String> {
        BTreeSet::new()
    }

    #[test]
    fn accepts_every_documented_shape_and_normalises() {
        for ok in [
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "http://youtube.com/watch?v=dQw4w9WgXcQ",
            "https://m.youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42",
            "https://music.youtube.com/watch?v=dQw4w9WgXcQ&list=RD",
            "https://youtu.be/dQw4w9WgXcQ",
            "https://youtu.be/dQw4w9WgXcQ?si=abc",
            "https://www.youtube.com/shorts/dQw4w9WgXcQ",
            "https://www.youtube.com/embed/dQw4w9WgXcQ",
            "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
            "https://youtube-nocookie.com/embed/dQw4w9WgXcQ",
            "https://www.youtube.com/live/dQw4w9WgXcQ/",
            "https://WWW.YouTube.com/watch?v=dQw4w9WgXcQ#t=1",
            "https://www.youtube.com:443/watch?v=dQw4w9WgXcQ",
            "  https://www.youtube.com/watch?v=dQw4w9WgXcQ  ",
        ] {
            assert_eq!(validate(ok, &none()).as_deref(), Ok(CANON), "{ok}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        use SourceUrlError::*;
        for (bad, why) in [
            ("", NotAUrl),
            ("youtube.com/watch?v=dQw4w9WgXcQ", NotAUrl),
            ("ftp://www.youtube.com/watch?v=dQw4w9WgXcQ", Scheme),
            ("file:///etc/passwd", Scheme),
            ("javascript:alert(1)", Scheme),
            ("https://user@www.youtube.com/watch?v=dQw4w9WgXcQ", UserInfo),
            ("https://u:p@youtu.be/dQw4w9WgXcQ", UserInfo),
            ("https://www.youtube.com.evil.com/watch?v=dQw4w9WgXcQ", Host),
            ("https://evilyoutube.com/watch?v=dQw4w9WgXcQ", Host),
            ("https://youtube.com@evil.com/watch?v=dQw4w9WgXcQ", UserInfo),
            ("http://127.0.0.1/watch?v=dQw4w9WgXcQ", Host),
            ("http://169.254.169.254/latest/meta-data", Host),
            ("https://www.youtube.com:8443/watch?v=dQw4w9WgXcQ", Port),
            ("http://www.youtube.com:443/watch?v=dQw4w9WgXcQ", Port),
            ("https://www.youtube.com/", Shape),
            ("https://www.youtube.com/watch", Shape),
            ("https://www.youtube.com/watch?x=dQw4w9WgXcQ", Shape),
            (
                "https://www.youtube.com/channel/UCuAXFkgsw1L7xaCfnd5JJOw",
                Shape,
            ),
            ("https://www.youtube.com/redirect?q=http://evil.com", Shape),
            ("https://youtu.be/", Shape),
            ("https://youtu.be/shorts/dQw4w9WgXcQ", Shape),
            ("https://www.youtube.com/watch?v=dQw4w9WgXc", VideoId),
            ("https://www.youtube.com/watch?v=dQw4w9WgXcQQ", VideoId),
            ("https://www.youtube.com/watch?v=dQw4w9WgX%2F", VideoId),
            ("https://youtu.be/dQw4w9WgX.Q", VideoId),
        ] {
            assert_eq!(validate(bad, &none()), Err(why), "{bad}");
        }
    }

    #[test]
    fn extra_hosts_are_taken_as_they_are_with_exact_ports() {
        let extra: BTreeSet<String> = ["127.0.0.1:8123".to_owned(), "media.test".to_owned()].into();
        assert_eq!(
            validate("http://127.0.0.1:8123/files/talk.mp4", &extra).as_deref(),
            Ok("http://127.0.0.1:8123/files/talk.mp4")
        );
        assert_eq!(
            validate("https://media.test/a/b?c=d", &extra).as_deref(),
            Ok("https://media.test/a/b?c=d")
        );
        assert_eq!(
            validate("http://127.0.0.1:8124/talk.mp4", &extra),
            Err(SourceUrlError::Host)
        );
        assert_eq!(
            validate("http://127.0.0.1/talk.mp4", &extra),
            Err(SourceUrlError::Host)
        );
        assert_eq!(
            validate("https://media.test:8443/a", &extra),
            Err(SourceUrlError::Host)
        );
        assert_eq!(
            validate("http://x@127.0.0.1:8123/talk.mp4", &extra),
            Err(SourceUrlError::UserInfo)
        );
        assert_eq!(
            validate("ftp://127.0.0.1:8123/etc/passwd", &extra),
            Err(SourceUrlError::Scheme)
        );
    }
}
