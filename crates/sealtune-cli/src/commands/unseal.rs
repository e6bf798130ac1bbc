//! `sealtune unseal`: decrypt a sealed file. Plaintext is written only to --out, mode 0600, after every chunk verified.

use sealtune_pipeline::{Exit, Stage};

use crate::cli::UnsealArgs;
use crate::error::Fail;

/// Runs `sealtune unseal`.
pub(crate) fn command(args: UnsealArgs, _stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let UnsealArgs {
        file,
        out,
        check,
        keys,
    } = args;
    let sources = keys.sources()?;
    if check {
        let info = sealtune_seal::verify_sealed(&file, &sources).map_err(Fail::from)?;
        eprintln!(
            "{}: all {} chunks authenticate; nothing written",
            file.display(),
            info.chunks
        );
    } else if let Some(out) = out {
        let info = sealtune_seal::unseal_file(&file, &out, &sources).map_err(Fail::from)?;
        eprintln!(
            "{}: {} chunks verified; plaintext written to {} (mode 0600)",
            file.display(),
            info.chunks,
            out.display()
        );
    }
    Ok(Exit::Success)
}
