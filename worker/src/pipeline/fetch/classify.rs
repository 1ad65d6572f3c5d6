//! Telling yt-dlp's failures apart: a private video is the user's to fix,
//! a network error is worth retrying, a removed video is final.

use cutroom_core::ErrorCode;

/// Maps yt-dlp's complaint to a code and a message the user can act on.
/// Checked most specific first: an age gate also says "sign in", and a
/// region block also says "unavailable".
pub(super) fn classify(stderr: &str) -> (ErrorCode, String) {
    let last_error = stderr
        .lines()
        .rev()
        .find_map(|l| l.split_once("ERROR:").map(|(_, rest)| rest.trim()))
        .or_else(|| stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("no error message");
    let said: String = last_error.chars().take(300).collect();
    let text = stderr.to_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));

    let (code, what) = if has(&[
        "confirm your age",
        "age-restricted",
        "age restricted",
        "inappropriate for some users",
    ]) {
        (
            ErrorCode::SourceRestricted,
            "the video is age-restricted and cannot be downloaded",
        )
    } else if has(&[
        "in your country",
        "geo restrict",
        "geo-restrict",
        "georestrict",
        "from your location",
        "not available in your region",
    ]) {
        (
            ErrorCode::SourceRestricted,
            "the video is not available in this server's region",
        )
    } else if has(&["not a bot"]) {
        (
            ErrorCode::DownloadFailed,
            "the video site refused the download for now; try again later",
        )
    } else if has(&[
        "private video",
        "is private",
        "members-only",
        "members only",
        "join this channel",
        "sign in",
        "login required",
        "log in",
        "requires authentication",
        "http error 401",
    ]) {
        (
            ErrorCode::SourcePrivate,
            "the video is private, members-only or needs a sign-in",
        )
    } else if has(&[
        "video unavailable",
        "has been removed",
        "been terminated",
        "does not exist",
        "no longer available",
        "http error 404",
        "http error 410",
        "unsupported url",
        "incomplete youtube id",
        "live event will begin",
    ]) {
        (
            ErrorCode::SourceUnavailable,
            "the video does not exist, was removed, or is not available yet",
        )
    } else {
        (ErrorCode::DownloadFailed, "the download failed")
    };
    (code, format!("{what} (yt-dlp: {said})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified() {
        let cases = [
            (
                "ERROR: [youtube] abc: Private video. Sign in if you've been granted access to this video",
                ErrorCode::SourcePrivate,
            ),
            (
                "ERROR: [youtube] abc: Join this channel to get access to members-only content like this video",
                ErrorCode::SourcePrivate,
            ),
            (
                "ERROR: [youtube] abc: Sign in to confirm your age. This video may be inappropriate for some users.",
                ErrorCode::SourceRestricted,
            ),
            (
                "ERROR: [youtube] abc: Video unavailable. The uploader has not made this video available in your country",
                ErrorCode::SourceRestricted,
            ),
            (
                "ERROR: [youtube] abc: Video unavailable",
                ErrorCode::SourceUnavailable,
            ),
            (
                "ERROR: [youtube] abc: Video unavailable. This video has been removed by the uploader",
                ErrorCode::SourceUnavailable,
            ),
            (
                "ERROR: [generic] missing: Unable to download webpage: HTTP Error 404: File not found",
                ErrorCode::SourceUnavailable,
            ),
            (
                "ERROR: [generic] x: Unable to download webpage: HTTP Error 410: Gone",
                ErrorCode::SourceUnavailable,
            ),
            (
                "WARNING: [generic] Falling back on generic information extractor\nERROR: Unsupported URL: http://127.0.0.1:1/",
                ErrorCode::SourceUnavailable,
            ),
            (
                "ERROR: [youtube] abc: Sign in to confirm you’re not a bot",
                ErrorCode::DownloadFailed,
            ),
            (
                "ERROR: [generic] x: Unable to download webpage: [Errno 111] Connection refused",
                ErrorCode::DownloadFailed,
            ),
            ("", ErrorCode::DownloadFailed),
        ];
        for (stderr, want) in cases {
            let (code, message) = classify(stderr);
            assert_eq!(code, want, "{stderr}");
            assert!(message.contains("yt-dlp:"), "{message}");
        }
        let (_, message) = classify(
            "WARNING: noise\nERROR: [generic] x: Unable to download webpage: HTTP Error 404: File not found\n",
        );
        assert!(
            message.ends_with(
                "(yt-dlp: [generic] x: Unable to download webpage: HTTP Error 404: File not found)"
            ),
            "{message}"
        );
    }
}
