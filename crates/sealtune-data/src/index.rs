//! `ingest/index.bin`: which input records were accepted and where they go.
//!
//! Ingest never copies records; it writes this index, and the mask stage
//! streams the raw inputs again, keeping the indexed records. The entries are
//! streamed as records are accepted, so the table of files and the counts come
//! last. Layout (all integers little-endian):
//!
//! ```text
//! magic     8 bytes  "STIDX\0\x01\0"
//! n_records × 48-byte entries, in input order:
//!   file    u32   index into the file table
//!   split   u8    0 = train, 1 = eval
//!   pad     [3]   zero
//!   ordinal u64   0-based record number within the file (JSONL: non-blank line; CSV: data row)
//!   line    u64   1-based line where the record starts
//!   offset  u64   byte offset where the record starts
//!   hash    [16]  first 16 bytes of the record's content hash
//! n_files × { path_len u32, path (UTF-8), sha256 [32] }
//! n_records u64
//! n_files   u32
//! end       8 bytes  "STIDXEND"
//! ```
//!
//! A reader checks each record again against `hash`, so a file edited after
//! ingest is caught even when its stage key was not rechecked.

use std::io::{self, Read, Write};

/// File magic and version.
pub const MAGIC: &[u8; 8] = b"STIDX\0\x01\0";

/// Train or eval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Training split.
    Train,
    /// Evaluation split.
    Eval,
}

/// One accepted record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Index into [`Index::files`].
    pub file: u32,
    /// Split.
    pub split: Split,
    /// 0-based record number in the file.
    pub ordinal: u64,
    /// 1-based line where it starts.
    pub line: u64,
    /// Byte offset where it starts.
    pub offset: u64,
    /// First 16 bytes of the content hash.
    pub hash: [u8; 16],
}

/// An input file as indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedFile {
    /// Path as resolved from the config.
    pub path: String,
    /// SHA-256 of the file when ingested.
    pub sha256: [u8; 32],
}

/// A whole index in memory (48 bytes per record).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Index {
    /// Input files.
    pub files: Vec<IndexedFile>,
    /// Accepted records, in input order.
    pub entries: Vec<IndexEntry>,
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("index.bin: {msg}"))
}

/// End marker.
pub const END: &[u8; 8] = b"STIDXEND";

/// Streams an index to a writer: entries first, then the file table.
#[derive(Debug)]
pub struct IndexWriter<W: Write> {
    w: W,
    n: u64,
}

impl<W: Write> IndexWriter<W> {
    /// Start an index (writes the magic).
    pub fn new(mut w: W) -> io::Result<IndexWriter<W>> {
        w.write_all(MAGIC)?;
        Ok(IndexWriter { w, n: 0 })
    }

    /// Append one entry.
    pub fn push(&mut self, e: &IndexEntry) -> io::Result<()> {
        let mut b = [0u8; 48];
        b[0..4].copy_from_slice(&e.file.to_le_bytes());
        b[4] = matches!(e.split, Split::Eval) as u8;
        b[8..16].copy_from_slice(&e.ordinal.to_le_bytes());
        b[16..24].copy_from_slice(&e.line.to_le_bytes());
        b[24..32].copy_from_slice(&e.offset.to_le_bytes());
        b[32..48].copy_from_slice(&e.hash);
        self.n += 1;
        self.w.write_all(&b)
    }

    /// Entries written so far.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Whether no entry was written.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Write the file table and trailer; returns the inner writer.
    pub fn finish(mut self, files: &[IndexedFile]) -> io::Result<W> {
        for f in files {
            self.w.write_all(&(f.path.len() as u32).to_le_bytes())?;
            self.w.write_all(f.path.as_bytes())?;
            self.w.write_all(&f.sha256)?;
        }
        self.w.write_all(&self.n.to_le_bytes())?;
        self.w.write_all(&(files.len() as u32).to_le_bytes())?;
        self.w.write_all(END)?;
        self.w.flush()?;
        Ok(self.w)
    }
}

impl Index {
    /// Serialize a whole index.
    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        let mut iw = IndexWriter::new(w)?;
        for e in &self.entries {
            iw.push(e)?;
        }
        iw.finish(&self.files)?;
        Ok(())
    }

    /// Parse, checking every field; never panics on arbitrary bytes.
    pub fn parse(b: &[u8]) -> io::Result<Index> {
        if b.len() < 8 + 8 + 4 + 8 || &b[..8] != MAGIC {
            return Err(bad("not a sealtune index (bad magic or version)"));
        }
        if &b[b.len() - 8..] != END {
            return Err(bad("truncated (no end marker)"));
        }
        let t = b.len() - 8;
        let n_files = le_u32(&b[t - 4..]) as usize;
        let n = le_u64(&b[t - 12..]);
        let entries_end =
            n.checked_mul(48)
                .and_then(|x| x.checked_add(8))
                .filter(|&x| x <= (t - 12) as u64)
                .ok_or_else(|| bad("record count does not fit the file"))? as usize;
        let mut files = Vec::with_capacity(n_files.min(1024));
        let mut r = &b[entries_end..t - 12];
        for _ in 0..n_files {
            let len = read_u32(&mut r)? as usize;
            if len > r.len() {
                return Err(bad("path runs past the file table"));
            }
            let path = std::str::from_utf8(&r[..len])
                .map_err(|_| bad("path is not UTF-8"))?
                .to_string();
            r = &r[len..];
            let mut sha256 = [0u8; 32];
            r.read_exact(&mut sha256)?;
            files.push(IndexedFile { path, sha256 });
        }
        if !r.is_empty() {
            return Err(bad("unexpected bytes after the file table"));
        }
        let mut entries = Vec::with_capacity(n as usize);
        for c in b[8..entries_end].chunks_exact(48) {
            let file = le_u32(c);
            if file as usize >= files.len() {
                return Err(bad("entry refers to an unknown file"));
            }
            let split = match c[4] {
                0 => Split::Train,
                1 => Split::Eval,
                _ => return Err(bad("bad split value")),
            };
            entries.push(IndexEntry {
                file,
                split,
                ordinal: le_u64(&c[8..]),
                line: le_u64(&c[16..]),
                offset: le_u64(&c[24..]),
                hash: first_16(&c[32..]),
            });
        }
        Ok(Index { files, entries })
    }

    /// Read and parse a file.
    pub fn read(path: &std::path::Path) -> io::Result<Index> {
        Index::parse(&std::fs::read(path)?)
    }
}

/// Little-endian u32 from the first 4 bytes. Callers slice within bounds
/// they checked, so a short slice is a bug in this module.
fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

/// Little-endian u64 from the first 8 bytes (bounds checked by the caller).
fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// The first 16 bytes (bounds checked by the caller).
fn first_16(b: &[u8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    a
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_rejects_garbage() {
        let idx = Index {
            files: vec![IndexedFile {
                path: "a.jsonl".into(),
                sha256: [7; 32],
            }],
            entries: vec![
                IndexEntry {
                    file: 0,
                    split: Split::Train,
                    ordinal: 0,
                    line: 1,
                    offset: 0,
                    hash: [1; 16],
                },
                IndexEntry {
                    file: 0,
                    split: Split::Eval,
                    ordinal: 3,
                    line: 5,
                    offset: 99,
                    hash: [2; 16],
                },
            ],
        };
        let mut buf = Vec::new();
        idx.write_to(&mut buf).unwrap();
        assert_eq!(Index::parse(&buf).unwrap(), idx);
        for cut in [0, 5, 12, 60, buf.len() - 1] {
            assert!(Index::parse(&buf[..cut]).is_err());
        }
        let mut extra = buf.clone();
        extra.insert(60, 0);
        assert!(Index::parse(&extra).is_err());
        let mut badfile = buf.clone();
        badfile[8] = 9; // first entry's file index
        assert!(Index::parse(&badfile).is_err());
        // Arbitrary bytes never panic.
        let mut x: u64 = 1;
        for len in 0..400 {
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (x >> 56) as u8
                })
                .collect();
            let _ = Index::parse(&v);
        }
    }
}
