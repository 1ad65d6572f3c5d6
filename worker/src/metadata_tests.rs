//! Parquet files written here with the `parquet` crate's Arrow writer, as
//! pandas or DuckDB would write them (snappy and zstd), read back and
//! matched to files.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use parquet::{
    arrow::ArrowWriter,
    basic::{Compression, ZstdLevel},
    file::properties::WriterProperties,
};
use serde_json::json;

use super::*;

fn write(path: &Path, columns: Vec<(&str, ArrayRef)>, compression: Compression) {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props = WriterProperties::builder()
        .set_compression(compression)
        .build();
    let mut w =
        ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn rows_are_read_as_json_and_matched_by_stem() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.parquet");
    write(
        &a,
        vec![
            (
                "meta_id",
                Arc::new(StringArray::from(vec![
                    Some("audio1"),
                    Some("audio2"),
                    None,
                    Some("ghost"),
                    Some("audio1"),
                ])) as ArrayRef,
            ),
            (
                "speaker",
                Arc::new(StringArray::from(vec![
                    Some("ann"),
                    None,
                    Some("x"),
                    Some("y"),
                    Some("z"),
                ])),
            ),
            (
                "score",
                Arc::new(Float64Array::from(vec![0.5, 1.0, 2.0, 3.0, 4.0])),
            ),
        ],
        Compression::SNAPPY,
    );
    let b = dir.path().join("b.parquet");
    write(
        &b,
        vec![
            (
                "meta_id",
                Arc::new(Int64Array::from(vec![123, 7])) as ArrayRef,
            ),
            ("year", Arc::new(Int64Array::from(vec![1999, 2001]))),
        ],
        Compression::ZSTD(ZstdLevel::default()),
    );
    let ta = read_parquet(&a, 1000).unwrap();
    assert_eq!(ta.columns, ["meta_id", "speaker", "score"]);
    assert_eq!(ta.rows.len(), 5);
    assert_eq!(
        Value::Object(ta.rows[0].clone()),
        json!({"meta_id": "audio1", "speaker": "ann", "score": 0.5})
    );
    // A null is left out of its row.
    assert_eq!(
        Value::Object(ta.rows[1].clone()),
        json!({"meta_id": "audio2", "score": 1.0})
    );
    let tb = read_parquet(&b, 1000).unwrap();
    let tables = vec![
        ("meta/a.parquet".to_owned(), ta),
        ("b.parquet".to_owned(), tb),
    ];
    let m = match_rows(&["audio1", "audio2", "123", "lonely"], &tables, "meta_id");
    assert_eq!(m.rows["audio1"]["speaker"], "ann", "the first row wins");
    assert_eq!(
        m.rows["123"]["year"], 1999,
        "an integer key names its digits"
    );
    assert_eq!(m.files_without_rows, ["lonely"]);
    let at = |file: &str, row| RowAt {
        file: file.into(),
        row,
    };
    assert_eq!(
        m.rows_without_files,
        [
            (at("meta/a.parquet", 3), "ghost".to_owned()),
            (at("b.parquet", 1), "7".to_owned())
        ]
    );
    assert_eq!(m.rows_without_key, [at("meta/a.parquet", 2)]);
    assert_eq!(
        m.duplicate_keys,
        [(at("meta/a.parquet", 4), "audio1".to_owned())]
    );
    // Another key column: every row lacks it.
    let m = match_rows(&["audio1"], &tables, "id");
    assert_eq!(m.rows_without_key.len(), 7);
    assert_eq!(m.files_without_rows, ["audio1"]);
}

#[test]
fn too_many_rows_and_files_that_are_not_parquet_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.parquet");
    write(
        &p,
        vec![(
            "meta_id",
            Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
        )],
        Compression::UNCOMPRESSED,
    );
    assert!(matches!(read_parquet(&p, 2), Err(Error::TooManyRows(2))));
    let not = dir.path().join("b.parquet");
    std::fs::write(&not, b"PAR1 but nothing else").unwrap();
    assert!(matches!(read_parquet(&not, 10), Err(Error::Parquet(_))));
}

#[test]
fn jsonl_and_csv_tables_are_read_as_rows() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("m.jsonl");
    std::fs::write(
        &jsonl,
        "{\"source\": \"a.mp3\", \"age\": 31, \"tags\": [\"x\"]}\n\n{\"source\": \"b.mp3\", \"note\": null, \"city\": \"Lyon\"}\n",
    )
    .unwrap();
    let t = read(&jsonl, Format::of_name("M.JSONL").unwrap(), 10).unwrap();
    assert_eq!(t.columns, ["age", "source", "tags", "city"]);
    assert_eq!(
        Value::Array(t.rows.into_iter().map(Value::Object).collect()),
        serde_json::json!([
            {"source": "a.mp3", "age": 31, "tags": ["x"]},
            {"source": "b.mp3", "city": "Lyon"},
        ])
    );
    std::fs::write(&jsonl, "{\"a\": 1}\n[1, 2]\n").unwrap();
    let e = read_jsonl(&jsonl, 10).unwrap_err().to_string();
    assert!(e.starts_with("line 2 is not a JSON object"), "{e}");
    std::fs::write(&jsonl, "{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3}\n").unwrap();
    assert!(matches!(read_jsonl(&jsonl, 2), Err(Error::TooManyRows(2))));

    let csv = dir.path().join("m.csv");
    std::fs::write(
        &csv,
        "source,speaker,age\n\"https://x/y?a=1,2\",Ann,31\nb.mp3,,40\n",
    )
    .unwrap();
    let t = read(&csv, Format::of_name("m.csv").unwrap(), 10).unwrap();
    assert_eq!(t.columns, ["source", "speaker", "age"]);
    assert_eq!(
        Value::Array(t.rows.into_iter().map(Value::Object).collect()),
        serde_json::json!([
            {"source": "https://x/y?a=1,2", "speaker": "Ann", "age": "31"},
            {"source": "b.mp3", "age": "40"},
        ])
    );
    std::fs::write(&csv, "a,b\n1,2,3\n").unwrap();
    assert!(
        matches!(read_csv(&csv, 10), Err(Error::Csv(_))),
        "a ragged row"
    );
    assert_eq!(Format::of_name("x.tar.gz"), None);
}
