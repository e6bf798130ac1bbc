//! `sealtune sign`: sign every file in a directory with an OpenSSF Model Signing bundle (DIR/model.sig).

use sealtune_pipeline::{Exit, Stage};

use crate::cli::SignArgs;
use crate::error::Fail;

/// Runs `sealtune sign`.
pub(crate) fn command(args: SignArgs, _stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let SignArgs { dir, key } = args;
    let m = sealtune_seal::sign_release(&dir, &key, &Default::default()).map_err(Fail::from)?;
    println!(
        "{}: signed {} file(s); root digest {}",
        dir.join("model.sig").display(),
        m.files.len(),
        m.root_digest
    );
    Ok(Exit::Success)
}
