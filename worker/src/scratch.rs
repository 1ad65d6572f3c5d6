//! Each worker's own corner of the scratch folder, and the clean-up of
//! corners whose worker died without removing them.
//!
//! A job's folder is a `TempDir`, removed however the job ends, as long as
//! the process lives. A process killed outright (SIGKILL, OOM, power) runs
//! no destructors, so every worker keeps its job folders in a folder of
//! its own holding an exclusive lock on `.lock` for as long as it runs.
//! The kernel releases the lock when the process dies, whatever the cause:
//! a worker starting up removes every sibling folder whose lock it can
//! take. This works for several workers sharing one scratch folder, in one
//! process, in several, or in containers on one host.

use std::{
    fs::{self, File},
    io,
    path::{Path, PathBuf},
    time::Duration,
};

const PREFIX: &str = "worker-";
const LOCK: &str = ".lock";
/// A folder without a lock file may be one being created right now; only
/// older ones are taken for leftovers of a crash during creation.
const UNLOCKED_GRACE: Duration = Duration::from_secs(60);

/// This worker's folder; removed when dropped (graceful stop).
pub(crate) struct Slot {
    path: PathBuf,
    _lock: File,
}

impl Slot {
    /// Removes what dead workers left under `root`, then claims a folder.
    pub(crate) fn claim(root: &Path) -> io::Result<Self> {
        fs::create_dir_all(root)?;
        let removed = remove_abandoned(root)?;
        if removed > 0 {
            tracing::warn!(count = removed, root = %root.display(), "removed scratch folders of workers that died");
        }
        let path = root.join(format!("{PREFIX}{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir(&path)?;
        let lock = File::create(path.join(LOCK))?;
        lock.try_lock().map_err(io::Error::other)?;
        Ok(Self { path, _lock: lock })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Removes what workers that died since this one started left beside
    /// it; a long-running worker calls this now and then, so a killed
    /// sibling's source files do not wait for the next worker to start.
    pub(crate) fn remove_dead_siblings(&self) -> io::Result<usize> {
        match self.path.parent() {
            Some(root) => remove_abandoned(root),
            None => Ok(0),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path) {
            tracing::warn!(error = %e, path = %self.path.display(), "could not remove the worker's scratch folder");
        }
    }
}

/// Removes the folders of workers that no longer run; returns how many.
fn remove_abandoned(root: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(PREFIX) || !entry.file_type()?.is_dir() {
            continue;
        }
        let dir = entry.path();
        let abandoned = match File::open(dir.join(LOCK)) {
            // Taking the lock means its owner is gone; it is released when
            // `lock` drops, after the folder (and the file) are removed.
            Ok(lock) => lock.try_lock().is_ok(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => entry
                .metadata()?
                .modified()?
                .elapsed()
                .is_ok_and(|age| age > UNLOCKED_GRACE),
            Err(e) => return Err(e),
        };
        if abandoned {
            fs::remove_dir_all(&dir)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_slots_are_kept_and_dead_ones_removed() {
        let root = tempfile::tempdir().unwrap();
        let live = Slot::claim(root.path()).unwrap();
        fs::create_dir(live.path().join("job-1")).unwrap();

        // A worker that died: its folder and lock file remain, nobody holds the lock.
        let dead = root.path().join(format!("{PREFIX}dead"));
        fs::create_dir_all(dead.join("job-2")).unwrap();
        File::create(dead.join(LOCK)).unwrap();

        let other = Slot::claim(root.path()).unwrap();
        assert!(!dead.exists(), "a dead worker's folder is removed");
        assert!(
            live.path().join("job-1").exists(),
            "a running worker's folder is kept"
        );
        let live_path = live.path().to_owned();
        drop(live);
        assert!(!live_path.exists(), "a stopping worker removes its folder");
        assert!(other.path().exists());
    }

    #[test]
    fn fresh_folders_without_a_lock_are_left_alone() {
        let root = tempfile::tempdir().unwrap();
        let starting = root.path().join(format!("{PREFIX}starting"));
        fs::create_dir(&starting).unwrap();
        let _slot = Slot::claim(root.path()).unwrap();
        assert!(
            starting.exists(),
            "might be a worker between mkdir and lock"
        );
    }
}
