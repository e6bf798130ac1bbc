//! The ingest stage: validate, deduplicate and split the raw records, and
//! write an index of them (never a copy).
//!
//! Outputs in `ingest/`:
//! - `index.bin`: accepted records and their split (see [`crate::index`]);
//! - `report.json`: per-file SHA-256 and counts, totals, length statistics;
//! - `quarantine.jsonl`: with `on_invalid = "quarantine"`, one line per
//!   set-aside record: `{"file","line","reason"}`, never its content.
//!
//! The counts always add up: `read = accepted + duplicates + quarantined`.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};

use sealtune_pipeline::{Config, ConfigError, Exit, Stage, StageContext, StageError};

use crate::config::{CsvConfig, CsvKind, DataConfig, Format, OnInvalid};
use crate::index::{IndexEntry, IndexWriter, IndexedFile, Split};
use crate::reader::{HashingReader, Line, LineReader};
use crate::record::{JsonKind, Message, Record, Role, fast_digest, is_eval, validate_json};

/// Per-file counts in `report.json`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FileReport {
    /// Path as resolved from the config.
    pub path: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Records read (JSONL: non-blank lines; CSV: data rows).
    pub read: u64,
    /// Accepted (first occurrences of valid records).
    pub accepted: u64,
    /// Valid records whose content was already seen.
    pub duplicates: u64,
    /// Invalid records set aside.
    pub quarantined: u64,
    /// Blank lines skipped (JSONL only; not records).
    pub blank_lines: u64,
}

/// Character-length statistics of accepted records.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LengthStats {
    /// Shortest.
    pub min: u64,
    /// Longest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
}

/// Totals over all files.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Totals {
    /// Records read.
    pub read: u64,
    /// Accepted.
    pub accepted: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Quarantined.
    pub quarantined: u64,
    /// Accepted records in the train split.
    pub train: u64,
    /// Accepted records in the eval split.
    pub eval: u64,
}

/// One record that failed validation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    /// File path, relative to the config file.
    pub file: String,
    /// Index of the file in the input list.
    #[serde(skip)]
    pub file_index: usize,
    /// 1-based line.
    pub line: u64,
    /// What is wrong (never the content).
    pub reason: String,
}

/// `ingest/report.json`. Deterministic for the same inputs and config, so that
/// downstream stage keys do not change when ingest reruns.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// Always `sealtune.ingest-report/v1`.
    pub schema: &'static str,
    /// Record format.
    pub format: &'static str,
    /// Policy for invalid records.
    pub on_invalid: &'static str,
    /// Per-file counts.
    pub files: Vec<FileReport>,
    /// Totals.
    pub totals: Totals,
    /// Split settings.
    pub split: Value,
    /// Content length statistics, in characters.
    pub length_chars: LengthStats,
    /// The first invalid records (all of them are in `quarantine.jsonl`).
    pub quarantine_sample: Vec<Problem>,
}

/// Resolve `data.inputs` (paths and globs) into a sorted, de-duplicated list
/// of files. A pattern that matches nothing is a missing input (66).
pub fn resolve_inputs(cfg: &Config, data: &DataConfig) -> Result<Vec<PathBuf>, StageError> {
    let mut out: Vec<PathBuf> = Vec::new();
    for (i, pat) in data.inputs.iter().enumerate() {
        let full = cfg.resolve(Path::new(pat));
        let full_s = full.to_string_lossy().into_owned();
        let is_glob = pat.contains(['*', '?', '[']);
        let mut matched: Vec<PathBuf> = if is_glob {
            let paths = glob::glob(&full_s).map_err(|e| {
                StageError::from(cfg.error_at(
                    &format!("data.inputs[{i}]"),
                    format!("{pat:?} is not a valid glob: {e}"),
                ))
            })?;
            paths
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect()
        } else if full.is_file() {
            vec![full.clone()]
        } else if full.exists() {
            return Err(StageError::missing(format!(
                "{}: data.inputs[{i}] is not a regular file; give a file or a glob such as \"dir/*.jsonl\"",
                full.display()
            )));
        } else {
            vec![]
        };
        if matched.is_empty() {
            return Err(StageError::missing(format!(
                "{}: data.inputs[{i}] = {pat:?} {} (paths are relative to the config file's directory)",
                full.display(),
                if is_glob {
                    "matched no file"
                } else {
                    "does not exist"
                }
            )));
        }
        matched.sort();
        for m in matched {
            if !out.contains(&m) {
                out.push(m);
            }
        }
    }
    Ok(out)
}

/// Ingest options beyond the config.
pub struct IngestRun<'a> {
    /// The data config.
    pub data: &'a DataConfig,
    /// The files, in order.
    pub files: &'a [PathBuf],
    /// How each file is named in the report and index (stable across working
    /// directories: relative to the config file).
    pub names: &'a [String],
    /// Expected SHA-256 per file (from the stage key); a mismatch means the
    /// file changed while sealtune read it.
    pub expected_sha256: Option<&'a [String]>,
    /// Output directory.
    pub out_dir: &'a Path,
    /// Called with byte counts as files are read.
    pub on_bytes: &'a mut dyn FnMut(u64),
    /// Returns true when the run must stop.
    pub cancelled: &'a dyn Fn() -> bool,
}

impl std::fmt::Debug for IngestRun<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestRun")
            .field("files", &self.files)
            .field("out_dir", &self.out_dir)
            .finish()
    }
}

struct State<'w> {
    data: &'w DataConfig,
    seen: HashSet<[u8; 16]>,
    lengths: Vec<u32>,
    index: IndexWriter<BufWriter<File>>,
    quarantine: BufWriter<File>,
    problems_total: u64,
    problems_listed: Vec<Problem>,
    totals: Totals,
    file_index: usize,
}

impl State<'_> {
    fn problem(
        &mut self,
        fr: &mut FileReport,
        line: u64,
        reason: String,
    ) -> Result<(), StageError> {
        fr.read += 1;
        self.problems_total += 1;
        let p = Problem {
            file: fr.path.clone(),
            file_index: self.file_index,
            line,
            reason,
        };
        if self.data.on_invalid == OnInvalid::Quarantine {
            fr.quarantined += 1;
            let l = serde_json::to_string(&p).map_err(|e| StageError::internal(e.to_string()))?;
            writeln!(self.quarantine, "{l}")
                .map_err(|e| StageError::io("cannot write", Path::new("quarantine.jsonl"), e))?;
        }
        if self.problems_listed.len() < self.data.max_errors_listed {
            self.problems_listed.push(p);
        }
        Ok(())
    }

    fn accept(
        &mut self,
        fr: &mut FileReport,
        file_idx: u32,
        rec: &Record,
        ordinal: u64,
        line: u64,
        offset: u64,
    ) -> Result<(), StageError> {
        let (h, n) = (rec.content_hash(), rec.char_len());
        self.accept_digest(fr, file_idx, h, n, ordinal, line, offset)
    }

    #[allow(clippy::too_many_arguments)]
    fn accept_digest(
        &mut self,
        fr: &mut FileReport,
        file_idx: u32,
        h: [u8; 32],
        chars: usize,
        ordinal: u64,
        line: u64,
        offset: u64,
    ) -> Result<(), StageError> {
        fr.read += 1;
        let short: [u8; 16] = h[..16].try_into().expect("16");
        if self.data.dedup && !self.seen.insert(short) {
            fr.duplicates += 1;
            return Ok(());
        }
        fr.accepted += 1;
        let split = if is_eval(&h, self.data.split_seed, self.data.eval_fraction) {
            self.totals.eval += 1;
            Split::Eval
        } else {
            self.totals.train += 1;
            Split::Train
        };
        self.lengths.push(chars.min(u32::MAX as usize) as u32);
        self.index
            .push(&IndexEntry {
                file: file_idx,
                split,
                ordinal,
                line,
                offset,
                hash: short,
            })
            .map_err(|e| StageError::io("cannot write", Path::new("index.bin"), e))
    }
}

fn utf8_reason(bytes: &[u8]) -> Option<String> {
    match std::str::from_utf8(bytes) {
        Ok(_) => None,
        Err(e) => Some(format!(
            "not valid UTF-8 (invalid byte at column {})",
            e.valid_up_to() + 1
        )),
    }
}

fn json_reason(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    format!("invalid JSON at column {}: {msg}", e.column())
}

fn json_kind(f: Format) -> JsonKind {
    match f {
        Format::Chat => JsonKind::Chat,
        Format::Instruction => JsonKind::Instruction,
        _ => JsonKind::Text,
    }
}

/// Run ingest into `run.out_dir`. Returns the report and a summary.
pub fn ingest(run: IngestRun<'_>) -> Result<Report, StageError> {
    let data = run.data;
    let out = run.out_dir;
    let create = |name: &str| {
        let p = out.join(name);
        File::create(&p)
            .map(BufWriter::new)
            .map_err(|e| StageError::cant_create(&p, e))
    };
    let index = IndexWriter::new(create("index.bin")?)
        .map_err(|e| StageError::io("cannot write", &out.join("index.bin"), e))?;
    let mut st = State {
        data,
        seen: HashSet::new(),
        lengths: Vec::new(),
        index,
        quarantine: create("quarantine.jsonl")?,
        problems_total: 0,
        problems_listed: Vec::new(),
        totals: Totals::default(),
        file_index: 0,
    };
    let mut reports = Vec::new();
    let mut table = Vec::new();
    for (fi, path) in run.files.iter().enumerate() {
        let shown = run
            .names
            .get(fi)
            .cloned()
            .unwrap_or_else(|| path.display().to_string());
        let file = File::open(path).map_err(|e| StageError::io("cannot open input", path, e))?;
        let mut fr = FileReport {
            path: shown.clone(),
            ..Default::default()
        };
        st.file_index = fi;
        let sha = match data.format {
            Format::Csv => {
                let csv_cfg = data
                    .csv
                    .as_ref()
                    .ok_or_else(|| StageError::internal("csv mapping missing"))?;
                read_csv(
                    &mut st,
                    &mut fr,
                    fi as u32,
                    path,
                    &path.display().to_string(),
                    file,
                    csv_cfg,
                    &mut *run.on_bytes,
                    run.cancelled,
                )?
            }
            f => read_jsonl(
                &mut st,
                &mut fr,
                fi as u32,
                path,
                file,
                json_kind(f),
                &mut *run.on_bytes,
                run.cancelled,
            )?,
        };
        let sha_hex = hex::encode(sha.0);
        let actual = path.display().to_string();
        if let Some(exp) = run.expected_sha256.and_then(|e| e.get(fi))
            && *exp != sha_hex
        {
            return Err(StageError::new(
                Exit::TempFail,
                format!(
                    "{actual}: the file changed while sealtune was reading it; run again once it is stable"
                ),
            ));
        }
        fr.sha256 = sha_hex;
        fr.bytes = sha.1;
        if fr.read == 0 {
            return Err(StageError::data(format!(
                "{actual}:1: the file holds no records{}; remove it from data.inputs or add records",
                if fr.bytes == 0 {
                    " (it is empty)"
                } else {
                    " (only blank lines)"
                }
            )));
        }
        st.totals.read += fr.read;
        st.totals.accepted += fr.accepted;
        st.totals.duplicates += fr.duplicates;
        st.totals.quarantined += fr.quarantined;
        table.push(IndexedFile {
            path: shown,
            sha256: sha.0,
        });
        reports.push(fr);
    }
    if st.problems_total > 0 && data.on_invalid == OnInvalid::Fail {
        let mut msg = format!("{} invalid record(s)", st.problems_total);
        if st.problems_total as usize > st.problems_listed.len() {
            msg.push_str(&format!("; the first {}", st.problems_listed.len()));
        }
        msg.push(':');
        for p in &st.problems_listed {
            let actual = run
                .files
                .get(p.file_index)
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| p.file.clone());
            msg.push_str(&format!("\n  {actual}:{}: {}", p.line, p.reason));
        }
        msg.push_str("\nfix these records, or set data.on_invalid = \"quarantine\" to set invalid records aside and go on");
        return Err(StageError::data(msg));
    }
    if st.totals.accepted == 0 {
        return Err(StageError::data(
            "no valid record in any input file; nothing to train on",
        ));
    }
    debug_assert_eq!(
        st.totals.read,
        st.totals.accepted + st.totals.duplicates + st.totals.quarantined
    );
    st.index
        .finish(&table)
        .and_then(|mut w| w.flush())
        .map_err(|e| StageError::io("cannot write", &out.join("index.bin"), e))?;
    st.quarantine
        .flush()
        .map_err(|e| StageError::io("cannot write", &out.join("quarantine.jsonl"), e))?;
    let length_chars = length_stats(&mut st.lengths);
    let report = Report {
        schema: "sealtune.ingest-report/v1",
        format: data.format.as_str(),
        on_invalid: match data.on_invalid {
            OnInvalid::Fail => "fail",
            OnInvalid::Quarantine => "quarantine",
        },
        files: reports,
        totals: st.totals.clone(),
        split: json!({"eval_fraction": data.eval_fraction, "split_seed": data.split_seed, "method": "sha256(seed, content) < fraction"}),
        length_chars,
        quarantine_sample: st.problems_listed.clone(),
    };
    let bytes =
        serde_json::to_vec_pretty(&report).map_err(|e| StageError::internal(e.to_string()))?;
    std::fs::write(out.join("report.json"), bytes)
        .map_err(|e| StageError::io("cannot write", &out.join("report.json"), e))?;
    Ok(report)
}

fn length_stats(v: &mut [u32]) -> LengthStats {
    if v.is_empty() {
        return LengthStats::default();
    }
    v.sort_unstable();
    let n = v.len();
    let pct = |p: f64| v[(((n - 1) as f64) * p).round() as usize] as u64;
    LengthStats {
        min: v[0] as u64,
        max: v[n - 1] as u64,
        mean: v.iter().map(|&x| x as f64).sum::<f64>() / n as f64,
        p50: pct(0.5),
        p95: pct(0.95),
    }
}

#[allow(clippy::too_many_arguments)]
fn read_jsonl(
    st: &mut State<'_>,
    fr: &mut FileReport,
    fi: u32,
    path: &Path,
    file: File,
    kind: JsonKind,
    on_bytes: &mut dyn FnMut(u64),
    cancelled: &dyn Fn() -> bool,
) -> Result<([u8; 32], u64), StageError> {
    let hashing = HashingReader::new(file);
    let mut lines = LineReader::new(
        BufReader::with_capacity(1 << 20, hashing),
        st.data.max_record_bytes as usize,
    );
    let mut ordinal = 0u64;
    let mut last_bytes = 0u64;
    let mut pos = 0u64;
    for iteration in 1u64.. {
        // A safe point every 1024 lines: progress, and stop when asked.
        if iteration.is_multiple_of(1024) {
            if cancelled() {
                return Err(StageError::interrupted());
            }
            on_bytes(pos - last_bytes);
            last_bytes = pos;
        }
        let next = lines
            .next_line()
            .map_err(|e| StageError::io("cannot read input", path, e))?;
        let Some((line_no, offset, line)) = next else {
            break;
        };
        pos = offset;
        match line {
            Line::TooLong { len } => {
                let reason = format!(
                    "record is {len} bytes, over data.max_record_bytes = {}; it was not read (raise the limit or split the record)",
                    st.data.max_record_bytes
                );
                ordinal += 1;
                st.problem(fr, line_no, reason)?;
            }
            Line::Ok(bytes) => {
                if bytes.iter().all(|b| b.is_ascii_whitespace()) {
                    fr.blank_lines += 1;
                    continue;
                }
                let this = ordinal;
                ordinal += 1;
                if let Some((h, n)) = fast_digest(bytes, kind) {
                    st.accept_digest(fr, fi, h, n, this, line_no, offset)?;
                    continue;
                }
                // Slow path: find out exactly what is wrong (or accept what the
                // fast path leaves to it, such as duplicate keys).
                if let Some(r) = utf8_reason(bytes) {
                    st.problem(fr, line_no, r)?;
                    continue;
                }
                let parsed = serde_json::from_slice::<Value>(bytes)
                    .map_err(|e| json_reason(&e))
                    .and_then(|v| validate_json(v, kind));
                match parsed {
                    Ok(rec) => st.accept(fr, fi, &rec, this, line_no, offset)?,
                    Err(reason) => st.problem(fr, line_no, reason)?,
                }
            }
        }
    }
    let reader = lines.into_inner().into_inner();
    let total = reader.bytes();
    on_bytes(total - last_bytes);
    Ok((reader.finish(), total))
}

/// Guards CSV reads: fails when one record grows past the limit, because the
/// csv parser buffers a whole record.
struct LimitedRecords<R> {
    inner: HashingReader<R>,
    since_mark: std::rc::Rc<std::cell::Cell<u64>>,
    limit: u64,
}

impl<R: std::io::Read> std::io::Read for LimitedRecords<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let s = self.since_mark.get() + n as u64;
        self.since_mark.set(s);
        if s > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "record over the size limit",
            ));
        }
        Ok(n)
    }
}

#[allow(clippy::too_many_arguments)]
fn read_csv(
    st: &mut State<'_>,
    fr: &mut FileReport,
    fi: u32,
    path: &Path,
    shown: &str,
    file: File,
    c: &CsvConfig,
    on_bytes: &mut dyn FnMut(u64),
    cancelled: &dyn Fn() -> bool,
) -> Result<([u8; 32], u64), StageError> {
    let kind = c
        .kind()
        .map_err(|(k, m)| StageError::new(Exit::Config, format!("{k}: {m}")))?;
    let delim = c
        .delimiter_byte()
        .map_err(|(k, m)| StageError::new(Exit::Config, format!("{k}: {m}")))?;
    let mark = std::rc::Rc::new(std::cell::Cell::new(0u64));
    // The parser reads ahead by its buffer; allow for it.
    let slack = 256 * 1024;
    let guarded = LimitedRecords {
        inner: HashingReader::new(file),
        since_mark: mark.clone(),
        limit: st.data.max_record_bytes + slack,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delim)
        .has_headers(true)
        .flexible(true)
        .from_reader(guarded);
    let oversize = |line: u64| {
        StageError::data(format!(
            "{shown}:{line}: a CSV record is longer than data.max_record_bytes = {} (or a quote is never closed); raise the limit or fix the quoting",
            st.data.max_record_bytes
        ))
    };
    let headers = match rdr.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            if let csv::ErrorKind::Io(io) = e.kind()
                && io.kind() == std::io::ErrorKind::InvalidData
            {
                return Err(oversize(1));
            }
            return Err(StageError::data(format!(
                "{shown}:1: cannot read the CSV header: {e}"
            )));
        }
    };
    let header_names: Vec<String> = headers
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_string())
        .collect();
    let col = |key: &str, name: &Option<String>| -> Result<Option<usize>, StageError> {
        match name {
            None => Ok(None),
            Some(n) => header_names.iter().position(|h| h == n).map(Some).ok_or_else(|| {
                StageError::data(format!(
                    "{shown}:1: the header has no column {n:?} (data.csv.{key}); columns are: {}",
                    header_names.join(", ")
                ))
            }),
        }
    };
    let cols = [
        col("text", &c.text)?,
        col("instruction", &c.instruction)?,
        col("input", &c.input)?,
        col("output", &c.output)?,
        col("system", &c.system)?,
        col("user", &c.user)?,
        col("assistant", &c.assistant)?,
    ];
    let n_cols = headers.len();
    let mut rec = csv::ByteRecord::new();
    let mut ordinal = 0u64;
    let mut last = 0u64;
    loop {
        if ordinal.is_multiple_of(1024) {
            if cancelled() {
                return Err(StageError::interrupted());
            }
            let at = rdr.position().byte();
            on_bytes(at - last);
            last = at;
        }
        mark.set(0);
        let pos_before = rdr.position().clone();
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = pos_before.line() + 1;
                if let csv::ErrorKind::Io(io) = e.kind() {
                    if io.kind() == std::io::ErrorKind::InvalidData {
                        return Err(oversize(line));
                    }
                    return Err(StageError::io(
                        "cannot read input",
                        path,
                        std::io::Error::new(io.kind(), io.to_string()),
                    ));
                }
                return Err(StageError::data(format!(
                    "{shown}:{line}: cannot parse CSV: {e}"
                )));
            }
        }
        let pos = rec.position().cloned().unwrap_or(pos_before);
        let (line, offset) = (pos.line(), pos.byte());
        let this = ordinal;
        ordinal += 1;
        if rec.len() != n_cols {
            st.problem(
                fr,
                line,
                format!(
                    "expected {n_cols} fields as in the header, found {}",
                    rec.len()
                ),
            )?;
            continue;
        }
        let mut bad = None;
        let mut get = |i: Option<usize>, key: &str, required: bool| -> Option<String> {
            let i = i?;
            let b = &rec[i];
            match std::str::from_utf8(b) {
                Err(e) => {
                    bad.get_or_insert(format!(
                        "column {key:?}: not valid UTF-8 (invalid byte at column {})",
                        e.valid_up_to() + 1
                    ));
                    None
                }
                Ok(s) if required && s.trim().is_empty() => {
                    bad.get_or_insert(format!("column for data.csv.{key} is empty"));
                    None
                }
                Ok("") => None,
                Ok(s) => Some(s.to_string()),
            }
        };
        let record = match kind {
            CsvKind::Text => get(cols[0], "text", true).map(|text| Record::Text { text }),
            CsvKind::Instruction => {
                let instruction = get(cols[1], "instruction", true);
                let input = get(cols[2], "input", false);
                let output = get(cols[3], "output", true);
                match (instruction, output) {
                    (Some(instruction), Some(output)) => Some(Record::Instruction {
                        instruction,
                        input,
                        output,
                    }),
                    _ => None,
                }
            }
            CsvKind::Chat => {
                let system = get(cols[4], "system", false);
                let user = get(cols[5], "user", true);
                let assistant = get(cols[6], "assistant", true);
                match (user, assistant) {
                    (Some(u), Some(a)) => {
                        let mut messages = Vec::new();
                        if let Some(s) = system {
                            messages.push(Message {
                                role: Role::System,
                                content: s,
                            });
                        }
                        messages.push(Message {
                            role: Role::User,
                            content: u,
                        });
                        messages.push(Message {
                            role: Role::Assistant,
                            content: a,
                        });
                        Some(Record::Chat { messages })
                    }
                    _ => None,
                }
            }
        };
        match (record, bad) {
            (Some(r), None) => st.accept(fr, fi, &r, this, line, offset)?,
            (_, Some(reason)) => st.problem(fr, line, reason)?,
            (None, None) => st.problem(fr, line, "record is incomplete".into())?,
        }
    }
    let inner = rdr.into_inner().inner;
    let total = inner.bytes();
    on_bytes(total.saturating_sub(last));
    Ok((inner.finish(), total))
}

/// The ingest stage.
#[derive(Debug, Default)]
pub struct IngestStage;

impl Stage for IngestStage {
    fn name(&self) -> &'static str {
        "ingest"
    }

    fn code_version(&self) -> &'static str {
        "ingest/1"
    }

    fn depends_on(&self) -> &'static [&'static str] {
        &[]
    }

    fn sections(&self) -> &'static [&'static str] {
        &["data"]
    }

    fn validate(&self, cfg: &Config) -> Result<(), ConfigError> {
        DataConfig::from_config(cfg).map(|_| ())
    }

    fn external_inputs(&self, cfg: &Config) -> Result<Vec<PathBuf>, StageError> {
        let data = DataConfig::from_config(cfg)?;
        resolve_inputs(cfg, &data)
    }

    fn run(&self, ctx: &StageContext<'_>) -> Result<Value, StageError> {
        let data = DataConfig::from_config(ctx.config())?;
        let files: Vec<PathBuf> = ctx
            .external_inputs()
            .iter()
            .map(|e| PathBuf::from(&e.path))
            .collect();
        let names: Vec<String> = files
            .iter()
            .map(|f| ctx.config().display_relative(f))
            .collect();
        let expected: Vec<String> = ctx
            .external_inputs()
            .iter()
            .map(|e| e.digest.sha256.clone())
            .collect();
        let total: u64 = ctx.external_inputs().iter().map(|e| e.digest.bytes).sum();
        let mut progress = ctx.progress(Some(total), "bytes");
        let t0 = Instant::now();
        let cancelled = || ctx.cancelled();
        let report = ingest(IngestRun {
            data: &data,
            files: &files,
            names: &names,
            expected_sha256: Some(&expected),
            out_dir: ctx.out_dir(),
            on_bytes: &mut |n| progress.inc(n),
            cancelled: &cancelled,
        })?;
        drop(progress);
        let secs = t0.elapsed().as_secs_f64();
        if report.totals.quarantined > 0 {
            ctx.events().warn(&format!(
                "ingest: {} invalid record(s) quarantined; see ingest/quarantine.jsonl for file:line and reason",
                report.totals.quarantined
            ));
        }
        Ok(json!({
            "totals": report.totals,
            "bytes": total,
            "seconds": secs,
            "mb_per_s": if secs > 0.0 { total as f64 / 1e6 / secs } else { 0.0 },
        }))
    }
}
