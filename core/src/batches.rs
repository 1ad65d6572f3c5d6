//! Batches: an archive of recordings (`.tar`/`.tar.gz`, with parquet,
//! JSONL or CSV metadata) whose every audio file becomes a child job
//! carrying its metadata row; or a manifest (a JSONL, CSV or parquet file)
//! whose every row names a link to fetch. The formats the API, the worker and the web app share:
//! a batch's options, why an entry was refused, what metadata matching
//! left over, and a batch's counters with its ETA.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::jobs::JobOptions;

/// Opus bitrates a batch may store its recordings at, kbit/s.
pub const OPUS_KBPS: std::ops::RangeInclusive<u32> = 6..=256;

/// The output a batch child keeps its recording as.
pub const OPUS_OUTPUT: &str = "recording.opus";

/// How far an Opus copy's length may stray from its source's, as a share:
/// past it the conversion is not trusted (`conversion_mismatch`).
pub const DURATION_TOLERANCE: f64 = 0.005;

/// How a batch's files are processed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BatchOptions {
    /// The job options every file's child job gets.
    pub job: JobOptions,
    /// The metadata column naming each file by its stem
    /// (`audio123.mp3` is `audio123`); default `meta_id`.
    #[schema(example = "meta_id")]
    pub key_column: String,
    /// The manifest column naming each row's source: a link (as `POST
    /// /v1/jobs` takes) or a file's path in the archive; default `source`.
    /// A metadata file with this column is a manifest.
    #[schema(example = "source")]
    pub source_column: String,
    /// Each recording is kept as Opus, mono, at this bitrate (6-256
    /// kbit/s, default 32: speech). The original is not kept.
    #[schema(example = 32)]
    pub opus_kbps: u32,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            job: JobOptions::default(),
            key_column: "meta_id".into(),
            source_column: "source".into(),
            opus_kbps: 32,
        }
    }
}

impl BatchOptions {
    /// Checks what the job options' own validation does not.
    pub fn validate(&self) -> Result<(), String> {
        let key = self.key_column.trim();
        if key.is_empty() || key.len() > 128 {
            return Err("key_column must be 1 to 128 characters".into());
        }
        let source = self.source_column.trim();
        if source.is_empty() || source.len() > 128 {
            return Err("source_column must be 1 to 128 characters".into());
        }
        if source == key {
            return Err("source_column and key_column must differ".into());
        }
        if !OPUS_KBPS.contains(&self.opus_kbps) {
            return Err(format!(
                "opus_kbps must be {} to {}",
                OPUS_KBPS.start(),
                OPUS_KBPS.end()
            ));
        }
        Ok(())
    }
}

/// Why an archive entry was not unpacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A `..` component: it would escape the folder it is unpacked in.
    PathEscapes,
    /// An absolute path.
    AbsolutePath,
    /// Not valid UTF-8, or empty.
    BadName,
    /// A symbolic or hard link.
    Link,
    /// A device, a fifo, or another entry that is not a regular file.
    NotAFile,
    /// The same path as an earlier entry.
    Duplicate,
    /// Larger than the largest file a batch may hold.
    TooLarge,
    /// Past the most bytes a batch may hold, with the entries before it.
    TotalTooLarge,
    /// Inflates more than 100 times its compressed size: an archive bomb.
    Bomb,
    /// Neither audio (or video) nor metadata (parquet by its bytes; JSONL and CSV by name, as text).
    NotAudio,
    /// No bytes.
    Empty,
    /// A metadata file or manifest that could not be read (its rows are
    /// not used).
    BadMetadata,
    /// A manifest row whose source is a link that is not accepted (the
    /// rules of `POST /v1/jobs`); its path is `<manifest>#<row>`.
    BadSource,
}

/// An entry that was not unpacked, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Refused {
    /// Its path in the archive, as given (lossy UTF-8).
    pub path: String,
    pub reason: Reason,
    pub detail: String,
}

/// Where a metadata row came from: the parquet file's path in the archive
/// and the row's index in it (0-based).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RowAt {
    pub file: String,
    pub row: usize,
    /// The row's key, where it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// What matching metadata rows to files by their stems left over: nothing
/// is dropped without being listed here.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Unmatched {
    /// Archive paths of recordings no row names (they still run, with no
    /// metadata).
    pub files_without_rows: Vec<String>,
    /// Rows whose key names no recording.
    pub rows_without_files: Vec<RowAt>,
    /// Rows with no key value (null, or the column missing).
    pub rows_without_key: Vec<RowAt>,
    /// Rows whose key an earlier row already gave; the earlier row is used.
    pub duplicate_keys: Vec<RowAt>,
}

/// One recording of a batch in its results (`GET
/// /v1/batches/{id}/results`): a JSON line, or a parquet row with
/// `metadata` and `categories` as JSON text.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ResultRow {
    pub job_id: uuid::Uuid,
    /// The recording's path in the archive.
    pub entry_path: String,
    /// `succeeded`, `failed`, `cancelled` (or `queued`/`running` while the
    /// batch runs).
    pub status: String,
    /// Why it failed or was cancelled.
    pub error_code: Option<String>,
    /// The metadata row that names it, `null` when none does.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Seconds of audio decoded.
    pub duration_seconds: Option<f64>,
    /// The transcript's language and its whole text.
    pub language: Option<String>,
    pub transcript: Option<String>,
    /// Moderation flags raised on it, the highest score among them, the
    /// categories that fired, and the strongest action (`block` or
    /// `flag`; `null` when nothing was flagged).
    pub flags: u32,
    pub max_score: Option<f32>,
    pub categories: Vec<String>,
    pub action: Option<String>,
    /// Where the job is in the API, and a download link of its Opus copy
    /// (valid for `CUTROOM_DOWNLOAD_URL_TTL_SECS`).
    pub job_url: String,
    pub opus_url: Option<String>,
}

/// A batch's children by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    pub queued: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
}

impl Counts {
    pub fn ended(&self) -> u64 {
        self.succeeded + self.failed + self.cancelled
    }

    pub fn total(&self) -> u64 {
        self.ended() + self.queued + self.running
    }
}

/// When the batch's children should all have ended, from the rate they
/// have ended at since the batch was unpacked: `None` until one has ended,
/// or once none is left.
pub fn eta(
    counts: &Counts,
    unpacked_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let ended = counts.ended();
    let left = counts.queued + counts.running;
    if ended == 0 || left == 0 {
        return None;
    }
    let spent = (now - unpacked_at).num_milliseconds().max(1) as f64;
    let per_child = spent / ended as f64;
    let ms = (per_child * left as f64).min(1e15) as i64;
    Some(now + Duration::milliseconds(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_and_validate() {
        let o: BatchOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(o.key_column, "meta_id");
        assert_eq!(o.opus_kbps, 32);
        assert!(o.validate().is_ok());
        let bad = BatchOptions {
            opus_kbps: 512,
            ..BatchOptions::default()
        };
        assert!(bad.validate().unwrap_err().contains("opus_kbps"));
        let bad = BatchOptions {
            key_column: " ".into(),
            ..BatchOptions::default()
        };
        assert!(bad.validate().unwrap_err().contains("key_column"));
        assert!(serde_json::from_str::<BatchOptions>(r#"{"keycolumn": "x"}"#).is_err());
    }

    #[test]
    fn eta_follows_the_observed_rate() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let now = t0 + Duration::minutes(10);
        let none_ended = Counts {
            queued: 10,
            ..Counts::default()
        };
        assert_eq!(eta(&none_ended, t0, now), None);
        // 5 ended in 10 minutes: 2 min each, 10 left, 20 minutes to go.
        let half = Counts {
            queued: 8,
            running: 2,
            succeeded: 4,
            failed: 1,
            cancelled: 0,
        };
        assert_eq!(eta(&half, t0, now), Some(now + Duration::minutes(20)));
        let done = Counts {
            succeeded: 10,
            ..Counts::default()
        };
        assert_eq!(eta(&done, t0, now), None);
        assert_eq!(done.total(), 10);
    }
}
