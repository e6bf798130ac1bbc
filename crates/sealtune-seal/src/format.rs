//! The sealed file format (see `docs/FORMAT.md`): a JSON header bound into
//! HKDF-SHA-512 key derivation, a key commitment, and AES-256-GCM chunks of
//! 16 KiB whose nonces carry the chunk index and a last-chunk flag.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aes_kw::KekAes256;
use argon2::{Algorithm, Argon2, Params, Version};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hkdf::Hkdf;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::FormatError;
use crate::keys::{Argon2Settings, Kek, KeySource, KmsCommand, Passphrase};

/// First 16 bytes of every sealed file.
pub const MAGIC: &[u8; 16] = b"sealtune-seal/1\n";
/// Plaintext bytes per chunk (every chunk but the last, which is shorter).
pub const CHUNK_SIZE: usize = 16 * 1024;
/// AES-GCM tag length.
pub const TAG_SIZE: usize = 16;
/// Key commitment length.
pub const COMMITMENT_SIZE: usize = 32;
/// Largest accepted header.
pub const MAX_HEADER_LEN: u32 = 1 << 20;
/// The only cipher suite of format version 1.
pub const SUITE: &str = "HKDF-SHA-512/AES-256-GCM/16KiB";
/// Most recipients one file may have.
pub const MAX_RECIPIENTS: usize = 32;
/// Chunks processed per parallel batch (4 MiB of plaintext).
const BATCH_CHUNKS: usize = 256;
const SLOT: usize = CHUNK_SIZE + TAG_SIZE;
const MAX_KMS_BYTES: usize = 8 * 1024;
/// How long a KMS program may take before it is stopped.
pub const KMS_TIMEOUT: Duration = Duration::from_secs(120);
const HKDF_SALT: &[u8] = b"sealtune-seal/v1";

/// The JSON header of a sealed file (format version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Format version, always 1.
    pub version: u64,
    /// Cipher suite, always [`SUITE`].
    pub suite: String,
    /// Chunk size, always [`CHUNK_SIZE`].
    pub chunk_size: u64,
    /// Exact plaintext length in bytes.
    pub plaintext_size: u64,
    /// Media type of the plaintext, informative.
    pub content_type: String,
    /// Wrapped copies of the data key, one per recipient.
    pub recipients: Vec<Recipient>,
}

/// A wrapped copy of the file's data key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
#[non_exhaustive]
pub enum Recipient {
    /// AES-256 key wrap (RFC 3394) under a KEK.
    #[serde(rename = "aes-kw")]
    Kek {
        /// [`Kek::id`] of the wrapping key.
        kek_id: String,
        /// Base64 of the 40-byte RFC 3394 output.
        wrapped_key: String,
    },
    /// AES-256 key wrap under a KEK derived with Argon2id from a passphrase.
    #[serde(rename = "argon2id")]
    Passphrase {
        /// Base64 of the 16-byte Argon2 salt.
        salt: String,
        /// Argon2 memory in KiB.
        memory_kib: u32,
        /// Argon2 passes.
        iterations: u32,
        /// Argon2 lanes.
        parallelism: u32,
        /// Base64 of the 40-byte RFC 3394 output.
        wrapped_key: String,
    },
    /// Opaque bytes produced by an external KMS program's `wrap`.
    #[serde(rename = "kms")]
    Kms {
        /// File name of the KMS program, informative.
        label: String,
        /// Base64 of the program's output.
        wrapped_key: String,
    },
}

impl Recipient {
    /// Short kind name: `aes-kw`, `argon2id` or `kms`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Kek { .. } => "aes-kw",
            Self::Passphrase { .. } => "argon2id",
            Self::Kms { .. } => "kms",
        }
    }
}

/// What a successful encryption or decryption saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealInfo {
    /// Verified header.
    pub header: Header,
    /// Number of chunks.
    pub chunks: u64,
}

type DataKey = Zeroizing<[u8; 32]>;

fn random<const N: usize>() -> Result<[u8; N], FormatError> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).map_err(|_| FormatError::Internal("OS random source failed"))?;
    Ok(b)
}

fn chunk_count(size: u64) -> u64 {
    size / CHUNK_SIZE as u64 + 1
}

fn chunk_plain_len(size: u64, index: u64) -> usize {
    if index + 1 < chunk_count(size) {
        CHUNK_SIZE
    } else {
        (size % CHUNK_SIZE as u64) as usize
    }
}

/// Encrypted body length (all chunks with tags) for a plaintext length.
pub fn body_len(size: u64) -> u64 {
    size + chunk_count(size) * TAG_SIZE as u64
}

fn nonce(index: u64, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    n
}

/// Keys derived from the data key and the header prefix.
///
/// `cipher` is AWS-LC's AES-256-GCM (AES-NI/VAES with carry-less multiply
/// GHASH). Its expanded key lives inside one `EVP_AEAD_CTX` allocation that
/// AWS-LC overwrites with zeros when the key is dropped; docs/FORMAT.md
/// ("Key material in memory") traces this through the library's source.
struct FileKeys {
    cipher: LessSafeKey,
    commitment: Zeroizing<[u8; 32]>,
}

fn derive(dk: &DataKey, prefix: &[u8]) -> Result<FileKeys, FormatError> {
    let h = Sha512::digest(prefix);
    let hk = Hkdf::<Sha512>::new(Some(HKDF_SALT), &dk[..]);
    let mut pk = Zeroizing::new([0u8; 32]);
    let mut commitment = Zeroizing::new([0u8; 32]);
    hk.expand_multi_info(&[b"payload key\0", &h], &mut pk[..])
        .map_err(|_| FormatError::Internal("HKDF expand"))?;
    hk.expand_multi_info(&[b"key commitment\0", &h], &mut commitment[..])
        .map_err(|_| FormatError::Internal("HKDF expand"))?;
    // `UnboundKey::new` only borrows `pk`: the raw payload key stays in this
    // zeroizing buffer, the expanded one in AWS-LC's context.
    let cipher = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &pk[..]).map_err(|_| FormatError::Internal("AES key"))?,
    );
    Ok(FileKeys { cipher, commitment })
}

fn header_prefix(header_json: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(20 + header_json.len());
    p.extend_from_slice(MAGIC);
    p.extend_from_slice(&(header_json.len() as u32).to_be_bytes());
    p.extend_from_slice(header_json);
    p
}

fn argon2_kek(pass: &Passphrase, salt: &[u8], s: Argon2Settings) -> Result<Kek, FormatError> {
    let params = Params::new(s.memory_kib, s.iterations, s.parallelism, Some(32)).map_err(|e| {
        FormatError::Argon2Params {
            reason: e.to_string(),
        }
    })?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(pass.as_bytes(), salt, &mut out[..])
        .map_err(|e| FormatError::Argon2Params {
            reason: e.to_string(),
        })?;
    Ok(Kek::from_bytes(*out))
}

fn kw_wrap(kek: &Kek, dk: &DataKey) -> Result<String, FormatError> {
    let mut out = [0u8; 40];
    KekAes256::from(*kek.as_bytes())
        .wrap(&dk[..], &mut out)
        .map_err(|_| FormatError::Internal("AES key wrap"))?;
    Ok(B64.encode(out))
}

fn kw_unwrap(kek: &Kek, wrapped: &str) -> Result<Option<DataKey>, FormatError> {
    let w = decode_b64(wrapped, "wrapped_key")?;
    if w.len() != 40 {
        return Err(invalid("wrapped_key must decode to 40 bytes"));
    }
    let mut dk = Zeroizing::new([0u8; 32]);
    Ok(KekAes256::from(*kek.as_bytes())
        .unwrap(&w, &mut dk[..])
        .ok()
        .map(|()| dk))
}

fn run_kms(
    cmd: &KmsCommand,
    op: &'static str,
    input: &[u8],
) -> Result<Zeroizing<Vec<u8>>, FormatError> {
    let fail = |reason: String| FormatError::Kms {
        program: cmd.program.display().to_string(),
        op,
        reason,
    };
    let mut child = Command::new(&cmd.program)
        .args(&cmd.args)
        .arg(op)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start it: {e}")))?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(fail("pipes were not set up".into()));
    };
    // Read into buffers sized up front: a growing Vec would leave copies of
    // an unwrapped key behind in freed memory.
    let out_reader = std::thread::spawn(move || {
        let mut v = Zeroizing::new(Vec::with_capacity(MAX_KMS_BYTES + 1));
        let r = stdout.take(MAX_KMS_BYTES as u64 + 1).read_to_end(&mut v);
        r.map(|_| v)
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.take(64 * 1024).read_to_end(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    });
    // The input is at most 8 KiB, below any pipe buffer, so this cannot block.
    let write_result = stdin.write_all(input);
    drop(stdin);
    let deadline = Instant::now() + cmd.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!(
                    "no answer within {:?}; it was stopped",
                    cmd.timeout
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(fail(format!("waiting for it: {e}"))),
        }
    };
    let stdout = out_reader
        .join()
        .map_err(|_| fail("stdout reader panicked".into()))?
        .map_err(|e| fail(format!("reading its output: {e}")))?;
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        let tail: String = err
            .chars()
            .rev()
            .take(300)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(fail(format!("{status} (stderr: {})", tail.trim())));
    }
    write_result.map_err(|e| fail(format!("writing stdin: {e}")))?;
    if stdout.is_empty() || stdout.len() > MAX_KMS_BYTES {
        return Err(fail(format!(
            "output is {} bytes, expected 1..={MAX_KMS_BYTES}",
            stdout.len()
        )));
    }
    Ok(stdout)
}

fn wrap_for(src: &KeySource, dk: &DataKey) -> Result<Recipient, FormatError> {
    Ok(match src {
        KeySource::Kek(k) => Recipient::Kek {
            kek_id: k.id(),
            wrapped_key: kw_wrap(k, dk)?,
        },
        KeySource::Passphrase {
            passphrase,
            settings,
        } => {
            let min = Argon2Settings::MIN_SEAL;
            let max = Argon2Settings::MAX_OPEN;
            if settings.memory_kib < min.memory_kib
                || settings.iterations < min.iterations
                || settings.parallelism < min.parallelism
                || settings.memory_kib > max.memory_kib
                || settings.iterations > max.iterations
                || settings.parallelism > max.parallelism
            {
                return Err(FormatError::Argon2Params {
                    reason: format!(
                        "{settings:?} outside {min:?}..={max:?}; use the defaults (64 MiB, 3 passes, 4 lanes)"
                    ),
                });
            }
            let salt: [u8; 16] = random()?;
            let kek = argon2_kek(passphrase, &salt, *settings)?;
            Recipient::Passphrase {
                salt: B64.encode(salt),
                memory_kib: settings.memory_kib,
                iterations: settings.iterations,
                parallelism: settings.parallelism,
                wrapped_key: kw_wrap(&kek, dk)?,
            }
        }
        KeySource::Kms(cmd) => Recipient::Kms {
            label: cmd.label(),
            wrapped_key: B64.encode(&run_kms(cmd, "wrap", &dk[..])?[..]),
        },
    })
}

fn invalid(reason: impl Into<String>) -> FormatError {
    FormatError::HeaderInvalid {
        reason: reason.into(),
    }
}

fn decode_b64(s: &str, field: &str) -> Result<Zeroizing<Vec<u8>>, FormatError> {
    B64.decode(s)
        .map(Zeroizing::new)
        .map_err(|_| invalid(format!("{field} is not valid base64")))
}

/// Parses and validates header JSON (no key needed). Exposed for fuzzing.
pub fn parse_header(json: &[u8]) -> Result<Header, FormatError> {
    #[derive(Deserialize)]
    struct VersionOnly {
        version: u64,
    }
    let v: VersionOnly = serde_json::from_slice(json)
        .map_err(|e| invalid(format!("not a JSON header with a version: {e}")))?;
    if v.version != 1 {
        return Err(FormatError::UnsupportedVersion { found: v.version });
    }
    let h: Header = serde_json::from_slice(json).map_err(|e| invalid(e.to_string()))?;
    if h.suite != SUITE {
        return Err(invalid(format!("suite {:?}, expected {SUITE:?}", h.suite)));
    }
    if h.chunk_size != CHUNK_SIZE as u64 {
        return Err(invalid(format!(
            "chunk_size {}, expected {CHUNK_SIZE}",
            h.chunk_size
        )));
    }
    if h.recipients.is_empty() || h.recipients.len() > MAX_RECIPIENTS {
        return Err(invalid(format!(
            "{} recipients, expected 1..={MAX_RECIPIENTS}",
            h.recipients.len()
        )));
    }
    Ok(h)
}

fn read_exact_or<R: Read>(r: &mut R, buf: &mut [u8], err: FormatError) -> Result<(), FormatError> {
    let n = read_full(r, buf)?;
    if n < buf.len() { Err(err) } else { Ok(()) }
}

/// Reads until `buf` is full or EOF; returns the number of bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<usize, FormatError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FormatError::Io(e)),
        }
    }
    Ok(n)
}

/// Reads until every slice is full or EOF, with vectored reads (`readv(2)`
/// for a file: one system call fills a whole batch of chunk slots, straight
/// from the page cache into place); returns the number of bytes read.
fn read_vectored_full<R: Read>(
    r: &mut R,
    mut bufs: &mut [IoSliceMut<'_>],
) -> Result<usize, FormatError> {
    let mut n = 0;
    while !bufs.is_empty() {
        match r.read_vectored(bufs) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                IoSliceMut::advance_slices(&mut bufs, k);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FormatError::Io(e)),
        }
    }
    Ok(n)
}

/// Writes every slice, with vectored writes (`writev(2)` for a file).
fn write_vectored_all<W: Write + ?Sized>(
    w: &mut W,
    mut bufs: &mut [IoSlice<'_>],
) -> std::io::Result<()> {
    // Drops leading empty slices (the last chunk is often empty): a write of
    // nothing but empty slices returns 0, which would read as WriteZero.
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(k) => IoSlice::advance_slices(&mut bufs, k),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Encrypts exactly `plaintext_size` bytes from `reader` for `recipients`,
/// writing the sealed file to `writer`. Three stages run at once: a reader
/// thread fills batches of 256 chunks (4 MiB), the calling thread seals them
/// in parallel on the current rayon pool, and a writer thread writes them
/// out; four batch buffers circulate, so memory stays flat (16 MiB).
pub fn encrypt<R: Read + Send, W: Write + Send>(
    mut reader: R,
    plaintext_size: u64,
    mut writer: W,
    recipients: &[KeySource],
    content_type: &str,
) -> Result<SealInfo, FormatError> {
    if recipients.is_empty() {
        return Err(FormatError::NoRecipients);
    }
    if recipients.len() > MAX_RECIPIENTS {
        return Err(FormatError::HeaderInvalid {
            reason: format!("at most {MAX_RECIPIENTS} recipients"),
        });
    }
    let dk: DataKey = Zeroizing::new(random()?);
    let entries = recipients
        .iter()
        .map(|r| wrap_for(r, &dk))
        .collect::<Result<Vec<_>, _>>()?;
    let header = Header {
        version: 1,
        suite: SUITE.into(),
        chunk_size: CHUNK_SIZE as u64,
        plaintext_size,
        content_type: content_type.into(),
        recipients: entries,
    };
    let json = serde_json::to_vec(&header).map_err(|_| FormatError::Internal("header JSON"))?;
    if json.len() > MAX_HEADER_LEN as usize {
        return Err(invalid("header too large"));
    }
    let prefix = header_prefix(&json);
    let keys = derive(&dk, &prefix)?;
    writer.write_all(&prefix)?;
    writer.write_all(&keys.commitment[..])?;

    let n = chunk_count(plaintext_size);
    let changed = || FormatError::InputChanged {
        expected: plaintext_size,
    };
    let reader = &mut reader;
    let produce = move |start: u64, end: u64, buf: &mut [u8]| -> Result<Produced, FormatError> {
        // One vectored read into the plaintext part of every slot.
        let mut want = 0usize;
        let mut total = 0usize;
        let mut slices: Vec<IoSliceMut<'_>> = Vec::with_capacity((end - start) as usize);
        for (j, slot) in buf
            .chunks_mut(SLOT)
            .take((end - start) as usize)
            .enumerate()
        {
            let len = chunk_plain_len(plaintext_size, start + j as u64);
            want += len;
            total = j * SLOT + len + TAG_SIZE;
            slices.push(IoSliceMut::new(&mut slot[..len]));
        }
        if read_vectored_full(reader, &mut slices)? < want {
            return Err(changed());
        }
        let mut probe = [0u8; 1];
        if end == n && read_full(reader, &mut probe)? != 0 {
            return Ok((total, Some(changed())));
        }
        Ok((total, None))
    };
    let seal = |start: u64, buf: &mut [u8]| -> Result<(), FormatError> {
        let ok = buf
            .par_chunks_mut(SLOT)
            .enumerate()
            .map(|(j, slot)| {
                let i = start + j as u64;
                let len = slot.len() - TAG_SIZE;
                let (pt, tag_out) = slot.split_at_mut(len);
                match keys.cipher.seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce(i, i + 1 == n)),
                    Aad::empty(),
                    pt,
                ) {
                    Ok(tag) => {
                        tag_out.copy_from_slice(tag.as_ref());
                        true
                    }
                    Err(_) => false,
                }
            })
            .collect::<Vec<_>>();
        if ok.contains(&false) {
            return Err(FormatError::Internal("AES-GCM encryption"));
        }
        Ok(())
    };
    let w = &mut writer;
    pipeline(n, produce, seal, move |buf: &[u8]| {
        w.write_all(buf).map_err(FormatError::Io)
    })?;
    writer.flush()?;
    Ok(SealInfo { header, chunks: n })
}

/// Bytes of a batch buffer in use, and an error to raise after consuming it.
type Produced = (usize, Option<FormatError>);

/// Batch buffers in flight: one being read, one sealed or opened, one being
/// written, one spare so that no stage waits on a buffer the next one holds.
const BUFFERS: usize = 4;

/// Runs three stages on batches of chunks `start..end` of `n`, in file order:
/// `produce` on a scoped reader thread fills a batch buffer from the input
/// (returning the bytes used and possibly an error to report once that batch
/// went through, for data after the end); `crypt` seals or opens it on the
/// calling thread (whose rayon pool it uses); `emit` on a scoped writer
/// thread hands it on. [`BUFFERS`] zeroizing 4 MiB buffers circulate, so
/// memory does not grow with the input. The first error from any stage stops
/// all three; errors are reported in file order (a batch k failure is not
/// masked by anything later, and `emit` never sees batch k+1 when batch k
/// failed).
fn pipeline(
    n: u64,
    mut produce: impl FnMut(u64, u64, &mut [u8]) -> Result<Produced, FormatError> + Send,
    mut crypt: impl FnMut(u64, &mut [u8]) -> Result<(), FormatError>,
    mut emit: impl FnMut(&[u8]) -> Result<(), FormatError> + Send,
) -> Result<(), FormatError> {
    type Filled = Result<(u64, Produced, Zeroizing<Vec<u8>>), FormatError>;
    let batches = usize::try_from(n.div_ceil(BATCH_CHUNKS as u64)).unwrap_or(usize::MAX);
    let cap = SLOT * BATCH_CHUNKS.min(usize::try_from(n).unwrap_or(BATCH_CHUNKS));
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = mpsc::sync_channel::<Filled>(BUFFERS);
        let (free_tx, free_rx) = mpsc::sync_channel::<Zeroizing<Vec<u8>>>(BUFFERS);
        let (out_tx, out_rx) = mpsc::sync_channel::<(usize, Zeroizing<Vec<u8>>)>(BUFFERS);
        for _ in 0..BUFFERS.min(batches.max(1)) {
            free_tx
                .send(Zeroizing::new(vec![0u8; cap]))
                .map_err(|_| FormatError::Internal("buffer channel"))?;
        }
        scope.spawn(move || {
            let mut start = 0u64;
            while start < n {
                let Ok(mut buf) = free_rx.recv() else { return };
                let end = (start + BATCH_CHUNKS as u64).min(n);
                let msg = produce(start, end, &mut buf).map(|p| (start, p, buf));
                let stop = msg.is_err();
                if full_tx.send(msg).is_err() || stop {
                    return;
                }
                start = end;
            }
        });
        let writer = scope.spawn(move || -> Result<(), FormatError> {
            while let Ok((total, buf)) = out_rx.recv() {
                emit(&buf[..total])?;
                // The reader may already have finished; a closed channel is fine.
                let _ = free_tx.send(buf);
            }
            Ok(())
        });
        let mut result = Ok(());
        let mut done = 0u64;
        while done < n {
            let step = (|| {
                let (start, (total, after), mut buf) = full_rx
                    .recv()
                    .map_err(|_| FormatError::Internal("reader thread stopped"))??;
                crypt(start, &mut buf[..total])?;
                done = (start + BATCH_CHUNKS as u64).min(n);
                Ok::<_, FormatError>((total, buf, after))
            })();
            match step {
                Ok((total, buf, after)) => {
                    // A closed channel means the writer failed; its error is
                    // the one to report, below.
                    if out_tx.send((total, buf)).is_err() {
                        break;
                    }
                    if let Some(e) = after {
                        result = Err(e);
                        break;
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        drop(out_tx);
        drop(full_rx);
        // Every batch before the failing one went to the writer first: its
        // error, if any, comes earlier in the file.
        writer
            .join()
            .map_err(|_| FormatError::Internal("writer thread panicked"))??;
        result
    })
}

/// A header whose key commitment has been checked, ready to decrypt chunks.
pub struct OpenedHeader {
    header: Header,
    keys: FileKeys,
}

impl std::fmt::Debug for OpenedHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedHeader")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl OpenedHeader {
    /// The authenticated header.
    pub fn header(&self) -> &Header {
        &self.header
    }
}

fn try_identity(r: &Recipient, id: &KeySource) -> Result<Option<DataKey>, FormatError> {
    match (r, id) {
        (
            Recipient::Kek {
                kek_id,
                wrapped_key,
            },
            KeySource::Kek(k),
        ) => {
            if *kek_id != k.id() {
                return Ok(None);
            }
            kw_unwrap(k, wrapped_key)
        }
        (
            Recipient::Passphrase {
                salt,
                memory_kib,
                iterations,
                parallelism,
                wrapped_key,
            },
            KeySource::Passphrase { passphrase, .. },
        ) => {
            let max = Argon2Settings::MAX_OPEN;
            if *memory_kib > max.memory_kib
                || *iterations > max.iterations
                || *parallelism > max.parallelism
            {
                return Err(invalid("argon2id parameters exceed the accepted maximum"));
            }
            let salt = decode_b64(salt, "salt")?;
            if salt.len() < 16 {
                return Err(invalid("argon2id salt shorter than 16 bytes"));
            }
            let settings = Argon2Settings {
                memory_kib: *memory_kib,
                iterations: *iterations,
                parallelism: *parallelism,
            };
            let kek =
                argon2_kek(passphrase, &salt, settings).map_err(|e| invalid(e.to_string()))?;
            kw_unwrap(&kek, wrapped_key)
        }
        (Recipient::Kms { wrapped_key, .. }, KeySource::Kms(cmd)) => {
            let w = decode_b64(wrapped_key, "wrapped_key")?;
            if w.is_empty() || w.len() > MAX_KMS_BYTES {
                return Err(invalid("kms wrapped_key length out of range"));
            }
            let out = run_kms(cmd, "unwrap", &w)?;
            if out.len() != 32 {
                return Err(FormatError::Kms {
                    program: cmd.program.display().to_string(),
                    op: "unwrap",
                    reason: format!("returned {} bytes, expected a 32-byte key", out.len()),
                });
            }
            let mut dk = Zeroizing::new([0u8; 32]);
            dk.copy_from_slice(&out);
            Ok(Some(dk))
        }
        _ => Ok(None),
    }
}

/// Reads the magic bytes and the header's length and JSON, checking the framing; returns
/// the header's bytes. The one reader of a sealed file's framing.
fn read_header_json<R: Read>(reader: &mut R) -> Result<Vec<u8>, FormatError> {
    let mut magic = [0u8; 16];
    let got = read_full(reader, &mut magic)?;
    if got < MAGIC.len() {
        return Err(if magic[..got] == MAGIC[..got] {
            FormatError::TruncatedHeader
        } else {
            FormatError::BadMagic
        });
    }
    if &magic != MAGIC {
        return Err(FormatError::BadMagic);
    }
    let mut len = [0u8; 4];
    read_exact_or(reader, &mut len, FormatError::TruncatedHeader)?;
    let len = u32::from_be_bytes(len);
    if len == 0 || len > MAX_HEADER_LEN {
        return Err(FormatError::HeaderLength {
            len,
            max: MAX_HEADER_LEN,
        });
    }
    let mut json = vec![0u8; len as usize];
    read_exact_or(reader, &mut json, FormatError::TruncatedHeader)?;
    Ok(json)
}

/// Reads and parses a sealed file's header without a key and without reading the
/// chunks, for describing a file (its recipients, suite, content type and size).
///
/// **Nothing in it is authenticated**: the key commitment that binds the header is only
/// checked when a key opens it ([`open_header`]), so use this for listings (the model
/// card, whose release signature covers the whole file) and never to decide how to
/// decrypt.
pub fn peek_header<R: Read>(reader: &mut R) -> Result<Header, FormatError> {
    parse_header(&read_header_json(reader)?)
}

/// Reads the header and commitment, unwraps the data key with one of
/// `identities` and checks the key commitment in constant time. No chunk is
/// touched.
pub fn open_header<R: Read>(
    reader: &mut R,
    identities: &[KeySource],
) -> Result<OpenedHeader, FormatError> {
    let json = read_header_json(reader)?;
    let mut commitment = [0u8; COMMITMENT_SIZE];
    read_exact_or(reader, &mut commitment, FormatError::TruncatedHeader)?;
    let header = parse_header(&json)?;
    let prefix = header_prefix(&json);

    let mut tried = 0usize;
    let mut unwrapped_any = false;
    let mut kms_error = None;
    for r in &header.recipients {
        for id in identities {
            let dk = match try_identity(r, id) {
                Ok(Some(dk)) => dk,
                Ok(None) => {
                    tried += 1;
                    continue;
                }
                Err(e @ FormatError::Kms { .. }) => {
                    kms_error = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            tried += 1;
            unwrapped_any = true;
            let keys = derive(&dk, &prefix)?;
            if bool::from(keys.commitment[..].ct_eq(&commitment[..])) {
                return Ok(OpenedHeader { header, keys });
            }
        }
    }
    if unwrapped_any {
        return Err(FormatError::CommitmentMismatch);
    }
    Err(kms_error.unwrap_or(FormatError::NoMatchingRecipient { tried }))
}

/// Decrypts the chunks after [`open_header`], handing the plaintext of each
/// verified batch to `sink` as one slice per chunk (ready for a vectored
/// write). The sink sees plaintext only from batches whose every chunk passed
/// authentication, but a later chunk may still fail: callers that must not
/// expose partial plaintext buffer it (as [`decrypt_to_vec`] does) or write
/// it to a file that has no name yet (as `unseal_file` does). The sink runs
/// on a writer thread while the next batch is decrypted.
pub fn decrypt_body<R: Read + Send>(
    reader: &mut R,
    opened: &OpenedHeader,
    mut sink: impl FnMut(&mut [IoSlice<'_>]) -> Result<(), FormatError> + Send,
) -> Result<SealInfo, FormatError> {
    let size = opened.header.plaintext_size;
    let n = chunk_count(size);
    let expected = body_len(size);
    let mut consumed = 0u64;
    let produce = move |start: u64, end: u64, buf: &mut [u8]| -> Result<Produced, FormatError> {
        let total: usize = (start..end)
            .map(|i| chunk_plain_len(size, i) + TAG_SIZE)
            .sum();
        let got = read_full(reader, &mut buf[..total])?;
        consumed += got as u64;
        if got < total {
            return Err(FormatError::Truncated {
                expected,
                found: consumed,
            });
        }
        let mut probe = [0u8; 1];
        if end == n && read_full(reader, &mut probe)? != 0 {
            return Ok((total, Some(FormatError::TrailingData)));
        }
        Ok((total, None))
    };
    let open = |start: u64, buf: &mut [u8]| -> Result<(), FormatError> {
        let ok = buf
            .par_chunks_mut(SLOT)
            .enumerate()
            .map(|(j, slot)| {
                let i = start + j as u64;
                let len = slot.len() - TAG_SIZE;
                let (ct, tag) = slot.split_at_mut(len);
                opened
                    .keys
                    .cipher
                    .open_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce(i, i + 1 == n)),
                        Aad::empty(),
                        tag,
                        ct,
                    )
                    .is_ok()
            })
            .collect::<Vec<_>>();
        if let Some(j) = ok.iter().position(|ok| !ok) {
            return Err(FormatError::ChunkAuthentication {
                index: start + j as u64,
            });
        }
        Ok(())
    };
    pipeline(n, produce, open, |buf: &[u8]| {
        let mut slices: Vec<IoSlice<'_>> = buf
            .chunks(SLOT)
            .map(|slot| IoSlice::new(&slot[..slot.len() - TAG_SIZE]))
            .collect();
        sink(&mut slices)
    })?;
    Ok(SealInfo {
        header: opened.header.clone(),
        chunks: n,
    })
}

/// Writes a batch of plaintext slices from [`decrypt_body`] to `w` with
/// vectored writes.
pub fn write_slices<W: Write + ?Sized>(
    w: &mut W,
    slices: &mut [IoSlice<'_>],
) -> Result<(), FormatError> {
    write_vectored_all(w, slices).map_err(FormatError::Io)
}

/// Decrypts a whole sealed stream into memory. The plaintext is returned only
/// after every chunk verified; on any failure it is zeroized and dropped.
/// `size_hint` (the sealed file's length, when known) bounds the allocation a
/// header can request.
pub fn decrypt_to_vec<R: Read + Send>(
    mut reader: R,
    identities: &[KeySource],
    size_hint: Option<u64>,
) -> Result<(Zeroizing<Vec<u8>>, SealInfo), FormatError> {
    let opened = open_header(&mut reader, identities)?;
    let size = opened.header.plaintext_size;
    // Reserve once so the vector never reallocates (a reallocation would leave
    // an unzeroized copy of plaintext behind).
    let cap = match size_hint {
        Some(h) => size.min(h),
        None => size.min(1 << 30),
    };
    let mut out = ZeroizingBuf::with_capacity(cap as usize);
    let info = decrypt_body(&mut reader, &opened, |slices| {
        for pt in slices.iter() {
            out.extend(pt);
        }
        Ok(())
    })?;
    Ok((out.into_inner(), info))
}

/// A growable buffer whose every abandoned allocation is zeroized.
struct ZeroizingBuf(Zeroizing<Vec<u8>>);

impl ZeroizingBuf {
    fn with_capacity(c: usize) -> Self {
        Self(Zeroizing::new(Vec::with_capacity(c)))
    }

    fn extend(&mut self, data: &[u8]) {
        let need = self.0.len() + data.len();
        if need > self.0.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(need.max(self.0.capacity() * 2)));
            bigger.extend_from_slice(&self.0);
            self.0 = bigger; // the old allocation is zeroized on drop
        }
        self.0.extend_from_slice(data);
    }

    fn into_inner(self) -> Zeroizing<Vec<u8>> {
        self.0
    }
}

/// Decrypts and authenticates every chunk, discarding the plaintext.
pub fn verify<R: Read + Send>(
    mut reader: R,
    identities: &[KeySource],
) -> Result<SealInfo, FormatError> {
    let opened = open_header(&mut reader, identities)?;
    decrypt_body(&mut reader, &opened, |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/FORMAT.md ("Key material in memory") argues from the source of
    /// these exact versions that AWS-LC zeroizes the AES-GCM key schedule
    /// when a [`FileKeys`] is dropped. A different version must be re-read
    /// before this test is updated.
    #[test]
    fn aead_library_version_is_the_audited_one() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
                .expect("workspace Cargo.lock");
        let version = |name: &str| {
            let mut lines = lock.lines();
            while let Some(l) = lines.next() {
                if l == format!("name = \"{name}\"") {
                    return lines.next().map(str::to_owned);
                }
            }
            None
        };
        assert_eq!(
            version("aws-lc-rs").as_deref(),
            Some("version = \"1.19.0\"")
        );
        assert_eq!(
            version("aws-lc-sys").as_deref(),
            Some("version = \"0.47.0\"")
        );
    }

    /// Short vectored writes and empty slices anywhere are handled.
    #[test]
    fn write_slices_survives_short_writes_and_empty_slices() {
        struct Trickle(Vec<u8>);
        impl Write for Trickle {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                let n = buf.len().min(3);
                self.0.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let parts: [&[u8]; 5] = [b"", b"abcd", b"", b"efghijk", b""];
        let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        let mut w = Trickle(Vec::new());
        write_slices(&mut w, &mut slices).unwrap();
        assert_eq!(w.0, b"abcdefghijk");
        let mut none = [IoSlice::new(b""), IoSlice::new(b"")];
        write_slices(&mut w, &mut none).unwrap();
        assert_eq!(w.0, b"abcdefghijk");
    }

    /// The AEAD matches the format: a chunk sealed by aws-lc-rs opens with
    /// the same nonce and fails with any other (index or last flag).
    #[test]
    fn chunk_nonce_binds_index_and_last_flag() {
        let dk: DataKey = Zeroizing::new([9u8; 32]);
        let keys = derive(&dk, b"prefix").unwrap();
        let mut buf = *b"sixteen bytes!!!";
        let tag = keys
            .cipher
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce(5, false)),
                Aad::empty(),
                &mut buf,
            )
            .unwrap();
        for (i, last) in [(5, true), (4, false), (6, false)] {
            let mut b = buf;
            assert!(
                keys.cipher
                    .open_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce(i, last)),
                        Aad::empty(),
                        tag.as_ref(),
                        &mut b,
                    )
                    .is_err()
            );
        }
        keys.cipher
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce(5, false)),
                Aad::empty(),
                tag.as_ref(),
                &mut buf,
            )
            .unwrap();
        assert_eq!(&buf, b"sixteen bytes!!!");
    }
}
