//! A batch's metadata: the parquet, JSONL and CSV files of its archive
//! (or its manifest) read into JSON rows, and the rows matched to the
//! archive's media files by a key column whose value is a file's stem
//! (`meta_id = 'audio123'` is `audio123.mp3`).
//!
//! Nothing is lost in the matching: files without a row, rows without a
//! file, rows whose key is missing, and keys given by more than one row
//! (the first wins) are all reported.

use std::{
    collections::{BTreeSet, HashMap, hash_map::Entry},
    fs::File,
    io::{BufRead, BufReader, Read},
    path::Path,
};

use arrow_json::ArrayWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;
use serde_json::{Map, Value};

/// One metadata row: column name to value.
pub type Row = Map<String, Value>;

/// Why a metadata file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a readable parquet file: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("line {line} is not a JSON object: {detail}")]
    Jsonl { line: usize, detail: String },
    #[error("not readable CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("a column cannot be read as JSON: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("could not open it: {0}")]
    Io(#[from] std::io::Error),
    #[error("more than {0} rows")]
    TooManyRows(usize),
}

/// The rows of one parquet file, in order, and its column names.
#[derive(Debug, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
}

/// Reads every row of the parquet file at `path` (at most `max_rows`).
/// Values are as Arrow's JSON writer gives them: numbers, strings,
/// booleans, lists and objects; nulls are left out of their row.
pub fn read_parquet(path: &Path, max_rows: usize) -> Result<Table, Error> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?;
    let declared = builder.metadata().file_metadata().num_rows();
    if usize::try_from(declared).map_or(true, |n| n > max_rows) {
        return Err(Error::TooManyRows(max_rows));
    }
    let columns = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut rows = Vec::new();
    for batch in builder.build()? {
        let batch = batch?;
        let mut writer = ArrayWriter::new(Vec::new());
        writer.write(&batch)?;
        writer.finish()?;
        let json = writer.into_inner();
        // Arrow's writer writes nothing for an empty batch.
        if json.is_empty() {
            continue;
        }
        let values: Vec<Row> = serde_json::from_slice(&json).map_err(|e| {
            arrow_schema::ArrowError::JsonError(format!("arrow-json wrote unreadable JSON: {e}"))
        })?;
        rows.extend(values);
        if rows.len() > max_rows {
            return Err(Error::TooManyRows(max_rows));
        }
    }
    Ok(Table { columns, rows })
}

/// The metadata file formats, by what an archive entry was sniffed as or
/// a manifest's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Parquet,
    Jsonl,
    Csv,
}

impl Format {
    /// A manifest's format from its name: `.parquet`, `.jsonl`/`.ndjson`
    /// or `.csv`.
    pub fn of_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".parquet") {
            Some(Self::Parquet)
        } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            Some(Self::Jsonl)
        } else if lower.ends_with(".csv") {
            Some(Self::Csv)
        } else {
            None
        }
    }
}

/// Reads a metadata file of any [`Format`].
pub fn read(path: &Path, format: Format, max_rows: usize) -> Result<Table, Error> {
    match format {
        Format::Parquet => read_parquet(path, max_rows),
        Format::Jsonl => read_jsonl(path, max_rows),
        Format::Csv => read_csv(path, max_rows),
    }
}

/// Most bytes one JSONL line may have: a metadata row, not a document.
const MAX_LINE: u64 = 1 << 20;

/// Reads JSON Lines: one object a line, blank lines skipped; nulls are
/// left out of their row, as in parquet. Columns are every key, in the
/// order first seen.
pub fn read_jsonl(path: &Path, max_rows: usize) -> Result<Table, Error> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut table = Table::default();
    let mut seen = BTreeSet::new();
    let mut line = String::new();
    for number in 1.. {
        line.clear();
        // Bounded: a file of one endless line cannot fill the memory.
        let n = (&mut reader).take(MAX_LINE + 1).read_line(&mut line)?;
        if n == 0 {
            break;
        }
        if n as u64 > MAX_LINE {
            return Err(Error::Jsonl {
                line: number,
                detail: format!("longer than {MAX_LINE} bytes"),
            });
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let mut row: Row = serde_json::from_str(text).map_err(|e| Error::Jsonl {
            line: number,
            detail: e.to_string(),
        })?;
        row.retain(|_, v| !v.is_null());
        for k in row.keys() {
            if seen.insert(k.clone()) {
                table.columns.push(k.clone());
            }
        }
        table.rows.push(row);
        if table.rows.len() > max_rows {
            return Err(Error::TooManyRows(max_rows));
        }
    }
    Ok(table)
}

/// Reads CSV with a header row. CSV has no types: every value is text,
/// and an empty cell is left out of its row (as a null is).
pub fn read_csv(path: &Path, max_rows: usize) -> Result<Table, Error> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(BufReader::new(File::open(path)?));
    let columns: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        let row: Row = columns
            .iter()
            .zip(record.iter())
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), Value::String(v.to_owned())))
            .collect();
        rows.push(row);
        if rows.len() > max_rows {
            return Err(Error::TooManyRows(max_rows));
        }
    }
    Ok(Table { columns, rows })
}

/// Where a row came from, for reports: the metadata file's path in the
/// archive and the row's index in it (0-based).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowAt {
    pub file: String,
    pub row: usize,
}

/// What matching found.
#[derive(Debug, Default, Serialize)]
pub struct Matching {
    /// The rows found, by the stem of the file they name.
    #[serde(skip)]
    pub rows: HashMap<String, Row>,
    /// Stems no row names.
    pub files_without_rows: Vec<String>,
    /// Rows whose key names no file, with the key.
    pub rows_without_files: Vec<(RowAt, String)>,
    /// Rows with no key value (null, or the column missing).
    pub rows_without_key: Vec<RowAt>,
    /// Rows whose key an earlier row already gave; the earlier row is used.
    pub duplicate_keys: Vec<(RowAt, String)>,
}

/// The key as text: a string as it is, an integer as its digits (a
/// `meta_id` column of numbers names `123.mp3`); anything else is no key.
fn key_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// Matches the rows of `tables` (`(path in the archive, table)`) to the
/// media files' `stems` by the `key` column.
pub fn match_rows(stems: &[&str], tables: &[(String, Table)], key: &str) -> Matching {
    let wanted: BTreeSet<&str> = stems.iter().copied().collect();
    let mut m = Matching::default();
    for (file, table) in tables {
        for (i, row) in table.rows.iter().enumerate() {
            let at = RowAt {
                file: file.clone(),
                row: i,
            };
            let Some(k) = row.get(key).and_then(key_of) else {
                m.rows_without_key.push(at);
                continue;
            };
            match m.rows.entry(k) {
                Entry::Occupied(o) => m.duplicate_keys.push((at, o.key().clone())),
                Entry::Vacant(v) if wanted.contains(v.key().as_str()) => {
                    v.insert(row.clone());
                }
                Entry::Vacant(v) => {
                    let k = v.into_key();
                    if m.rows_without_files.iter().any(|(_, o)| *o == k) {
                        m.duplicate_keys.push((at, k));
                    } else {
                        m.rows_without_files.push((at, k));
                    }
                }
            }
        }
    }
    m.files_without_rows = wanted
        .iter()
        .filter(|s| !m.rows.contains_key(**s))
        .map(|s| (*s).to_owned())
        .collect();
    m
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
mod tests;
