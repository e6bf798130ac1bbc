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
    /// The file system does not support `flock` (ENOLCK, EOPNOTSUPP, ENOSYS:
    /// NFS mounted `nolock` without a lock manager, Lustre without `-o flock`).
    /// Not worth a retry: the run directory must move.
    #[error(
        "{path}: the file system holding the run directory cannot lock files ({source}); sealtune needs flock to keep two runs out of one directory. Put the run directory on a file system with working locks (a local disk; NFSv4; NFSv3 with lockd; Lustre mounted with -o flock; CephFS), see docs/SCHEDULERS.md"
    )]
    Unsupported {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
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
            Err(std::fs::TryLockError::Error(e)) if lock_unsupported(&e) => {
                return Err(LockError::Unsupported { path, source: e });
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

/// Whether a lock error means the file system cannot lock at all.
pub fn lock_unsupported(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOLCK) | Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)
    )
}

/// Why locks taken in `dir` may not exclude other hosts, judged from the
/// mount options in `/proc/self/mountinfo` of the file system holding it:
/// NFS mounted `nolock` or `local_lock=flock|all`, Lustre mounted
/// `localflock`. Such a file system grants `flock` on each host
/// separately, so two nodes could both run in the directory. `None` when
/// nothing suggests it (or on a system without `/proc`).
pub fn node_local_locking(dir: &Path) -> Option<String> {
    let dir = std::fs::canonicalize(dir).ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    node_local_locking_in(&dir, &info)
}

/// [`node_local_locking`] over a given mountinfo text.
pub fn node_local_locking_in(dir: &Path, mountinfo: &str) -> Option<String> {
    // Fields: id parent maj:min root mount-point mount-opts [optional...] - fstype source super-opts
    let mut best: Option<(usize, &str, &str, String)> = None;
    for line in mountinfo.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(dash) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        if f.len() < 5 || f.len() < dash + 4 {
            continue;
        }
        let mp = f[4].replace("\\040", " ");
        if !dir.starts_with(&mp) {
            continue;
        }
        if best.as_ref().is_none_or(|b| mp.len() >= b.0) {
            best = Some((mp.len(), f[dash + 1], f[dash + 3], mp));
        }
    }
    let (_, fstype, opts, mp) = best?;
    let has = |o: &str| opts.split(',').any(|x| x == o);
    let local = if fstype.starts_with("nfs") {
        has("nolock") || has("local_lock=flock") || has("local_lock=all")
    } else if fstype == "lustre" {
        has("localflock")
    } else {
        false
    };
    local.then(|| {
        format!(
            "the run directory is on {fstype} mounted at {mp} with node-local locks; the run lock keeps out runs on this host only, so do not start stages of this run on two nodes at once (docs/SCHEDULERS.md)"
        )
    })
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
    fn lock_errors_of_file_systems_without_locks_are_recognised() {
        for code in [libc::ENOLCK, libc::EOPNOTSUPP, libc::ENOSYS] {
            assert!(lock_unsupported(&std::io::Error::from_raw_os_error(code)));
        }
        assert!(!lock_unsupported(&std::io::Error::from_raw_os_error(
            libc::EACCES
        )));
        let e = LockError::Unsupported {
            path: "/nfs/run/run.lock".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOLCK),
        };
        let m = e.to_string();
        assert!(
            m.contains("cannot lock files") && m.contains("SCHEDULERS.md"),
            "{m}"
        );
        assert_eq!(
            crate::StageError::from(e).exit(),
            crate::Exit::Config,
            "no retry can help"
        );
    }

    #[test]
    fn node_local_lock_mounts_are_recognised() {
        let info = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:40 / /shared rw,relatime shared:20 - nfs4 srv:/export rw,vers=4.2,local_lock=none,addr=10.0.0.1
41 22 0:41 / /scratch rw,relatime - nfs srv:/scratch rw,vers=3,nolock,local_lock=all
42 22 0:42 / /lustre rw - lustre mgs@tcp:/fs rw,localflock
43 22 0:43 / /lustre2 rw - lustre mgs@tcp:/fs rw,flock
";
        let p = |s: &str| node_local_locking_in(Path::new(s), info);
        assert!(p("/home/u/runs/q").is_none());
        assert!(p("/shared/runs/q").is_none());
        assert!(
            p("/scratch/runs/q")
                .unwrap()
                .contains("nfs mounted at /scratch")
        );
        assert!(p("/lustre/runs/q").is_some());
        assert!(p("/lustre2/runs/q").is_none());
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
