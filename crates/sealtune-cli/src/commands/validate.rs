//! `sealtune validate`: check a config (keys, values, inline secrets, input files) without running anything.

use sealtune_pipeline::{CancelToken, Engine, Events, Exit, Stage};

use super::load_config;
use crate::cli::ValidateArgs;
use crate::error::Fail;

/// Runs `sealtune validate`.
pub(crate) fn command(args: ValidateArgs, stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let ValidateArgs { config } = args;
    let cfg = load_config(&config, stages)?;
    let events = Events::new(false, true);
    let engine = Engine::new(
        stages,
        &cfg,
        cfg.default_run_dir(),
        &events,
        CancelToken::new(),
    );
    engine.preflight()?;
    let mut n_files = 0usize;
    let mut bytes = 0u64;
    for s in stages {
        for p in s.external_inputs(&cfg)? {
            n_files += 1;
            bytes += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        }
    }
    eprintln!(
        "{}: valid; stages: {}; {n_files} input file(s), {bytes} bytes; run directory: {}",
        config.display(),
        stages
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", "),
        cfg.default_run_dir().display()
    );
    Ok(Exit::Success)
}
