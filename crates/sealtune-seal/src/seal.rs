//! File-level encryption commands: `seal`, `unseal`, load into memory, verify.

use std::fs::File;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{FormatError, SealError};
use crate::format::{self, SealInfo};
use crate::fsutil::{AtomicFile, BlockReader, DirectWriter};
use crate::keys::KeySource;

/// Content type recorded when none is given.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

fn sealed_err(path: &Path) -> impl Fn(FormatError) -> SealError + '_ {
    move |source| SealError::Sealed {
        path: path.to_path_buf(),
        source,
    }
}

fn open_input(path: &Path) -> Result<(BlockReader, u64), SealError> {
    let f = File::open(path).map_err(|e| SealError::io(path, e))?;
    let meta = f.metadata().map_err(|e| SealError::io(path, e))?;
    if !meta.is_file() {
        return Err(SealError::UnsupportedEntry {
            path: path.to_path_buf(),
            reason: "not a regular file".into(),
        });
    }
    let r = BlockReader::new(f, path, true).map_err(|e| SealError::io(path, e))?;
    Ok((r, meta.len()))
}

/// `sealtune seal`: encrypts `input` for every recipient into `output`
/// (created new, never overwritten, published only when complete).
pub fn seal_file(
    input: &Path,
    output: &Path,
    recipients: &[KeySource],
    content_type: Option<&str>,
) -> Result<SealInfo, SealError> {
    let (f, len) = open_input(input)?;
    let mut out = AtomicFile::create(output, 0o644)?;
    // The input is read in 4 MiB blocks from the page cache or, when not
    // cached, straight from the device (BlockReader); the output bypasses the
    // page cache (DirectWriter).
    let shown = out.path().to_path_buf();
    let mut w = DirectWriter::new(out.file());
    let info = format::encrypt(
        f,
        len,
        &mut w,
        recipients,
        content_type.unwrap_or(DEFAULT_CONTENT_TYPE),
    )
    .map_err(sealed_err(input))?;
    w.finish().map_err(|e| SealError::io(&shown, e))?;
    out.commit()?;
    Ok(info)
}

/// Encrypts `plaintext`, held in memory, for every recipient into `output`
/// (created new with `mode`, never overwritten, published only when
/// complete). Used for weights that must never touch the disk in clear:
/// the caller serialises them into memory and seals from there.
pub fn seal_bytes(
    plaintext: &[u8],
    output: &Path,
    recipients: &[KeySource],
    content_type: Option<&str>,
    mode: u32,
) -> Result<SealInfo, SealError> {
    let mut out = AtomicFile::create(output, mode)?;
    let shown = out.path().to_path_buf();
    let mut w = std::io::BufWriter::with_capacity(1 << 20, out.file());
    let info = format::encrypt(
        plaintext,
        plaintext.len() as u64,
        &mut w,
        recipients,
        content_type.unwrap_or(DEFAULT_CONTENT_TYPE),
    )
    .map_err(sealed_err(output))?;
    std::io::Write::flush(&mut w).map_err(|e| SealError::io(&shown, e))?;
    drop(w);
    out.commit()?;
    Ok(info)
}

/// `sealtune unseal`: decrypts `input` into `output`, a new file with mode
/// 0600. Plaintext goes to an unnamed temporary file (`O_TMPFILE`) in the
/// output's directory that is linked in as `output` only after every chunk
/// verified; on any failure or interruption it vanishes with the process.
/// (Where the file system has no `O_TMPFILE`, a named `.NAME.tmp-*` sibling
/// is used and deleted on failure; leftovers of killed runs are removed by
/// the next `unseal` to the same output.)
pub fn unseal_file(
    input: &Path,
    output: &Path,
    identities: &[KeySource],
) -> Result<SealInfo, SealError> {
    let (mut r, _) = open_input(input)?;
    let opened = format::open_header(&mut r, identities).map_err(sealed_err(input))?;
    let mut out = AtomicFile::create(output, 0o600)?;
    let shown = out.path().to_path_buf();
    let mut w = DirectWriter::new(out.file());
    let info = format::decrypt_body(&mut r, &opened, |slices| {
        format::write_slices(&mut w, slices)
    })
    .map_err(sealed_err(input))?;
    w.finish().map_err(|e| SealError::io(&shown, e))?;
    out.commit()?;
    Ok(info)
}

/// Decrypts a sealed file into memory (never onto disk). The plaintext is
/// returned only after every chunk verified and is zeroized on drop.
pub fn open_sealed(
    input: &Path,
    identities: &[KeySource],
) -> Result<(Zeroizing<Vec<u8>>, SealInfo), SealError> {
    let (f, len) = open_input(input)?;
    format::decrypt_to_vec(f, identities, Some(len)).map_err(sealed_err(input))
}

/// Checks the key commitment and every chunk's tag without keeping plaintext.
pub fn verify_sealed(input: &Path, identities: &[KeySource]) -> Result<SealInfo, SealError> {
    let (f, _) = open_input(input)?;
    format::verify(f, identities).map_err(sealed_err(input))
}
