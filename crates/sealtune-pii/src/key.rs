//! The masking key and the sub-keys derived from it.

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::config::MaskConfig;
use crate::error::PiiError;

type HmacSha256 = Hmac<Sha256>;

/// Minimum key length in bytes.
pub const MIN_KEY_LEN: usize = 32;

/// The secret that keys pseudonyms, hashes, date offsets and fingerprints.
/// Zeroized on drop; `Debug` never shows it.
#[derive(Clone)]
pub struct MaskKey {
    pseudo: Zeroizing<[u8; 32]>,
    hash: Zeroizing<[u8; 32]>,
    date: Zeroizing<[u8; 32]>,
    fingerprint: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MaskKey(<redacted>)")
    }
}

/// HMAC-SHA-256 over length-prefixed parts, so part boundaries cannot be shifted.
pub(crate) fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length; the error case cannot happen.
    let Ok(mut m) = <HmacSha256 as Mac>::new_from_slice(key) else {
        return [0; 32];
    };
    for p in parts {
        m.update(&(p.len() as u64).to_le_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

impl MaskKey {
    /// Builds a key from secret bytes (at least [`MIN_KEY_LEN`]).
    pub fn new(secret: Zeroizing<Vec<u8>>) -> Result<Self, PiiError> {
        if secret.len() < MIN_KEY_LEN {
            return Err(PiiError::Key(format!(
                "key has {} bytes, needs at least {MIN_KEY_LEN}: generate one with `sealtune keygen` or `head -c 32 /dev/urandom`",
                secret.len()
            )));
        }
        let d = |label: &str| Zeroizing::new(mac(&secret, &[b"sealtune-pii-v1", label.as_bytes()]));
        Ok(MaskKey {
            pseudo: d("pseudonym"),
            hash: d("hash"),
            date: d("date-shift"),
            fingerprint: d("fingerprint"),
        })
    }

    /// Reads a key file: 64 or more hex digits (whitespace ignored), or raw bytes.
    /// On Unix the file must not be readable by group or others.
    pub fn from_file(path: &Path) -> Result<Self, PiiError> {
        let io = |action, source| PiiError::Io {
            path: path.to_path_buf(),
            action,
            source,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path).map_err(|e| io("read", e))?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(PiiError::Key(format!(
                    "{}: key file is readable by group or others; run `chmod 600 {}`",
                    path.display(),
                    path.display()
                )));
            }
        }
        let raw = Zeroizing::new(std::fs::read(path).map_err(|e| io("read", e))?);
        Self::new(decode_key(&raw))
    }

    /// Reads a hex key from an environment variable.
    pub fn from_env(name: &str) -> Result<Self, PiiError> {
        let val = Zeroizing::new(std::env::var(name).map_err(|_| {
            PiiError::Key(format!(
                "environment variable {name} is not set or not UTF-8; export the key as hex"
            ))
        })?);
        let bytes = decode_hex(val.trim().as_bytes()).ok_or_else(|| {
            PiiError::Key(format!("environment variable {name}: expected hex digits"))
        })?;
        Self::new(bytes)
    }

    /// Loads the key named by `[mask].key_file` or `[mask].key_env`.
    pub fn from_config(cfg: &MaskConfig) -> Result<Self, PiiError> {
        match (&cfg.key_file, &cfg.key_env) {
            (Some(f), None) => Self::from_file(f),
            (None, Some(e)) => Self::from_env(e),
            _ => Err(PiiError::Config {
                key: "key_file".into(),
                message: "set exactly one of key_file or key_env".into(),
            }),
        }
    }

    pub(crate) fn pseudo(&self) -> &[u8] {
        &self.pseudo[..]
    }
    pub(crate) fn hash(&self) -> &[u8] {
        &self.hash[..]
    }
    pub(crate) fn date(&self) -> &[u8] {
        &self.date[..]
    }
    pub(crate) fn fingerprint(&self) -> &[u8] {
        &self.fingerprint[..]
    }
}

fn decode_hex(s: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let digits: Zeroizing<Vec<u8>> = Zeroizing::new(
        s.iter()
            .copied()
            .filter(|c| !c.is_ascii_whitespace())
            .collect(),
    );
    if !digits.len().is_multiple_of(2) || digits.is_empty() {
        return None;
    }
    let val = |c: u8| (c as char).to_digit(16).map(|v| v as u8);
    let mut out = Zeroizing::new(Vec::with_capacity(digits.len() / 2));
    for p in digits.chunks(2) {
        out.push(val(p[0])? << 4 | val(p[1])?);
    }
    Some(out)
}

fn decode_key(raw: &[u8]) -> Zeroizing<Vec<u8>> {
    let trimmed: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if trimmed.len() >= 2 * MIN_KEY_LEN
        && trimmed.iter().all(u8::is_ascii_hexdigit)
        && let Some(k) = decode_hex(&trimmed)
    {
        return k;
    }
    Zeroizing::new(raw.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_rejected_and_debug_redacted() {
        assert!(MaskKey::new(Zeroizing::new(vec![1; 8])).is_err());
        let k = MaskKey::new(Zeroizing::new(vec![1; 32])).unwrap();
        assert_eq!(format!("{k:?}"), "MaskKey(<redacted>)");
        assert_eq!(decode_key(&[b'a'; 64]).len(), 32);
        assert_eq!(decode_key(&[7u8; 40]).len(), 40);
    }
}
