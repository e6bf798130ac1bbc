//! `sealtune completions`: print a shell completion script.

use clap::CommandFactory;

use sealtune_pipeline::{Exit, Stage};

use crate::cli::{Cli, CompletionsArgs};
use crate::error::Fail;

/// Runs `sealtune completions`.
pub(crate) fn command(args: CompletionsArgs, _stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let CompletionsArgs { shell } = args;
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "sealtune", &mut std::io::stdout());
    Ok(Exit::Success)
}
