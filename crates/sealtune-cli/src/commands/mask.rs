//! `sealtune mask`: mask a JSONL file with a config's [mask] policy, or with --detect write the PII spans found.

use std::path::Path;

use sealtune_pii::{MaskConfig, MaskKey, Masker, PiiError};
use sealtune_pipeline::{Exit, Stage, StageError};

use super::load_config;
use crate::cli::MaskArgs;
use crate::error::Fail;

/// Runs `sealtune mask`.
pub(crate) fn command(args: MaskArgs, stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let MaskArgs {
        config,
        input,
        out,
        detect,
    } = args;
    mask_cmd(stages, config.as_deref(), &input, &out, detect)
}

fn mask_cmd(
    stages: &[Box<dyn Stage>],
    config: Option<&Path>,
    input: &Path,
    out: &Path,
    detect: bool,
) -> Result<Exit, Fail> {
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    };
    if same(input, out) {
        return Err(Fail {
            exit: Exit::Usage,
            message: "--out must not be the --in file".into(),
        });
    }
    let cfg = match config {
        Some(p) => Some(load_config(p, stages)?),
        None => None,
    };
    let policy: MaskConfig = match &cfg {
        Some(c) => sealtune_pii::stage::mask_config(c)?,
        None if detect => MaskConfig::default(),
        None => {
            return Err(Fail {
                exit: Exit::Usage,
                message: "masking needs --config CONFIG for its [mask] policy and key (only --detect works without one)".into(),
            });
        }
    };
    let file = std::fs::File::open(input)
        .map_err(|e| Fail::from(StageError::io("cannot open", input, e)))?;
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    if detect {
        let det = sealtune_pii::Detector::new(&policy)?;
        let n = write_atomic(out, |w| {
            sealtune_pii::detect_jsonl(&det, reader, input, w, out, 1024)
        })?;
        eprintln!(
            "{}: {n} line(s) scanned; spans written to {}",
            input.display(),
            out.display()
        );
        return Ok(Exit::Success);
    }
    let key = MaskKey::from_config(&policy)?;
    let masker = Masker::new(&policy, key)?;
    let sum = write_atomic(out, |w| {
        sealtune_pii::mask_jsonl(&masker, reader, input, w, out, 64 << 20)
    })?;
    let summary: Vec<String> = sum
        .replacements
        .iter()
        .map(|(t, n)| format!("{t}={n}"))
        .collect();
    eprintln!(
        "{}: {} record(s) masked into {}, {} dropped; replacements: {}",
        input.display(),
        sum.written,
        out.display(),
        sum.dropped,
        if summary.is_empty() {
            "none".to_string()
        } else {
            summary.join(", ")
        }
    );
    Ok(Exit::Success)
}

/// Writes `out` atomically with `f`: nothing is left at `out` unless `f` succeeds.
fn write_atomic<T>(
    out: &Path,
    f: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> Result<T, PiiError>,
) -> Result<T, Fail> {
    let mut result: Option<Result<T, PiiError>> = None;
    let written = sealtune_pipeline::fsutil::atomic_write_with(out, |w| match f(w) {
        Ok(v) => {
            result = Some(Ok(v));
            Ok(())
        }
        Err(e) => {
            result = Some(Err(e));
            Err(std::io::Error::other("not written"))
        }
    });
    match (result, written) {
        (Some(Err(e)), _) => Err(Fail::from(e)),
        (Some(Ok(v)), Ok(())) => Ok(v),
        (None, Err(e)) => Err(Fail {
            exit: Exit::CantCreate,
            message: format!("{}: cannot create: {e}", out.display()),
        }),
        (Some(Ok(_)), Err(e)) => Err(Fail {
            exit: Exit::IoErr,
            message: format!("{}: {e}", out.display()),
        }),
        (None, Ok(())) => Err(Fail {
            exit: Exit::Software,
            message: format!("{}: nothing was written", out.display()),
        }),
    }
}
