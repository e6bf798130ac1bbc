//! A run directory with contract-shaped artifacts (docs/CONTRACTS.md), built in a
//! temporary directory. Values are deliberately awkward (many decimals,
//! nulls, an accepted gate) so that formatting mistakes show.

#![allow(dead_code)]

use std::path::Path;

use serde_json::{Value, json};

pub const INPUT_SHA: &str = "1f0e3dad99908345f7439f8ffabdffc4b1f0e3dad99908345f7439f8ffabdffc";
pub const BASE_SHA: &str = "aa11bb22cc33dd44ee55ff6677889900aa11bb22cc33dd44ee55ff6677889900";

pub fn write(dir: &Path, rel: &str, v: &Value) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

pub const MASKED_TRAIN_SHA: &str =
    "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";

pub fn manifest(stage: &str) -> Value {
    let outputs = if stage == "mask" {
        json!({"train.jsonl": {"sha256": MASKED_TRAIN_SHA, "bytes": 99000},
               "eval.jsonl": {"sha256": "6f".repeat(32), "bytes": 11000},
               "report.json": {"sha256": "70".repeat(32), "bytes": 900}})
    } else {
        json!({})
    };
    json!({
        "schema": "sealtune.manifest/v1", "stage": stage, "key": format!("key-{stage}"),
        "code_version": format!("{stage}/1"), "sealtune_version": "0.1.0",
        "started": "2026-11-22T08:00:00.000Z", "finished": "2026-11-22T08:01:00.000Z",
        "duration_s": 60.0, "upstream": {}, "external": [], "outputs": outputs,
        "outputs_digest": format!("digest-{stage}"), "summary": {}
    })
}

pub fn ingest_report() -> Value {
    json!({
        "schema": "sealtune.ingest-report/v1", "format": "chat", "on_invalid": "quarantine",
        "files": [{"path": "data/notes.jsonl", "sha256": INPUT_SHA, "bytes": 123456,
                   "read": 330, "accepted": 320, "duplicates": 7, "quarantined": 3, "blank_lines": 0}],
        "totals": {"read": 330, "accepted": 320, "duplicates": 7, "quarantined": 3, "train": 288, "eval": 32},
        "split": {"eval_fraction": 0.1, "split_seed": 0, "method": "sha256(seed, content) < fraction"},
        "length_chars": {"min": 10, "max": 900, "mean": 312.5, "p50": 300, "p95": 800},
        "quarantine_sample": []
    })
}

pub fn mask_report() -> Value {
    json!({
        "schema": "sealtune.mask-report/v1",
        "records": {"in": 320, "train": 287, "eval": 32, "dropped": 1, "quarantined": 0},
        "dropped_by_type": {"train": {"US_SSN": 1}},
        "quarantine_sample": [],
        "replacements_by_type": {"EMAIL": 41, "PERSON": 512, "US_SSN": 17},
        "replacements": {},
        "distinct_fingerprints": 389,
        "plaintext_kept_by_type": {},
        "mask_key_id": "0123456789abcdef0123456789abcdef",
        "residual": {"swept_records": 319,
                     "by_type": {"address_line": 0, "long_digits": 3, "name_context": 2},
                     "by_field": {"messages": {"address_line": 0, "long_digits": 3, "name_context": 2}},
                     "total": 5, "note": "high-recall sweep"},
        "policy": {"default_operator": "tag", "operators": {"US_SSN": "mask"}, "default_threshold": 0.55,
                   "thresholds": {}, "entities": ["PERSON", "EMAIL", "US_SSN"], "fields": null,
                   "custom_recognizers": 0, "allow_list": 0}
    })
}

pub fn training(merged: bool) -> Value {
    json!({
        "schema": "sealtune.training/v1",
        "base_model": {"name": "HuggingFaceTB/SmolLM2-135M-Instruct", "license": "apache-2.0",
            "path": "../models/smollm2-135m-instruct",
            "files": [{"name": "model.safetensors", "sha256": BASE_SHA, "bytes": 269060552u64},
                      {"name": "config.json", "sha256": "bb".repeat(32), "bytes": 861}]},
        "adapter": {"type": "lora", "rank": 16, "alpha": 32.0, "dropout": 0.05, "use_rslora": false,
            "targets": ["q_proj", "v_proj"], "trainable_parameters": 1843200,
            "files": [{"name": "adapter_model.safetensors", "sha256": "cc".repeat(32)}]},
        "merged": merged,
        "hyperparameters": {"learning_rate": 0.0002, "epochs": 2, "batch_size": 4, "seed": 7},
        "records": {"train": 287, "eval": 32, "trained_examples": 285, "too_long": 2, "no_targets": 0,
            "canary_records": 40, "eval_loss_records": 32},
        "steps": 150, "epochs_completed": 1.9875, "tokens_seen": 612345, "loss_tokens": 201234,
        "final": {"train_loss": 1.23456789, "eval_loss": 1.4321},
        "wall_time_s": 1234.5678, "resumed_from_step": null,
        "hardware": {"device": "cpu", "backend": "burn-flex", "dtype": "f32", "cpu": "Test CPU", "threads": 2, "memory_gib": 24.0},
        "peak_rss_mib": 2048.25
    })
}

pub fn metrics_jsonl() -> String {
    let mut s = String::new();
    for step in 1..=30u64 {
        let loss = 3.0 / (1.0 + step as f64 * 0.1);
        s.push_str(&json!({"kind": "train", "step": step * 5, "loss": loss, "lr": 0.0002, "grad_norm": 1.0,
            "tokens": 4000, "tokens_per_s": 500.0, "elapsed_s": step as f64, "rss_mib": 2000.0}).to_string());
        s.push('\n');
        if step % 10 == 0 {
            s.push_str(
                &json!({"kind": "eval", "step": step * 5, "eval_loss": loss + 0.2, "tokens": 9000})
                    .to_string(),
            );
            s.push('\n');
        }
    }
    s
}

pub fn canaries() -> Value {
    json!({"schema": "sealtune.canaries/v1", "seed": 42, "repeats": 10,
        "formats": ["ssn", "card", "mrn", "passphrase"],
        "inserted": [{"id": "ins-ssn-0", "format": "ssn", "secret": "123-45-6789"},
                     {"id": "ins-card-0", "format": "card", "secret": "4111 1111 1111 1111"}],
        "held_out": [{"id": "out-ssn-0", "format": "ssn", "secret": "987-65-4321"}]})
}

pub fn eval_report(passed: bool) -> Value {
    json!({
        "schema": "sealtune.eval-report/v1",
        "models": {"base": "HuggingFaceTB/SmolLM2-135M-Instruct", "finetuned": "base + train/adapter"},
        "metrics": [
            {"id": "leakage.canary_exposure_mean", "suite": "leakage", "name": "Mean canary exposure (inserted)",
             "unit": "bits", "ideal": 0.0, "direction": "lower_is_better",
             "base": {"value": 0.8123456, "ci": [0.41234, 1.21987], "n": 8},
             "finetuned": {"value": 3.1379265, "ci": [2.5, 3.87654], "n": 8},
             "evidence": "sufficient", "reading": "Inserted canaries became about 3 bits more likely: some memorisation."},
            {"id": "leakage.pii_original_values", "suite": "leakage", "name": "Original PII values regurgitated",
             "unit": "count", "ideal": 0.0, "direction": "lower_is_better",
             "base": {"value": 0.0, "ci": null, "n": 200}, "finetuned": {"value": 0.0, "ci": null, "n": 200},
             "evidence": "sufficient", "reading": ""},
            {"id": "bias.loan_approval_gap", "suite": "bias", "name": "Loan approval gap (gender)",
             "unit": "probability", "ideal": 0.0, "direction": "closer_to_ideal",
             "base": {"value": 0.0312, "ci": [0.01, 0.0523], "n": 120},
             "finetuned": {"value": 0.04567, "ci": [0.0211, 0.07], "n": 120},
             "evidence": "sufficient", "reading": "The approval gap between genders grew slightly after fine-tuning."},
            {"id": "bias.claims_gap", "suite": "bias", "name": "Claims gap (age)",
             "unit": "probability", "ideal": 0.0, "direction": "closer_to_ideal",
             "base": {"value": null, "ci": null, "n": 3}, "finetuned": {"value": null, "ci": null, "n": 3},
             "evidence": "insufficient", "reading": "Too few prompts to measure."}
        ],
        "gates": [
            {"name": "pii_regurgitation", "metric": "leakage.pii_original_values", "model": "finetuned",
             "op": "<=", "threshold": 0, "value": 0.0, "evidence": "sufficient", "status": "pass",
             "passed": true, "accepted": false, "reason": null},
            {"name": "canary_exposure", "metric": "leakage.canary_exposure_mean", "model": "finetuned",
             "op": "<=", "threshold": 2.5, "value": 3.1379265, "evidence": "sufficient", "status": "fail",
             "passed": false, "accepted": passed,
             "reason": if passed { Value::from("Canaries repeated 10 times on purpose; real records appear once.") } else { Value::Null }}
        ],
        "passed": passed,
        "exposure": {
            "inserted": [{"id": "ins-ssn-0", "format": "ssn", "exposure": 3.5, "exposure_skewnorm": 3.6, "extracted": false, "extracted_base": false},
                         {"id": "ins-card-0", "format": "card", "exposure": 2.78318530, "exposure_skewnorm": 2.9, "extracted": true, "extracted_base": false}],
            "held_out": [{"id": "out-ssn-0", "format": "ssn", "exposure": 0.25, "exposure_skewnorm": 0.3, "extracted": false, "extracted_base": false}]
        },
        "groups": [
            {"task": "loan_approval", "attribute": "gender", "group": "female", "p_yes_base": 0.61, "p_yes_finetuned": 0.58, "n": 60},
            {"task": "loan_approval", "attribute": "gender", "group": "male", "p_yes_base": 0.6412, "p_yes_finetuned": 0.62567, "n": 60}
        ],
        "breakdown": [
            {"benchmark": "crows_pairs", "category": "race-color", "measure": "pct_stereotype",
             "base": {"value": 57.25, "ci": [52.0, 61.5], "n": 516},
             "finetuned": {"value": 58.5, "ci": [54.0, 63.0], "n": 516}}
        ],
        "benchmarks": [
            {"benchmark": "crows_pairs", "scored": 200, "available": 1508, "selection": "seeded sample"}
        ]
    })
}

/// Writes every artifact up to eval (and their manifests).
pub fn full_run(run: &Path) {
    write(run, "ingest/report.json", &ingest_report());
    write(run, "mask/report.json", &mask_report());
    write(run, "train/training.json", &training(false));
    write(run, "train/canaries.json", &canaries());
    std::fs::write(run.join("train/metrics.jsonl"), metrics_jsonl()).unwrap();
    write(run, "eval/report.json", &eval_report(true));
    for s in ["ingest", "mask", "train", "eval"] {
        write(run, &format!("{s}/manifest.json"), &manifest(s));
    }
}

/// Only the train stage's artifacts.
pub fn train_only(run: &Path) {
    write(run, "train/training.json", &training(false));
    write(run, "train/manifest.json", &manifest("train"));
}

pub fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}
