//! Manifests: metadata tables with a source column, whose every row names
//! what to process: a link (checked by the same rules as `POST /v1/jobs`,
//! so a manifest is no way round the SSRF guard) or a file in the archive
//! by its path. A manifest alone (a `.jsonl`, `.csv` or `.parquet` batch)
//! can name links only.
//!
//! As with key-column matching, nothing is lost: rows without a source,
//! paths that name no file, links that are refused, and a source given
//! twice (the first row wins) are all reported.

use std::collections::{BTreeSet, HashMap};

use cutroom_core::{
    batches::{Reason, Refused},
    source_url,
};
use serde_json::Value;

use crate::metadata::{Row, RowAt, Table};

/// A row that names a link to fetch.
#[derive(Debug, PartialEq)]
pub struct Link {
    pub at: RowAt,
    /// The link as the worker fetches it (a YouTube link rebuilt from its
    /// video id).
    pub url: String,
    pub row: Row,
}

/// What the manifests' rows name.
#[derive(Debug, Default, PartialEq)]
pub struct Sourced {
    /// Rows naming an archive file, by the file's path.
    pub by_path: HashMap<String, Row>,
    /// Rows naming links, in manifest order.
    pub links: Vec<Link>,
    /// Rows whose link is refused; each at `<manifest>#<row>`.
    pub refused: Vec<Refused>,
    /// Rows naming a path no file of the archive has, with the path.
    pub rows_without_files: Vec<(RowAt, String)>,
    /// Rows with no source.
    pub rows_without_source: Vec<RowAt>,
    /// Rows whose source an earlier row gave already.
    pub duplicates: Vec<(RowAt, String)>,
}

/// Whether a source names a link rather than a path.
fn is_link(source: &str) -> bool {
    source.contains("://")
}

/// A path as the archive's entries are named: no `./`, no empty parts.
fn normalise(path: &str) -> String {
    path.split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Splits the rows of `manifests` by what their `column` names; `paths`
/// are the archive's media files.
pub fn split(
    manifests: &[(String, Table)],
    column: &str,
    paths: &BTreeSet<&str>,
    extra_hosts: &BTreeSet<String>,
) -> Sourced {
    let mut out = Sourced::default();
    let mut seen = BTreeSet::new();
    for (file, table) in manifests {
        for (i, row) in table.rows.iter().enumerate() {
            let at = RowAt {
                file: file.clone(),
                row: i,
            };
            let Some(source) = row
                .get(column)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
            else {
                out.rows_without_source.push(at);
                continue;
            };
            if is_link(source) {
                let url = match source_url::validate(source, extra_hosts) {
                    Ok(url) => url,
                    Err(e) => {
                        out.refused.push(Refused {
                            path: format!("{file}#{i}"),
                            reason: Reason::BadSource,
                            detail: format!("{source}: {e}"),
                        });
                        continue;
                    }
                };
                if !seen.insert(url.clone()) {
                    out.duplicates.push((at, url));
                    continue;
                }
                out.links.push(Link {
                    at,
                    url,
                    row: row.clone(),
                });
                continue;
            }
            let path = normalise(source);
            if !paths.contains(path.as_str()) {
                out.rows_without_files.push((at, source.to_owned()));
            } else if !seen.insert(path.clone()) {
                out.duplicates.push((at, path));
            } else {
                out.by_path.insert(path, row.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: serde_json::Value) -> Table {
        let rows: Vec<Row> = serde_json::from_value(rows).unwrap();
        Table {
            columns: vec!["source".into()],
            rows,
        }
    }

    #[test]
    fn rows_name_links_or_archive_files() {
        let m = vec![(
            "meta/manifest.jsonl".to_owned(),
            table(serde_json::json!([
                {"source": "https://youtu.be/dQw4w9WgXcQ", "speaker": "Rick"},
                {"source": "./talks//a.mp3", "speaker": "Ann"},
                {"source": "http://169.254.169.254/latest/meta-data"},
                {"source": "file:///etc/passwd"},
                {"speaker": "nobody"},
                {"source": "talks/missing.mp3"},
                {"source": "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=3"},
                {"source": "talks/a.mp3"},
                {"source": 42},
            ])),
        )];
        let paths = BTreeSet::from(["talks/a.mp3", "talks/b.mp3"]);
        let s = split(&m, "source", &paths, &BTreeSet::new());
        let at = |row| RowAt {
            file: "meta/manifest.jsonl".into(),
            row,
        };
        let watch = "https://www.youtube.com/watch?v=dQw4w9WgXcQ";
        assert_eq!(s.links.len(), 1);
        assert_eq!((&s.links[0].at, s.links[0].url.as_str()), (&at(0), watch));
        assert_eq!(s.links[0].row["speaker"], "Rick");
        assert_eq!(s.by_path["talks/a.mp3"]["speaker"], "Ann");
        let refused: Vec<_> = s
            .refused
            .iter()
            .map(|r| (r.path.as_str(), r.reason))
            .collect();
        assert_eq!(
            refused,
            [
                ("meta/manifest.jsonl#2", Reason::BadSource),
                ("meta/manifest.jsonl#3", Reason::BadSource),
            ]
        );
        assert_eq!(s.rows_without_source, [at(4), at(8)]);
        assert_eq!(s.rows_without_files, [(at(5), "talks/missing.mp3".into())]);
        // The same video twice, and the same file twice: the first wins.
        assert_eq!(
            s.duplicates,
            [(at(6), watch.to_owned()), (at(7), "talks/a.mp3".to_owned())]
        );
    }
}
