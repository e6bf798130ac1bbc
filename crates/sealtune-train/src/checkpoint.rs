//! Training checkpoints: the adapter, the optimiser moments, and the position in the
//! schedule and the data, written atomically under the stage's work directory.
//!
//! Layout: `<root>/step-00000042/{tensors.safetensors,state.json}`. A checkpoint is
//! assembled in `<root>/.tmp-step-00000042/`, synced, then renamed into place, so a
//! directory named `step-*` is always complete. The learning rate, the data order and
//! LoRA dropout are pure functions of the seed and the step, so this state is enough for
//! a resumed run to end with the same adapter bytes as an uninterrupted one.
//!
//! Checkpoint files are written in [`CheckpointStore::save`] and read in
//! [`CheckpointStore::restore_latest`] only. With `[train] seal_at_rest`
//! ([`CheckpointStore::sealed`]) the tensors are serialised into zeroizing memory and
//! written only sealed (`tensors.safetensors.seal`), and read back into memory;
//! `state.json` holds no weights and stays in clear.

use std::io;
use std::path::{Path, PathBuf};

use sealtune_model::safetensors::{
    OwnedTensor, SafetensorsBytes, SafetensorsFile, write_safetensors,
};
use sealtune_pipeline::StageError;
use sealtune_pipeline::fsutil::{atomic_write, fsync_dir};
use serde::{Deserialize, Serialize};

use crate::at_rest::{AtRest, sealed_path};
use crate::trainer::Trainer;

/// The schema tag of `state.json`.
pub const STATE_SCHEMA: &str = "sealtune.train-checkpoint/v1";

/// Where training stands after a completed optimiser step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainState {
    /// Always [`STATE_SCHEMA`].
    pub schema: String,
    /// Optimiser steps completed.
    pub step: u64,
    /// Epoch of the next step.
    pub epoch: u64,
    /// Index of the next step within its epoch.
    pub step_in_epoch: usize,
    /// Real tokens processed so far.
    pub tokens_seen: u64,
    /// Counted (target) tokens so far.
    pub loss_tokens: u64,
    /// Training time so far, seconds (excluding time spent stopped).
    pub elapsed_s: f64,
    /// Mean loss of the last step.
    pub last_loss: Option<f64>,
    /// Last evaluation loss.
    pub last_eval_loss: Option<f64>,
    /// AdamW's update count.
    pub adam_t: u64,
}

impl TrainState {
    /// The state before the first step.
    pub fn start() -> Self {
        Self {
            schema: STATE_SCHEMA.to_owned(),
            step: 0,
            epoch: 0,
            step_in_epoch: 0,
            tokens_seen: 0,
            loss_tokens: 0,
            elapsed_s: 0.0,
            last_loss: None,
            last_eval_loss: None,
            adam_t: 0,
        }
    }
}

/// Where a checkpoint's tensors are read from.
enum Tensors<'b> {
    /// Decrypted into memory.
    Memory(SafetensorsBytes<'b>),
    /// A clear file.
    File(SafetensorsFile),
}

/// The checkpoint directory of one training run.
#[derive(Debug, Clone)]
pub struct CheckpointStore<'a> {
    root: PathBuf,
    keep: usize,
    at_rest: Option<&'a AtRest>,
}

fn name(step: u64) -> String {
    format!("step-{step:08}")
}

fn io_err(what: &str, path: &Path) -> impl FnOnce(io::Error) -> StageError {
    let (what, path) = (what.to_owned(), path.to_path_buf());
    move |e| StageError::io(&what, &path, e)
}

impl<'a> CheckpointStore<'a> {
    /// Checkpoints under `root`, keeping the newest `keep`.
    pub fn new(root: &Path, keep: usize) -> Self {
        Self {
            root: root.to_path_buf(),
            keep: keep.max(1),
            at_rest: None,
        }
    }

    /// Tensors are written sealed with `at_rest`'s keys and read back into memory.
    pub fn sealed(mut self, at_rest: Option<&'a AtRest>) -> Self {
        self.at_rest = at_rest;
        self
    }

    /// Saves the trainer's parameters and optimiser state with `state`, then removes all
    /// but the newest `keep` checkpoints. Returns the checkpoint's directory.
    pub fn save(&self, trainer: &Trainer, state: &TrainState) -> Result<PathBuf, StageError> {
        std::fs::create_dir_all(&self.root).map_err(|e| StageError::cant_create(&self.root, e))?;
        let final_dir = self.root.join(name(state.step));
        let tmp = self.root.join(format!(".tmp-{}", name(state.step)));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|e| StageError::cant_create(&tmp, e))?;
        let params = trainer.params().map_err(StageError::from_error)?;
        let (m, v) = trainer
            .optimizer_moments()
            .map_err(StageError::from_error)?;
        let mut tensors = Vec::with_capacity(trainer.names().len() * 3);
        for (i, n) in trainer.names().iter().enumerate() {
            let shape = trainer.shapes()[i].to_vec();
            for (prefix, data) in [("param", &params[i]), ("adam_m", &m[i]), ("adam_v", &v[i])] {
                tensors.push(OwnedTensor {
                    name: format!("{prefix}/{n}"),
                    shape: shape.clone(),
                    data: data.clone(),
                });
            }
        }
        let tpath = tmp.join("tensors.safetensors");
        match self.at_rest {
            Some(a) => {
                a.write_tensors(&tpath, &tensors)?;
            }
            None => write_safetensors(&tpath, &tensors).map_err(StageError::from_error)?,
        }
        let json =
            serde_json::to_vec_pretty(state).map_err(|e| StageError::internal(e.to_string()))?;
        let state_path = tmp.join("state.json");
        atomic_write(&state_path, &json).map_err(io_err("write a checkpoint file", &state_path))?;
        fsync_dir(&tmp).map_err(io_err("sync", &tmp))?;
        let _ = std::fs::remove_dir_all(&final_dir);
        std::fs::rename(&tmp, &final_dir)
            .map_err(io_err("rename a checkpoint into place", &final_dir))?;
        fsync_dir(&self.root).map_err(io_err("sync", &self.root))?;
        let steps = self.steps()?;
        if steps.len() > self.keep {
            for s in &steps[..steps.len() - self.keep] {
                let _ = std::fs::remove_dir_all(self.root.join(name(*s)));
            }
        }
        Ok(final_dir)
    }

    /// Steps of the complete checkpoints, oldest first.
    pub fn steps(&self) -> Result<Vec<u64>, StageError> {
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StageError::io("list checkpoints", &self.root, e)),
        };
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(io_err("list checkpoints", &self.root))?;
            let name = entry.file_name();
            let Some(n) = name.to_str().and_then(|s| s.strip_prefix("step-")) else {
                continue;
            };
            if let Ok(step) = n.parse::<u64>() {
                out.push(step);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Loads the newest checkpoint into `trainer`, if there is one.
    pub fn restore_latest(&self, trainer: &mut Trainer) -> Result<Option<TrainState>, StageError> {
        let Some(&step) = self.steps()?.last() else {
            return Ok(None);
        };
        let dir = self.root.join(name(step));
        let state_path = dir.join("state.json");
        let bytes =
            std::fs::read(&state_path).map_err(io_err("read a checkpoint file", &state_path))?;
        let state: TrainState = serde_json::from_slice(&bytes).map_err(|e| {
            StageError::data(format!(
                "{}: not a sealtune checkpoint state ({e}); delete the checkpoint directory to start over",
                state_path.display()
            ))
        })?;
        let tpath = dir.join("tensors.safetensors");
        let sealed = sealed_path(&tpath);
        let bytes = match (self.at_rest, sealed.is_file()) {
            (Some(a), true) => Some(a.open(&sealed)?),
            (None, true) => {
                return Err(StageError::data(format!(
                    "{}: this checkpoint is sealed at rest but [train] seal_at_rest is off; set it back, or delete the checkpoint directory to start over",
                    sealed.display()
                )));
            }
            (Some(_), false) => {
                return Err(StageError::data(format!(
                    "{}: [train] seal_at_rest is on but this checkpoint is in clear; delete the checkpoint directory to start over",
                    tpath.display()
                )));
            }
            (None, false) => None,
        };
        let mut source = match &bytes {
            Some(b) => {
                Tensors::Memory(SafetensorsBytes::parse(b, &tpath).map_err(StageError::from_error)?)
            }
            None => Tensors::File(SafetensorsFile::open(&tpath).map_err(StageError::from_error)?),
        };
        let mut read = |k: &str, shape: &[usize]| match &mut source {
            Tensors::Memory(st) => st.read(k, shape).map_err(StageError::from_error),
            Tensors::File(f) => f
                .read_f32(k)
                .map(|(d, _)| d)
                .map_err(StageError::from_error),
        };
        let names: Vec<String> = trainer.names().to_vec();
        let (mut params, mut m, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for (i, n) in names.iter().enumerate() {
            let shape = trainer.shapes()[i].to_vec();
            for prefix in ["param", "adam_m", "adam_v"] {
                let data = read(&format!("{prefix}/{n}"), &shape)?;
                if data.len() != shape.iter().product::<usize>() {
                    return Err(StageError::data(format!(
                        "{}: {prefix}/{n} has the wrong size for this adapter; delete the checkpoint directory to start over",
                        tpath.display()
                    )));
                }
                match prefix {
                    "param" => params.push(data),
                    "adam_m" => m.push(data),
                    _ => v.push(data),
                }
            }
        }
        trainer.set_params(params).map_err(StageError::from_error)?;
        trainer
            .set_optimizer_state(m, v, state.adam_t)
            .map_err(StageError::from_error)?;
        Ok(Some(state))
    }
}
