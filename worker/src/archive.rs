//! Unpacking a batch's archive (`.tar` or `.tar.gz`, told apart by their
//! bytes) as a stream, refusing what must not be unpacked.
//!
//! Each entry's header is checked before a byte of it is written: its path
//! (no `..`, not absolute, valid UTF-8), its type (regular files only: no
//! links, devices or fifos), a path seen before, its size against the
//! per-file and total limits, and the entry count. Its first bytes then say
//! what it is: audio (or video) or a parquet file, by their signatures, not
//! their names; anything else is refused. While it is copied, an entry that
//! inflates more than [`Limits::max_ratio`] times its compressed bytes is an
//! archive bomb: it is refused and its partial copy removed; and the whole
//! archive may never inflate past [`Limits::max_ratio`] times its own size.
//!
//! Files are written as `<index>.<ext>` straight under the given folder:
//! no name from the archive ever reaches the file system, so nothing can
//! land outside it. Every refused entry is listed with its reason.

use std::{
    collections::HashSet,
    fs::File,
    io::{self, BufReader, Read, Write},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// What an archive may hold.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most entries (directories included).
    pub max_entries: usize,
    /// Largest file, bytes.
    pub max_file_bytes: u64,
    /// Most bytes of files in all.
    pub max_total_bytes: u64,
    /// Most an entry may inflate over its compressed bytes (and the whole
    /// archive over its size). Speech in MP3 or Opus barely compresses
    /// (about 1:1), WAV about 1.3:1; a bomb of zeros is about 1000:1.
    pub max_ratio: f64,
    /// The whole archive may always inflate this much past its own size,
    /// whatever the ratio: a refused bomb entry is read through (not
    /// written) to reach the entries after it, which costs a few seconds
    /// of CPU a GiB, and no disk.
    pub inflation_floor: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 50_000,
            max_file_bytes: 4 << 30,
            max_total_bytes: 60 << 30,
            max_ratio: 100.0,
            inflation_floor: 2 << 30,
        }
    }
}

/// An entry inflates this much before its ratio is judged: small files
/// of silence compress well and are no threat.
const BOMB_FLOOR: u64 = 1 << 20;
/// Bytes of an entry read to tell what it is.
const SNIFF: usize = 4096;

pub use cutroom_core::batches::{Reason, Refused};

/// What an unpacked entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Audio or video, for a child job.
    Media,
    /// A parquet file of metadata rows.
    Parquet,
    /// JSON Lines (`.jsonl`, `.ndjson`): a metadata row a line.
    Jsonl,
    /// CSV with a header row (`.csv`).
    Csv,
}

/// An entry unpacked into the folder.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Its path in the archive, normalised (`./a//b.mp3` is `a/b.mp3`).
    pub path: String,
    /// The file name without its last extension: what metadata rows name
    /// (`audio123.mp3` is `audio123`).
    pub stem: String,
    pub kind: Kind,
    pub size: u64,
    /// Where it was written.
    pub file: PathBuf,
}

/// What [`unpack`] found.
#[derive(Debug, Default)]
pub struct Unpacked {
    pub entries: Vec<Entry>,
    pub refused: Vec<Refused>,
    /// Bytes of the archive read (compressed).
    pub read: u64,
    /// Bytes it inflated to (tar blocks included).
    pub inflated: u64,
}

/// Why the archive as a whole could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a tar or tar.gz archive")]
    NotAnArchive,
    #[error("the archive holds more than {0} entries")]
    TooManyEntries(usize),
    #[error(
        "the archive inflates past {limit} bytes, over {ratio} times its size: an archive bomb"
    )]
    Bomb { limit: u64, ratio: f64 },
    #[error("the archive is truncated or corrupt: {0}")]
    Corrupt(io::Error),
    #[error("could not write an unpacked file: {0}")]
    Write(io::Error),
    #[error("stopped")]
    Stopped,
}

/// Counts the bytes read through it into a shared counter.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Refuses to read past `limit` bytes: the whole archive's inflation cap.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other(CapReached));
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the inflation cap was reached")]
struct CapReached;

fn capped(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|e| e.is::<CapReached>())
}

/// Unpacks the archive at `archive` into `into` (which must exist),
/// checking every entry as the module says. `Err` only when the archive as
/// a whole is unusable; refused entries are in [`Unpacked::refused`].
/// Blocking: run it off the async threads.
pub fn unpack(
    archive: &Path,
    into: &Path,
    limits: Limits,
    stop: &CancellationToken,
) -> Result<Unpacked, Error> {
    let size = std::fs::metadata(archive).map_err(Error::Corrupt)?.len();
    let mut head = [0u8; 2];
    let mut file = File::open(archive).map_err(Error::Corrupt)?;
    let gz = file.read(&mut head).map_err(Error::Corrupt)? == 2 && head == [0x1f, 0x8b];
    drop(file);
    let read = Arc::new(AtomicU64::new(0));
    let raw = Counting {
        inner: BufReader::new(File::open(archive).map_err(Error::Corrupt)?),
        count: Arc::clone(&read),
    };
    let inflated = Arc::new(AtomicU64::new(0));
    // The whole archive's cap; at least its own size plus the floor, so a
    // plain tar (or one of incompressible audio) always fits.
    let cap = ((size as f64 * limits.max_ratio) as u64).max(size + limits.inflation_floor);
    let decoded: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let stream = Counting {
        inner: Capped {
            inner: decoded,
            left: cap,
        },
        count: Arc::clone(&inflated),
    };
    let mut tar = tar::Archive::new(stream);
    let mut out = Unpacked::default();
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let bomb = |e: &io::Error| {
        capped(e).then_some(Error::Bomb {
            limit: cap,
            ratio: limits.max_ratio,
        })
    };
    let entries = tar
        .entries()
        .map_err(|e| bomb(&e).unwrap_or(Error::Corrupt(e)))?;
    for (index, entry) in entries.enumerate() {
        if stop.is_cancelled() {
            return Err(Error::Stopped);
        }
        if index >= limits.max_entries {
            return Err(Error::TooManyEntries(limits.max_entries));
        }
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) if index == 0 && !capped(&e) => return Err(Error::NotAnArchive),
            Err(e) => return Err(bomb(&e).unwrap_or(Error::Corrupt(e))),
        };
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mut refuse = |reason: Reason, detail: String| {
            out.refused.push(Refused {
                path: raw_path.clone(),
                reason,
                detail,
            });
        };
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        let path = match normalise(&entry.path_bytes()) {
            Ok(p) => p,
            Err((reason, detail)) => {
                refuse(reason, detail);
                continue;
            }
        };
        if kind.is_symlink() || kind.is_hard_link() {
            refuse(Reason::Link, "links are not unpacked".into());
            continue;
        }
        if !kind.is_file() {
            refuse(
                Reason::NotAFile,
                format!("not a regular file (tar type {:?})", kind.as_byte() as char),
            );
            continue;
        }
        if !seen.insert(path.clone()) {
            refuse(
                Reason::Duplicate,
                "the same path as an earlier entry".into(),
            );
            continue;
        }
        let declared = entry.size();
        if declared == 0 {
            refuse(Reason::Empty, "no bytes".into());
            continue;
        }
        if declared > limits.max_file_bytes {
            refuse(
                Reason::TooLarge,
                format!("{declared} bytes; files may have {}", limits.max_file_bytes),
            );
            continue;
        }
        if total + declared > limits.max_total_bytes {
            refuse(
                Reason::TotalTooLarge,
                format!(
                    "with the files before it, past the {} bytes an archive may hold",
                    limits.max_total_bytes
                ),
            );
            continue;
        }
        let before = (
            read.load(Ordering::Relaxed),
            inflated.load(Ordering::Relaxed),
        );
        let mut first = Vec::with_capacity(SNIFF);
        (&mut entry)
            .take(SNIFF as u64)
            .read_to_end(&mut first)
            .map_err(|e| bomb(&e).unwrap_or(Error::Corrupt(e)))?;
        let Some((kind, ext)) = sniff(&first, &path) else {
            refuse(
                Reason::NotAudio,
                match infer::get(&first) {
                    Some(t) => format!("its bytes are {}, not audio", t.mime_type()),
                    None => "its bytes are not audio of a known kind".into(),
                },
            );
            continue;
        };
        let file = into.join(format!("{index:06}.{ext}"));
        match copy(&mut entry, &first, &file, limits.max_ratio, || {
            (
                read.load(Ordering::Relaxed) - before.0,
                inflated.load(Ordering::Relaxed) - before.1,
            )
        }) {
            Ok(()) => {}
            Err(Copy::Bomb(ratio)) => {
                let _ = std::fs::remove_file(&file);
                refuse(
                    Reason::Bomb,
                    format!("inflates {ratio:.0} times its compressed size"),
                );
                continue;
            }
            Err(Copy::Read(e)) => {
                let _ = std::fs::remove_file(&file);
                return Err(bomb(&e).unwrap_or(Error::Corrupt(e)));
            }
            Err(Copy::Write(e)) => {
                let _ = std::fs::remove_file(&file);
                return Err(Error::Write(e));
            }
        }
        total += declared;
        out.entries.push(Entry {
            stem: stem(&path),
            path,
            kind,
            size: declared,
            file,
        });
    }
    out.read = read.load(Ordering::Relaxed);
    out.inflated = inflated.load(Ordering::Relaxed);
    Ok(out)
}

enum Copy {
    Bomb(f64),
    Read(io::Error),
    Write(io::Error),
}

/// Writes `first` then the rest of `entry` to `file`, judging the ratio
/// `progress` (compressed, inflated bytes since the entry began) gives as
/// it goes.
fn copy(
    entry: &mut impl Read,
    first: &[u8],
    file: &Path,
    max_ratio: f64,
    progress: impl Fn() -> (u64, u64),
) -> Result<(), Copy> {
    let judge = || {
        let (read, inflated) = progress();
        let ratio = inflated as f64 / read.max(1) as f64;
        (inflated > BOMB_FLOOR && ratio > max_ratio).then_some(ratio)
    };
    if let Some(r) = judge() {
        return Err(Copy::Bomb(r));
    }
    let mut out = io::BufWriter::new(File::create_new(file).map_err(Copy::Write)?);
    out.write_all(first).map_err(Copy::Write)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = entry.read(&mut buf).map_err(Copy::Read)?;
        if n == 0 {
            break;
        }
        if let Some(r) = judge() {
            return Err(Copy::Bomb(r));
        }
        out.write_all(&buf[..n]).map_err(Copy::Write)?;
    }
    out.flush().map_err(Copy::Write)
}

/// What the first bytes of an entry say it is, with the extension it is
/// stored under. Text has no magic bytes: a `.jsonl`/`.ndjson` or `.csv`
/// name whose bytes are text is a metadata table (read, and refused if
/// unreadable, later).
fn sniff(first: &[u8], path: &str) -> Option<(Kind, &'static str)> {
    if first.starts_with(b"PAR1") {
        return Some((Kind::Parquet, "parquet"));
    }
    let lower = path.to_ascii_lowercase();
    let text = match std::str::from_utf8(first) {
        Ok(_) => true,
        // Cut inside a character at the end of the sniffed bytes.
        Err(e) => e.error_len().is_none(),
    } && !first.contains(&0);
    if text && (lower.ends_with(".jsonl") || lower.ends_with(".ndjson")) {
        return Some((Kind::Jsonl, "jsonl"));
    }
    if text && lower.ends_with(".csv") {
        return Some((Kind::Csv, "csv"));
    }
    if let Some(t) = infer::get(first)
        && matches!(
            t.matcher_type(),
            infer::MatcherType::Audio | infer::MatcherType::Video
        )
    {
        return Some((Kind::Media, t.extension()));
    }
    // An MP3 without an ID3 tag starts with a frame header: eleven sync
    // bits, then a version and layer that are not reserved. `infer` knows
    // only MPEG-1 layer 3 with no CRC (FF FB); MPEG-2 and 2.5 speech
    // (FF F3, FF E3...) is as common.
    if let [0xFF, b, ..] = first
        && b & 0xE0 == 0xE0
        && (b >> 3) & 0b11 != 0b01
        && (b >> 1) & 0b11 != 0b00
    {
        return Some((Kind::Media, "mp3"));
    }
    None
}

/// The entry's path with `.` and empty components dropped, or why it
/// cannot be unpacked. Backslashes count as separators too: an archive
/// made on Windows may use them, and `..\x` must not slip through.
fn normalise(raw: &[u8]) -> Result<String, (Reason, String)> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| (Reason::BadName, "the path is not valid UTF-8".to_owned()))?;
    if text.starts_with('/') || text.starts_with('\\') || text.get(1..2) == Some(":") {
        return Err((Reason::AbsolutePath, "an absolute path".into()));
    }
    let mut parts = Vec::new();
    for part in text.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                return Err((
                    Reason::PathEscapes,
                    "a `..` in the path would escape the folder".into(),
                ));
            }
            p if p.chars().any(char::is_control) => {
                return Err((Reason::BadName, "a control character in the path".into()));
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err((Reason::BadName, "an empty path".into()));
    }
    Ok(parts.join("/"))
}

/// `a/b/audio123.mp3` -> `audio123`; a name with no extension is its own
/// stem.
fn stem(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem.to_owned(),
        _ => name.to_owned(),
    }
}

#[cfg(test)]
#[path = "archive_tests.rs"]
mod tests;
