//! GGUF (v2/v3) reading, dequantisation and import into a Hugging Face model directory.
//!
//! The parser treats the file as untrusted: every length and offset is checked before use,
//! allocations are bounded by the file size, and arbitrary bytes produce an error, never a
//! panic. Tensor data is read per tensor with positioned reads.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use half::f16;

use crate::error::{ModelError, Result, read_err, write_err};
use crate::safetensors::{OwnedTensor, write_safetensors};

const MAGIC: &[u8; 4] = b"GGUF";
/// Bound on array lengths and string sizes in metadata, on top of the file-size check.
const MAX_ITEMS: u64 = 1 << 28;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Unsigned integer (u8..u64).
    U(u64),
    /// Signed integer (i8..i64).
    I(i64),
    /// Float (f32 or f64).
    F(f64),
    /// Boolean.
    Bool(bool),
    /// UTF-8 string (invalid UTF-8 is replaced).
    Str(String),
    /// Array of values.
    Array(Vec<Value>),
}

impl Value {
    /// As an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::U(v) => Some(*v),
            Value::I(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }
    /// As a float, if numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F(v) => Some(*v),
            Value::U(v) => Some(*v as f64),
            Value::I(v) => Some(*v as f64),
            _ => None,
        }
    }
    /// As a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// ggml tensor types this importer dequantises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    /// f32.
    F32,
    /// f16.
    F16,
    /// bf16.
    BF16,
    /// 32-value blocks: f16 scale, 4-bit values offset by 8.
    Q4_0,
    /// 32-value blocks: f16 scale and minimum, 4-bit values.
    Q4_1,
    /// 32-value blocks: f16 scale, 5-bit values offset by 16.
    Q5_0,
    /// 32-value blocks: f16 scale and minimum, 5-bit values.
    Q5_1,
    /// 32-value blocks: f16 scale, i8 values.
    Q8_0,
    /// 256-value super-blocks with 6-bit sub-block scales and 4-bit values.
    Q4K,
    /// 256-value super-blocks, 6-bit values with i8 sub-block scales.
    Q6K,
}

impl GgmlType {
    fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            6 => GgmlType::Q5_0,
            7 => GgmlType::Q5_1,
            8 => GgmlType::Q8_0,
            12 => GgmlType::Q4K,
            14 => GgmlType::Q6K,
            30 => GgmlType::BF16,
            _ => return None,
        })
    }

    /// (values per block, bytes per block).
    fn block(self) -> (usize, usize) {
        match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 | GgmlType::BF16 => (1, 2),
            GgmlType::Q4_0 => (32, 18),
            GgmlType::Q4_1 => (32, 20),
            GgmlType::Q5_0 => (32, 22),
            GgmlType::Q5_1 => (32, 24),
            GgmlType::Q8_0 => (32, 34),
            GgmlType::Q4K => (256, 144),
            GgmlType::Q6K => (256, 210),
        }
    }
}

/// A tensor's description in the GGUF header.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    /// llama.cpp name (`blk.0.attn_q.weight`).
    pub name: String,
    /// Shape in HF order (outermost first; GGUF stores it innermost first).
    pub shape: Vec<usize>,
    /// Element type.
    pub ty: GgmlType,
    /// Absolute offset of the data.
    offset: u64,
    /// Byte length.
    len: usize,
}

/// An opened GGUF file: metadata and tensor table.
#[derive(Debug)]
pub struct GgufFile {
    path: PathBuf,
    file: File,
    /// Metadata key/value pairs.
    pub metadata: BTreeMap<String, Value>,
    /// Tensors in file order.
    pub tensors: Vec<TensorInfo>,
}

struct Cursor<'a, R: Read> {
    r: &'a mut R,
    remaining: u64,
    path: &'a Path,
}

impl<R: Read> Cursor<'_, R> {
    fn err(&self, m: impl Into<String>) -> ModelError {
        ModelError::Format {
            path: self.path.to_path_buf(),
            message: m.into(),
        }
    }
    fn bytes(&mut self, n: u64) -> Result<Vec<u8>> {
        if n > self.remaining {
            return Err(self.err(format!("header wants {n} more bytes than the file holds")));
        }
        let mut buf = vec![0u8; n as usize];
        self.r
            .read_exact(&mut buf)
            .map_err(|_| self.err("truncated header"))?;
        self.remaining -= n;
        Ok(buf)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        let v = self.bytes(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&v);
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    fn string(&mut self) -> Result<String> {
        let n = self.u64()?;
        if n > MAX_ITEMS {
            return Err(self.err(format!("string of {n} bytes is implausible")));
        }
        Ok(String::from_utf8_lossy(&self.bytes(n)?).into_owned())
    }
    fn value(&mut self, ty: u32, depth: u32) -> Result<Value> {
        Ok(match ty {
            0 => Value::U(u64::from(self.arr::<1>()?[0])),
            1 => Value::I(i64::from(i8::from_le_bytes(self.arr()?))),
            2 => Value::U(u64::from(u16::from_le_bytes(self.arr()?))),
            3 => Value::I(i64::from(i16::from_le_bytes(self.arr()?))),
            4 => Value::U(u64::from(self.u32()?)),
            5 => Value::I(i64::from(i32::from_le_bytes(self.arr()?))),
            6 => Value::F(f64::from(f32::from_le_bytes(self.arr()?))),
            7 => Value::Bool(self.arr::<1>()?[0] != 0),
            8 => Value::Str(self.string()?),
            9 => {
                if depth > 2 {
                    return Err(self.err("metadata arrays nested too deeply"));
                }
                let inner = self.u32()?;
                let n = self.u64()?;
                // Every element takes at least one byte.
                if n > MAX_ITEMS || n > self.remaining {
                    return Err(self.err(format!("array of {n} items exceeds the file")));
                }
                // Grow with what is actually parsed, not with what the header claims.
                let mut out = Vec::with_capacity((n as usize).min(1 << 16));
                for _ in 0..n {
                    out.push(self.value(inner, depth + 1)?);
                }
                Value::Array(out)
            }
            10 => Value::U(self.u64()?),
            11 => Value::I(i64::from_le_bytes(self.arr()?)),
            12 => Value::F(f64::from_le_bytes(self.arr()?)),
            other => return Err(self.err(format!("unknown metadata value type {other}"))),
        })
    }
}

impl GgufFile {
    /// Opens and parses the header of a GGUF v2 or v3 file.
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = File::open(path).map_err(read_err(path))?;
        let file_len = file.metadata().map_err(read_err(path))?.len();
        let mut reader = std::io::BufReader::new(&mut file);
        let mut c = Cursor {
            r: &mut reader,
            remaining: file_len,
            path,
        };
        if &c.arr::<4>()? != MAGIC {
            return Err(c.err("not a GGUF file (bad magic)"));
        }
        let version = c.u32()?;
        if !(2..=3).contains(&version) {
            return Err(c.err(format!("GGUF version {version} is not supported (2 or 3)")));
        }
        let n_tensors = c.u64()?;
        let n_kv = c.u64()?;
        if n_tensors > MAX_ITEMS || n_kv > MAX_ITEMS || n_tensors + n_kv > c.remaining {
            return Err(c.err("tensor or metadata count exceeds the file"));
        }
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = c.string()?;
            let ty = c.u32()?;
            let v = c.value(ty, 0)?;
            metadata.insert(key, v);
        }
        struct Raw {
            name: String,
            dims: Vec<u64>,
            ty: u32,
            offset: u64,
        }
        let mut raws = Vec::with_capacity((n_tensors as usize).min(1 << 16));
        for _ in 0..n_tensors {
            let name = c.string()?;
            let nd = c.u32()?;
            if nd == 0 || nd > 4 {
                return Err(c.err(format!("tensor `{name}`: {nd} dimensions (1..=4 allowed)")));
            }
            let mut dims = Vec::with_capacity(nd as usize);
            for _ in 0..nd {
                dims.push(c.u64()?);
            }
            let ty = c.u32()?;
            let offset = c.u64()?;
            raws.push(Raw {
                name,
                dims,
                ty,
                offset,
            });
        }
        let header_end = file_len - c.remaining;
        let alignment = match metadata.get("general.alignment") {
            None => 32,
            Some(v) => match v.as_u64() {
                Some(a) if a.is_power_of_two() && a <= 1 << 16 => a,
                _ => return Err(c.err("general.alignment must be a power of two <= 65536")),
            },
        };
        let data_start = header_end.div_ceil(alignment) * alignment;
        let mut tensors = Vec::with_capacity(raws.len());
        for r in raws {
            let bad = |m: String| ModelError::Tensor {
                path: path.to_path_buf(),
                tensor: r.name.clone(),
                message: m,
            };
            let ty = GgmlType::from_id(r.ty).ok_or_else(|| {
                bad(format!(
                    "ggml type {} is not supported (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q6_K are)",
                    r.ty
                ))
            })?;
            let mut numel = 1usize;
            for d in &r.dims {
                let d = usize::try_from(*d).map_err(|_| bad("dimension overflows".into()))?;
                numel = numel
                    .checked_mul(d)
                    .ok_or_else(|| bad("shape overflows".into()))?;
            }
            let (per_block, block_bytes) = ty.block();
            let inner = r.dims[0] as usize;
            if numel == 0 || !inner.is_multiple_of(per_block) {
                return Err(bad(format!(
                    "inner dimension {inner} is not a multiple of the {per_block}-value block"
                )));
            }
            let len = (numel / per_block)
                .checked_mul(block_bytes)
                .ok_or_else(|| bad("size overflows".into()))?;
            let offset = data_start
                .checked_add(r.offset)
                .filter(|o| o.checked_add(len as u64).is_some_and(|e| e <= file_len))
                .ok_or_else(|| bad("data lies outside the file".into()))?;
            tensors.push(TensorInfo {
                name: r.name,
                shape: r.dims.iter().rev().map(|&d| d as usize).collect(),
                ty,
                offset,
                len,
            });
        }
        drop(reader);
        Ok(Self {
            path: path.to_path_buf(),
            file,
            metadata,
            tensors,
        })
    }

    /// Reads and dequantises one tensor to f32 (row-major in `info.shape`).
    pub fn read_f32(&mut self, info: &TensorInfo) -> Result<Vec<f32>> {
        let mut raw = vec![0u8; info.len];
        self.file
            .seek(SeekFrom::Start(info.offset))
            .and_then(|_| self.file.read_exact(&mut raw))
            .map_err(read_err(&self.path))?;
        Ok(dequantize(info.ty, &raw))
    }

    fn meta_u(&self, key: &str) -> Result<usize> {
        self.metadata
            .get(key)
            .and_then(Value::as_u64)
            .map(|v| v as usize)
            .ok_or_else(|| self.missing(key))
    }

    fn missing(&self, key: &str) -> ModelError {
        ModelError::Format {
            path: self.path.clone(),
            message: format!("metadata `{key}` is missing or not a number"),
        }
    }
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Dequantises whole blocks of `ty`; `raw.len()` must be a multiple of the block size.
pub fn dequantize(ty: GgmlType, raw: &[u8]) -> Vec<f32> {
    let (per, bytes) = ty.block();
    let mut out = Vec::with_capacity(raw.len() / bytes * per);
    match ty {
        GgmlType::F32 => out.extend(
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ),
        GgmlType::F16 => out.extend(raw.chunks_exact(2).map(|c| f16_at(c, 0))),
        GgmlType::BF16 => out.extend(
            raw.chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()),
        ),
        GgmlType::Q4_0 | GgmlType::Q4_1 => {
            for b in raw.chunks_exact(bytes) {
                let d = f16_at(b, 0);
                let (m, qs, off) = if ty == GgmlType::Q4_1 {
                    (f16_at(b, 2), &b[4..20], 0.0)
                } else {
                    (0.0, &b[2..18], -8.0)
                };
                let mut block = [0f32; 32];
                for (j, q) in qs.iter().enumerate() {
                    block[j] = (f32::from(q & 0x0f) + off) * d + m;
                    block[j + 16] = (f32::from(q >> 4) + off) * d + m;
                }
                out.extend_from_slice(&block);
            }
        }
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            for b in raw.chunks_exact(bytes) {
                let d = f16_at(b, 0);
                let (m, rest, off) = if ty == GgmlType::Q5_1 {
                    (f16_at(b, 2), &b[4..], 0.0)
                } else {
                    (0.0, &b[2..], -16.0)
                };
                let qh = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
                let qs = &rest[4..20];
                let mut block = [0f32; 32];
                for (j, q) in qs.iter().enumerate() {
                    let h0 = ((qh >> j) & 1) << 4;
                    let h1 = ((qh >> (j + 16)) & 1) << 4;
                    block[j] = ((u32::from(q & 0x0f) | h0) as f32 + off) * d + m;
                    block[j + 16] = ((u32::from(q >> 4) | h1) as f32 + off) * d + m;
                }
                out.extend_from_slice(&block);
            }
        }
        GgmlType::Q8_0 => {
            for b in raw.chunks_exact(bytes) {
                let d = f16_at(b, 0);
                out.extend(b[2..34].iter().map(|&q| f32::from(q as i8) * d));
            }
        }
        GgmlType::Q4K => {
            for b in raw.chunks_exact(bytes) {
                let d = f16_at(b, 0);
                let dmin = f16_at(b, 2);
                let scales = &b[4..16];
                let qs = &b[16..144];
                let scale_min = |j: usize| -> (u8, u8) {
                    if j < 4 {
                        (scales[j] & 63, scales[j + 4] & 63)
                    } else {
                        (
                            (scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4),
                            (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4),
                        )
                    }
                };
                for chunk in 0..4 {
                    let q = &qs[chunk * 32..chunk * 32 + 32];
                    let (s1, m1) = scale_min(2 * chunk);
                    let (s2, m2) = scale_min(2 * chunk + 1);
                    let (d1, mm1) = (d * f32::from(s1), dmin * f32::from(m1));
                    let (d2, mm2) = (d * f32::from(s2), dmin * f32::from(m2));
                    out.extend(q.iter().map(|&x| d1 * f32::from(x & 0x0f) - mm1));
                    out.extend(q.iter().map(|&x| d2 * f32::from(x >> 4) - mm2));
                }
            }
        }
        GgmlType::Q6K => {
            for b in raw.chunks_exact(bytes) {
                let ql = &b[0..128];
                let qh = &b[128..192];
                let sc = &b[192..208];
                let d = f16_at(b, 208);
                let mut block = [0f32; 256];
                for half in 0..2 {
                    let (ql, qh, sc) = (&ql[half * 64..], &qh[half * 32..], &sc[half * 8..]);
                    let y = &mut block[half * 128..];
                    for l in 0..32 {
                        let is = l / 16;
                        let q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i32 - 32;
                        let q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                        let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                        let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                        y[l] = d * f32::from(sc[is] as i8) * q1 as f32;
                        y[l + 32] = d * f32::from(sc[is + 2] as i8) * q2 as f32;
                        y[l + 64] = d * f32::from(sc[is + 4] as i8) * q3 as f32;
                        y[l + 96] = d * f32::from(sc[is + 6] as i8) * q4 as f32;
                    }
                }
                out.extend_from_slice(&block);
            }
        }
    }
    out
}

/// Undoes llama.cpp's interleaving of q/k rows: GGUF stores each head's rows as
/// `[head_dim/2, 2]` pairs where HF has `[2, head_dim/2]` halves.
pub fn unpermute_rows(data: &[f32], rows: usize, cols: usize, n_head: usize) -> Vec<f32> {
    let hd = rows / n_head;
    let half = hd / 2;
    let mut out = vec![0f32; data.len()];
    for h in 0..n_head {
        for i in 0..half {
            for j in 0..2 {
                let src = h * hd + i * 2 + j;
                let dst = h * hd + j * half + i;
                out[dst * cols..(dst + 1) * cols]
                    .copy_from_slice(&data[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

/// Checks that the converted tensors are exactly those `config` needs, with their shapes.
fn check_tensor_set(
    config: &crate::config::LlamaConfig,
    tensors: &[OwnedTensor],
    path: &Path,
) -> Result<()> {
    let mut expected: BTreeMap<String, Vec<usize>> =
        crate::model::expected_tensors(config).into_iter().collect();
    let optional_head = config.tie_word_embeddings;
    for t in tensors {
        match expected.remove(&t.name) {
            Some(shape) if shape == t.shape => {}
            Some(shape) => {
                return Err(ModelError::Tensor {
                    path: path.to_path_buf(),
                    tensor: t.name.clone(),
                    message: format!("shape {:?}, the metadata implies {shape:?}", t.shape),
                });
            }
            None => {
                return Err(ModelError::Tensor {
                    path: path.to_path_buf(),
                    tensor: t.name.clone(),
                    message: "duplicated, or not implied by the metadata (llama.block_count?)"
                        .into(),
                });
            }
        }
    }
    if optional_head {
        expected.remove("lm_head.weight");
    }
    if let Some((name, _)) = expected.into_iter().next() {
        return Err(ModelError::Tensor {
            path: path.to_path_buf(),
            tensor: name,
            message: "missing from the GGUF file".into(),
        });
    }
    Ok(())
}

/// What [`import_gguf`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Number of tensors written.
    pub tensors: usize,
    /// Number of parameters written.
    pub parameters: usize,
    /// Tensor type names found in the file, with counts.
    pub source_types: BTreeMap<String, usize>,
    /// Files written into the output directory.
    pub files: Vec<PathBuf>,
}

fn hf_name(name: &str) -> Option<String> {
    Some(match name {
        "token_embd.weight" => "model.embed_tokens.weight".into(),
        "output_norm.weight" => "model.norm.weight".into(),
        "output.weight" => "lm_head.weight".into(),
        _ => {
            let rest = name.strip_prefix("blk.")?;
            let (layer, part) = rest.split_once('.')?;
            let layer: usize = layer.parse().ok()?;
            let hf = match part {
                "attn_norm.weight" => "input_layernorm.weight",
                "ffn_norm.weight" => "post_attention_layernorm.weight",
                "attn_q.weight" => "self_attn.q_proj.weight",
                "attn_k.weight" => "self_attn.k_proj.weight",
                "attn_v.weight" => "self_attn.v_proj.weight",
                "attn_output.weight" => "self_attn.o_proj.weight",
                "ffn_gate.weight" => "mlp.gate_proj.weight",
                "ffn_up.weight" => "mlp.up_proj.weight",
                "ffn_down.weight" => "mlp.down_proj.weight",
                _ => return None,
            };
            format!("model.layers.{layer}.{hf}")
        }
    })
}

/// Converts a llama-architecture GGUF file into a Hugging Face model directory:
/// `model.safetensors` (f32), `config.json`, `tokenizer.json`, `tokenizer_config.json`
/// (with the chat template) and `generation_config.json`.
pub fn import_gguf(path: &Path, out_dir: &Path) -> Result<ImportSummary> {
    let mut g = GgufFile::open(path)?;
    let arch = g
        .metadata
        .get("general.architecture")
        .and_then(Value::as_str)
        .unwrap_or("");
    if arch != "llama" {
        return Err(ModelError::Format {
            path: path.to_path_buf(),
            message: format!(
                "general.architecture is `{arch}`; only `llama` GGUF files can be imported"
            ),
        });
    }
    let hidden = g.meta_u("llama.embedding_length")?;
    let n_head = g.meta_u("llama.attention.head_count")?;
    let n_kv = match g.metadata.get("llama.attention.head_count_kv") {
        Some(v) => v
            .as_u64()
            .ok_or_else(|| g.missing("llama.attention.head_count_kv"))? as usize,
        None => n_head,
    };
    let n_layer = g.meta_u("llama.block_count")?;
    let ffn = g.meta_u("llama.feed_forward_length")?;
    let ctx = g.meta_u("llama.context_length")?;
    let eps = g
        .metadata
        .get("llama.attention.layer_norm_rms_epsilon")
        .and_then(Value::as_f64)
        .ok_or_else(|| g.missing("llama.attention.layer_norm_rms_epsilon"))?;
    let theta = g
        .metadata
        .get("llama.rope.freq_base")
        .and_then(Value::as_f64)
        .unwrap_or(10000.0);
    let tokenizer = crate::gguf_tokenizer::build(&g.metadata, &g.path)?;
    let vocab = tokenizer.vocab_size;
    if n_head == 0 || n_kv == 0 {
        return Err(g.missing("llama.attention.head_count"));
    }
    let head_dim = match g.metadata.get("llama.attention.key_length") {
        Some(v) => v.as_u64().unwrap_or(0) as usize,
        None => hidden / n_head,
    };
    if g.tensors.iter().any(|t| t.name == "rope_freqs.weight") {
        return Err(ModelError::Format {
            path: path.to_path_buf(),
            message: "rope_freqs.weight (llama3 rope scaling baked into the GGUF) is not supported; import the HF checkpoint instead".into(),
        });
    }
    let tied = !g.tensors.iter().any(|t| t.name == "output.weight");
    // f32 values in config.json: round-trip the f32 metadata through its shortest decimal.
    let eps = (eps as f32).to_string().parse::<f64>().unwrap_or(eps);
    let mut config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": ffn,
        "num_hidden_layers": n_layer,
        "num_attention_heads": n_head,
        "num_key_value_heads": n_kv,
        "head_dim": head_dim,
        "rms_norm_eps": eps,
        "rope_theta": theta,
        "max_position_embeddings": ctx,
        "tie_word_embeddings": tied,
        "hidden_act": "silu",
        "attention_bias": false,
        "mlp_bias": false,
        "torch_dtype": "float32",
    });
    for (key, val) in [
        ("bos_token_id", tokenizer.bos),
        ("eos_token_id", tokenizer.eos),
        ("pad_token_id", tokenizer.pad),
    ] {
        if let Some(v) = val {
            config[key] = v.into();
        }
    }
    // Validate before spending time on the weights.
    let cfg_path = out_dir.join("config.json");
    let hf: crate::config::HfConfig =
        serde_json::from_value(config.clone()).map_err(|source| ModelError::Json {
            path: cfg_path.clone(),
            source,
        })?;
    let llama = hf.validate(&cfg_path)?;

    std::fs::create_dir_all(out_dir).map_err(write_err(out_dir))?;
    let mut out = Vec::with_capacity(g.tensors.len());
    let mut source_types = BTreeMap::new();
    let infos = g.tensors.clone();
    for info in &infos {
        let name = hf_name(&info.name).ok_or_else(|| ModelError::Tensor {
            path: path.to_path_buf(),
            tensor: info.name.clone(),
            message: "not a tensor of a llama model".into(),
        })?;
        *source_types.entry(format!("{:?}", info.ty)).or_insert(0) += 1;
        let mut data = g.read_f32(info)?;
        let heads = if name.ends_with("q_proj.weight") {
            Some(n_head)
        } else if name.ends_with("k_proj.weight") {
            Some(n_kv)
        } else {
            None
        };
        if let Some(nh) = heads {
            let (rows, cols) = (info.shape[0], info.shape.get(1).copied().unwrap_or(1));
            if rows != nh * llama.head_dim {
                return Err(ModelError::Tensor {
                    path: path.to_path_buf(),
                    tensor: info.name.clone(),
                    message: format!("{rows} rows, expected {nh} heads x {}", llama.head_dim),
                });
            }
            data = unpermute_rows(&data, rows, cols, nh);
        }
        out.push(OwnedTensor {
            name,
            shape: info.shape.clone(),
            data,
        });
    }
    check_tensor_set(&llama, &out, path)?;
    let parameters = out.iter().map(|t| t.data.len()).sum();
    let write_json = |name: &str, v: &serde_json::Value| -> Result<PathBuf> {
        let p = out_dir.join(name);
        let text = serde_json::to_string_pretty(v).map_err(|source| ModelError::Json {
            path: p.clone(),
            source,
        })?;
        sealtune_pipeline::fsutil::atomic_write(&p, text.as_bytes()).map_err(write_err(&p))?;
        Ok(p)
    };
    let weights = out_dir.join("model.safetensors");
    write_safetensors(&weights, &out)?;
    let mut files = vec![weights];
    files.push(write_json("config.json", &config)?);
    files.push(write_json("tokenizer.json", &tokenizer.tokenizer_json)?);
    files.push(write_json(
        "tokenizer_config.json",
        &tokenizer.tokenizer_config,
    )?);
    let mut gen_cfg = serde_json::json!({});
    for (key, val) in [
        ("bos_token_id", tokenizer.bos),
        ("eos_token_id", tokenizer.eos),
        ("pad_token_id", tokenizer.pad),
    ] {
        if let Some(v) = val {
            gen_cfg[key] = v.into();
        }
    }
    files.push(write_json("generation_config.json", &gen_cfg)?);
    Ok(ImportSummary {
        tensors: out.len(),
        parameters,
        source_types,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_1_and_q8_0_blocks() {
        let mut b = Vec::new();
        b.extend_from_slice(&f16::from_f32(0.5).to_le_bytes());
        b.extend_from_slice(&f16::from_f32(-1.0).to_le_bytes());
        b.extend((0..16u8).map(|i| i | ((15 - i) << 4)));
        let v = dequantize(GgmlType::Q4_1, &b);
        assert_eq!(v[0], -1.0);
        assert_eq!(v[3], 0.5);
        assert_eq!(v[16], 6.5);
        let mut b = Vec::new();
        b.extend_from_slice(&f16::from_f32(0.25).to_le_bytes());
        b.extend((0..32i8).map(|i| (i - 16) as u8));
        let v = dequantize(GgmlType::Q8_0, &b);
        assert_eq!(v[0], -4.0);
        assert_eq!(v[31], 3.75);
        let mut b = Vec::new();
        b.extend_from_slice(&f16::from_f32(2.0).to_le_bytes());
        b.extend(std::iter::repeat_n(0x0f_u8, 16));
        let v = dequantize(GgmlType::Q4_0, &b);
        assert_eq!((v[0], v[16]), (14.0, -16.0));
    }

    #[test]
    fn unpermute_inverts_llama_cpp_permutation() {
        // llama.cpp: reshape(n_head, 2, hd/2, cols).swapaxes(1, 2)
        let (n_head, hd, cols) = (2, 4, 3);
        let rows = n_head * hd;
        let hf: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
        let mut gg = vec![0f32; hf.len()];
        for h in 0..n_head {
            for j in 0..2 {
                for i in 0..hd / 2 {
                    let src = h * hd + j * hd / 2 + i;
                    let dst = h * hd + i * 2 + j;
                    gg[dst * cols..(dst + 1) * cols]
                        .copy_from_slice(&hf[src * cols..(src + 1) * cols]);
                }
            }
        }
        assert_eq!(unpermute_rows(&gg, rows, cols, n_head), hf);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.gguf");
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..400usize {
            let mut bytes = b"GGUF".to_vec();
            bytes.extend_from_slice(&3u32.to_le_bytes());
            let small = |x: u64| x % 4;
            bytes.extend_from_slice(&small(next()).to_le_bytes());
            bytes.extend_from_slice(&small(next()).to_le_bytes());
            for _ in 0..(round % 97) {
                let r = next();
                // Mostly small numbers so the parser gets deep into the header.
                let b = if r % 3 == 0 {
                    (r >> 8) as u8
                } else {
                    (r % 13) as u8
                };
                bytes.push(b);
            }
            std::fs::write(&p, &bytes).unwrap();
            let _ = GgufFile::open(&p);
            let _ = import_gguf(&p, &dir.path().join("out"));
        }
    }
}
