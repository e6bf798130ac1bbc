//! `sealtune run`: run every stage in order, skipping the ones that are up to date.

use sealtune_pipeline::{Exit, RunOptions, Stage};

use super::with_engine;
use crate::cli::RunArgs;
use crate::error::Fail;

/// Runs `sealtune run`.
pub(crate) fn command(args: RunArgs, stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let RunArgs {
        config,
        run_dir,
        from,
        to,
        force,
        flags,
    } = args;
    with_engine(stages, &config, run_dir, flags, |engine| {
        engine.preflight()?;
        engine.run(&RunOptions { from, to, force }).map(|_| ())
    })
}
