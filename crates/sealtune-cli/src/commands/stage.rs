//! `sealtune stage`: run one stage (the entry point for schedulers). Exits 66 if an input stage is missing or stale.

use sealtune_pipeline::{Exit, Stage};

use super::with_engine;
use crate::cli::StageArgs;
use crate::error::Fail;

/// Runs `sealtune stage`.
pub(crate) fn command(args: StageArgs, stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let StageArgs {
        name,
        config,
        run_dir,
        force,
        flags,
    } = args;
    with_engine(stages, &config, Some(run_dir), flags, |engine| {
        engine.preflight_stage(&name)?;
        engine.run_single(&name, force).map(|_| ())
    })
}
