//! The `mask` stage: stream the records ingest accepted, mask them with the
//! `[mask]` policy, and write trainable JSONL.
//!
//! Outputs in `mask/`:
//! - `train.jsonl`, `eval.jsonl`: masked records, in input order, split as
//!   ingest decided;
//! - `report.json`: counts per split, field and entity type, records dropped
//!   and why, the policy, and the residual-risk sweep of the masked output
//!   (`residual`: counts per category and field, see [`crate::residual`]);
//!   never a raw value;
//! - `pii-fingerprints.bin`: keyed HMACs of the original values replaced (see
//!   [`crate::fingerprint`]), so that eval can test for regurgitation without
//!   anyone storing the PII.
//!
//! Counts add up: `records = train + eval + dropped + quarantined`.

use sealtune_contract::artifacts::{self, mask};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

use sealtune_data::DataConfig;
use sealtune_data::config::{CsvKind, Format, OnInvalid};
use sealtune_data::index::{Index, Split};
use sealtune_data::source::read_indexed;
use sealtune_pipeline::{Config, ConfigError, Stage, StageContext, StageError};

use crate::config::{MaskConfig, Operator};
use crate::error::PiiError;
use crate::fingerprint::FingerprintSet;
use crate::key::MaskKey;
use crate::record::{MaskReport, Masker, RecordKind};
use crate::types::EntityType;

/// Records masked per rayon batch: bounds memory while keeping both cores busy.
const BATCH: usize = 512;

/// Parse and check `[mask]`, resolving the key path against the config file.
pub fn mask_config(cfg: &Config) -> Result<MaskConfig, ConfigError> {
    let mut m: MaskConfig = cfg.section("mask")?;
    m.validate().map_err(|e| match e {
        PiiError::Config { key, message } => cfg.error_at(&format!("mask.{key}"), message),
        other => cfg.error_at("mask", other.to_string()),
    })?;
    if m.key_file.is_none() && m.key_env.is_none() {
        return Err(cfg.error_at(
            "mask.key_file",
            "missing: the masking key keys pseudonyms, hashes and fingerprints; set `key_file` (a file of 32+ random bytes, mode 600) or `key_env` (a variable holding hex)",
        ));
    }
    if m.subject_field.is_some() {
        // Ingest keeps only the text fields of a record (other keys are refused
        // so that unmasked data cannot ride along), so in a pipeline run no
        // record could name its subject and the key would silently do nothing.
        return Err(cfg.error_at(
            "mask.subject_field",
            "cannot take effect in a pipeline run: ingest passes only the text fields of each record, so no record names a subject; remove the key (date offsets are then per record, see docs/PII.md). It applies to the Masker API, where records keep their fields",
        ));
    }
    if let Some(f) = &m.key_file {
        m.key_file = Some(cfg.resolve(f));
    }
    Ok(m)
}

/// A one-way identifier of the masking key: the first 16 bytes of its keyed
/// fingerprint of a fixed label. Recorded so that a key change reruns mask.
pub fn key_id(key: &MaskKey) -> String {
    let fp = crate::ops::fingerprint(key, EntityType::Secret, "sealtune mask key id");
    fp[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn record_kind(data: &DataConfig) -> RecordKind {
    match data.format {
        Format::Chat => RecordKind::Chat,
        Format::Instruction => RecordKind::Instruction,
        Format::Text => RecordKind::Text,
        Format::Csv => match data.csv.as_ref().and_then(|c| c.kind().ok()) {
            Some(CsvKind::Instruction) => RecordKind::Instruction,
            Some(CsvKind::Chat) => RecordKind::Chat,
            _ => RecordKind::Text,
        },
    }
}

struct Out {
    train: BufWriter<File>,
    eval: BufWriter<File>,
    report: MaskReport,
    quarantined: Vec<mask::Quarantined>,
    n_quarantined: u64,
    fingerprints: FingerprintSet,
}

/// The mask stage.
#[derive(Debug, Default)]
pub struct MaskStage;

impl Stage for MaskStage {
    fn name(&self) -> &'static str {
        "mask"
    }

    fn code_version(&self) -> &'static str {
        // 3: date_shift offsets per record without subject_field (were
        // dataset-wide); the report has the residual-risk sweep.
        "mask/3"
    }

    fn depends_on(&self) -> &'static [&'static str] {
        &["ingest"]
    }

    fn sections(&self) -> &'static [&'static str] {
        &["data", "mask"]
    }

    fn validate(&self, cfg: &Config) -> Result<(), ConfigError> {
        mask_config(cfg).map(|_| ())
    }

    fn preflight(&self, cfg: &Config) -> Result<(), StageError> {
        // The key file must exist and be private (or the variable be set).
        MaskKey::from_config(&mask_config(cfg)?)
            .map(drop)
            .map_err(StageError::from_error)
    }

    fn external_inputs(&self, cfg: &Config) -> Result<Vec<PathBuf>, StageError> {
        let data = DataConfig::from_config(cfg)?;
        sealtune_data::ingest::resolve_inputs(cfg, &data)
    }

    fn extra_key(&self, cfg: &Config) -> Result<Value, StageError> {
        let m = mask_config(cfg)?;
        let key = MaskKey::from_config(&m).map_err(StageError::from_error)?;
        Ok(json!({ "mask_key_id": key_id(&key) }))
    }

    fn run(&self, ctx: &StageContext<'_>) -> Result<Value, StageError> {
        let cfg = ctx.config();
        let data = DataConfig::from_config(cfg)?;
        let mcfg = mask_config(cfg)?;
        let key = MaskKey::from_config(&mcfg).map_err(StageError::from_error)?;
        let kid = key_id(&key);
        let masker = Masker::new(&mcfg, key).map_err(StageError::from_error)?;
        let kind = record_kind(&data);
        let index_path = ctx.input_dir("ingest")?.join(artifacts::ingest::INDEX);
        let index = Index::read(&index_path)
            .map_err(|e| StageError::io("cannot read the ingest index", &index_path, e))?;
        let files: Vec<PathBuf> = ctx
            .external_inputs()
            .iter()
            .map(|e| PathBuf::from(&e.path))
            .collect();
        for (i, f) in files.iter().enumerate() {
            let name = cfg.display_relative(f);
            if index.files.get(i).map(|x| &x.path) != Some(&name) {
                return Err(StageError::missing(format!(
                    "{}: not the input ingest indexed; rerun ingest (`sealtune run` does)",
                    f.display()
                )));
            }
        }
        let create = |name: &str| {
            let p = ctx.out_dir().join(name);
            File::create(&p)
                .map(BufWriter::new)
                .map_err(|e| StageError::cant_create(&p, e))
        };
        let mut out = Out {
            train: create(mask::TRAIN)?,
            eval: create(mask::EVAL)?,
            report: MaskReport::default(),
            quarantined: Vec::new(),
            n_quarantined: 0,
            fingerprints: FingerprintSet::new(),
        };
        let t0 = Instant::now();
        let total_bytes: u64 = ctx.external_inputs().iter().map(|e| e.digest.bytes).sum();
        let mut progress = ctx.progress(Some(total_bytes), "bytes");
        let mut batch: Vec<(Split, String, Value)> = Vec::with_capacity(BATCH);
        let mut n_in = 0u64;
        let cancelled = || ctx.cancelled();
        read_indexed(
            &data,
            &index,
            &files,
            &mut |n| progress.inc(n),
            &cancelled,
            &mut |e, rec| {
                ctx.checkpoint()?;
                let v =
                    serde_json::to_value(&rec).map_err(|e| StageError::internal(e.to_string()))?;
                let label = format!("{}:{}", index.files[e.file as usize].path, e.line);
                batch.push((e.split, label, v));
                n_in += 1;
                if batch.len() >= BATCH {
                    flush(
                        &masker,
                        kind,
                        &mut batch,
                        &mut out,
                        data.on_invalid,
                        &cancelled,
                    )?;
                }
                Ok(())
            },
        )?;
        flush(
            &masker,
            kind,
            &mut batch,
            &mut out,
            data.on_invalid,
            &cancelled,
        )?;
        drop(progress);
        let w =
            |p: &Path, r: std::io::Result<()>| r.map_err(|e| StageError::io("cannot write", p, e));
        w(&ctx.out_dir().join(mask::TRAIN), out.train.flush())?;
        w(&ctx.out_dir().join(mask::EVAL), out.eval.flush())?;
        let fp_path = ctx.out_dir().join(mask::FINGERPRINTS);
        out.fingerprints
            .write(&fp_path)
            .map_err(StageError::from_error)?;
        let rep = &out.report;
        let split_n = |k: &str| rep.records_out.get(k).copied().unwrap_or(0);
        let (n_train, n_eval) = (split_n("train"), split_n("eval"));
        let n_dropped: u64 = rep.dropped.values().flat_map(|m| m.values()).sum();
        if n_in != n_train + n_eval + n_dropped + out.n_quarantined {
            return Err(StageError::internal("mask counts do not add up"));
        }
        let by_type = rep.totals();
        let kept: BTreeMap<EntityType, u64> = by_type
            .iter()
            .filter(|(t, _)| mcfg.operator(**t) == Operator::Keep)
            .map(|(t, n)| (*t, *n))
            .collect();
        let report = mask::Report {
            schema: mask::REPORT_SCHEMA.to_owned(),
            records: mask::Records {
                read: n_in,
                train: n_train,
                eval: n_eval,
                dropped: n_dropped,
                quarantined: out.n_quarantined,
            },
            dropped_by_type: rep
                .dropped
                .iter()
                .map(|(split, m)| (split.clone(), by_name(m)))
                .collect(),
            quarantine_sample: std::mem::take(&mut out.quarantined),
            replacements_by_type: by_name(&by_type),
            replacements: rep
                .counts
                .iter()
                .map(|(split, fields)| {
                    let fields = fields.iter().map(|(f, m)| (f.clone(), by_name(m)));
                    (split.clone(), fields.collect())
                })
                .collect(),
            distinct_fingerprints: out.fingerprints.len() as u64,
            plaintext_kept_by_type: by_name(&kept),
            residual: Some(rep.residual.summary()),
            mask_key_id: kid,
            policy: json!({
                "default_operator": mcfg.default_operator,
                "operators": mcfg.operators,
                "default_threshold": mcfg.default_threshold,
                "thresholds": mcfg.thresholds,
                "entities": mcfg.entities,
                "fields": mcfg.fields,
                "custom_recognizers": mcfg.recognizers.len(),
                "allow_list": mcfg.allow.len(),
            }),
        };
        let rp = ctx.out_dir().join(mask::REPORT);
        let bytes =
            artifacts::to_sorted_json(&report).map_err(|e| StageError::internal(e.to_string()))?;
        std::fs::write(&rp, bytes).map_err(|e| StageError::io("cannot write", &rp, e))?;
        let n_kept: u64 = kept.values().sum();
        if n_kept > 0 {
            ctx.events().warn(&format!(
                "mask: {n_kept} detected value(s) were kept in plaintext (operator `keep`, allow_plaintext = true); the train and eval splits hold raw PII"
            ));
        }
        if out.n_quarantined > 0 {
            ctx.events().warn(&format!(
                "mask: {} record(s) could not be masked and were set aside; see mask/report.json",
                out.n_quarantined
            ));
        }
        let secs = t0.elapsed().as_secs_f64();
        Ok(json!({
            "records": report.records,
            "replacements_by_type": by_type,
            "seconds": secs,
            "mb_per_s": if secs > 0.0 { total_bytes as f64 / 1e6 / secs } else { 0.0 },
        }))
    }
}

/// A count per entity type, keyed by the type's name as `mask/report.json` lists it.
fn by_name(m: &BTreeMap<EntityType, u64>) -> BTreeMap<String, u64> {
    m.iter().map(|(t, n)| (t.as_str().to_owned(), *n)).collect()
}

fn flush(
    masker: &Masker,
    kind: RecordKind,
    batch: &mut Vec<(Split, String, Value)>,
    out: &mut Out,
    on_invalid: OnInvalid,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<(), StageError> {
    if batch.is_empty() {
        return Ok(());
    }
    if cancelled() {
        return Err(StageError::interrupted());
    }
    let values: Vec<Value> = batch.iter().map(|(_, _, v)| v.clone()).collect();
    let results = masker.mask_batch_cancellable(&values, kind, 0, cancelled);
    drop(values);
    if results
        .iter()
        .any(|r| matches!(r, Err(PiiError::Interrupted)))
    {
        return Err(StageError::interrupted());
    }
    for ((split, label, _), r) in batch.drain(..).zip(results) {
        let m = match r {
            Ok(m) => m,
            Err(e) => {
                let reason = match &e {
                    PiiError::Record { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                if on_invalid == OnInvalid::Fail {
                    return Err(StageError::data(format!(
                        "{label}: cannot mask this record: {reason}; fix it, or set data.on_invalid = \"quarantine\""
                    )));
                }
                out.n_quarantined += 1;
                if out.quarantined.len() < 20 {
                    out.quarantined.push(mask::Quarantined {
                        record: label,
                        reason,
                    });
                }
                continue;
            }
        };
        out.fingerprints.extend(m.fingerprints.iter().copied());
        let split_name = match split {
            Split::Train => "train",
            Split::Eval => "eval",
        };
        out.report.add(split_name, &m);
        match (m.record, m.dropped) {
            (Some(v), None) => {
                let line =
                    serde_json::to_string(&v).map_err(|e| StageError::internal(e.to_string()))?;
                let (w, name) = match split {
                    Split::Train => (&mut out.train, mask::TRAIN),
                    Split::Eval => (&mut out.eval, mask::EVAL),
                };
                writeln!(w, "{line}")
                    .map_err(|e| StageError::io("cannot write", Path::new(name), e))?;
            }
            (_, Some(_)) => {}
            (None, None) => {
                return Err(StageError::internal(
                    "masker returned neither a record nor a drop reason",
                ));
            }
        }
    }
    Ok(())
}
