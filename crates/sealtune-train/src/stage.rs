//! The `train` stage: LoRA fine-tuning on mask's training split.
//!
//! Outputs in `train/`:
//! - `adapter/`: the adapter in PEFT's layout (`adapter_config.json`,
//!   `adapter_model.safetensors`, or `adapter_model.safetensors.seal` with
//!   `seal_at_rest`);
//! - `merged/`: the base model with the adapter folded in (only with `save_merged`;
//!   its weights sealed likewise);
//! - `metrics.jsonl`: one line per optimiser step and per evaluation;
//! - `canaries.json`: the inserted canaries and their never-inserted twins;
//! - `training.json`: what the model card needs (hyperparameters, data, tokens, time,
//!   hardware, digests).
//!
//! Checkpoints live in the stage's work directory, which the engine keeps while the stage
//! key is unchanged: an interrupted run (SIGTERM, SIGINT, kill -9, power loss) resumes
//! from the newest one on the next `sealtune run`.

use sealtune_contract::artifacts::{FileRef, mask, train};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sealtune_data::canary::CanarySet;
use sealtune_data::record::Record;
use sealtune_model::safetensors::{OwnedTensor, write_safetensors};
use sealtune_model::tokenizer::Tokenizer;
use sealtune_model::{Llama, ModelError};
use sealtune_pipeline::fsutil::{atomic_write, sha256_file};
use sealtune_pipeline::{Config, ConfigError, Exit, Stage, StageContext, StageError};
use serde_json::{Value, json};

use crate::at_rest::{self, AtRest};
use crate::checkpoint::{CheckpointStore, TrainState};
use crate::collate::{
    Example, MicroBatch, Origin, Rendered, StepPlan, canary_examples, micro_batch, plan_epoch,
    record_messages, render,
};
use crate::config::TrainConfig;
use crate::model_section::{ModelSection, compute, compute_for_stage, compute_key};
use crate::optim::learning_rate;
use crate::trainer::Trainer;

/// The train stage.
#[derive(Debug, Default)]
pub struct TrainStage;

/// A stage error that model errors convert into (for the model's generic writers).
struct Wrapped(StageError);

impl From<ModelError> for Wrapped {
    fn from(e: ModelError) -> Self {
        Wrapped(StageError::from_error(e))
    }
}

impl From<StageError> for Wrapped {
    fn from(e: StageError) -> Self {
        Wrapped(e)
    }
}

/// Writes weights in clear, or, with `seal_at_rest`, only sealed. Returns the SHA-256 of
/// the clear safetensors bytes (the same either way).
fn write_weights(
    at_rest: Option<&AtRest>,
    path: &Path,
    tensors: &[OwnedTensor],
) -> Result<String, StageError> {
    match at_rest {
        Some(a) => a.write_tensors(path, tensors),
        None => {
            write_safetensors(path, tensors).map_err(StageError::from_error)?;
            sha256_file(path)
                .map(|d| d.sha256)
                .map_err(|e| StageError::io("hash", path, e))
        }
    }
}

fn json_err(e: serde_json::Error) -> StageError {
    StageError::internal(format!("cannot serialise: {e}"))
}

/// Reads a split file of masked records.
fn read_records(path: &Path) -> Result<Vec<(usize, Record)>, StageError> {
    let f = std::fs::File::open(path).map_err(|e| StageError::io("open", path, e))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| StageError::io("read", path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: Record = serde_json::from_str(&line).map_err(|e| {
            StageError::data(format!(
                "{}:{}: not a record ({}); rerun the mask stage (`sealtune run --from mask --force`)",
                path.display(),
                i + 1,
                e.classify_name()
            ))
        })?;
        out.push((i + 1, rec));
    }
    Ok(out)
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => "unexpected shape",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

/// Counts of records that did not become examples.
#[derive(Debug, Default, Clone, Copy)]
struct Skipped {
    too_long: usize,
    no_targets: usize,
}

fn render_all(
    tok: &Tokenizer,
    records: &[(usize, Record)],
    cfg: &TrainConfig,
    skipped: &mut Skipped,
) -> Result<Vec<Example>, StageError> {
    let mut out = Vec::with_capacity(records.len());
    for (line, rec) in records {
        match render(tok, &record_messages(rec), cfg, Origin::Record(*line))
            .map_err(StageError::from_error)?
        {
            Rendered::Example(e) => out.push(e),
            Rendered::TooLong => skipped.too_long += 1,
            Rendered::NoTargets => skipped.no_targets += 1,
        }
    }
    Ok(out)
}

/// Steps of each epoch, computed on demand.
struct Schedule<'a> {
    examples: &'a [Example],
    cfg: &'a TrainConfig,
    epoch: u64,
    plan: Vec<StepPlan>,
}

impl<'a> Schedule<'a> {
    fn new(examples: &'a [Example], cfg: &'a TrainConfig) -> Self {
        Self {
            examples,
            cfg,
            epoch: 0,
            plan: plan_epoch(examples, cfg, 0),
        }
    }

    fn epoch(&mut self, e: u64) -> &[StepPlan] {
        if e != self.epoch {
            self.epoch = e;
            self.plan = plan_epoch(self.examples, self.cfg, e);
        }
        &self.plan
    }

    /// Total steps: `max_steps`, or the steps of `epochs` epochs, whichever is smaller.
    fn total_steps(&mut self) -> u64 {
        let epochs = match (self.cfg.max_steps, self.cfg.epochs) {
            (Some(m), None) => return m,
            (_, Some(e)) => e,
            (None, None) => 1,
        };
        let mut total = 0u64;
        for e in 0..u64::from(epochs) {
            total += self.epoch(e).len() as u64;
            if let Some(m) = self.cfg.max_steps
                && total >= m
            {
                return m;
            }
        }
        total
    }
}

fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Where training ran: the device, backend and precision, the CPU and the memory.
fn hardware(compute: &sealtune_model::Compute) -> train::Hardware {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|m| m.trim().to_owned())
    });
    let mem_gib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|k| k.parse::<f64>().ok())
            .map(|k| (k / 1024.0 / 1024.0 * 10.0).round() / 10.0)
    });
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    train::Hardware {
        device: compute.to_string(),
        backend: if compute.kind() == "cpu" {
            "burn-flex"
        } else {
            "burn-tch (LibTorch)"
        }
        .to_owned(),
        dtype: compute.dtype().to_owned(),
        cpu,
        threads: threads as u64,
        memory_gib: mem_gib,
    }
}

fn rss_mib() -> Option<f64> {
    sealtune_pipeline::proc::peak_rss_kib().map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0)
}

/// Appends metric lines to the work directory's `metrics.jsonl`.
struct Metrics {
    path: PathBuf,
    file: std::fs::File,
}

impl Metrics {
    /// Opens the log, keeping only lines up to `step` (a resumed run rewrites the rest).
    fn open(path: &Path, step: u64) -> Result<Self, StageError> {
        let kept: Vec<String> = match std::fs::read_to_string(path) {
            Ok(text) => text
                .lines()
                .filter(|l| {
                    serde_json::from_str::<Value>(l)
                        .ok()
                        .and_then(|v| v.get("step").and_then(Value::as_u64))
                        .is_some_and(|s| s <= step)
                })
                .map(str::to_owned)
                .collect(),
            Err(_) => Vec::new(),
        };
        let mut text = kept.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        atomic_write(path, text.as_bytes()).map_err(|e| StageError::cant_create(path, e))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| StageError::cant_create(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    fn write(&mut self, m: &train::MetricsLine) -> Result<(), StageError> {
        // Through a `Value`, so the keys keep the sorted order of the lines written so far.
        let mut line = serde_json::to_value(m)
            .map_err(|e| StageError::internal(e.to_string()))?
            .to_string();
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| StageError::io("write", &self.path, e))
    }
}

fn eval_batches(examples: &[Example], cfg: &TrainConfig, pad: u32) -> Vec<MicroBatch> {
    plan_epoch(examples, cfg, 0)
        .into_iter()
        .flatten()
        .map(|rows| micro_batch(examples, &rows, pad))
        .collect()
}

impl Stage for TrainStage {
    fn name(&self) -> &'static str {
        "train"
    }

    fn code_version(&self) -> &'static str {
        "1"
    }

    fn depends_on(&self) -> &'static [&'static str] {
        &["mask"]
    }

    fn sections(&self) -> &'static [&'static str] {
        &["model", "compute", "train"]
    }

    fn validate(&self, cfg: &Config) -> Result<(), ConfigError> {
        ModelSection::from_config(cfg)?;
        cfg.section::<sealtune_model::ComputeSection>("compute")?;
        let t = TrainConfig::from_config(cfg)?;
        at_rest::validate(cfg, &t.at_rest())
    }

    /// The device must open, and the at-rest keys (if any) must load.
    fn preflight(&self, cfg: &Config) -> Result<(), StageError> {
        compute(cfg)?;
        AtRest::from_config(cfg, &TrainConfig::from_config(cfg)?.at_rest())?;
        Ok(())
    }

    /// The device kind actually used (`auto` resolves per machine): a result computed
    /// on the CPU is not reused as if it came from a GPU, or the other way round. With
    /// `seal_at_rest`, the keys' one-way ids: outputs sealed for other keys are not reused.
    fn extra_key(&self, cfg: &Config) -> Result<Value, StageError> {
        let device = compute_key(cfg)?;
        match AtRest::from_config(cfg, &TrainConfig::from_config(cfg)?.at_rest())? {
            Some(a) => Ok(json!({"compute": device, "sealed_at_rest": a.ids()})),
            None => Ok(device),
        }
    }

    fn external_inputs(&self, cfg: &Config) -> Result<Vec<PathBuf>, StageError> {
        ModelSection::from_config(cfg)?.files(cfg)
    }

    fn run(&self, ctx: &StageContext<'_>) -> Result<Value, StageError> {
        let wall = Instant::now();
        let cfg = ctx.config();
        let tcfg = TrainConfig::from_config(cfg)?;
        let msec = ModelSection::from_config(cfg)?;
        let model_dir = msec.dir(cfg);
        let mask_dir = ctx.input_dir("mask")?;

        let tok = Tokenizer::from_dir(&model_dir).map_err(StageError::from_error)?;
        if tok.template().is_none() {
            return Err(StageError::new(
                Exit::Config,
                format!(
                    "[model] path: {}: the tokenizer has no chat template this build understands (ChatML or Llama 3); use an instruct model",
                    model_dir.display()
                ),
            ));
        }
        let train_records = read_records(&mask_dir.join(mask::TRAIN))?;
        let eval_records = read_records(&mask_dir.join(mask::EVAL))?;
        let mut skipped = Skipped::default();
        let mut examples = render_all(&tok, &train_records, &tcfg, &mut skipped)?;
        let record_examples = examples.len();
        let canaries = CanarySet::generate(
            tcfg.seed,
            tcfg.canaries.count,
            tcfg.canaries.repeats,
            &tcfg.canaries.formats,
        );
        let canary_ex = canary_examples(&tok, &canaries, &tcfg).map_err(StageError::from_error)?;
        let canary_records = canary_ex.len();
        examples.extend(canary_ex);
        if record_examples == 0 {
            return Err(StageError::data(format!(
                "{}: no record left to train on ({} too long for max_seq_len {}, {} without an assistant turn); raise [train] max_seq_len or check the data",
                mask_dir.join(mask::TRAIN).display(),
                skipped.too_long,
                tcfg.max_seq_len,
                skipped.no_targets
            )));
        }
        let mut eval_skipped = Skipped::default();
        let eval_subset: Vec<(usize, Record)> = eval_records
            .iter()
            .take(tcfg.eval_max_records)
            .cloned()
            .collect();
        let eval_examples = render_all(&tok, &eval_subset, &tcfg, &mut eval_skipped)?;

        let compute = compute_for_stage(ctx, "train")?;
        let model = Llama::load_dir_as(&model_dir, compute.device(), compute.precision())
            .map_err(StageError::from_error)?;
        let mut trainer = Trainer::new(model, &tcfg.lora).map_err(StageError::from_error)?;
        trainer.set_activation_checkpointing(tcfg.activation_checkpointing);
        let pad = trainer.pad_id();
        let eval_mb = eval_batches(&eval_examples, &tcfg, pad);

        let mut schedule = Schedule::new(&examples, &tcfg);
        let total = schedule.total_steps();
        let at_rest = AtRest::from_config(cfg, &tcfg.at_rest())?;
        let store =
            CheckpointStore::new(&ctx.work_dir().join("checkpoints"), tcfg.keep_checkpoints)
                .sealed(at_rest.as_ref());
        let mut state = match store.restore_latest(&mut trainer)? {
            Some(s) => {
                ctx.events().emit(
                    "train_resumed",
                    json!({"step": s.step, "total": total}),
                    Some(format!(
                        "train: resuming from the checkpoint at step {} of {total}",
                        s.step
                    )),
                );
                s
            }
            None => TrainState::start(),
        };
        let resumed_from = (state.step > 0).then_some(state.step);
        let metrics_path = ctx.work_dir().join("metrics.jsonl");
        let mut metrics = Metrics::open(&metrics_path, state.step)?;
        let mut progress = ctx.progress(Some(total), "steps");
        progress.inc(state.step);
        let mut last_saved = state.step;
        let mut last_ckpt_time = Instant::now();
        let session = Instant::now();
        let elapsed_before = state.elapsed_s;

        while state.step < total {
            let plan = {
                let epoch_plan = schedule.epoch(state.epoch);
                if state.step_in_epoch >= epoch_plan.len() {
                    state.epoch += 1;
                    state.step_in_epoch = 0;
                    continue;
                }
                epoch_plan[state.step_in_epoch].clone()
            };
            let micro: Vec<MicroBatch> = plan
                .iter()
                .map(|rows| micro_batch(&examples, rows, pad))
                .collect();
            let lr = learning_rate(&tcfg.optim, state.step, total);
            let t0 = Instant::now();
            let stats = trainer
                .step_interruptible(&micro, &tcfg.optim, lr, mix(tcfg.seed, state.step), &|| {
                    ctx.cancelled()
                })
                .map_err(StageError::from_error)?;
            let Some(stats) = stats else {
                break;
            };
            let secs = t0.elapsed().as_secs_f64();
            state.step += 1;
            state.step_in_epoch += 1;
            state.tokens_seen += stats.tokens as u64;
            state.loss_tokens += stats.loss_tokens as u64;
            state.last_loss = Some(stats.loss);
            state.adam_t = trainer.optimizer_steps();
            state.elapsed_s = elapsed_before + session.elapsed().as_secs_f64();
            metrics.write(&train::MetricsLine::Train {
                step: state.step,
                loss: stats.loss,
                lr,
                grad_norm: stats.grad_norm,
                tokens: stats.tokens as u64,
                tokens_per_s: stats.tokens as f64 / secs.max(1e-9),
                elapsed_s: state.elapsed_s,
                rss_mib: rss_mib(),
            })?;
            progress.inc(1);
            let eval_now =
                tcfg.eval_every > 0 && state.step % tcfg.eval_every == 0 && state.step < total;
            if eval_now && !eval_mb.is_empty() {
                let (loss, n) = trainer
                    .eval_loss(&eval_mb)
                    .map_err(StageError::from_error)?;
                state.last_eval_loss = Some(loss);
                metrics.write(&train::MetricsLine::Eval {
                    step: state.step,
                    eval_loss: loss,
                    tokens: n as u64,
                })?;
            }
            let by_count = tcfg.checkpoint_every > 0 && state.step % tcfg.checkpoint_every == 0;
            let by_time = tcfg.checkpoint_minutes > 0.0
                && last_ckpt_time.elapsed().as_secs_f64() >= tcfg.checkpoint_minutes * 60.0;
            if (by_count || by_time || ctx.cancelled()) && state.step < total {
                store.save(&trainer, &state)?;
                last_saved = state.step;
                last_ckpt_time = Instant::now();
            }
            if ctx.cancelled() {
                break;
            }
        }
        if ctx.cancelled() {
            if state.step > last_saved {
                store.save(&trainer, &state)?;
            }
            drop(progress);
            ctx.events().emit(
                "train_checkpoint",
                json!({"step": state.step, "total": total}),
                Some(format!(
                    "train: stopped at step {} of {total}; the checkpoint is kept and `sealtune run` resumes from it",
                    state.step
                )),
            );
            return Err(StageError::interrupted());
        }
        drop(progress);

        // Final evaluation loss.
        if !eval_mb.is_empty() {
            let (loss, n) = trainer
                .eval_loss(&eval_mb)
                .map_err(StageError::from_error)?;
            state.last_eval_loss = Some(loss);
            metrics.write(&train::MetricsLine::Eval {
                step: state.step,
                eval_loss: loss,
                tokens: n as u64,
            })?;
        }
        drop(metrics);

        let out = ctx.out_dir();
        let base_name = msec
            .name
            .clone()
            .unwrap_or_else(|| cfg.display_relative(&model_dir));
        let adapter_dir = out.join(train::ADAPTER_DIR);
        let mut adapter_sha = String::new();
        trainer
            .model()
            .save_peft_adapter_with(&adapter_dir, &base_name, |p, t| {
                adapter_sha = write_weights(at_rest.as_ref(), p, t)?;
                Ok(())
            })
            .map_err(|e: Wrapped| e.0)?;
        if tcfg.save_merged {
            trainer
                .model()
                .save_merged_with(&model_dir, &out.join(train::MERGED_DIR), |p, t| {
                    write_weights(at_rest.as_ref(), p, t)?;
                    Ok(())
                })
                .map_err(|e: Wrapped| e.0)?;
        }
        let metrics_out = out.join(train::METRICS);
        std::fs::copy(&metrics_path, &metrics_out)
            .map_err(|e| StageError::cant_create(&metrics_out, e))?;
        let canaries_path = out.join(train::CANARIES);
        atomic_write(
            &canaries_path,
            &serde_json::to_vec_pretty(&canaries).map_err(json_err)?,
        )
        .map_err(|e| StageError::cant_create(&canaries_path, e))?;

        let base_files: Vec<FileRef> = ctx
            .external_inputs()
            .iter()
            .map(|x| FileRef {
                name: Path::new(&x.path)
                    .file_name()
                    .map_or_else(|| x.path.clone(), |n| n.to_string_lossy().into_owned()),
                sha256: x.digest.sha256.clone(),
                bytes: Some(x.digest.bytes),
            })
            .collect();
        let epochs_completed = state.epoch as f64
            + state.step_in_epoch as f64 / schedule.epoch(state.epoch).len().max(1) as f64;
        let wall_time = state.elapsed_s;
        let hyperparameters = match serde_json::to_value(&tcfg).map_err(json_err)? {
            Value::Object(m) => m,
            _ => return Err(StageError::internal("[train] did not serialise as a table")),
        };
        let training = train::Training {
            schema: train::TRAINING_SCHEMA.to_owned(),
            base_model: train::BaseModel {
                name: msec.name.clone(),
                license: msec.license.clone(),
                path: cfg.display_relative(&model_dir),
                files: base_files,
            },
            adapter: train::Adapter {
                kind: "lora".to_owned(),
                rank: tcfg.lora.rank as u64,
                alpha: tcfg.lora.alpha,
                dropout: tcfg.lora.dropout,
                use_rslora: tcfg.lora.use_rslora,
                targets: tcfg
                    .lora
                    .targets
                    .iter()
                    .map(|t| t.module_name().to_owned())
                    .collect(),
                trainable_parameters: trainer.trainable_parameters() as u64,
                files: vec![FileRef {
                    name: "adapter_model.safetensors".to_owned(),
                    sha256: adapter_sha.clone(),
                    bytes: None,
                }],
            },
            merged: tcfg.save_merged,
            sealed_at_rest: at_rest.as_ref().map(AtRest::record),
            hyperparameters,
            records: train::Records {
                train: train_records.len() as u64,
                eval: eval_records.len() as u64,
                trained_examples: record_examples as u64,
                too_long: skipped.too_long as u64,
                no_targets: skipped.no_targets as u64,
                canary_records: canary_records as u64,
                eval_loss_records: eval_examples.len() as u64,
            },
            steps: state.step,
            epochs_completed,
            tokens_seen: state.tokens_seen,
            loss_tokens: state.loss_tokens,
            final_loss: train::FinalLoss {
                train_loss: state.last_loss,
                eval_loss: state.last_eval_loss,
            },
            wall_time_s: wall_time,
            resumed_from_step: resumed_from,
            hardware: hardware(&compute),
            peak_rss_mib: rss_mib(),
        };
        let training_path = out.join(train::TRAINING);
        atomic_write(
            &training_path,
            &sealtune_contract::artifacts::to_sorted_json(&training).map_err(json_err)?,
        )
        .map_err(|e| StageError::cant_create(&training_path, e))?;

        Ok(json!({
            "steps": state.step,
            "tokens_seen": state.tokens_seen,
            "train_loss": state.last_loss,
            "eval_loss": state.last_eval_loss,
            "tokens_per_s": state.tokens_seen as f64 / wall_time.max(1e-9),
            "training_time_s": wall_time,
            "stage_time_s": wall.elapsed().as_secs_f64(),
            "resumed_from_step": resumed_from,
            "trainable_parameters": trainer.trainable_parameters(),
            "records": record_examples,
            "canary_records": canary_records,
            "skipped_too_long": skipped.too_long,
            "skipped_no_targets": skipped.no_targets,
            "adapter_sha256": adapter_sha,
            "sealed_at_rest": at_rest.is_some(),
        }))
    }
}
