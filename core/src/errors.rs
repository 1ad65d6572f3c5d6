//! Machine-readable reasons a job ends `failed` (or `cancelled`).
//!
//! The strings are a public contract: clients switch on them, so a variant
//! is never renamed, only added.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The video does not exist, was removed, or the host answered 404.
    SourceUnavailable,
    /// The video is private, members-only or needs a login.
    SourcePrivate,
    /// The video cannot be watched from here (region or age restriction).
    SourceRestricted,
    /// The download broke off or the downloader failed for another reason.
    DownloadFailed,
    /// The download took longer than `CUTROOM_YTDLP_TIMEOUT_SECS`.
    DownloadTimeout,
    /// The uploaded object is gone (expired or deleted) before the worker got it.
    UploadMissing,
    /// Not a readable audio/video file, truncated, or without an audio stream.
    UnsupportedMedia,
    /// Longer than `CUTROOM_MAX_DURATION_SECS`.
    SourceTooLong,
    /// A picture larger, a frame rate higher or more streams than the
    /// server accepts (`CUTROOM_MAX_VIDEO_DIMENSION`, `_PIXELS`,
    /// `CUTROOM_MAX_FRAME_RATE`, `CUTROOM_MAX_STREAMS`).
    MediaTooLarge,
    /// Object storage failed while reading the source or writing outputs.
    StorageError,
    /// A re-render found the kept source gone: its time ran out (or the
    /// job it renders from was deleted) before the render started.
    SourceExpired,
    /// The database could not be reached while the job ran (a restart or
    /// an outage) on every attempt.
    DatabaseUnavailable,
    /// The workers running the job stopped responding (killed, out of
    /// memory, lost power) on every attempt.
    WorkerLost,
    /// The tenant's monthly media minutes would be exceeded by this
    /// source; the quota resets on the first of the month (UTC).
    QuotaExceeded,
    /// A voice sample (a job enrolling an uploaded file into the speaker
    /// library) holds under 5 s of speech.
    SampleTooShort,
    /// A voice sample file runs past 130 s; a sample is 5-120 s of one
    /// person speaking.
    SampleTooLong,
    /// A voice sample's speech does not agree with itself (noise, music,
    /// or a voice too varied to enrol).
    SampleTooNoisy,
    /// A voice sample holds more than one voice.
    SeveralSpeakers,
    /// The speaker a voice sample was for was deleted before it was enrolled.
    SpeakerDeleted,
    /// A batch's archive cannot be used as a whole: not a tar or tar.gz,
    /// truncated, too many entries, or an archive bomb. No child job was
    /// created from it.
    ArchiveUnusable,
    /// A batch child's Opus copy did not decode to the source's length
    /// within 0.5 %: the conversion is not trusted, and nothing is kept.
    ConversionMismatch,
    /// The tenant's monthly budget is spent and its settings say jobs
    /// then fail (`budget.at_limit: fail`); it resets on the first of the
    /// month (UTC).
    BudgetExceeded,
    /// The cloud speech engine the job named refused the tenant's API key
    /// (401 or 403); it was not retried.
    EngineKeyRefused,
    /// The cloud speech engine the job named could not be reached or kept
    /// failing (network, 429, 5xx, no answer in time) after retries.
    EngineUnavailable,
    /// The cloud speech engine the job named refused the audio or the
    /// account (quota or credit used up, audio too large, a reply that
    /// does not read).
    EngineRefused,
    /// A user cancelled the job.
    Cancelled,
    /// A bug or an unexpected condition; the message says no more than that.
    InternalError,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 27] = [
        ErrorCode::SourceUnavailable,
        ErrorCode::SourcePrivate,
        ErrorCode::SourceRestricted,
        ErrorCode::DownloadFailed,
        ErrorCode::DownloadTimeout,
        ErrorCode::UploadMissing,
        ErrorCode::UnsupportedMedia,
        ErrorCode::SourceTooLong,
        ErrorCode::MediaTooLarge,
        ErrorCode::StorageError,
        ErrorCode::SourceExpired,
        ErrorCode::DatabaseUnavailable,
        ErrorCode::WorkerLost,
        ErrorCode::QuotaExceeded,
        ErrorCode::SampleTooShort,
        ErrorCode::SampleTooLong,
        ErrorCode::SampleTooNoisy,
        ErrorCode::SeveralSpeakers,
        ErrorCode::SpeakerDeleted,
        ErrorCode::ArchiveUnusable,
        ErrorCode::ConversionMismatch,
        ErrorCode::BudgetExceeded,
        ErrorCode::EngineKeyRefused,
        ErrorCode::EngineUnavailable,
        ErrorCode::EngineRefused,
        ErrorCode::Cancelled,
        ErrorCode::InternalError,
    ];

    /// Whether running the job again later may succeed: the network,
    /// storage or database was down, or a worker died under it. Everything else
    /// (private or missing videos, unreadable media, bugs) would fail the
    /// same way again, so it is never retried automatically.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorCode::DownloadFailed
                | ErrorCode::DownloadTimeout
                | ErrorCode::StorageError
                | ErrorCode::DatabaseUnavailable
                | ErrorCode::WorkerLost
                | ErrorCode::EngineUnavailable
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::SourceUnavailable => "source_unavailable",
            ErrorCode::SourcePrivate => "source_private",
            ErrorCode::SourceRestricted => "source_restricted",
            ErrorCode::DownloadFailed => "download_failed",
            ErrorCode::DownloadTimeout => "download_timeout",
            ErrorCode::UploadMissing => "upload_missing",
            ErrorCode::UnsupportedMedia => "unsupported_media",
            ErrorCode::SourceTooLong => "source_too_long",
            ErrorCode::MediaTooLarge => "media_too_large",
            ErrorCode::StorageError => "storage_error",
            ErrorCode::SourceExpired => "source_expired",
            ErrorCode::DatabaseUnavailable => "database_unavailable",
            ErrorCode::WorkerLost => "worker_lost",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::SampleTooShort => "sample_too_short",
            ErrorCode::SampleTooLong => "sample_too_long",
            ErrorCode::SampleTooNoisy => "sample_too_noisy",
            ErrorCode::SeveralSpeakers => "several_speakers",
            ErrorCode::SpeakerDeleted => "speaker_deleted",
            ErrorCode::ArchiveUnusable => "archive_unusable",
            ErrorCode::ConversionMismatch => "conversion_mismatch",
            ErrorCode::BudgetExceeded => "budget_exceeded",
            ErrorCode::EngineKeyRefused => "engine_key_refused",
            ErrorCode::EngineUnavailable => "engine_unavailable",
            ErrorCode::EngineRefused => "engine_refused",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::InternalError => "internal_error",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_match_serde() {
        for c in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::Value::String(c.as_str().into())
            );
        }
    }
}
