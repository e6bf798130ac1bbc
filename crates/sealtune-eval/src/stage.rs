//! The `eval` stage: reads mask's splits and fingerprints and train's adapter and
//! canaries, evaluates base and fine-tuned models, and writes `eval/report.json`.
//!
//! A failing gate does not fail the stage: the report records it (`passed: false`) and
//! the release stage refuses to seal.

use sealtune_contract::artifacts;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

use sealtune_data::canary::CanarySet;
use sealtune_data::record::Record;
use sealtune_model::Llama;
use sealtune_model::tokenizer::Tokenizer;
use sealtune_pii::fingerprint::FingerprintSet;
use sealtune_pii::stage::{key_id, mask_config};
use sealtune_pii::{Detector, MaskKey};
use sealtune_pipeline::{Config, ConfigError, Exit, Stage, StageContext, StageError};
use sealtune_stagekit::ModelSection;
use sealtune_stagekit::at_rest::{self, AtRest, load_adapter};
use sealtune_stagekit::model_section::{compute, compute_for_stage, compute_key};

use crate::bench::{
    bbq_suite, crows_suite, discrim_suite, first_questions, load_bbq, load_crows_pairs,
    load_discrim_eval, take,
};
use crate::bias::{
    STEREOTYPE_PAIRS, build_prompts, decision_metrics, score_sets, stereotype_metric,
};
use crate::config::EvalConfig;
use crate::error::{EvalError, read_text};
use crate::leakage::{Pair, PiiContext, canary_suite, memorization_suite, mia_suite, pii_suite};
use crate::lm::Lm;
use crate::report::{
    BenchmarkScope, ExposureTable, GateStatus, Models, Report, SCHEMA, all_passed, evaluate_gates,
};
use crate::scores::Scores;

/// Parses and checks `[eval]` (absent = defaults), resolving benchmark paths against the
/// config file.
pub fn eval_config(cfg: &Config) -> Result<EvalConfig, ConfigError> {
    let mut e: EvalConfig = if cfg.has_section("eval") {
        cfg.section("eval")?
    } else {
        EvalConfig::default()
    };
    e.validate().map_err(|err| match err {
        EvalError::Config { key, message } => cfg.error_at(&format!("eval.{key}"), message),
        other => cfg.error_at("eval", other.to_string()),
    })?;
    for p in [&mut e.crows_pairs, &mut e.bbq, &mut e.discrim_eval]
        .into_iter()
        .flatten()
    {
        *p = cfg.resolve(p);
    }
    Ok(e)
}

/// Reads a JSONL file of records (mask's `train.jsonl` / `eval.jsonl`).
pub fn read_records(path: &Path) -> Result<Vec<Record>, EvalError> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        // The parser's message can quote content; keep only its position.
        out.push(serde_json::from_str(line).map_err(|e| EvalError::Data {
            path: path.to_path_buf(),
            line: i as u64 + 1,
            message: format!(
                "not a chat, instruction or text record (column {}); rerun mask",
                e.column()
            ),
        })?);
    }
    Ok(out)
}

/// Reads `train/canaries.json`.
pub fn read_canaries(path: &Path) -> Result<CanarySet, EvalError> {
    let text = read_text(path)?;
    let set: CanarySet = serde_json::from_str(&text).map_err(|source| EvalError::Json {
        path: path.to_path_buf(),
        message: "not a sealtune.canaries/v1 file".into(),
        source,
    })?;
    if set.schema != sealtune_data::canary::SCHEMA {
        return Err(EvalError::Data {
            path: path.to_path_buf(),
            line: 0,
            message: format!(
                "schema `{}`, expected `{}`",
                set.schema,
                sealtune_data::canary::SCHEMA
            ),
        });
    }
    Ok(set)
}

/// What the suites read.
#[derive(Debug, Clone, Default)]
pub struct EvalData {
    /// Masked training records (members).
    pub train: Vec<Record>,
    /// Masked eval records (non-members).
    pub eval: Vec<Record>,
    /// Inserted and held-out canaries, when train wrote them.
    pub canaries: Option<CanarySet>,
}

/// Seconds per suite.
pub type Timings = BTreeMap<String, f64>;

/// Runs every suite on both models and evaluates the gates. `checkpoint` is called
/// between suites (the engine's interruption point). `pii` is `None` when there is no
/// masking key or fingerprint file, which leaves the PII metrics out (their gate fails
/// closed). `gpu` sets the default benchmark sample size
/// ([`EvalConfig::benchmark_items`]). The scores are what `eval/scores.json` holds.
pub fn evaluate(
    m: Pair<'_>,
    data: &EvalData,
    pii: Option<PiiContext<'_>>,
    cfg: &EvalConfig,
    models: Models,
    gpu: bool,
    checkpoint: &dyn Fn() -> Result<(), StageError>,
) -> Result<(Report, Timings, Scores), StageError> {
    let mut timings = Timings::new();
    let mut metrics = Vec::new();
    let mut exposure = ExposureTable::default();
    let mut groups = Vec::new();
    let mut breakdown = Vec::new();
    let mut benchmarks = Vec::new();
    let mut scores = Scores {
        schema: crate::scores::SCHEMA.to_owned(),
        min_k: cfg.min_k,
        zlib_level: crate::text::ZLIB_LEVEL,
        ..Scores::default()
    };
    let limit = cfg.benchmark_items(gpu);
    let mut t = Instant::now();
    let mut lap = |name: &str, timings: &mut Timings| {
        timings.insert(name.to_owned(), t.elapsed().as_secs_f64());
        t = Instant::now();
    };
    if let Some(set) = &data.canaries {
        let out = canary_suite(m, set, cfg).map_err(StageError::from_error)?;
        metrics.extend(out.metrics);
        exposure = out.table;
        scores.canaries = out.scores;
        lap("canaries", &mut timings);
        checkpoint()?;
    }
    if !data.train.is_empty() {
        metrics.extend(memorization_suite(m, &data.train, cfg).map_err(StageError::from_error)?);
        lap("memorization", &mut timings);
        checkpoint()?;
        if let Some(mut p) = pii {
            metrics.extend(pii_suite(m, &data.train, &mut p, cfg).map_err(StageError::from_error)?);
            lap("pii", &mut timings);
            checkpoint()?;
        }
    }
    if !data.train.is_empty() && !data.eval.is_empty() {
        let out = mia_suite(m, &data.train, &data.eval, cfg).map_err(StageError::from_error)?;
        metrics.extend(out.metrics);
        scores.mia = out.records;
        lap("membership", &mut timings);
        checkpoint()?;
    }
    if cfg.bias {
        let sets = score_sets(m, build_prompts(cfg.bias_templates, cfg.bias_names))
            .map_err(StageError::from_error)?;
        let (ms, rows) = decision_metrics(&sets, "decision_", "project templates", cfg);
        metrics.extend(ms);
        groups.extend(rows);
        let pairs: Vec<(String, String)> = STEREOTYPE_PAIRS
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        metrics.push(
            stereotype_metric(
                m,
                &pairs,
                "bias.stereotype_preference",
                "Stereotype preference (project pairs, CrowS-Pairs method)",
                cfg,
            )
            .map_err(StageError::from_error)?,
        );
        lap("bias", &mut timings);
        checkpoint()?;
    }
    if let Some(p) = &cfg.crows_pairs {
        let all = load_crows_pairs(p, usize::MAX, cfg.seed).map_err(StageError::from_error)?;
        let pairs = sampled("crows_pairs", all, limit, cfg.seed, &mut benchmarks);
        let (metric, rows) = crows_suite(m, &pairs, cfg).map_err(StageError::from_error)?;
        metrics.push(metric);
        breakdown.extend(rows);
        lap("crows_pairs", &mut timings);
        checkpoint()?;
    }
    if let Some(p) = &cfg.bbq {
        let all = load_bbq(p, usize::MAX, cfg.seed).map_err(StageError::from_error)?;
        let items = sampled("bbq", all, limit, cfg.seed, &mut benchmarks);
        let (ms, rows) = bbq_suite(m, &items, cfg).map_err(StageError::from_error)?;
        metrics.extend(ms);
        breakdown.extend(rows);
        lap("bbq", &mut timings);
        checkpoint()?;
    }
    if let Some(p) = &cfg.discrim_eval {
        let all = load_discrim_eval(p, usize::MAX).map_err(StageError::from_error)?;
        let available = all.len();
        let items = first_questions(all, limit);
        benchmarks.push(BenchmarkScope::new(
            "discrim_eval",
            items.len(),
            available,
            "first decision questions",
        ));
        let (ms, rows, table) = discrim_suite(m, &items, cfg).map_err(StageError::from_error)?;
        metrics.extend(ms);
        groups.extend(rows);
        breakdown.extend(table);
        lap("discrim_eval", &mut timings);
        checkpoint()?;
    }
    let gates = evaluate_gates(cfg, &metrics);
    let report = Report {
        schema: SCHEMA.to_owned(),
        models,
        passed: all_passed(&gates),
        metrics,
        gates,
        exposure,
        groups,
        breakdown,
        benchmarks,
    };
    Ok((report, timings, scores))
}

/// At most `limit` of a benchmark's items (a seeded sample when more), recording the
/// scope in `scopes`.
fn sampled<T>(
    name: &str,
    all: Vec<T>,
    limit: usize,
    seed: u64,
    scopes: &mut Vec<BenchmarkScope>,
) -> Vec<T> {
    let available = all.len();
    let items = take(all, limit, seed);
    scopes.push(BenchmarkScope::new(
        name,
        items.len(),
        available,
        "seeded sample",
    ));
    items
}

/// Writes `value` as pretty JSON; `private` files are mode 0600.
fn write_json<T: serde::Serialize>(
    path: &Path,
    value: &T,
    private: bool,
) -> Result<(), StageError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| {
        StageError::internal(format!(
            "{}: {e}",
            path.file_name().unwrap_or_default().to_string_lossy()
        ))
    })?;
    bytes.push(b'\n');
    if private {
        sealtune_pipeline::fsutil::atomic_write_private(path, &bytes)
    } else {
        sealtune_pipeline::fsutil::atomic_write(path, &bytes)
    }
    .map_err(|e| StageError::cant_create(path, e))
}

/// The eval stage.
#[derive(Debug, Default)]
pub struct EvalStage;

fn pii_err(e: sealtune_pii::PiiError) -> StageError {
    StageError::from_error(EvalError::Pii(e))
}

/// `Err` (exit 3) naming each gate that failed and was not accepted, and how
/// to go on; fails closed when the report says it did not pass.
pub fn gate_verdict(report: &Report, path: &Path) -> Result<(), StageError> {
    let failing: Vec<String> = report
        .gates
        .iter()
        .filter(|g| !g.passed && !g.accepted)
        .map(|g| {
            let value = g
                .value
                .map_or("not available".to_owned(), |v| format!("{v:.4}"));
            let status = match g.status {
                GateStatus::Review => "needs review",
                _ => "failed",
            };
            format!(
                "gate `{}` {status}: {} ({}) = {value}, threshold {} {}",
                g.name,
                g.metric,
                g.model,
                g.op.symbol(),
                g.threshold
            )
        })
        .collect();
    if failing.is_empty() && report.passed {
        return Ok(());
    }
    let list = if failing.is_empty() {
        "the report says passed = false".to_owned()
    } else {
        failing.join("; ")
    };
    Err(StageError::new(
        Exit::GateFailed,
        format!(
            "eval: {list}. The report is {}. To release anyway, a reviewer either records a reason per gate in the config (`[eval.accept] <gate> = \"reason\"`) or runs `sealtune run CONFIG --accept-failed-gates --reason \"...\"` (or `sealtune stage release --accept-failed-gates --reason ...`); the reason goes into the audit log and onto the model card",
            path.display()
        ),
    ))
}

impl Stage for EvalStage {
    fn name(&self) -> &'static str {
        "eval"
    }

    fn code_version(&self) -> &'static str {
        "eval/3"
    }

    fn depends_on(&self) -> &'static [&'static str] {
        &["mask", "train"]
    }

    fn sections(&self) -> &'static [&'static str] {
        &["model", "compute", "mask", "eval"]
    }

    fn validate(&self, cfg: &Config) -> Result<(), ConfigError> {
        ModelSection::from_config(cfg)?;
        cfg.section::<sealtune_model::ComputeSection>("compute")?;
        mask_config(cfg)?;
        eval_config(cfg).map(|_| ())
    }

    fn external_inputs(&self, cfg: &Config) -> Result<Vec<PathBuf>, StageError> {
        let model = ModelSection::from_config(cfg)?;
        let mut files = model.files(cfg)?;
        let e = eval_config(cfg)?;
        files.extend([e.crows_pairs, e.bbq, e.discrim_eval].into_iter().flatten());
        Ok(files)
    }

    fn extra_key(&self, cfg: &Config) -> Result<Value, StageError> {
        let m = mask_config(cfg)?;
        let key = MaskKey::from_config(&m).map_err(pii_err)?;
        let c = compute_key(cfg)?;
        Ok(json!({ "mask_key_id": key_id(&key), "device": c["device"], "dtype": c["dtype"] }))
    }

    fn preflight(&self, cfg: &Config) -> Result<(), StageError> {
        compute(cfg).map(|_| ())
    }

    fn verdict(&self, out_dir: &Path) -> Result<(), StageError> {
        let path = out_dir.join(artifacts::eval::REPORT);
        let bytes = std::fs::read(&path)
            .map_err(|e| StageError::io("cannot read the eval report", &path, e))?;
        let report: Report = serde_json::from_slice(&bytes).map_err(|e| {
            StageError::data(format!(
                "{}: not an eval report ({e}); run `sealtune stage eval --force`",
                path.display()
            ))
        })?;
        gate_verdict(&report, &path)
    }

    fn run(&self, ctx: &StageContext<'_>) -> Result<Value, StageError> {
        let cfg = ctx.config();
        let ecfg = eval_config(cfg)?;
        let model = ModelSection::from_config(cfg)?;
        let mcfg = mask_config(cfg)?;
        let key = MaskKey::from_config(&mcfg).map_err(pii_err)?;
        let detector = Detector::new(&mcfg).map_err(pii_err)?;
        let mask_dir = ctx.input_dir("mask")?;
        let train_dir = ctx.input_dir("train")?;
        let t0 = Instant::now();
        let mut originals =
            FingerprintSet::read(&mask_dir.join(artifacts::mask::FINGERPRINTS)).map_err(pii_err)?;
        let canaries_path = train_dir.join(artifacts::train::CANARIES);
        let data = EvalData {
            train: read_records(&mask_dir.join(artifacts::mask::TRAIN))
                .map_err(StageError::from_error)?,
            eval: read_records(&mask_dir.join(artifacts::mask::EVAL))
                .map_err(StageError::from_error)?,
            canaries: if canaries_path.is_file() {
                Some(read_canaries(&canaries_path).map_err(StageError::from_error)?)
            } else {
                None
            },
        };
        let dir = model.dir(cfg);
        let compute = compute_for_stage(ctx, "eval")?;
        let base = Llama::load_dir_as(&dir, compute.device(), compute.precision())
            .map_err(|e| StageError::from_error(EvalError::from(e)))?;
        let tokenizer =
            Tokenizer::from_dir(&dir).map_err(|e| StageError::from_error(EvalError::from(e)))?;
        let mut ft = base.clone();
        // An adapter sealed at rest is decrypted into memory with [train]'s at-rest keys.
        let at_rest = AtRest::from_config(cfg, &at_rest::settings(cfg)?)?;
        load_adapter(
            &mut ft,
            &train_dir.join(artifacts::train::ADAPTER_DIR),
            at_rest.as_ref(),
        )?;
        ft.set_training(false);
        // Folding the adapter into the weights gives the same outputs and skips the LoRA
        // branch in every forward pass (about a third of the CPU time of a rank-16 adapter
        // on every projection).
        ft.merge_lora();
        let base = Lm::new(base, tokenizer.clone(), ecfg.batch_size);
        let ft = Lm::new(ft, tokenizer, ecfg.batch_size);
        let load_s = t0.elapsed().as_secs_f64();
        ctx.checkpoint()?;
        let models = Models {
            base: model
                .name
                .clone()
                .unwrap_or_else(|| cfg.display_relative(&dir)),
            finetuned: "base + train/adapter".into(),
        };
        let pii = PiiContext {
            detector: &detector,
            key: &key,
            originals: &mut originals,
        };
        let pair = Pair {
            base: &base,
            finetuned: &ft,
        };
        let gpu = compute.kind() == "cuda";
        let (report, mut timings, scores) =
            evaluate(pair, &data, Some(pii), &ecfg, models, gpu, &|| {
                ctx.checkpoint()
            })?;
        timings.insert("load".into(), load_s);
        if ecfg.write_scores {
            // Token ids of masked records: owner-only, like the key files.
            write_json(&ctx.out_dir().join(artifacts::eval::SCORES), &scores, true)?;
        }
        let path = ctx.out_dir().join(artifacts::eval::REPORT);
        write_json(&path, &report, false)?;
        let failed: Vec<Value> = report
            .gates
            .iter()
            .filter(|g| !g.passed)
            .map(|g| {
                json!({"name": g.name, "value": g.value, "threshold": g.threshold,
                       "status": g.status, "accepted": g.accepted})
            })
            .collect();
        Ok(json!({
            "passed": report.passed,
            "metrics": report.metrics.len(),
            "gates": report.gates.len(),
            "gates_not_passed": failed,
            "train_records": data.train.len(),
            "eval_records": data.eval.len(),
            "canaries": data.canaries.as_ref().map_or(0, |c| c.inserted.len() + c.held_out.len()),
            "timings_s": timings,
            "compute": compute.record(),
            "wall_time_s": t0.elapsed().as_secs_f64(),
        }))
    }
}
