//! `sealtune seal`: encrypt a file in the sealed format for one or more recipients.

use sealtune_pipeline::{Exit, Stage};

use crate::cli::SealArgs;
use crate::error::Fail;

/// Runs `sealtune seal`.
pub(crate) fn command(args: SealArgs, _stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let SealArgs {
        input,
        out,
        keys,
        content_type,
    } = args;
    let info = sealtune_seal::seal_file(&input, &out, &keys.sources()?, content_type.as_deref())
        .map_err(Fail::from)?;
    eprintln!(
        "{}: sealed into {} ({} chunks)",
        input.display(),
        out.display(),
        info.chunks
    );
    Ok(Exit::Success)
}
