//! One module per subcommand; [`run`] dispatches to them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sealtune_pipeline::{CancelToken, Config, Engine, Events, Exit, Stage, StageError};

use crate::cli::{Cli, Command, RunFlags};
use crate::error::Fail;

mod attest;
mod audit;
mod card;
mod completions;
mod export;
mod generate;
mod import_gguf;
mod keygen;
mod mask;
mod plan;
mod run;
mod seal;
mod sign;
mod stage;
mod status;
mod unseal;
mod validate;
mod verify;

/// The stages this build includes, in pipeline order.
pub(crate) fn stages() -> Vec<Box<dyn Stage>> {
    vec![
        Box::new(sealtune_data::IngestStage),
        Box::new(sealtune_pii::MaskStage),
        Box::new(sealtune_train::TrainStage),
        Box::new(sealtune_eval::EvalStage),
        Box::new(sealtune_release::ReleaseStage),
    ]
}

pub(crate) fn supported_sections(stages: &[Box<dyn Stage>]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    for s in stages {
        for sec in s.sections() {
            if !v.contains(sec) {
                v.push(sec);
            }
        }
    }
    v
}

/// Loads the config and applies `--device` over `[compute] device` and `--dtype` over
/// `[compute] dtype`.
pub(crate) fn load_config_with(
    path: &Path,
    stages: &[Box<dyn Stage>],
    device: Option<sealtune_model::DeviceChoice>,
    dtype: Option<sealtune_model::DtypeChoice>,
) -> Result<Config, Fail> {
    let mut cfg = load_config(path, stages)?;
    if let Some(d) = device {
        cfg.override_value("compute", "device", &d.to_string(), "--device")?;
    }
    if let Some(d) = dtype {
        cfg.override_value("compute", "dtype", &d.to_string(), "--dtype")?;
    }
    Ok(cfg)
}

pub(crate) fn load_config(path: &Path, stages: &[Box<dyn Stage>]) -> Result<Config, Fail> {
    if !path.is_file() {
        return Err(Fail {
            exit: Exit::NoInput,
            message: format!("{}: no such config file", path.display()),
        });
    }
    let cfg = Config::load(path, &supported_sections(stages))?;
    Ok(cfg)
}

/// Applies `--accept-failed-gates --reason` (clap makes the two go together).
fn with_acceptance<'a>(engine: Engine<'a>, reason: Option<String>) -> Result<Engine<'a>, Fail> {
    match reason {
        Some(r) => Ok(engine.accept_failed_gates(&r)?),
        None => Ok(engine),
    }
}

pub(crate) fn install_cancel() -> Result<CancelToken, Fail> {
    let cancel = CancelToken::new();
    cancel
        .install_signal_handlers()
        .context("cannot install signal handlers")
        .map_err(|e| Fail {
            exit: Exit::Software,
            message: format!("{e:#}"),
        })?;
    Ok(cancel)
}

/// What `run` and `stage` share: loads the config with `--device` and `--dtype` applied, builds the
/// engine over `run_dir` (default: the config's), with signal handling and
/// `--accept-failed-gates --reason`, and hands it to `go`.
pub(crate) fn with_engine(
    stages: &[Box<dyn Stage>],
    config: &Path,
    run_dir: Option<PathBuf>,
    flags: RunFlags,
    go: impl FnOnce(&Engine<'_>) -> Result<(), StageError>,
) -> Result<Exit, Fail> {
    let cfg = load_config_with(config, stages, flags.device, flags.dtype)?;
    let events = Events::new(flags.json, flags.quiet);
    let cancel = install_cancel()?;
    let dir = run_dir.unwrap_or_else(|| cfg.default_run_dir());
    let engine = with_acceptance(
        Engine::new(stages, &cfg, dir, &events, cancel),
        flags.reason,
    )?;
    go(&engine)?;
    Ok(Exit::Success)
}

/// Runs the command the command line names.
pub(crate) fn run(cli: Cli) -> Result<Exit, Fail> {
    let stages = stages();
    match cli.command {
        Command::Run(a) => run::command(a, &stages),
        Command::Stage(a) => stage::command(a, &stages),
        Command::Status(a) => status::command(a, &stages),
        Command::Validate(a) => validate::command(a, &stages),
        Command::Plan(a) => plan::command(a, &stages),
        Command::Audit(a) => audit::command(a, &stages),
        Command::Keygen(a) => keygen::command(a, &stages),
        Command::Seal(a) => seal::command(a, &stages),
        Command::Unseal(a) => unseal::command(a, &stages),
        Command::Sign(a) => sign::command(a, &stages),
        Command::Verify(a) => verify::command(a, &stages),
        Command::ImportGguf(a) => import_gguf::command(a, &stages),
        Command::Generate(a) => generate::command(a, &stages),
        Command::Export(a) => export::command(a, &stages),
        Command::Mask(a) => mask::command(a, &stages),
        Command::Card(a) => card::command(a, &stages),
        Command::Attest(a) => attest::command(a, &stages),
        Command::Completions(a) => completions::command(a, &stages),
    }
}
