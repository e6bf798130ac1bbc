//! `provenance.intoto.jsonl`: a SLSA Provenance v1 statement and an in-toto
//! test-result statement for the eval gates, each in its own DSSE envelope
//! (one per line), signed with the release key.

use sealtune_contract::artifacts;
use std::collections::BTreeMap;

use serde_json::{Value, json};

use sealtune_contract::artifacts::eval::Report as Eval;
use sealtune_contract::artifacts::ingest::Report as Ingest;
use sealtune_contract::artifacts::train::Training;
use sealtune_seal::dsse::{self, ResourceDescriptor, Statement};
use sealtune_seal::keys::SigningKey;

use crate::error::ReleaseError;

/// SLSA Provenance v1 predicate type.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// in-toto test-result predicate type.
pub const TEST_RESULT_V01: &str = "https://in-toto.io/attestation/test-result/v0.1";
/// `buildType` of sealtune's release provenance.
pub const BUILD_TYPE: &str = "https://sealtune.dev/provenance/release/v1";
/// Builder id recorded in the provenance.
pub const BUILDER_ID: &str = "https://sealtune.dev/builder/sealtune";

/// SHA-256 of the workspace `Cargo.lock` this build was compiled from, if
/// it was present at build time.
pub const CARGO_LOCK_SHA256: Option<&str> = option_env!("SEALTUNE_CARGO_LOCK_SHA256");

/// What the provenance describes.
#[derive(Debug)]
pub struct ProvenanceInput<'a> {
    /// Released files (relative to the release directory) and their SHA-256.
    pub subjects: &'a BTreeMap<String, String>,
    /// Config file path (as displayed) and SHA-256.
    pub config: (&'a str, &'a str),
    /// Run id.
    pub run_id: &'a str,
    /// `ingest/report.json`, if present.
    pub ingest: Option<&'a Ingest>,
    /// `train/training.json`.
    pub training: &'a Training,
    /// `eval/report.json`.
    pub eval: &'a Eval,
    /// SHA-256 of `eval/report.json`.
    pub eval_report_sha256: &'a str,
    /// Upstream stage name → outputs digest.
    pub upstream: &'a BTreeMap<String, String>,
    /// Release stage code version.
    pub code_version: &'a str,
    /// Start time (RFC 3339).
    pub started: &'a str,
    /// The run's audit log head when the release started (its `stage.start`
    /// entry): signed here, it anchors the log beyond the run directory.
    pub audit_head: Option<&'a sealtune_pipeline::audit::Head>,
}

/// Name of the SLSA byproduct that records the audit log head.
pub const AUDIT_HEAD_BYPRODUCT: &str = "audit-log-head";

fn subjects(s: &BTreeMap<String, String>) -> Vec<ResourceDescriptor> {
    s.iter()
        .map(|(name, sha)| ResourceDescriptor {
            name: Some(name.clone()),
            uri: None,
            digest: BTreeMap::from([("sha256".to_owned(), sha.clone())]),
        })
        .collect()
}

fn dep(name: String, sha256: &str, annotations: Value) -> Value {
    let mut d = json!({ "name": name, "digest": { "sha256": sha256 } });
    if !annotations.is_null() {
        d["annotations"] = annotations;
    }
    d
}

/// The SLSA Provenance v1 statement.
pub fn slsa_statement(p: &ProvenanceInput<'_>) -> Statement {
    let mut deps = vec![dep(
        format!("config:{}", p.config.0),
        p.config.1,
        Value::Null,
    )];
    if let Some(i) = p.ingest {
        for f in &i.files {
            deps.push(dep(
                format!("dataset:{}", f.path),
                &f.sha256,
                json!({ "bytes": f.bytes, "records_accepted": f.accepted }),
            ));
        }
    }
    for f in &p.training.base_model.files {
        deps.push(dep(
            format!("base-model:{}", f.name),
            &f.sha256,
            json!({ "model": p.training.base_model.name, "bytes": f.bytes }),
        ));
    }
    if let Some(lock) = CARGO_LOCK_SHA256 {
        deps.push(dep("code:Cargo.lock".into(), lock, Value::Null));
    }
    for (stage, digest) in p.upstream {
        deps.push(dep(
            format!("stage:{stage}"),
            digest,
            json!({ "note": "outputs_digest of the stage manifest" }),
        ));
    }
    let predicate = json!({
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "config": { "path": p.config.0, "sha256": p.config.1 },
                "run_id": p.run_id,
            },
            "internalParameters": {
                "release_code_version": p.code_version,
                "base_model": p.training.base_model.name,
                "adapter": { "type": p.training.adapter.kind, "rank": p.training.adapter.rank },
                "weights_at_rest": match &p.training.sealed_at_rest {
                    Some(s) => json!({ "sealed": true, "recipients": s.recipients, "keys_from": s.keys_from }),
                    None => json!({ "sealed": false }),
                },
            },
            "resolvedDependencies": deps,
        },
        "runDetails": {
            "builder": {
                "id": BUILDER_ID,
                "version": {
                    "sealtune": env!("CARGO_PKG_VERSION"),
                    "release_stage": p.code_version,
                    "cargo_lock_sha256": CARGO_LOCK_SHA256,
                },
            },
            "metadata": {
                "invocationId": format!("{}/release/{}", p.run_id, p.started),
                "startedOn": p.started,
            },
            "byproducts": byproducts(p),
        },
    });
    Statement::new(subjects(p.subjects), SLSA_PROVENANCE_V1, predicate)
}

fn byproducts(p: &ProvenanceInput<'_>) -> Vec<Value> {
    let mut v = vec![json!({
        "name": "training-hardware",
        "annotations": p.training.hardware,
    })];
    if let Some(h) = p.audit_head {
        v.push(json!({
            "name": AUDIT_HEAD_BYPRODUCT,
            "digest": { "sha256": h.hash },
            "annotations": { "file": "audit.jsonl", "seq": h.seq },
        }));
    }
    v
}

/// The test-result statement for the eval gates: `PASSED` when every gate
/// passed, `WARNED` when a failure was accepted with a reason.
pub fn gates_statement(p: &ProvenanceInput<'_>) -> Statement {
    let mut passed = Vec::new();
    let mut warned = Vec::new();
    let mut failed = Vec::new();
    for g in &p.eval.gates {
        let entry = format!("{} ({} {} {})", g.name, g.metric, g.op, g.threshold);
        if g.passed {
            passed.push(entry);
        } else if g.accepted {
            warned.push(entry);
        } else {
            failed.push(entry);
        }
    }
    let result = if !failed.is_empty() {
        "FAILED"
    } else if !warned.is_empty() {
        "WARNED"
    } else {
        "PASSED"
    };
    let predicate = json!({
        "result": result,
        "configuration": [
            { "name": artifacts::rel(artifacts::eval::DIR, artifacts::eval::REPORT), "digest": { "sha256": p.eval_report_sha256 } },
            { "name": format!("config:{}", p.config.0), "digest": { "sha256": p.config.1 } },
        ],
        "passedTests": passed,
        "warnedTests": warned,
        "failedTests": failed,
    });
    Statement::new(subjects(p.subjects), TEST_RESULT_V01, predicate)
}

/// Both statements, signed, as JSON Lines.
pub fn provenance_jsonl(p: &ProvenanceInput<'_>, key: &SigningKey) -> Result<String, ReleaseError> {
    let mut out = String::new();
    for st in [slsa_statement(p), gates_statement(p)] {
        let env = dsse::sign_statement(&st, key)?;
        out.push_str(
            &serde_json::to_string(&env).map_err(|e| ReleaseError::BadInput {
                path: artifacts::release::PROVENANCE.into(),
                reason: e.to_string(),
            })?,
        );
        out.push('\n');
    }
    Ok(out)
}

/// The audit log head recorded in verified provenance statements, if any.
pub fn signed_audit_head(statements: &[Statement]) -> Option<sealtune_pipeline::audit::Head> {
    statements
        .iter()
        .filter(|s| s.predicate_type == SLSA_PROVENANCE_V1)
        .flat_map(|s| {
            s.predicate["runDetails"]["byproducts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|b| b["name"] == AUDIT_HEAD_BYPRODUCT)
        .and_then(|b| {
            Some(sealtune_pipeline::audit::Head {
                seq: b["annotations"]["seq"].as_u64()?,
                hash: b["digest"]["sha256"].as_str()?.to_string(),
            })
        })
}
