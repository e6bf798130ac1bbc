//! `sealtune status`: show each stage's state: not started, running, done, skipped, failed, interrupted or stale.

use std::path::{Path, PathBuf};

use serde_json::json;

use sealtune_pipeline::manifest::Status;
use sealtune_pipeline::{CancelToken, Config, Engine, Events, Exit, Stage};

use super::supported_sections;
use crate::cli::StatusArgs;
use crate::error::Fail;

/// Runs `sealtune status`.
pub(crate) fn command(args: StatusArgs, stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let StatusArgs {
        run_dir,
        config,
        json,
    } = args;
    status(stages, &run_dir, config.as_deref(), json)
}

fn status(
    stages: &[Box<dyn Stage>],
    run_dir: &Path,
    config: Option<&Path>,
    json_out: bool,
) -> Result<Exit, Fail> {
    let st = Status::read_checked(run_dir).map_err(|why| Fail {
        exit: Exit::DataErr,
        message: format!("{why}; it is rewritten by the next `sealtune run` on this directory"),
    })?;
    if st.is_none() && !run_dir.join("audit.jsonl").exists() {
        return Err(Fail {
            exit: Exit::NoInput,
            message: format!(
                "{}: no sealtune run here (no status.json); start one with `sealtune run CONFIG`",
                run_dir.display()
            ),
        });
    }
    // Staleness needs the config: the one given, or the one the run last used.
    let cfg_path = config.map(Path::to_path_buf).or_else(|| {
        st.as_ref()
            .and_then(|s| s.config.as_ref())
            .map(|c| PathBuf::from(&c.path))
    });
    let mut note = None;
    let cfg = match &cfg_path {
        Some(p) => match Config::load(p, &supported_sections(stages)) {
            Ok(c) => Some(c),
            Err(e) => {
                if config.is_some() {
                    return Err(e.into());
                }
                note = Some(format!(
                    "config {} cannot be read ({e}); staleness is checked from outputs only",
                    p.display()
                ));
                None
            }
        },
        None => None,
    };
    let events = Events::new(false, true);
    let names = stages.iter().map(|s| s.name());
    let rows = match &cfg {
        Some(cfg) => {
            let engine = Engine::new(
                stages,
                cfg,
                run_dir.to_path_buf(),
                &events,
                CancelToken::new(),
            );
            engine.report()
        }
        None => sealtune_pipeline::engine::report_stages(run_dir, names, |n| {
            let m = sealtune_pipeline::manifest::Manifest::read(&run_dir.join(n))?;
            m.verify_outputs(&run_dir.join(n))
                .err()
                .map(|e| e.to_string())
        }),
    };
    let holder = sealtune_pipeline::lock::probe(run_dir);
    // A broken log is reported, not hidden: the table still shows what the
    // manifests say, and the exit status is 65.
    let log_error =
        sealtune_pipeline::engine::verify_run_audit(run_dir, stages.iter().map(|s| s.name()))
            .err()
            .map(|e| e.to_string());
    let exit = if log_error.is_some() {
        Exit::DataErr
    } else {
        Exit::Success
    };
    if json_out {
        let v = json!({
            "run_dir": run_dir.display().to_string(),
            "run_id": st.as_ref().map(|s| s.run_id.clone()),
            "config": st.as_ref().and_then(|s| s.config.clone()),
            "locked_by": holder,
            "audit": { "intact": log_error.is_none(), "error": log_error },
            "stages": rows,
            "note": note,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(exit);
    }
    if let Some(s) = &st {
        println!("run {} in {}", s.run_id, run_dir.display());
    }
    if let Some(h) = &holder {
        println!("locked by pid {} on {} since {}", h.pid, h.host, h.since);
    }
    if let Some(n) = &note {
        println!("note: {n}");
    }
    println!(
        "{:<9} {:<12} {:<25} {:>10}  outputs",
        "STAGE", "STATE", "FINISHED", "SECONDS"
    );
    for r in rows {
        let outs = r
            .outputs
            .iter()
            .map(|(k, v)| format!("{k}={}", &v[..12.min(v.len())]))
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "{:<9} {:<12} {:<25} {:>10}  {}",
            r.stage,
            r.state.as_str(),
            r.finished.as_deref().unwrap_or("-"),
            r.duration_s
                .map(|d| format!("{d:.2}"))
                .unwrap_or_else(|| "-".into()),
            outs
        );
        // For a done stage the reason is what its verdict said (failed gates).
        if let Some(why) = r.reason {
            println!("          ↳ {why}");
        }
    }
    if let Some(e) = log_error {
        eprintln!(
            "warning: the audit log is not intact: {e}. The next run on this directory will refuse to start; see `sealtune audit --run-dir {}`",
            run_dir.display()
        );
    }
    Ok(exit)
}
