//! The `release` stage.

use sealtune_contract::artifacts;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use sealtune_card::facts::{Fact, Sources};
use sealtune_card::{RunFacts, write_card};
use sealtune_contract::artifacts::eval::Report as Eval;
use sealtune_contract::artifacts::ingest::Report as Ingest;
use sealtune_contract::artifacts::release::{ACCEPTANCE as ACCEPTANCE_FILE, Acceptance};
use sealtune_contract::artifacts::train::Training;
use sealtune_pipeline::{Config, ConfigError, Stage, StageContext, StageError};
use sealtune_seal::at_rest::{AtRestKeys, AtRestSettings};
use sealtune_seal::keys::{self, KeySource};
use sealtune_seal::oms::{SignOptions, SignedManifest};

use crate::config::{ReleaseConfig, release_config};
use crate::error::ReleaseError;
use crate::provenance::{ProvenanceInput, provenance_jsonl};

/// Code version of the release stage (part of its key).
pub const CODE_VERSION: &str = "release/3";

/// File extensions treated as weights: sealed, never copied in clear.
pub const WEIGHT_EXTENSIONS: [&str; 6] = ["safetensors", "bin", "pt", "pth", "gguf", "ckpt"];

/// The release stage: refuses on a failed eval gate, seals the adapter (and
/// merged weights when configured) for every recipient, writes the
/// provenance and the model card, and signs the directory last.
#[derive(Debug, Default)]
pub struct ReleaseStage;

/// What the release stage did, as returned in the manifest summary.
#[derive(Debug, Clone)]
pub struct ReleaseOutcome {
    /// Sealed files (relative to the release directory).
    pub sealed: Vec<String>,
    /// Files copied in clear.
    pub clear: Vec<String>,
    /// The signature's manifest.
    pub signature: SignedManifest,
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> ReleaseError + 'a {
    move |source| ReleaseError::Io {
        path: path.to_path_buf(),
        what,
        source,
    }
}

fn is_weight(name: &str) -> bool {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| WEIGHT_EXTENSIONS.contains(&e))
}

/// Checks the eval gates: `Err(GateFailed)` naming every failing gate that
/// was not accepted with a reason, or when the report says `passed: false`.
pub fn check_gates(eval: &Eval) -> Result<(), ReleaseError> {
    let mut failing = Vec::new();
    for g in &eval.gates {
        let accepted = g.accepted && g.reason.as_deref().is_some_and(|r| !r.trim().is_empty());
        if !g.passed && !accepted {
            failing.push(format!(
                "eval gate `{}` failed: {} on the {} model is {}, but must be {} {}",
                g.name,
                g.metric,
                g.model,
                g.value
                    .map_or_else(|| "not available".to_owned(), |v| v.to_string()),
                g.op,
                g.threshold
            ));
        }
    }
    if failing.is_empty() && !eval.passed {
        failing.push("eval/report.json says passed = false".to_owned());
    }
    if failing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = eval
        .gates
        .iter()
        .filter(|g| !g.passed && !g.accepted)
        .map(|g| g.name.as_str())
        .collect();
    let how = match names.first() {
        Some(n) => format!(
            "to release anyway, record why the failure is acceptable in the config, `[eval.accept] {n} = \"reason\"`, or pass `--accept-failed-gates --reason \"...\"` to `sealtune run` or `sealtune stage release`"
        ),
        None => "rerun eval and check its gates".to_owned(),
    };
    Err(ReleaseError::GateFailed(format!(
        "{}; {how}",
        failing.join("; ")
    )))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ReleaseError> {
    let bytes = std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ReleaseError::Missing {
                path: path.to_path_buf(),
                what: "written by the upstream stage; run it again".into(),
            }
        } else {
            ReleaseError::Io {
                path: path.to_path_buf(),
                what: "cannot read",
                source: e,
            }
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ReleaseError::BadInput {
        path: path.to_path_buf(),
        reason: format!("does not follow its contract: {e}"),
    })
}

/// The keys that open weights sealed at rest by the train stage: `[train]
/// at_rest_recipients` when given, else the release's own keys (the same rule as train's,
/// from `sealtune_seal::at_rest`).
fn at_rest_identities(cfg: &Config, release: &[KeySource]) -> Result<Vec<KeySource>, StageError> {
    let t: AtRestSettings = cfg.section("train")?;
    match t.keys() {
        AtRestKeys::Train(entries) => Ok(entries
            .iter()
            .map(|rc| rc.resolve(cfg.base_dir()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ReleaseError::from)?),
        AtRestKeys::Off | AtRestKeys::Release => Ok(release.to_vec()),
    }
}

/// Seals every weight file of `src` into `dst/<name>.seal` and copies the
/// other files in clear. A weight file the train stage sealed at rest
/// (`<name>.seal`) is decrypted into memory with `at_rest` and sealed again
/// for `recipients`, under the same name: no weight is ever in clear on disk.
/// Returns (sealed, clear) relative names under `prefix`.
fn release_dir_files(
    src: &Path,
    dst: &Path,
    prefix: &str,
    recipients: &[KeySource],
    at_rest: &[KeySource],
    ctx: &StageContext<'_>,
) -> Result<(Vec<String>, Vec<String>), StageError> {
    let files = sealtune_pipeline::fsutil::list_files(src)
        .map_err(io(src, "cannot list"))
        .map_err(StageError::from)?;
    std::fs::create_dir_all(dst)
        .map_err(io(dst, "cannot create"))
        .map_err(StageError::from)?;
    let (mut sealed, mut clear) = (Vec::new(), Vec::new());
    for rel in files {
        ctx.checkpoint()?;
        let from = src.join(&rel);
        // Every output of this file (`rel` or `rel.seal`) lies in the same directory.
        if let Some(p) = dst.join(&rel).parent() {
            std::fs::create_dir_all(p)
                .map_err(io(p, "cannot create"))
                .map_err(StageError::from)?;
        }
        if let Some(inner) = rel.strip_suffix(".seal")
            && is_weight(inner)
        {
            let to = dst.join(&rel);
            let (plain, _) =
                sealtune_seal::open_sealed(&from, at_rest).map_err(ReleaseError::from)?;
            sealtune_seal::seal_bytes(&plain, &to, recipients, None, 0o644)
                .map_err(ReleaseError::from)?;
            sealed.push(format!("{prefix}{rel}"));
        } else if is_weight(&rel) {
            let name = format!("{rel}.seal");
            let to = dst.join(&name);
            sealtune_seal::seal_file(&from, &to, recipients, None).map_err(ReleaseError::from)?;
            sealed.push(format!("{prefix}{name}"));
        } else {
            let to = dst.join(&rel);
            std::fs::copy(&from, &to)
                .map_err(io(&from, "cannot copy"))
                .map_err(StageError::from)?;
            clear.push(format!("{prefix}{rel}"));
        }
    }
    Ok((sealed, clear))
}

fn recipient_ids(cfg: &Config, r: &ReleaseConfig) -> Result<Vec<String>, ReleaseError> {
    let ids = r
        .recipients
        .iter()
        .map(|rc| rc.id(cfg.base_dir()))
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

fn resolved(cfg: &Config) -> Result<(ReleaseConfig, PathBuf), StageError> {
    let r = release_config(cfg)?;
    let key = cfg.resolve(r.signing_key_file.as_deref().unwrap_or(Path::new("")));
    Ok((r, key))
}

impl Stage for ReleaseStage {
    fn name(&self) -> &'static str {
        "release"
    }

    fn code_version(&self) -> &'static str {
        CODE_VERSION
    }

    fn depends_on(&self) -> &'static [&'static str] {
        &["train", "eval"]
    }

    fn sections(&self) -> &'static [&'static str] {
        &["release"]
    }

    fn validate(&self, cfg: &Config) -> Result<(), ConfigError> {
        let r = release_config(cfg)?;
        let key = cfg.resolve(r.signing_key_file.as_deref().unwrap_or(Path::new("")));
        if !key.is_file() {
            return Err(cfg.error_at(
                "release.signing_key_file",
                format!(
                    "{}: not found; create one with `sealtune keygen --out DIR`",
                    key.display()
                ),
            ));
        }
        for (i, rc) in r.recipients.iter().enumerate() {
            if let Some(p) = &rc.kek_file
                && !cfg.resolve(p).is_file()
            {
                return Err(cfg.error_at(
                    &format!("release.recipients[{i}].kek_file"),
                    format!(
                        "{}: not found; create one with `sealtune keygen --out DIR`",
                        cfg.resolve(p).display()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn preflight(&self, cfg: &Config) -> Result<(), StageError> {
        // The signing key and every KEK must load: present, private, well formed.
        let (r, key) = resolved(cfg)?;
        keys::load_signing_key(&key).map_err(ReleaseError::from)?;
        recipient_ids(cfg, &r)?;
        Ok(())
    }

    fn external_inputs(&self, _cfg: &Config) -> Result<Vec<PathBuf>, StageError> {
        // Key files are secrets: their identity enters the key through
        // `extra_key` (one-way ids), never their digest.
        Ok(Vec::new())
    }

    fn reads_gate_acceptance(&self) -> bool {
        true
    }

    fn extra_key(&self, cfg: &Config) -> Result<Value, StageError> {
        let (r, key) = resolved(cfg)?;
        let sk = keys::load_signing_key(&key).map_err(ReleaseError::from)?;
        let hint = keys::key_hint(sk.verifying_key()).map_err(ReleaseError::from)?;
        Ok(json!({
            "signing_key_hint": hint,
            "recipients": recipient_ids(cfg, &r)?,
        }))
    }

    fn run(&self, ctx: &StageContext<'_>) -> Result<Value, StageError> {
        let cfg = ctx.config();
        let (r, key_path) = resolved(cfg)?;
        let started = sealtune_pipeline::time::now_rfc3339();
        let train = ctx.input_dir("train")?.to_path_buf();
        let eval_dir = ctx.input_dir("eval")?.to_path_buf();

        // Fail closed before anything is written or any key is touched.
        let eval_path = eval_dir.join(artifacts::eval::REPORT);
        let mut eval: Eval = read_json(&eval_path)?;
        if let Some(a) = ctx.gate_acceptance() {
            let acc = Acceptance::new(
                &eval,
                &a.reason,
                format!("{}@{}", a.by.user, a.by.host),
                started.clone(),
            );
            if !acc.gates.is_empty() {
                let p = ctx.out_dir().join(ACCEPTANCE_FILE);
                let mut bytes = serde_json::to_vec_pretty(&acc)
                    .map_err(|e| StageError::internal(e.to_string()))?;
                bytes.push(b'\n');
                std::fs::write(&p, bytes).map_err(|e| StageError::cant_create(&p, e))?;
                acc.apply(&mut eval);
            }
        }
        check_gates(&eval)?;
        let training: Training = read_json(&train.join(artifacts::train::TRAINING))?;

        let signing_key = keys::load_signing_key(&key_path).map_err(ReleaseError::from)?;
        let recipients = r
            .recipients
            .iter()
            .map(|rc| rc.resolve(cfg.base_dir()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ReleaseError::from)?;

        let out = ctx.out_dir().to_path_buf();
        let adapter = train.join(artifacts::train::ADAPTER_DIR);
        let weights = adapter.join("adapter_model.safetensors");
        let sealed_at_rest = adapter.join("adapter_model.safetensors.seal");
        if !weights.is_file() && !sealed_at_rest.is_file() {
            return Err(ReleaseError::Missing {
                path: adapter.join("adapter_model.safetensors"),
                what: "the trained adapter; run the train stage again".into(),
            }
            .into());
        }
        let at_rest = if sealed_at_rest.is_file() {
            at_rest_identities(cfg, &recipients)?
        } else {
            Vec::new()
        };
        let (mut sealed, mut clear) =
            release_dir_files(&adapter, &out, "", &recipients, &at_rest, ctx)?;
        if r.include_merged {
            let merged = train.join(artifacts::train::MERGED_DIR);
            if !merged.is_dir() {
                return Err(ReleaseError::Missing {
                    path: merged,
                    what: "[release] include_merged = true needs merged weights: set [train] save_merged = true, or include_merged = false".into(),
                }
                .into());
            }
            let (s, c) = release_dir_files(
                &merged,
                &out.join(artifacts::train::MERGED_DIR),
                "merged/",
                &recipients,
                &at_rest,
                ctx,
            )?;
            sealed.extend(s);
            clear.extend(c);
        }
        ctx.checkpoint()?;

        // Provenance over the released weights and clear files.
        let mut subjects = BTreeMap::new();
        for rel in sealed.iter().chain(clear.iter()) {
            let d = sealtune_pipeline::fsutil::sha256_file(&out.join(rel))
                .map_err(io(&out.join(rel), "cannot hash"))
                .map_err(StageError::from)?;
            subjects.insert(rel.clone(), d.sha256);
        }
        let eval_sha = sealtune_pipeline::fsutil::sha256_file(&eval_path)
            .map_err(io(&eval_path, "cannot hash"))
            .map_err(StageError::from)?
            .sha256;
        let mut upstream = BTreeMap::new();
        for s in ["ingest", "mask", "train", "eval"] {
            if let Some(m) = sealtune_pipeline::manifest::Manifest::read(&ctx.run_dir().join(s)) {
                upstream.insert(s.to_owned(), m.outputs_digest);
            }
        }
        let sources = Sources {
            run_dir: ctx.run_dir().to_path_buf(),
            release_dir: out.clone(),
        };
        let ingest_path = ctx
            .run_dir()
            .join(artifacts::ingest::DIR)
            .join(artifacts::ingest::REPORT);
        let ingest: Option<Ingest> = if ingest_path.is_file() {
            Some(read_json(&ingest_path)?)
        } else {
            None
        };
        let config_name = cfg.display_relative(cfg.path());
        let run_id = cfg.run_id();
        let p = ProvenanceInput {
            subjects: &subjects,
            config: (&config_name, cfg.sha256()),
            run_id: &run_id,
            ingest: ingest.as_ref(),
            training: &training,
            eval: &eval,
            eval_report_sha256: &eval_sha,
            upstream: &upstream,
            code_version: CODE_VERSION,
            started: &started,
            audit_head: ctx.audit_head(),
        };
        let prov = provenance_jsonl(&p, &signing_key)?;
        let prov_path = out.join(sealtune_seal::release::PROVENANCE_FILE);
        sealtune_pipeline::fsutil::atomic_write(&prov_path, prov.as_bytes())
            .map_err(io(&prov_path, "cannot write"))
            .map_err(StageError::from)?;
        ctx.checkpoint()?;

        // The card describes the directory as it will be signed.
        let mut facts = RunFacts::load(&sources, r.card.clone()).map_err(ReleaseError::from)?;
        facts.stages.insert(
            "release".into(),
            Fact::NotAvailable(
                "not available: this card is part of the release stage's output; see release/manifest.json".into(),
            ),
        );
        // Attestations under <run>/attestations refer to earlier releases.
        facts.attestations.clear();
        write_card(&facts, &out).map_err(ReleaseError::from)?;
        ctx.checkpoint()?;

        // Sign last, so model.sig covers everything above.
        let signature = sealtune_seal::sign_release(
            &out,
            &key_path,
            &SignOptions {
                ignore_paths: vec![sealtune_card::facts::STAGE_MANIFEST.to_owned()],
                model_name: Some(facts.model_name()),
                ..SignOptions::default()
            },
        )
        .map_err(ReleaseError::from)?;
        Ok(json!({
            "sealed": sealed,
            "clear": clear,
            "recipients": recipient_ids(cfg, &r)?,
            "signing_key_hint": keys::key_hint(signing_key.verifying_key()).map_err(ReleaseError::from)?,
            "oms_root_digest": signature.root_digest,
            "signed_files": signature.files.len(),
            "gates_passed": eval.gates.iter().filter(|g| g.passed).count(),
            "gates_accepted": eval.gates.iter().filter(|g| !g.passed && g.accepted).count(),
        }))
    }
}
