//! `pii-fingerprints.bin`: the sorted, deduplicated set of keyed fingerprints
//! of the original values the mask stage replaced.
//!
//! Binary format, version 1 (all integers little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `SLTPIIFP` |
//! | 8 | 4 | format version, `1` |
//! | 12 | 4 | entry length in bytes, `32` (HMAC-SHA-256) |
//! | 16 | 8 | entry count `n` |
//! | 24 | 32·n | entries, strictly ascending byte order (sorted, no duplicates) |
//! | 24+32·n | 32 | SHA-256 of all preceding bytes |
//!
//! Each entry is `HMAC-SHA-256(K_fp, len64(tag) || tag || len64(v) || v)` where
//! `tag` is `sealtune-pii-fingerprint-v1`, `v` is the value's normal form
//! ([`crate::ops::normalize`]) and `K_fp` is derived from the masking key, so
//! the file reveals nothing without the key.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::PiiError;

const MAGIC: &[u8; 8] = b"SLTPIIFP";
const VERSION: u32 = 1;
const ENTRY: usize = 32;

/// A set of fingerprints; call [`FingerprintSet::finish`] or write it to sort and dedup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FingerprintSet {
    entries: Vec<[u8; 32]>,
    sorted: bool,
}

impl FingerprintSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds fingerprints.
    pub fn extend<I: IntoIterator<Item = [u8; 32]>>(&mut self, it: I) {
        self.entries.extend(it);
        self.sorted = false;
    }

    /// Sorts and removes duplicates.
    pub fn finish(&mut self) {
        if !self.sorted {
            self.entries.sort_unstable();
            self.entries.dedup();
            self.sorted = true;
        }
    }

    /// Number of distinct entries (after [`FingerprintSet::finish`]).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Membership test (sorts first if needed).
    pub fn contains(&mut self, fp: &[u8; 32]) -> bool {
        self.finish();
        self.entries.binary_search(fp).is_ok()
    }

    /// The sorted entries.
    pub fn entries(&mut self) -> &[[u8; 32]] {
        self.finish();
        &self.entries
    }

    /// Serialises to the version-1 format.
    pub fn to_bytes(&mut self) -> Vec<u8> {
        self.finish();
        let mut out = Vec::with_capacity(24 + ENTRY * self.entries.len() + 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(ENTRY as u32).to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(e);
        }
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    /// Parses the version-1 format, checking every field; `path` names the source in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, PiiError> {
        let bad = |m: &str| PiiError::CorruptFingerprints {
            path: path.to_path_buf(),
            message: m.to_string(),
        };
        if bytes.len() < 24 + 32 || &bytes[..8] != MAGIC {
            return Err(bad(
                "not a sealtune fingerprint file (bad magic or too short)",
            ));
        }
        let u32_at =
            |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        if u32_at(8) != VERSION {
            return Err(bad(&format!(
                "unsupported version {}, this build reads version 1",
                u32_at(8)
            )));
        }
        if u32_at(12) as usize != ENTRY {
            return Err(bad("entry length is not 32"));
        }
        let mut n8 = [0u8; 8];
        n8.copy_from_slice(&bytes[16..24]);
        let n = u64::from_le_bytes(n8);
        let body = n
            .checked_mul(ENTRY as u64)
            .and_then(|b| b.checked_add(24 + 32))
            .ok_or_else(|| bad("entry count overflows"))?;
        if body != bytes.len() as u64 {
            return Err(bad(
                "length does not match the entry count (truncated or extended)",
            ));
        }
        let split = bytes.len() - 32;
        if Sha256::digest(&bytes[..split]).as_slice() != &bytes[split..] {
            return Err(bad("checksum mismatch (file altered)"));
        }
        let mut entries = Vec::with_capacity(n as usize);
        for c in bytes[24..split].chunks_exact(ENTRY) {
            let mut e = [0u8; 32];
            e.copy_from_slice(c);
            if entries.last().is_some_and(|l: &[u8; 32]| *l >= e) {
                return Err(bad("entries are not strictly ascending"));
            }
            entries.push(e);
        }
        Ok(FingerprintSet {
            entries,
            sorted: true,
        })
    }

    /// Reads a file.
    pub fn read(path: &Path) -> Result<Self, PiiError> {
        let bytes = std::fs::read(path).map_err(|source| PiiError::Io {
            path: path.to_path_buf(),
            action: "read",
            source,
        })?;
        Self::from_bytes(&bytes, path)
    }

    /// Writes a file atomically: a fresh sibling temp file, fsync, rename, fsync the directory.
    pub fn write(&mut self, path: &Path) -> Result<(), PiiError> {
        let bytes = self.to_bytes();
        sealtune_pipeline::fsutil::atomic_write(path, &bytes).map_err(|source| PiiError::Io {
            path: path.to_path_buf(),
            action: "create",
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealtune_contract::ExitStatus as _;

    #[test]
    fn roundtrip_and_tamper_detection() {
        let mut s = FingerprintSet::new();
        s.extend([[3u8; 32], [1u8; 32], [3u8; 32]]);
        let bytes = s.to_bytes();
        assert_eq!(bytes.len(), 24 + 64 + 32);
        let p = Path::new("x.bin");
        let mut back = FingerprintSet::from_bytes(&bytes, p).unwrap();
        assert_eq!(back.len(), 2);
        assert!(back.contains(&[1u8; 32]) && !back.contains(&[2u8; 32]));
        for i in [0, 9, 17, 30, bytes.len() - 1] {
            let mut t = bytes.clone();
            t[i] ^= 1;
            let e = FingerprintSet::from_bytes(&t, p).unwrap_err();
            assert_eq!(e.exit().code(), 65);
        }
        assert!(FingerprintSet::from_bytes(&bytes[..bytes.len() - 1], p).is_err());
        let dir = std::env::temp_dir().join(format!("sealtune-pii-fp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pii-fingerprints.bin");
        s.write(&f).unwrap();
        assert_eq!(FingerprintSet::read(&f).unwrap(), back);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
