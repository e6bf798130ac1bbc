//! `sealtune export`: verify a signed release, then write its adapter in clear into a new directory for serving: a PEFT adapter (--peft) or the base model with the adapter merged (--merged). Files are mode 0600, written after every chunk authenticated.

use sealtune_pipeline::{Exit, Stage};

use crate::cli::ExportArgs;
use crate::error::Fail;
use crate::release_use;

/// Runs `sealtune export`.
pub(crate) fn command(args: ExportArgs, _stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let ExportArgs {
        release,
        public_key,
        kek,
        out,
        peft,
        merged: _,
        model,
    } = args;
    let kind = if peft {
        release_use::ExportKind::Peft
    } else {
        release_use::ExportKind::Merged
    };
    let files = release_use::export(&release, &public_key, &kek, &out, kind, model.as_deref())?;
    for f in &files {
        println!("{}", f.display());
    }
    eprintln!(
        "{}: {} file(s) written in clear (mode 0600); keep this directory as private as the key",
        out.display(),
        files.len()
    );
    Ok(Exit::Success)
}
