//! `sealtune verify`: verify a signed directory: signature, every file digest, no extra or missing file, provenance; with --kek every sealed chunk.

use std::path::Path;

use sealtune_pipeline::manifest::Status;
use sealtune_pipeline::{Exit, Stage, audit};

use crate::cli::VerifyArgs;
use crate::error::Fail;

/// Runs `sealtune verify`.
pub(crate) fn command(args: VerifyArgs, stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let VerifyArgs {
        dir,
        public_key,
        kek,
        run_dir,
    } = args;
    let r = sealtune_seal::verify_release(&dir, &public_key, kek.as_deref()).map_err(Fail::from)?;
    if let Some(run_dir) = &run_dir {
        verify_run_log(stages, &dir, &public_key, run_dir)?;
    }
    println!(
        "{}: signature valid; {} file(s) match; {} provenance statement(s) verified; {} sealed file(s) fully authenticated",
        dir.display(),
        r.manifest.files.len(),
        r.provenance_statements,
        r.sealed_checked.len()
    );
    println!("root digest {}", r.manifest.root_digest);
    Ok(Exit::Success)
}

/// `verify --run-dir`: the run's log must hold the head that the release's
/// signed provenance recorded (the release was verified just before).
fn verify_run_log(
    stages: &[Box<dyn Stage>],
    release: &Path,
    public_key: &Path,
    run_dir: &Path,
) -> Result<(), Fail> {
    let prov = release.join(sealtune_seal::release::PROVENANCE_FILE);
    let bad = |message: String| Fail {
        exit: Exit::DataErr,
        message,
    };
    let text = std::fs::read_to_string(&prov)
        .map_err(|e| bad(format!("{}: cannot read: {e}", prov.display())))?;
    let key = sealtune_seal::keys::load_public_key(public_key).map_err(Fail::from)?;
    let statements = sealtune_seal::dsse::verify_jsonl(&text, &key)
        .map_err(|(line, e)| bad(format!("{}:{line}: {e}", prov.display())))?;
    let head = sealtune_release::provenance::signed_audit_head(&statements).ok_or_else(|| {
        bad(format!(
            "{}: records no audit log head (released by an older sealtune); the run's log cannot be checked against it",
            prov.display()
        ))
    })?;
    let mut anchors = sealtune_pipeline::engine::run_dir_anchors(
        run_dir,
        stages.iter().map(|s| s.name()),
        Status::read(run_dir).as_ref(),
    );
    anchors.push(audit::Anchor::new(
        head.clone(),
        format!("the signed provenance of {}", release.display()),
    ));
    audit::verify_anchored(&run_dir.join("audit.jsonl"), &anchors)
        .map_err(|e| bad(e.to_string()))?;
    println!(
        "{}: audit log holds entry seq {} that the release's signed provenance records; chain intact",
        run_dir.join("audit.jsonl").display(),
        head.seq
    );
    Ok(())
}
