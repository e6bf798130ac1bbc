//! `sealtune attest`: add a reviewer's signed decision about a run's release (DIR/attestations/).

use sealtune_pipeline::{Exit, Stage};

use crate::cli::AttestArgs;
use crate::error::Fail;

/// Runs `sealtune attest`.
pub(crate) fn command(args: AttestArgs, _stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let AttestArgs {
        run_dir,
        key,
        decision,
        note,
    } = args;
    let a = sealtune_card::attest(&run_dir, &key, decision, &note).map_err(Fail::from)?;
    println!("{}", a.path.display());
    eprintln!(
        "{} recorded by key {} for release root digest {}",
        decision.as_str(),
        a.reviewer_key,
        a.root_digest
    );
    Ok(Exit::Success)
}
