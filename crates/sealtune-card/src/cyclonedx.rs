//! `bom.cdx.json`: a CycloneDX 1.6 ML-BOM of the release.
//!
//! One `machine-learning-model` component (the adapter) with a `modelCard`,
//! the base model under its `pedigree.ancestors`, every input file and the
//! masked splits as `data` components that the model card references, and
//! the sealed files.
//! The BOM carries no serial number or timestamp of its own, so the same run
//! gives the same bytes (the stage manifests carry the times).

use serde_json::{Value, json};

use crate::facts::{Fact, RunFacts};
use crate::markdown::{NOT_COVERED, fmt_num, group_gaps, metric_reading};

fn hashes(sha256: &str) -> Value {
    json!([{ "alg": "SHA-256", "content": sha256 }])
}

fn prop(name: &str, value: impl Into<String>) -> Value {
    json!({ "name": name, "value": value.into() })
}

/// Builds the BOM as JSON.
pub fn render_bom(f: &RunFacts) -> Value {
    let mut components = Vec::new();
    let mut dataset_refs = Vec::new();
    if let Fact::Known(i) = &f.ingest {
        for (n, file) in i.files.iter().enumerate() {
            let r = format!("dataset-{n}-{}", &file.sha256[..file.sha256.len().min(16)]);
            dataset_refs.push(json!({ "ref": r }));
            components.push(json!({
                "type": "data",
                "bom-ref": r,
                "name": file.path,
                "hashes": hashes(&file.sha256),
                "data": [{
                    "type": "dataset",
                    "name": file.path,
                    "classification": "sensitive: raw records, masked before training",
                    "contents": { "properties": [
                        prop("sealtune:format", i.format.clone()),
                        prop("sealtune:bytes", file.bytes.to_string()),
                        prop("sealtune:records_read", file.read.to_string()),
                        prop("sealtune:records_accepted", file.accepted.to_string()),
                        prop("sealtune:duplicates", file.duplicates.to_string()),
                        prop("sealtune:quarantined", file.quarantined.to_string()),
                    ]},
                }],
            }));
        }
    }
    if let Fact::Known(files) = &f.masked_data {
        for (n, file) in files.iter().enumerate() {
            let r = format!("masked-{n}-{}", &file.sha256[..file.sha256.len().min(16)]);
            dataset_refs.push(json!({ "ref": r }));
            components.push(json!({
                "type": "data",
                "bom-ref": r,
                "name": file.name,
                "hashes": hashes(&file.sha256),
                "data": [{
                    "type": "dataset",
                    "name": file.name,
                    "classification": "masked: PII replaced by the mask stage",
                    "contents": { "properties": [
                        prop("sealtune:bytes", file.bytes.map_or("not recorded".into(), |b| b.to_string())),
                    ]},
                }],
            }));
        }
    }
    let n_raw = f.ingest.known().map_or(0, |i| i.files.len());
    let mut sensitive: Vec<String> = Vec::new();
    if let Fact::Known(m) = &f.mask {
        sensitive = m
            .replacements_by_type
            .iter()
            .map(|(t, n)| format!("{t}: {n} replaced"))
            .collect();
    }
    if !sensitive.is_empty() {
        // The raw inputs held the PII that masking replaced.
        for c in components.iter_mut().take(n_raw) {
            c["data"][0]["sensitiveData"] = json!(sensitive);
        }
    }

    let mut model = json!({
        "type": "machine-learning-model",
        "bom-ref": "model",
        "name": f.model_name(),
        "description": "LoRA adapter fine-tuned by sealtune on masked records; weights sealed (sealtune-seal/1).",
    });
    if let Some(l) = f.license().known() {
        model["licenses"] = json!([{ "license": { "name": l } }]);
    }
    let mut props = vec![prop("sealtune:run_id", f.run_id.clone())];
    if let Fact::Known(s) = &f.signature {
        props.push(prop(
            "sealtune:oms_root_digest",
            format!("sha256:{}", s.root_digest),
        ));
    }
    let mut model_params = json!({
        "approach": { "type": "supervised" },
        "task": "text-generation",
        "architectureFamily": "llama",
        "inputs": [{ "format": "text (chat messages)" }],
        "outputs": [{ "format": "text" }],
    });
    if !dataset_refs.is_empty() {
        model_params["datasets"] = json!(dataset_refs);
    }
    if let Fact::Known(t) = &f.training {
        let a = &t.adapter;
        model_params["modelArchitecture"] = json!(format!(
            "{} adapter rank {} alpha {} on {}",
            a.kind.to_uppercase(),
            a.rank,
            fmt_num(a.alpha),
            a.targets.join(",")
        ));
        if let Some(adapter_file) = a.files.first() {
            model["hashes"] = hashes(&adapter_file.sha256);
        }
        let mut base = json!({
            "type": "machine-learning-model",
            "bom-ref": "base-model",
            "name": t.base_model.name.clone().unwrap_or_else(|| t.base_model.path.clone()),
        });
        if let Some(l) = &t.base_model.license {
            base["licenses"] = json!([{ "license": { "name": l } }]);
        }
        if let Some(first) = t
            .base_model
            .files
            .iter()
            .find(|x| x.name.ends_with(".safetensors"))
        {
            base["hashes"] = hashes(&first.sha256);
        }
        base["properties"] = json!(
            t.base_model
                .files
                .iter()
                .map(|x| prop(
                    &format!("sealtune:file:{}", x.name),
                    format!("sha256:{}", x.sha256)
                ))
                .collect::<Vec<_>>()
        );
        model["pedigree"] = json!({
            "ancestors": [base],
            "notes": if t.merged { "Adapter trained on the base model and also merged into it." } else { "Adapter trained on the base model; use it with the base model above." },
        });
        props.push(prop("sealtune:steps", t.steps.to_string()));
        props.push(prop("sealtune:tokens_seen", t.tokens_seen.to_string()));
        props.push(prop(
            "sealtune:trainable_parameters",
            a.trainable_parameters.to_string(),
        ));
    }
    model["properties"] = json!(props);

    let mut card = json!({ "bom-ref": "model-card", "modelParameters": model_params });
    if let Fact::Known(e) = &f.eval {
        let mut metrics = Vec::new();
        for m in &e.metrics {
            for (slice, meas) in [("base", &m.base), ("finetuned", &m.finetuned)] {
                if let Some(v) = meas.value {
                    let mut pm = json!({
                        "type": m.id,
                        "value": fmt_num(v),
                        "slice": format!("{slice} model, n={}", meas.n),
                    });
                    if let Some([lo, hi]) = meas.ci {
                        pm["confidenceInterval"] =
                            json!({ "lowerBound": fmt_num(lo), "upperBound": fmt_num(hi) });
                    }
                    metrics.push(pm);
                }
            }
        }
        for g in &e.gates {
            metrics.push(json!({
                "type": format!("gate:{}", g.name),
                "value": if g.passed { "passed" } else if g.accepted { "failed, accepted" } else { "failed" },
                "slice": format!("{} {} {} on the {} model", g.metric, g.op, fmt_num(g.threshold), g.model),
            }));
        }
        card["quantitativeAnalysis"] = json!({ "performanceMetrics": metrics });
    }
    let mut considerations = serde_json::Map::new();
    if let Some(u) = &f.card.intended_use {
        considerations.insert("useCases".into(), json!([u]));
    }
    let mut limits: Vec<String> = NOT_COVERED
        .iter()
        .map(|s| format!("The masker does not detect {s}."))
        .collect();
    limits.extend(
        f.card
            .out_of_scope_use
            .iter()
            .map(|s| format!("Out of scope: {s}")),
    );
    limits.extend(f.card.limitations.iter().cloned());
    considerations.insert("technicalLimitations".into(), json!(limits));
    let mut ethical = vec![json!({
        "name": "Memorisation of sensitive training records",
        "mitigationStrategy": "PII masked before training; canary exposure and PII regurgitation measured; release gated on them; weights sealed.",
    })];
    if let Fact::Known(e) = &f.eval {
        for m in e.metrics.iter().filter(|m| m.suite == "leakage") {
            ethical.push(json!({ "name": m.name, "mitigationStrategy": metric_reading(m) }));
        }
        let fair: Vec<Value> = group_gaps(e)
            .iter()
            .map(|g| {
                json!({
                    "groupAtRisk": format!("{} groups in {}", g.attribute, g.task),
                    "harms": format!(
                        "largest P(yes) gap between groups: base {}, fine-tuned {}",
                        g.base.map_or("not available".into(), fmt_num),
                        g.finetuned.map_or("not available".into(), fmt_num)
                    ),
                    "mitigationStrategy": "Measured against the base model before release; see the bias gates in MODEL_CARD.md.",
                })
            })
            .collect();
        if !fair.is_empty() {
            considerations.insert("fairnessAssessments".into(), json!(fair));
        }
    }
    considerations.insert("ethicalConsiderations".into(), json!(ethical));
    card["considerations"] = Value::Object(considerations);
    model["modelCard"] = card;

    let mut all = vec![model];
    all.extend(components);
    if let Fact::Known(r) = &f.release {
        for s in &r.sealed {
            all.push(json!({
                "type": "file",
                "bom-ref": format!("file:{}", s.name),
                "name": s.name,
                "hashes": hashes(&s.sha256),
                "properties": [
                    prop("sealtune:suite", s.suite.clone()),
                    prop("sealtune:plaintext_bytes", s.plaintext_bytes.to_string()),
                    prop("sealtune:recipients", s.recipients.iter().map(|x| format!("{}:{}", x.kind, x.id)).collect::<Vec<_>>().join(" ")),
                ],
            }));
        }
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "tools": { "components": [{
                "type": "application",
                "name": "sealtune",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {
                "type": "machine-learning-model",
                "bom-ref": "release",
                "name": f.model_name(),
            },
        },
        "components": all,
    })
}
