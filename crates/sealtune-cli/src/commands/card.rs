//! `sealtune card`: regenerate the model card of a run for inspection (DIR/card/), listing reviewer attestations.

use sealtune_pipeline::{Exit, Stage};

use crate::cli::CardArgs;
use crate::error::Fail;

/// Runs `sealtune card`.
pub(crate) fn command(args: CardArgs, _stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let CardArgs { run_dir } = args;
    let out = run_dir.join("card");
    let (facts, files) = sealtune_card::regenerate(&run_dir, &out, None).map_err(Fail::from)?;
    for f in &files {
        println!("{}", f.display());
    }
    eprintln!(
        "card regenerated in {} ({} attestation(s) listed)",
        out.display(),
        facts.attestations.len()
    );
    Ok(Exit::Success)
}
