//! `cutroom worker`'s run mode, built as a binary of the tests package so
//! the fleet tests (`tests/e2e/fleet.rs`) can start, SIGKILL and SIGTERM
//! real worker processes: cargo builds a package's own binaries, fresh,
//! before its integration tests and tells them where
//! (`CARGO_BIN_EXE_cutroom-fleet-worker`). It runs the very function
//! `cutroom worker` runs, on the database the test has migrated.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cutroom_worker::run_from_env().await
}
