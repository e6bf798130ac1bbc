//! The append-only, hash-chained audit log `audit.jsonl`.
//!
//! Each line is one JSON object:
//!
//! ```json
//! {"seq":3,"ts":"2026-11-22T06:30:00.123Z","event":"stage.end","stage":"ingest",
//!  "actor":{"user":"ana","uid":1000,"host":"gpu-7","pid":4242},"data":{...},
//!  "prev":"<hex sha256 of entry 2>","hash":"<hex sha256>"}
//! ```
//!
//! `hash` is SHA-256 over the 32 raw bytes of `prev` followed by the exact bytes
//! of the line up to (not including) `,"hash":`, closed with `}`. The first
//! entry's `prev` is 64 zeros. `seq` counts from 1 without gaps. So an edited
//! entry fails its own hash, a removed or reordered entry breaks `seq` or
//! `prev`, and `status.json` records the head (seq and hash) so that a log
//! truncated at its end is caught too.
//!
//! A hash chain proves the log is internally consistent. Entries removed from
//! its end, or a deleted or replaced log, are caught by *anchors*: heads
//! recorded outside the log. `status.json` records the head after every entry,
//! each stage's `manifest.json` the head of its `stage.start` entry, and the
//! release's signed provenance the head it was made under. The engine checks
//! the log against the anchors in the run directory before it appends
//! ([`AuditLog::open_anchored`]); `sealtune verify --run-dir` checks it against
//! the signed one, which someone who can rewrite every file of the run
//! directory still cannot forge.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who did something: the OS user, host and process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Login name from `$USER`/`$LOGNAME`, or `uid:<n>`.
    pub user: String,
    /// Numeric user id, when known.
    pub uid: Option<u32>,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
}

impl Actor {
    /// The current process's identity.
    pub fn current() -> Actor {
        let uid = current_uid();
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| match uid {
                Some(u) => format!("uid:{u}"),
                None => "unknown".into(),
            });
        Actor {
            user,
            uid,
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
        }
    }
}

fn current_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self is owned by the process's real uid.
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// One audit entry (without its hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Sequence number, from 1.
    pub seq: u64,
    /// UTC time, RFC 3339 with milliseconds.
    pub ts: String,
    /// Event name, e.g. `stage.start`, `stage.end`, `stage.skip`, `stage.fail`,
    /// `stage.interrupted`, `run.start`, `run.end`, `lock.recovered`.
    pub event: String,
    /// The stage concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stage: Option<String>,
    /// Who.
    pub actor: Actor,
    /// Event details: digests, keys, counts, error messages (never record content).
    pub data: serde_json::Value,
    /// Hash of the previous entry.
    pub prev: String,
}

/// The last entry of a log: enough to check that nothing was cut off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Sequence number of the last entry.
    pub seq: u64,
    /// Hash of the last entry.
    pub hash: String,
}

/// Why a log failed verification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The log could not be read.
    #[error("{path}: cannot read the audit log: {source}")]
    Io {
        /// The log file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a well-formed entry.
    #[error("{path}:{line}: entry is malformed: {why}")]
    Malformed {
        /// The log file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// An entry's hash does not match its content: it was edited.
    #[error("{path}:{line}: entry seq {seq} was modified: its hash does not match its content")]
    Modified {
        /// The log file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The entry's sequence number.
        seq: u64,
    },
    /// An entry does not follow the one before it: entries were removed, inserted or reordered.
    #[error("{path}:{line}: chain broken at entry seq {seq}: {why}")]
    Broken {
        /// The log file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The entry's sequence number.
        seq: u64,
        /// Expected against found.
        why: String,
    },
    /// An anchor records an entry that the log no longer has: entries were
    /// removed from its end, or the log was emptied, deleted or replaced.
    #[error(
        "{path}: {anchor} records audit entry seq {seq}, but the log {found}: it was truncated (entries removed from its end), emptied, deleted or replaced"
    )]
    Truncated {
        /// The log file.
        path: PathBuf,
        /// Where the anchor was recorded (a file name).
        anchor: String,
        /// The anchored entry's sequence number.
        seq: u64,
        /// What the log holds instead.
        found: String,
    },
    /// The log has the anchored entry's position, but not its hash: the log
    /// was rewritten.
    #[error(
        "{path}: entry seq {seq} is not the entry {anchor} records (its hash differs): the log was rewritten"
    )]
    Rewritten {
        /// The log file.
        path: PathBuf,
        /// Where the anchor was recorded (a file name).
        anchor: String,
        /// The anchored entry's sequence number.
        seq: u64,
    },
    /// The log file is a symbolic link or not a regular file.
    #[error(
        "{path}: the audit log is not a regular file (a symbolic link?); sealtune does not write through links"
    )]
    NotRegular {
        /// The log file.
        path: PathBuf,
    },
}

/// A head recorded outside the log, that the log must still contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The entry that must be in the log.
    pub head: Head,
    /// Where it was recorded, for messages: a file name such as `status.json`.
    pub source: String,
}

impl Anchor {
    /// An anchor from `source`.
    pub fn new(head: Head, source: impl Into<String>) -> Anchor {
        Anchor {
            head,
            source: source.into(),
        }
    }
}

/// Serialize an entry and compute its hash; returns the full line (no newline) and hash.
fn seal_entry(e: &Entry) -> (String, String) {
    // Strings, integers and a `serde_json::Value` only: serialization cannot fail.
    let body = serde_json::to_string(e).expect("an audit entry is plain JSON data");
    let hash = chain_hash(&e.prev, &body);
    let mut line = body;
    line.pop(); // the closing '}'
    line.push_str(",\"hash\":\"");
    line.push_str(&hash);
    line.push_str("\"}");
    (line, hash)
}

fn chain_hash(prev_hex: &str, body: &str) -> String {
    let mut h = Sha256::new();
    let mut prev = [0u8; 32];
    // A malformed prev simply hashes as zeros; verification catches it separately.
    let _ = hex::decode_to_slice(prev_hex, &mut prev);
    h.update(prev);
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

/// An open audit log that appends entries. Callers hold the run lock.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    head: Option<Head>,
    actor: Actor,
}

impl AuditLog {
    /// Open (or create) the log and verify the existing chain, so that new
    /// entries never extend a broken one.
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        AuditLog::open_anchored(path, &[])
    }

    /// Open (or create) the log, verify its chain and that it still holds
    /// every anchored entry; refuses a symbolic link. A log that is missing
    /// while an anchor exists is refused too: it was deleted.
    pub fn open_anchored(path: &Path, anchors: &[Anchor]) -> Result<AuditLog, AuditError> {
        let exists = match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_file() => true,
            Ok(_) => {
                return Err(AuditError::NotRegular {
                    path: path.to_path_buf(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(source) => {
                return Err(AuditError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let head = if exists {
            verify_anchored(path, anchors)?
        } else {
            check_anchors(path, None, &BTreeMap::new(), anchors)?;
            None
        };
        let file = crate::fsutil::no_follow(OpenOptions::new().create(true).append(true))
            .open(path)
            .map_err(|source| AuditError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file,
            head,
            actor: Actor::current(),
        })
    }

    /// The last entry written.
    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    /// Append one entry and fsync it.
    pub fn append(
        &mut self,
        event: &str,
        stage: Option<&str>,
        data: serde_json::Value,
    ) -> std::io::Result<Head> {
        let (seq, prev) = match &self.head {
            Some(h) => (h.seq + 1, h.hash.clone()),
            None => (1, GENESIS.to_string()),
        };
        let e = Entry {
            seq,
            ts: crate::time::now_rfc3339(),
            event: event.to_string(),
            stage: stage.map(str::to_string),
            actor: self.actor.clone(),
            data,
            prev,
        };
        let (mut line, hash) = seal_entry(&e);
        line.push('\n');
        // One write() of the whole line, then fsync: a kill cannot leave half an entry
        // followed by a good one.
        self.file.write_all(line.as_bytes())?;
        self.file.sync_data()?;
        let head = Head { seq, hash };
        self.head = Some(head.clone());
        Ok(head)
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Verify a whole log. Returns its head (None for an empty log), or the first
/// bad entry.
pub fn verify(path: &Path) -> Result<Option<Head>, AuditError> {
    let f = File::open(path).map_err(|source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    verify_reader(path, BufReader::new(f))
}

/// Verify a whole log and that it still holds every anchored entry (see
/// [`Anchor`]). A missing log fails when there is any anchor.
pub fn verify_anchored(path: &Path, anchors: &[Anchor]) -> Result<Option<Head>, AuditError> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !anchors.is_empty() => {
            check_anchors(path, None, &BTreeMap::new(), anchors)?;
            return Ok(None);
        }
        Err(source) => {
            return Err(AuditError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let wanted: Vec<u64> = anchors.iter().map(|a| a.head.seq).collect();
    let (head, found) = walk(path, BufReader::new(f), &wanted)?;
    check_anchors(path, head.as_ref(), &found, anchors)?;
    Ok(head)
}

fn check_anchors(
    path: &Path,
    head: Option<&Head>,
    found: &BTreeMap<u64, String>,
    anchors: &[Anchor],
) -> Result<(), AuditError> {
    for a in anchors {
        match found.get(&a.head.seq) {
            Some(h) if *h == a.head.hash => {}
            Some(_) => {
                return Err(AuditError::Rewritten {
                    path: path.to_path_buf(),
                    anchor: a.source.clone(),
                    seq: a.head.seq,
                });
            }
            None => {
                return Err(AuditError::Truncated {
                    path: path.to_path_buf(),
                    anchor: a.source.clone(),
                    seq: a.head.seq,
                    found: match head {
                        Some(h) => format!("ends at seq {}", h.seq),
                        None if path.exists() => "is empty".into(),
                        None => "is missing".into(),
                    },
                });
            }
        }
    }
    Ok(())
}

/// Verify a log read from `r`; `path` only names it in errors.
pub fn verify_reader(path: &Path, r: impl BufRead) -> Result<Option<Head>, AuditError> {
    walk(path, r, &[]).map(|(head, _)| head)
}

/// Verify the chain; return the head and the hashes of the entries whose seq
/// is in `wanted`.
fn walk(
    path: &Path,
    r: impl BufRead,
    wanted: &[u64],
) -> Result<(Option<Head>, BTreeMap<u64, String>), AuditError> {
    let mut found = BTreeMap::new();
    let mut prev_hash = GENESIS.to_string();
    let mut head = None;
    let p = path.to_path_buf();
    for (expect_seq, (i, line)) in (1u64..).zip(r.split(b'\n').enumerate()) {
        let lineno = i + 1;
        let bytes = line.map_err(|source| AuditError::Io {
            path: p.clone(),
            source,
        })?;
        let text = std::str::from_utf8(&bytes).map_err(|_| AuditError::Malformed {
            path: p.clone(),
            line: lineno,
            why: "not UTF-8".into(),
        })?;
        let malformed = |why: &str| AuditError::Malformed {
            path: p.clone(),
            line: lineno,
            why: why.into(),
        };
        // `hash` is always the last field, 64 hex digits.
        const TAIL: usize = ",\"hash\":\"".len() + 64 + "\"}".len();
        if text.len() < TAIL + 2 || !text.ends_with("\"}") {
            return Err(malformed("not a complete entry (truncated write?)"));
        }
        let split = text.len() - TAIL;
        if !text.is_char_boundary(split) || !text[split..].starts_with(",\"hash\":\"") {
            return Err(malformed("the hash is not the last field"));
        }
        let stored_hash = &text[split + 9..text.len() - 2];
        let body = format!("{}}}", &text[..split]);
        let entry: Entry = serde_json::from_str(&body)
            .map_err(|e| {
                malformed(&format!(
                    "not a valid entry (column {}: a field is missing, has the wrong type or the JSON is broken)",
                    e.column()
                ))
            })?;
        if chain_hash(&entry.prev, &body) != stored_hash {
            return Err(AuditError::Modified {
                path: p.clone(),
                line: lineno,
                seq: entry.seq,
            });
        }
        if entry.seq != expect_seq {
            return Err(AuditError::Broken {
                path: p.clone(),
                line: lineno,
                seq: entry.seq,
                why: format!("expected seq {expect_seq}, found {}", entry.seq),
            });
        }
        if entry.prev != prev_hash {
            return Err(AuditError::Broken {
                path: p.clone(),
                line: lineno,
                seq: entry.seq,
                why: "its `prev` is not the hash of the entry before it".into(),
            });
        }
        prev_hash = stored_hash.to_string();
        if wanted.contains(&entry.seq) {
            found.insert(entry.seq, prev_hash.clone());
        }
        head = Some(Head {
            seq: entry.seq,
            hash: prev_hash.clone(),
        });
    }
    Ok((head, found))
}

/// Read every entry (after verification), for display.
pub fn read_entries(path: &Path) -> Result<Vec<Entry>, AuditError> {
    verify(path)?;
    let text = std::fs::read_to_string(path).map_err(|source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let split = line.len() - (",\"hash\":\"".len() + 64 + 2);
        let body = format!("{}}}", &line[..split]);
        out.push(
            serde_json::from_str(&body).map_err(|e| AuditError::Malformed {
                path: path.to_path_buf(),
                line: i + 1,
                why: format!("not a valid entry (column {})", e.column()),
            })?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dir: &Path) -> PathBuf {
        let p = dir.join("audit.jsonl");
        let mut log = AuditLog::open(&p).unwrap();
        for i in 0..4 {
            log.append("stage.start", Some("ingest"), serde_json::json!({ "i": i }))
                .unwrap();
        }
        p
    }

    #[test]
    fn good_log_verifies_and_reopens() {
        let d = tempfile::tempdir().unwrap();
        let p = sample(d.path());
        let h = verify(&p).unwrap().unwrap();
        assert_eq!(h.seq, 4);
        let mut log = AuditLog::open(&p).unwrap();
        let h5 = log.append("run.end", None, serde_json::json!({})).unwrap();
        assert_eq!(h5.seq, 5);
        assert_eq!(verify(&p).unwrap().unwrap(), h5);
    }

    #[test]
    fn edit_is_detected_at_that_entry() {
        let d = tempfile::tempdir().unwrap();
        let p = sample(d.path());
        let text = std::fs::read_to_string(&p).unwrap();
        let edited = text.replacen("\"i\":2", "\"i\":9", 1);
        std::fs::write(&p, edited).unwrap();
        match verify(&p).unwrap_err() {
            AuditError::Modified { line, seq, .. } => assert_eq!((line, seq), (3, 3)),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn removal_and_reorder_are_detected() {
        let d = tempfile::tempdir().unwrap();
        let p = sample(d.path());
        let lines: Vec<String> = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        let removed = [&lines[0], &lines[2], &lines[3]]
            .map(|s| s.as_str())
            .join("\n")
            + "\n";
        std::fs::write(&p, removed).unwrap();
        assert!(matches!(
            verify(&p).unwrap_err(),
            AuditError::Broken { line: 2, .. }
        ));
        let swapped = [&lines[0], &lines[2], &lines[1], &lines[3]]
            .map(|s| s.as_str())
            .join("\n")
            + "\n";
        std::fs::write(&p, swapped).unwrap();
        assert!(matches!(
            verify(&p).unwrap_err(),
            AuditError::Broken { line: 2, .. }
        ));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let d = tempfile::tempdir().unwrap();
        let p = sample(d.path());
        let good = std::fs::read(&p).unwrap();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..1_000 {
            let mut b = good.clone();
            for _ in 0..(1 + next() % 3) {
                let i = (next() as usize) % b.len();
                b[i] = [b'"', b'}', b'\n', 0xC3, 0xA9, b'0', b'a'][(next() % 7) as usize];
            }
            std::fs::write(&p, &b).unwrap();
            if verify(&p).is_ok() {
                let _ = read_entries(&p).unwrap();
            }
        }
    }

    #[test]
    fn refuses_to_extend_a_broken_log() {
        let d = tempfile::tempdir().unwrap();
        let p = sample(d.path());
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, &text[..text.len() - 10]).unwrap();
        assert!(AuditLog::open(&p).is_err());
    }
}
