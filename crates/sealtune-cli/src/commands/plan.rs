//! `sealtune plan`: write Slurm, Kubernetes or Argo job definitions for the five stages.

use std::io::Write;
use std::path::Path;

use sealtune_pipeline::{Exit, Stage, StageError};

use super::load_config;
use crate::cli::PlanArgs;
use crate::error::Fail;

/// Runs `sealtune plan`.
pub(crate) fn command(args: PlanArgs, stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let PlanArgs {
        config,
        emit,
        out,
        image,
        namespace,
        storage_class,
        partition,
        sealtune,
    } = args;
    let cfg = load_config(&config, stages)?;
    // Every stage's section must be valid, but the key files may
    // exist only on the cluster: a missing one is not an error here.
    let secret_keys: Vec<String> = sealtune_plan::secrets(&cfg)
        .files
        .into_iter()
        .map(|f| f.key)
        .collect();
    for s in stages {
        if let Err(e) = s.validate(&cfg) {
            if secret_keys.contains(&e.key) {
                eprintln!("note: {e} (fine if it exists where the job runs)");
            } else {
                return Err(e.into());
            }
        }
    }
    let opts = sealtune_plan::Options {
        image,
        namespace,
        storage_class,
        partition,
        sealtune,
    };
    let plan = sealtune_plan::plan(&cfg, emit, &opts)?;
    write_plan(&plan, out.as_deref())?;
    Ok(Exit::Success)
}

/// Writes the plan's files (or prints them), then lists on stderr what the
/// user must fill in and do.
fn write_plan(plan: &sealtune_plan::Plan, out: Option<&Path>) -> Result<(), Fail> {
    match out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                Fail::from(StageError::new(
                    Exit::CantCreate,
                    format!("{}: cannot create the directory: {e}", dir.display()),
                ))
            })?;
            for f in &plan.files {
                let p = dir.join(&f.name);
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(if f.executable { 0o755 } else { 0o644 });
                }
                let mut file = opts.open(&p).map_err(|e| {
                    Fail::from(StageError::new(
                        Exit::CantCreate,
                        format!(
                            "{}: cannot create it ({e}); sealtune plan never overwrites a file: remove it or choose another --out",
                            p.display()
                        ),
                    ))
                })?;
                file.write_all(f.text.as_bytes())
                    .map_err(|e| Fail::from(StageError::io("cannot write", &p, e)))?;
                eprintln!("wrote {}", p.display());
            }
        }
        None => {
            let mut o = std::io::stdout().lock();
            for f in &plan.files {
                let _ = writeln!(o, "# ==> {} <==", f.name);
                let _ = o.write_all(f.text.as_bytes());
                if !f.text.ends_with('\n') {
                    let _ = writeln!(o);
                }
            }
        }
    }
    if !plan.placeholders.is_empty() {
        eprintln!("fill in before submitting (or pass the option):");
        for p in &plan.placeholders {
            eprintln!("  {}: {}", p.token, p.what);
        }
    }
    if !plan.notes.is_empty() {
        eprintln!("before the first run:");
        for n in &plan.notes {
            eprintln!("  - {n}");
        }
    }
    Ok(())
}
