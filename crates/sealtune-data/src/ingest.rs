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

use sealtune_contract::artifacts::ingest;
pub use sealtune_contract::artifacts::ingest::{FileReport, LengthStats, Problem, Report, Totals};
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

use sealtune_pipeline::{Config, ConfigError, Exit, Stage, StageContext, StageError};

use crate::config::{DataConfig, OnInvalid};
use crate::index::{IndexEntry, IndexWriter, IndexedFile, Split};
use crate::record::is_eval;
use crate::source::{Item, Scan, scan_file};

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
                .map_err(|e| StageError::io("cannot write", Path::new(ingest::QUARANTINE), e))?;
        }
        if self.problems_listed.len() < self.data.max_errors_listed {
            self.problems_listed.push(p);
        }
        Ok(())
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
        let mut short = [0u8; 16];
        short.copy_from_slice(&h[..16]);
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
            .map_err(|e| StageError::io("cannot write", Path::new(ingest::INDEX), e))
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
    let index = IndexWriter::new(create(ingest::INDEX)?)
        .map_err(|e| StageError::io("cannot write", &out.join(ingest::INDEX), e))?;
    let mut st = State {
        data,
        seen: HashSet::new(),
        lengths: Vec::new(),
        index,
        quarantine: create(ingest::QUARANTINE)?,
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
        let mut fr = FileReport {
            path: shown.clone(),
            ..Default::default()
        };
        st.file_index = fi;
        let actual = path.display().to_string();
        let scan = Scan {
            data,
            want_records: false,
            on_bytes: &mut *run.on_bytes,
            cancelled: run.cancelled,
        };
        let sha = scan_file(path, &actual, scan, &mut |item| match item {
            Item::Valid {
                pos, hash, chars, ..
            } => st.accept_digest(
                &mut fr,
                fi as u32,
                hash,
                chars,
                pos.ordinal,
                pos.line,
                pos.offset,
            ),
            Item::Invalid { pos, reason } => st.problem(&mut fr, pos.line, reason),
            Item::Blank => {
                fr.blank_lines += 1;
                Ok(())
            }
        })?;
        let sha_hex = hex::encode(sha.0);
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
        .map_err(|e| StageError::io("cannot write", &out.join(ingest::INDEX), e))?;
    st.quarantine
        .flush()
        .map_err(|e| StageError::io("cannot write", &out.join(ingest::QUARANTINE), e))?;
    let length_chars = length_stats(&mut st.lengths);
    let report = Report {
        schema: ingest::REPORT_SCHEMA.to_owned(),
        format: data.format.as_str().to_owned(),
        on_invalid: match data.on_invalid {
            OnInvalid::Fail => "fail",
            OnInvalid::Quarantine => "quarantine",
        }
        .to_owned(),
        files: reports,
        totals: st.totals.clone(),
        split: json!({"eval_fraction": data.eval_fraction, "split_seed": data.split_seed, "method": "sha256(seed, content) < fraction"}),
        length_chars,
        quarantine_sample: st.problems_listed.clone(),
    };
    let bytes =
        serde_json::to_vec_pretty(&report).map_err(|e| StageError::internal(e.to_string()))?;
    std::fs::write(out.join(ingest::REPORT), bytes)
        .map_err(|e| StageError::io("cannot write", &out.join(ingest::REPORT), e))?;
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

/// The ingest stage.
#[derive(Debug, Default)]
pub struct IngestStage;

impl Stage for IngestStage {
    fn name(&self) -> &'static str {
        "ingest"
    }

    fn code_version(&self) -> &'static str {
        "ingest/2"
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
