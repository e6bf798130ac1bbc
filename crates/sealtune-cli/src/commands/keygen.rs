//! `sealtune keygen`: write a signing key pair (NAME.key.pem, NAME.pub.pem) and a key-encryption key (NAME.kek).

use sealtune_pipeline::{Exit, Stage};

use crate::cli::KeygenArgs;
use crate::error::Fail;

/// Runs `sealtune keygen`.
pub(crate) fn command(args: KeygenArgs, _stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let KeygenArgs { out, name } = args;
    let k = sealtune_seal::keygen(&out, &name).map_err(Fail::from)?;
    println!("private key  {} (mode 0600)", k.private_key.display());
    println!("public key   {}", k.public_key.display());
    println!("KEK          {} (mode 0600)", k.kek.display());
    println!("key hint     {}", k.public_key_hint);
    Ok(Exit::Success)
}
