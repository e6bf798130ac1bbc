//! The run-directory lock `run.lock`: one writer per run directory.
//!
//! The lock is an OS advisory lock (`flock`) on `run.lock`, so it is released
//! by the kernel when its holder dies, even by `kill -9`. The file also records
//! who holds it (pid, host, user, command, start time). A later process that
//! finds the lock free but a record left behind knows the previous holder died
//! mid-run, and reports it; one that finds the lock held says by whom.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Who holds (or held) the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// User name.
    pub user: String,
    /// The command line.
    pub command: String,
    /// When the lock was taken (RFC 3339 UTC).
    pub since: String,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another live process holds the lock.
    #[error(
        "{path} is locked by pid {pid} on host {host} (user {user}, since {since}, running `{command}`); wait for it to finish. If that process no longer exists, remove {path} and run again",
        pid = .holder.pid, host = .holder.host, user = .holder.user, since = .holder.since, command = .holder.command
    )]
    Held {
        /// The lock file.
        path: PathBuf,
        /// The recorded holder.
        holder: Box<LockInfo>,
    },
    /// The lock is held but the holder did not record itself.
    #[error("{path} is locked by another process; wait for it to finish")]
    HeldUnknown {
        /// The lock file.
        path: PathBuf,
    },
    /// I/O error.
    #[error("{path}: cannot take the run lock: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A held lock; released when dropped (the record is cleared first).
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
    /// The record of a previous holder that died without releasing cleanly.
    pub recovered: Option<LockInfo>,
}

impl RunLock {
    /// Take the lock on `dir/run.lock`, without waiting.
    pub fn acquire(dir: &Path) -> Result<RunLock, LockError> {
        let path = dir.join("run.lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        if let Ok(m) = std::fs::symlink_metadata(&path)
            && !m.file_type().is_file()
        {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "it is a symbolic link or not a regular file, and sealtune does not write through links; remove it (sealtune creates the lock itself)",
            )));
        }
        let mut file = crate::fsutil::no_follow(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
        )
        .open(&path)
        .map_err(io)?;

        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut s = String::new();
                let _ = file.read_to_string(&mut s);
                return Err(match serde_json::from_str::<LockInfo>(&s) {
                    Ok(holder) => LockError::Held {
                        path,
                        holder: Box::new(holder),
                    },
                    Err(_) => LockError::HeldUnknown { path },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let mut prev = String::new();
        file.read_to_string(&mut prev).map_err(io)?;
        let recovered = serde_json::from_str::<LockInfo>(&prev).ok();
        let info = LockInfo {
            pid: std::process::id(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            user: crate::audit::Actor::current().user,
            command: std::env::args().collect::<Vec<_>>().join(" "),
            since: crate::time::now_rfc3339(),
        };
        // Strings and an integer: serialization cannot fail.
        let body = serde_json::to_string(&info).expect("lock info is plain JSON data");
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(body.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(RunLock {
            file,
            path,
            recovered,
        })
    }

    /// Whether a process is alive on this host (Linux `/proc`).
    pub fn pid_alive(pid: u32) -> bool {
        Path::new(&format!("/proc/{pid}")).exists()
    }

    /// The lock file path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // An empty record means "released cleanly".
        let _ = self.file.set_len(0);
        let _ = self.file.sync_data();
        let _ = self.file.unlock();
    }
}

/// Inspect the lock without taking it: `Some(holder)` if a live process holds it.
pub fn probe(dir: &Path) -> Option<LockInfo> {
    let path = dir.join("run.lock");
    let mut file = crate::fsutil::no_follow(OpenOptions::new().read(true).write(true))
        .open(&path)
        .ok()?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(_) => {
            let mut s = String::new();
            let _ = file.read_to_string(&mut s);
            serde_json::from_str(&s).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_is_refused_then_recovers() {
        let d = tempfile::tempdir().unwrap();
        let a = RunLock::acquire(d.path()).unwrap();
        assert!(a.recovered.is_none());
        match RunLock::acquire(d.path()) {
            Err(LockError::Held { holder, .. }) => assert_eq!(holder.pid, std::process::id()),
            other => panic!("{other:?}"),
        }
        assert!(probe(d.path()).is_some());
        drop(a);
        assert!(probe(d.path()).is_none());
        let b = RunLock::acquire(d.path()).unwrap();
        assert!(b.recovered.is_none(), "clean release leaves no record");
    }

    #[test]
    fn record_left_by_dead_holder_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let dead = LockInfo {
            pid: 999_999_999,
            host: "h".into(),
            user: "u".into(),
            command: "sealtune run".into(),
            since: "2026-01-01T00:00:00.000Z".into(),
        };
        std::fs::write(
            d.path().join("run.lock"),
            serde_json::to_string(&dead).unwrap(),
        )
        .unwrap();
        let l = RunLock::acquire(d.path()).unwrap();
        assert_eq!(l.recovered, Some(dead));
    }
}
