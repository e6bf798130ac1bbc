//! Careful file creation: private modes, no overwrite, atomic publication.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::SealError;

#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

/// Creates `path` with `create_new` (never overwrites) and the given mode.
pub(crate) fn create_new(path: &Path, mode: u32) -> Result<File, SealError> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    o.mode(mode);
    #[cfg(not(unix))]
    let _ = mode;
    o.open(path).map_err(|source| SealError::CreateOutput {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a secret file after checking that group and others cannot read it.
pub(crate) fn read_secret(path: &Path, limit: u64) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let file = File::open(path).map_err(|e| SealError::io(path, e))?;
    let meta = file.metadata().map_err(|e| SealError::io(path, e))?;
    #[cfg(unix)]
    {
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(SealError::InsecurePermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    if !meta.is_file() {
        return Err(SealError::InvalidKey {
            path: path.to_path_buf(),
            reason: "not a regular file".into(),
        });
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(meta.len().min(limit) as usize + 1));
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| SealError::io(path, e))?;
    if buf.len() as u64 > limit {
        return Err(SealError::InvalidKey {
            path: path.to_path_buf(),
            reason: format!("larger than {limit} bytes"),
        });
    }
    Ok(buf)
}

/// A temporary sibling file that becomes `target` only through
/// [`AtomicFile::commit`]; dropped uncommitted, it is deleted.
#[derive(Debug)]
pub(crate) struct AtomicFile {
    tmp: PathBuf,
    target: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Refuses when `target` exists, then creates the temp sibling with `mode`.
    pub(crate) fn create(target: &Path, mode: u32) -> Result<Self, SealError> {
        if target.symlink_metadata().is_ok() {
            return Err(SealError::CreateOutput {
                path: target.to_path_buf(),
                source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            });
        }
        let name = target
            .file_name()
            .ok_or_else(|| SealError::Config {
                field: target.display().to_string(),
                reason: "output path has no file name".into(),
            })?
            .to_string_lossy()
            .into_owned();
        let mut rnd = [0u8; 8];
        getrandom::getrandom(&mut rnd).map_err(|e| SealError::Internal(e.to_string()))?;
        let tmp = target.with_file_name(format!(".{name}.tmp-{}", hex::encode(rnd)));
        let file = create_new(&tmp, mode)?;
        Ok(Self {
            tmp,
            target: target.to_path_buf(),
            file: Some(file),
        })
    }

    pub(crate) fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("file present until commit")
    }

    pub(crate) fn path(&self) -> &Path {
        &self.tmp
    }

    /// Flushes, fsyncs, publishes under the target name without ever
    /// replacing an existing file, and fsyncs the directory.
    pub(crate) fn commit(mut self) -> Result<(), SealError> {
        let mut file = self.file.take().expect("file present until commit");
        file.flush().map_err(|e| SealError::io(&self.tmp, e))?;
        file.sync_all().map_err(|e| SealError::io(&self.tmp, e))?;
        drop(file);
        // A hard link fails when the target exists, unlike rename.
        match std::fs::hard_link(&self.tmp, &self.target) {
            Ok(()) => {
                let _ = std::fs::remove_file(&self.tmp);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(SealError::CreateOutput {
                    path: self.target.clone(),
                    source: e,
                });
            }
            // File systems without hard links: check, then rename.
            Err(_) => {
                if self.target.symlink_metadata().is_ok() {
                    return Err(SealError::CreateOutput {
                        path: self.target.clone(),
                        source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
                    });
                }
                std::fs::rename(&self.tmp, &self.target).map_err(|source| {
                    SealError::CreateOutput {
                        path: self.target.clone(),
                        source,
                    }
                })?;
            }
        }
        if let Some(dir) = self.target.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() || self.tmp.exists() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
