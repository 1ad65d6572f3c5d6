//! `cutroom worker`'s run mode, built as a binary of the tests package so
//! the fleet tests (`tests/e2e/fleet.rs`) can start, SIGKILL and SIGTERM
//! real worker processes: cargo builds a package's own binaries, fresh,
//! before its integration tests and tells them where
//! (`CARGO_BIN_EXE_cutroom-fleet-worker`). It runs the very function
//! `cutroom worker` runs, on the database the test has migrated.

//!
//! `--without-stages` runs the queue's path only (no models, no media):
//! the fleet-size queue test and benchmark start dozens of these.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--without-stages") {
        cutroom_worker::run_without_stages_from_env().await
    } else {
        cutroom_worker::run_from_env().await
    }
}
