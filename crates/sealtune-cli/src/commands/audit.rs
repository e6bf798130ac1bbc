//! `sealtune audit`: verify the run's audit log hash chain; names the first bad entry.

use std::path::Path;

use sealtune_pipeline::manifest::Status;
use sealtune_pipeline::{Exit, Stage, audit};

use crate::cli::AuditArgs;
use crate::error::Fail;

/// Runs `sealtune audit`.
pub(crate) fn command(args: AuditArgs, stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let AuditArgs { run_dir, show } = args;
    audit_cmd(stages, &run_dir, show)
}

fn audit_cmd(stages: &[Box<dyn Stage>], run_dir: &Path, show: bool) -> Result<Exit, Fail> {
    let path = run_dir.join("audit.jsonl");
    if !path.exists() && Status::read(run_dir).is_none() {
        return Err(Fail {
            exit: Exit::NoInput,
            message: format!("{}: no audit log here", path.display()),
        });
    }
    // The chain cannot show that entries were cut off its end or that the
    // whole log was replaced; status.json and the manifests record heads.
    let head =
        sealtune_pipeline::engine::verify_run_audit(run_dir, stages.iter().map(|s| s.name()))
            .map_err(|e| Fail {
                exit: Exit::DataErr,
                message: e.to_string(),
            })?;
    if show {
        for e in audit::read_entries(&path).map_err(|e| Fail {
            exit: Exit::DataErr,
            message: e.to_string(),
        })? {
            println!(
                "{:>5} {} {:<18} {:<8} {}@{} {}",
                e.seq,
                e.ts,
                e.event,
                e.stage.as_deref().unwrap_or("-"),
                e.actor.user,
                e.actor.host,
                e.data
            );
        }
    }
    match head {
        Some(h) => println!(
            "{}: {} entries, hash chain intact, head {}",
            path.display(),
            h.seq,
            h.hash
        ),
        None => println!("{}: empty", path.display()),
    }
    Ok(Exit::Success)
}
