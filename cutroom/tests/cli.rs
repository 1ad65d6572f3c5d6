//! The `cutroom` binary as an operator runs it: the subcommands, and who
//! may change the database schema (only `migrate`, and `serve` in the
//! embedded default).

use std::process::{Command, Output};

const CUTROOM: &str = env!("CARGO_BIN_EXE_cutroom");

/// Runs `cutroom args` on a data folder (and SQLite database) of its own.
fn cutroom(data: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(CUTROOM);
    cmd.args(args)
        .env("CUTROOM_DATA_DIR", data)
        .env(
            "CUTROOM_DATABASE_URL",
            format!("sqlite://{}", data.join("cutroom.db").display()),
        )
        .env("CUTROOM_LISTEN", "127.0.0.1:0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("cutroom runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_every_subcommand_and_unknown_ones_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let help = cutroom(data.path(), &[], &["help"]);
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    for sub in [
        "serve",
        "worker",
        "migrate",
        "models install",
        "models verify",
        "openapi",
    ] {
        assert!(text.contains(sub), "{sub} missing from {text}");
    }
    let bad = cutroom(data.path(), &[], &["frobnicate"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("unknown arguments: frobnicate"));
    assert!(stderr(&bad).contains("usage: cutroom"));
}

#[test]
fn only_migrate_changes_the_schema_and_the_others_say_to_run_it() {
    let data = tempfile::tempdir().unwrap();
    // A worker, and an API without its in-process worker, refuse a fresh
    // database and say what to run.
    let worker = cutroom(data.path(), &[], &["worker"]);
    assert!(!worker.status.success());
    assert!(
        stderr(&worker).contains("run `cutroom migrate` first"),
        "{}",
        stderr(&worker)
    );
    let api = cutroom(
        data.path(),
        &[("CUTROOM_IN_PROCESS_WORKER", "false")],
        &["serve"],
    );
    assert!(!api.status.success());
    assert!(
        stderr(&api).contains("run `cutroom migrate` first"),
        "{}",
        stderr(&api)
    );

    let migrate = cutroom(data.path(), &[], &["migrate"]);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    let said = format!(
        "{}{}",
        stderr(&migrate),
        String::from_utf8_lossy(&migrate.stdout)
    );
    assert!(said.contains("migrations applied"), "{said}");
    let again = cutroom(data.path(), &[], &["migrate"]);
    assert!(again.status.success());
    let said = format!(
        "{}{}",
        stderr(&again),
        String::from_utf8_lossy(&again.stdout)
    );
    assert!(said.contains("up to date"), "{said}");
}

#[test]
fn openapi_prints_the_document() {
    let data = tempfile::tempdir().unwrap();
    let out = cutroom(data.path(), &[], &["openapi"]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["paths"]["/v1/jobs"].is_object());
}
