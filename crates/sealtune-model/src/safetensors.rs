//! Reading and writing the safetensors format, single files and sharded checkpoints.
//!
//! The reader parses the header with checked arithmetic and then reads each tensor with one
//! positioned read straight into a buffer of the compute dtype, so loading holds at most one
//! stored tensor in its storage dtype besides the model itself (no whole-file copy; the
//! crate forbids `unsafe`, which rules out mmap).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{ModelError, Result, read_err, write_err};

/// Largest header we accept (the format's own limit is 100 MB).
const MAX_HEADER: u64 = 100 * 1024 * 1024;

/// Storage dtypes we can convert to f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredDtype {
    /// IEEE f32.
    F32,
    /// IEEE f16.
    F16,
    /// bfloat16.
    BF16,
}

impl StoredDtype {
    fn size(self) -> usize {
        match self {
            StoredDtype::F32 => 4,
            StoredDtype::F16 | StoredDtype::BF16 => 2,
        }
    }
}

/// One tensor's entry in a safetensors header.
#[derive(Debug, Clone)]
pub struct TensorEntry {
    /// Storage dtype.
    pub dtype: StoredDtype,
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// Absolute byte offset of the data in the file.
    offset: u64,
    /// Byte length of the data.
    len: usize,
}

#[derive(Deserialize)]
struct RawEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [u64; 2],
}

/// An open safetensors file with its parsed header.
#[derive(Debug)]
pub struct SafetensorsFile {
    path: PathBuf,
    file: File,
    entries: BTreeMap<String, TensorEntry>,
}

impl SafetensorsFile {
    /// Opens `path` and validates its header: every tensor lies inside the file and its byte
    /// length matches its shape and dtype.
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = File::open(path).map_err(read_err(path))?;
        let file_len = file.metadata().map_err(read_err(path))?.len();
        let entries = parse_header(&mut file, file_len, path)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            entries,
        })
    }

    /// The tensors in this file, by name.
    pub fn entries(&self) -> &BTreeMap<String, TensorEntry> {
        &self.entries
    }

    /// Reads one tensor converted to f32, with its shape.
    pub fn read_f32(&mut self, name: &str) -> Result<(Vec<f32>, Vec<usize>)> {
        let entry = self.entries.get(name).ok_or_else(|| ModelError::Tensor {
            path: self.path.clone(),
            tensor: name.to_owned(),
            message: "not in this file".into(),
        })?;
        let mut raw = vec![0u8; entry.len];
        self.file
            .seek(SeekFrom::Start(entry.offset))
            .and_then(|_| self.file.read_exact(&mut raw))
            .map_err(read_err(&self.path))?;
        let out = bytes_to_f32(&raw, entry.dtype);
        Ok((out, entry.shape.clone()))
    }
}

/// A safetensors file held in memory (e.g. decrypted from a sealed release:
/// it never touches the disk). `origin` names it in messages.
#[derive(Debug)]
pub struct SafetensorsBytes<'a> {
    origin: PathBuf,
    bytes: &'a [u8],
    entries: BTreeMap<String, TensorEntry>,
}

impl<'a> SafetensorsBytes<'a> {
    /// Parses and validates the header as [`SafetensorsFile::open`] does.
    pub fn parse(bytes: &'a [u8], origin: &Path) -> Result<Self> {
        let mut cur = std::io::Cursor::new(bytes);
        let entries = parse_header(&mut cur, bytes.len() as u64, origin)?;
        Ok(Self {
            origin: origin.to_path_buf(),
            bytes,
            entries,
        })
    }

    /// The tensors, by name.
    pub fn entries(&self) -> &BTreeMap<String, TensorEntry> {
        &self.entries
    }

    /// Reads `name` as f32 and checks its shape.
    pub fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let entry = self.entries.get(name).ok_or_else(|| ModelError::Tensor {
            path: self.origin.clone(),
            tensor: name.to_owned(),
            message: format!("missing; expected shape {shape:?}"),
        })?;
        if entry.shape != shape {
            return Err(ModelError::Tensor {
                path: self.origin.clone(),
                tensor: name.to_owned(),
                message: format!("shape {:?}, expected {shape:?}", entry.shape),
            });
        }
        // parse_header checked that offset + len lies inside the buffer.
        let start = entry.offset as usize;
        Ok(bytes_to_f32(
            &self.bytes[start..start + entry.len],
            entry.dtype,
        ))
    }
}

fn format_err(path: &Path, message: impl Into<String>) -> ModelError {
    ModelError::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn parse_header(
    reader: &mut impl Read,
    file_len: u64,
    path: &Path,
) -> Result<BTreeMap<String, TensorEntry>> {
    let mut len_bytes = [0u8; 8];
    reader
        .read_exact(&mut len_bytes)
        .map_err(|_| format_err(path, "shorter than the 8-byte safetensors header length"))?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER || header_len > file_len.saturating_sub(8) {
        return Err(format_err(
            path,
            format!("header length {header_len} exceeds the file or the 100 MB limit"),
        ));
    }
    let mut header = vec![0u8; header_len as usize];
    reader
        .read_exact(&mut header)
        .map_err(|_| format_err(path, "truncated header"))?;
    let raw: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| format_err(path, format!("header is not valid JSON: {e}")))?;
    let data_start = 8 + header_len;
    let data_len = file_len - data_start;
    let mut entries = BTreeMap::new();
    for (name, value) in raw {
        if name == "__metadata__" {
            continue;
        }
        let e: RawEntry = serde_json::from_value(value)
            .map_err(|err| format_err(path, format!("tensor `{name}`: bad header entry: {err}")))?;
        let dtype = match e.dtype.as_str() {
            "F32" => StoredDtype::F32,
            "F16" => StoredDtype::F16,
            "BF16" => StoredDtype::BF16,
            other => {
                return Err(ModelError::Tensor {
                    path: path.to_path_buf(),
                    tensor: name,
                    message: format!("dtype {other} is not supported; use F32, F16 or BF16"),
                });
            }
        };
        let numel = e
            .shape
            .iter()
            .try_fold(1usize, |acc, d| acc.checked_mul(*d))
            .ok_or_else(|| format_err(path, format!("tensor `{name}`: shape overflows")))?;
        let bytes = numel
            .checked_mul(dtype.size())
            .ok_or_else(|| format_err(path, format!("tensor `{name}`: size overflows")))?;
        let [begin, end] = e.data_offsets;
        if begin > end || end > data_len || (end - begin) as usize != bytes {
            return Err(ModelError::Tensor {
                path: path.to_path_buf(),
                tensor: name,
                message: format!(
                    "data_offsets [{begin}, {end}] do not match its shape ({bytes} bytes) or lie outside the file"
                ),
            });
        }
        entries.insert(
            name,
            TensorEntry {
                dtype,
                shape: e.shape,
                offset: data_start + begin,
                len: bytes,
            },
        );
    }
    Ok(entries)
}

/// Converts little-endian stored bytes to f32.
pub(crate) fn bytes_to_f32(raw: &[u8], dtype: StoredDtype) -> Vec<f32> {
    match dtype {
        StoredDtype::F32 => raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        StoredDtype::F16 => raw
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        StoredDtype::BF16 => raw
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
    }
}

/// A checkpoint: one safetensors file or the shards of `model.safetensors.index.json`.
#[derive(Debug)]
pub struct Checkpoint {
    root: PathBuf,
    files: Vec<SafetensorsFile>,
    /// tensor name -> index into `files`.
    index: BTreeMap<String, usize>,
}

#[derive(Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

impl Checkpoint {
    /// Opens the weights of a model directory: `model.safetensors.index.json` with its shards
    /// when present, else `model.safetensors`.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        let index_path = dir.join("model.safetensors.index.json");
        if index_path.exists() {
            let text = std::fs::read_to_string(&index_path).map_err(read_err(&index_path))?;
            let idx: ShardIndex =
                serde_json::from_str(&text).map_err(|source| ModelError::Json {
                    path: index_path.clone(),
                    source,
                })?;
            let mut shard_names: Vec<&String> = idx.weight_map.values().collect();
            shard_names.sort();
            shard_names.dedup();
            let mut files = Vec::new();
            let mut index = BTreeMap::new();
            for shard in shard_names {
                if shard.contains('/') || shard.contains('\\') || shard.starts_with('.') {
                    return Err(format_err(
                        &index_path,
                        format!("shard name `{shard}` must be a plain file name"),
                    ));
                }
                let f = SafetensorsFile::open(&dir.join(shard))?;
                for name in f.entries().keys() {
                    if index.insert(name.clone(), files.len()).is_some() {
                        return Err(ModelError::Tensor {
                            path: index_path.clone(),
                            tensor: name.clone(),
                            message: "stored in more than one shard".into(),
                        });
                    }
                }
                files.push(f);
            }
            for (name, shard) in &idx.weight_map {
                match index.get(name) {
                    Some(i) if files[*i].path.file_name() == Some(shard.as_ref()) => {}
                    _ => {
                        return Err(ModelError::Tensor {
                            path: index_path.clone(),
                            tensor: name.clone(),
                            message: format!("the index places it in `{shard}`, which lacks it"),
                        });
                    }
                }
            }
            Ok(Self {
                root: dir.to_path_buf(),
                files,
                index,
            })
        } else {
            Self::open_file(&dir.join("model.safetensors"))
        }
    }

    /// Opens a single safetensors file.
    pub fn open_file(path: &Path) -> Result<Self> {
        let f = SafetensorsFile::open(path)?;
        let index = f.entries().keys().map(|k| (k.clone(), 0)).collect();
        Ok(Self {
            root: path.to_path_buf(),
            files: vec![f],
            index,
        })
    }

    /// Where the weights came from (a file or a directory), for messages.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// All tensor names.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.index.keys()
    }

    /// The shape of a tensor, if present.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        let i = *self.index.get(name)?;
        self.files[i]
            .entries()
            .get(name)
            .map(|e| e.shape.as_slice())
    }

    /// Whether the checkpoint holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Reads `name` as f32 and checks its shape.
    pub fn read(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let i = *self.index.get(name).ok_or_else(|| ModelError::Tensor {
            path: self.root.clone(),
            tensor: name.to_owned(),
            message: format!("missing; expected shape {shape:?}"),
        })?;
        let (data, got) = self.files[i].read_f32(name)?;
        if got != shape {
            return Err(ModelError::Tensor {
                path: self.root.clone(),
                tensor: name.to_owned(),
                message: format!("shape {got:?}, expected {shape:?}"),
            });
        }
        Ok(data)
    }
}

/// A tensor to write: name, shape, f32 data.
#[derive(Debug, Clone)]
pub struct OwnedTensor {
    /// HF key.
    pub name: String,
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// Writes f32 tensors as one safetensors file (atomically: temp file, fsync, rename).
pub fn write_safetensors(path: &Path, tensors: &[OwnedTensor]) -> Result<()> {
    write_safetensors_mode(path, tensors, 0o666)
}

/// [`write_safetensors`], creating the file with `mode` (e.g. 0600 for plaintext weights
/// that only the owner may read).
pub fn write_safetensors_mode(path: &Path, tensors: &[OwnedTensor], mode: u32) -> Result<()> {
    let (header, sorted) = layout(path, tensors)?;
    sealtune_pipeline::fsutil::atomic_write_mode_with(path, mode, |w| {
        w.write_all(&header)?;
        for t in &sorted {
            let mut buf = Vec::with_capacity(t.data.len() * 4);
            for v in &t.data {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            w.write_all(&buf)?;
        }
        Ok(())
    })
    .map_err(write_err(path))
}

/// The bytes [`write_safetensors`] would write, in one allocation of exactly their size
/// (it never grows, so no partial copy is left behind in freed memory: wrap the result in
/// a zeroizing buffer and seal it, and the weights never touch the disk in clear).
/// `origin` names the would-be file in errors.
pub fn encode_safetensors(origin: &Path, tensors: &[OwnedTensor]) -> Result<Vec<u8>> {
    let (header, sorted) = layout(origin, tensors)?;
    let data: usize = sorted.iter().map(|t| 4 * t.data.len()).sum();
    let mut out = Vec::with_capacity(header.len() + data);
    out.extend_from_slice(&header);
    for t in &sorted {
        for v in &t.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    debug_assert_eq!(out.len(), out.capacity());
    Ok(out)
}

/// The length prefix and JSON header of a safetensors file holding `tensors`, and the
/// tensors in the order their data follows (sorted by name).
fn layout<'a>(path: &Path, tensors: &'a [OwnedTensor]) -> Result<(Vec<u8>, Vec<&'a OwnedTensor>)> {
    let mut sorted: Vec<&OwnedTensor> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({ "format": "pt" }));
    let mut offset = 0usize;
    for t in &sorted {
        let numel: usize = t.shape.iter().product();
        if numel != t.data.len() {
            return Err(ModelError::Tensor {
                path: path.to_path_buf(),
                tensor: t.name.clone(),
                message: format!("{} values for shape {:?}", t.data.len(), t.shape),
            });
        }
        let end = offset + 4 * numel;
        header.insert(
            t.name.clone(),
            serde_json::json!({ "dtype": "F32", "shape": t.shape, "data_offsets": [offset, end] }),
        );
        offset = end;
    }
    let mut header_bytes = serde_json::to_vec(&header).map_err(|source| ModelError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    while header_bytes.len() % 8 != 0 {
        header_bytes.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + header_bytes.len());
    out.extend_from_slice(&(header_bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(&header_bytes);
    Ok((out, sorted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_shape_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("model.safetensors");
        let t = OwnedTensor {
            name: "a.weight".into(),
            shape: vec![2, 3],
            data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5],
        };
        write_safetensors(&p, std::slice::from_ref(&t)).unwrap();
        let mut ck = Checkpoint::open_dir(dir.path()).unwrap();
        assert_eq!(ck.read("a.weight", &[2, 3]).unwrap(), t.data);
        let e = ck.read("a.weight", &[3, 2]).unwrap_err().to_string();
        assert!(e.contains("a.weight") && e.contains("shape"), "{e}");
        let e = ck.read("b.weight", &[1]).unwrap_err().to_string();
        assert!(e.contains("b.weight") && e.contains("missing"), "{e}");
    }

    #[test]
    fn encoded_bytes_are_the_written_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.safetensors");
        let ts = [
            OwnedTensor {
                name: "z.weight".into(),
                shape: vec![3],
                data: vec![1.0, -2.5, 3.25],
            },
            OwnedTensor {
                name: "a.weight".into(),
                shape: vec![1, 2],
                data: vec![0.5, 7.0],
            },
        ];
        write_safetensors(&p, &ts).unwrap();
        let bytes = encode_safetensors(&p, &ts).unwrap();
        assert_eq!(bytes, std::fs::read(&p).unwrap());
        let st = SafetensorsBytes::parse(&bytes, &p).unwrap();
        assert_eq!(st.read("z.weight", &[3]).unwrap(), ts[0].data);
        let bad = [OwnedTensor {
            name: "b".into(),
            shape: vec![2],
            data: vec![1.0],
        }];
        let e = encode_safetensors(&p, &bad).unwrap_err().to_string();
        assert!(e.contains("`b`") && e.contains("1 values"), "{e}");
    }

    #[test]
    fn sharded_index_loads_and_checks_placement() {
        let dir = tempfile::tempdir().unwrap();
        let t = |name: &str, v: f32| OwnedTensor {
            name: name.into(),
            shape: vec![2],
            data: vec![v, -v],
        };
        write_safetensors(
            &dir.path().join("model-00001-of-00002.safetensors"),
            &[t("a", 1.0)],
        )
        .unwrap();
        write_safetensors(
            &dir.path().join("model-00002-of-00002.safetensors"),
            &[t("b", 2.0), t("c", 3.0)],
        )
        .unwrap();
        let index = |map: serde_json::Value| {
            let v = serde_json::json!({ "metadata": {"total_size": 24}, "weight_map": map });
            std::fs::write(
                dir.path().join("model.safetensors.index.json"),
                v.to_string(),
            )
            .unwrap();
        };
        index(serde_json::json!({
            "a": "model-00001-of-00002.safetensors",
            "b": "model-00002-of-00002.safetensors",
            "c": "model-00002-of-00002.safetensors",
        }));
        let mut ck = Checkpoint::open_dir(dir.path()).unwrap();
        assert_eq!(ck.names().count(), 3);
        assert_eq!(ck.read("c", &[2]).unwrap(), vec![3.0, -3.0]);
        assert_eq!(ck.read("a", &[2]).unwrap(), vec![1.0, -1.0]);
        index(serde_json::json!({
            "a": "model-00002-of-00002.safetensors",
            "b": "model-00002-of-00002.safetensors",
            "c": "model-00002-of-00002.safetensors",
        }));
        let e = Checkpoint::open_dir(dir.path()).unwrap_err().to_string();
        assert!(e.contains("`a`"), "{e}");
        index(serde_json::json!({ "a": "../model-00001-of-00002.safetensors" }));
        assert!(Checkpoint::open_dir(dir.path()).is_err());
    }

    #[test]
    fn f16_and_bf16_convert() {
        let f16 = half::f16::from_f32(1.5).to_le_bytes();
        let bf16 = half::bf16::from_f32(-2.25).to_le_bytes();
        assert_eq!(bytes_to_f32(&f16, StoredDtype::F16), vec![1.5]);
        assert_eq!(bytes_to_f32(&bf16, StoredDtype::BF16), vec![-2.25]);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.safetensors");
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..300usize {
            let mut bytes = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                bytes.push(seed as u8);
            }
            if len >= 8 {
                let hl = (len as u64 - 8).min(seed % 64);
                bytes[..8].copy_from_slice(&hl.to_le_bytes());
            }
            std::fs::write(&p, &bytes).unwrap();
            let _ = SafetensorsFile::open(&p);
        }
        let header = br#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,64]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0; 16]);
        std::fs::write(&p, &bytes).unwrap();
        let e = SafetensorsFile::open(&p).unwrap_err().to_string();
        assert!(e.contains("`w`"), "{e}");
    }
}
