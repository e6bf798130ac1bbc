//! The card of a complete run and of a run with missing artifacts: sections,
//! numbers against the artifacts, front matter, HTML, BOM, attestations.

mod common;

use sealtune_contract::ExitStatus as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use sealtune_card::markdown::SECTIONS;
use sealtune_card::{CardConfig, Decision, RunFacts, Sources, attest, regenerate, write_card};

fn card_config() -> CardConfig {
    CardConfig {
        intended_use: Some(
            "Summarise discharge notes for clinicians, who check every summary.".into(),
        ),
        out_of_scope_use: vec!["Diagnosis".into(), "Use without human review".into()],
        tags: vec!["clinical".into()],
        limitations: vec!["English only.".into()],
        ..CardConfig::default()
    }
}

/// Builds a full run and writes its card into `<run>/card`.
fn full_card() -> (tempfile::TempDir, PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run1");
    common::full_run(&run);
    let out = run.join("card");
    regenerate(&run, &out, Some(card_config())).unwrap();
    let md = std::fs::read_to_string(out.join("MODEL_CARD.md")).unwrap();
    (tmp, out, md)
}

fn front_matter(md: &str) -> serde_yaml::Value {
    let rest = md
        .strip_prefix("---\n")
        .expect("card starts with front matter");
    let (fm, _) = rest.split_once("\n---\n").expect("front matter is closed");
    serde_yaml::from_str(fm).expect("front matter is valid YAML")
}

/// The cells of the table row whose first cell is `first`.
fn row<'a>(md: &'a str, first: &str) -> Vec<&'a str> {
    let line = md
        .lines()
        .find(|l| l.starts_with(&format!("| {first} |")))
        .unwrap_or_else(|| panic!("no table row for {first}"));
    line.trim_matches('|').split(" | ").map(str::trim).collect()
}

fn close(card: &str, want: f64) -> bool {
    let got: f64 = card
        .parse()
        .unwrap_or_else(|_| panic!("{card:?} is not a number"));
    (got - want).abs() <= 5e-5 * want.abs().max(1.0)
}

/// The section text between `## name` and the next `## `.
fn section<'a>(md: &'a str, name: &str) -> &'a str {
    let start = md
        .find(&format!("\n## {name}\n"))
        .unwrap_or_else(|| panic!("no section {name}"));
    let rest = &md[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

#[test]
fn every_required_section_is_present_in_order() {
    let (_tmp, out, md) = full_card();
    let mut at = 0;
    for s in SECTIONS {
        let i = md[at..]
            .find(&format!("\n## {s}\n"))
            .unwrap_or_else(|| panic!("section {s} missing or out of order"));
        at += i + 1;
    }
    for sub in [
        "### Leakage",
        "### Bias",
        "### Release gates",
        "### How to verify",
        "### Loss curve",
    ] {
        assert!(md.contains(&format!("\n{sub}\n")), "{sub} missing");
    }
    let html = std::fs::read_to_string(out.join("MODEL_CARD.html")).unwrap();
    for s in SECTIONS {
        assert!(html.contains(&format!(">{s}</h2>")), "HTML lacks {s}");
    }
}

#[test]
fn numbers_in_the_card_equal_the_artifacts() {
    let (_tmp, out, md) = full_card();
    let eval = common::eval_report(true);
    for m in eval["metrics"].as_array().unwrap() {
        let id = m["id"].as_str().unwrap();
        let r = row(&md, &format!("`{id}`"));
        // Metric | Name | Unit | Base | Base CI | Fine-tuned | Fine-tuned CI | n | Evidence | Reading
        for (col, model) in [(3, "base"), (5, "finetuned")] {
            match m[model]["value"].as_f64() {
                Some(v) => assert!(close(r[col], v), "{id} {model}: card {} vs {v}", r[col]),
                None => assert_eq!(r[col], "not available", "{id} {model}"),
            }
            match m[model]["ci"].as_array() {
                Some(ci) => {
                    let inner = r[col + 1].trim_matches(['[', ']']);
                    let (lo, hi) = inner.split_once(", ").unwrap();
                    assert!(close(lo, ci[0].as_f64().unwrap()), "{id} {model} ci lo");
                    assert!(close(hi, ci[1].as_f64().unwrap()), "{id} {model} ci hi");
                }
                None => assert_eq!(r[col + 1], "not available"),
            }
        }
        assert_eq!(r[7], m["finetuned"]["n"].to_string());
        assert!(!r[9].is_empty(), "{id} has no reading");
        if !m["reading"].as_str().unwrap().is_empty() {
            assert_eq!(r[9], m["reading"].as_str().unwrap());
        }
    }
    for g in eval["gates"].as_array().unwrap() {
        let r = row(&md, &format!("`{}`", g["name"].as_str().unwrap()));
        assert!(close(r[3], g["value"].as_f64().unwrap()));
        assert_eq!(
            r[4],
            format!(
                "{} {}",
                g["op"].as_str().unwrap(),
                g["threshold"].as_f64().unwrap()
            )
        );
    }
    // The accepted failure is listed with its reason.
    let acc = section(&md, "Accepted gate failures");
    assert!(acc.contains("canary_exposure"));
    assert!(acc.contains(eval["gates"][1]["reason"].as_str().unwrap()));

    let t = common::training(false);
    let tr = section(&md, "Training procedure");
    assert!(tr.contains(&format!("**Steps:** {},", t["steps"])));
    assert!(tr.contains(&format!("tokens seen {}", t["tokens_seen"])));
    let ing = common::ingest_report();
    let r = row(&md, "`data/notes.jsonl`");
    assert_eq!(
        r[1],
        format!("`{}`", ing["files"][0]["sha256"].as_str().unwrap())
    );
    assert_eq!(r[3], ing["files"][0]["read"].to_string());
    assert_eq!(r[6], ing["files"][0]["quarantined"].to_string());
    let r = row(&md, "`mask/train.jsonl`");
    assert_eq!(r[1], format!("`{}`", common::MASKED_TRAIN_SHA));
    assert_eq!(r[2], "99000");
    let mask = common::mask_report();
    for (ty, n) in mask["replacements_by_type"].as_object().unwrap() {
        assert_eq!(row(&md, &format!("`{ty}`"))[1], n.to_string());
    }

    // model-card.json carries the same values exactly.
    let j = common::read_json(&out.join("model-card.json"));
    assert_eq!(j["schema"], "sealtune.model-card/v1");
    assert_eq!(j["eval"]["metrics"], eval["metrics"]);
    for (got, want) in j["eval"]["gates"]
        .as_array()
        .unwrap()
        .iter()
        .zip(eval["gates"].as_array().unwrap())
    {
        for k in [
            "name", "metric", "model", "op", "passed", "accepted", "reason",
        ] {
            assert_eq!(got[k], want[k], "gate field {k}");
        }
        assert_eq!(got["threshold"].as_f64(), want["threshold"].as_f64());
        assert_eq!(got["value"].as_f64(), want["value"].as_f64());
    }
    assert_eq!(j["training"]["steps"], t["steps"]);
    assert_eq!(j["training"]["final"], t["final"]);
    assert_eq!(j["ingest"]["files"][0]["sha256"], ing["files"][0]["sha256"]);
    assert_eq!(j["canaries"]["inserted"], 2);
    assert!(
        !std::fs::read_to_string(out.join("model-card.json"))
            .unwrap()
            .contains("123-45-6789"),
        "canary secrets do not belong in the card"
    );
    // Per-category benchmark figures, and which part of the benchmark was scored.
    let r = row(&md, "CrowS-Pairs");
    assert_eq!(
        r,
        [
            "CrowS-Pairs",
            "race-color",
            "`pct_stereotype`",
            "57.25",
            "[52, 61.5]",
            "58.5",
            "[54, 63]",
            "516"
        ]
    );
    assert!(
        md.contains("- CrowS-Pairs: 200 of 1508 items scored, a seeded random sample"),
        "the card says which subset was scored"
    );
    let curve = j["loss_curve"]["train"].as_array().unwrap();
    assert_eq!(curve.len(), 30);
    assert_eq!(j["loss_curve"]["eval"].as_array().unwrap().len(), 3);
}

/// Checks a `model-index` against the Hugging Face model card metadata
/// specification: a list of models, each with `name` and non-empty
/// `results`; each result has `task.type`, `dataset.type` and
/// `dataset.name`, and non-empty `metrics` with `type` and `value`; only the
/// specified keys appear.
fn check_hf_model_index(mi: &serde_yaml::Value) {
    let models = mi.as_sequence().expect("model-index is a list");
    assert!(!models.is_empty());
    let keys = |v: &serde_yaml::Value, allowed: &[&str], required: &[&str], what: &str| {
        let m = v
            .as_mapping()
            .unwrap_or_else(|| panic!("{what} is a mapping"));
        for k in m.keys() {
            let k = k.as_str().unwrap();
            assert!(allowed.contains(&k), "{what}: unexpected key {k}");
        }
        for r in required {
            assert!(m.contains_key(*r), "{what}: missing {r}");
        }
    };
    for model in models {
        keys(model, &["name", "results"], &["name", "results"], "model");
        assert!(model["name"].is_string());
        let results = model["results"].as_sequence().unwrap();
        assert!(!results.is_empty());
        for r in results {
            keys(
                r,
                &["task", "dataset", "metrics", "source"],
                &["task", "dataset", "metrics"],
                "result",
            );
            keys(&r["task"], &["type", "name"], &["type"], "task");
            keys(
                &r["dataset"],
                &["type", "name", "config", "split", "revision", "args"],
                &["type", "name"],
                "dataset",
            );
            let metrics = r["metrics"].as_sequence().unwrap();
            assert!(!metrics.is_empty());
            for m in metrics {
                keys(
                    m,
                    &[
                        "type",
                        "value",
                        "name",
                        "config",
                        "args",
                        "verified",
                        "verifyToken",
                    ],
                    &["type", "value"],
                    "metric",
                );
                assert!(m["type"].is_string());
                assert!(m["value"].is_number() || m["value"].is_string());
            }
        }
    }
}

#[test]
fn front_matter_parses_and_follows_hugging_face() {
    let (_tmp, _out, md) = full_card();
    let fm = front_matter(&md);
    assert_eq!(
        fm["base_model"].as_str(),
        Some("HuggingFaceTB/SmolLM2-135M-Instruct")
    );
    assert_eq!(fm["base_model_relation"].as_str(), Some("adapter"));
    assert_eq!(fm["library_name"].as_str(), Some("peft"));
    assert_eq!(fm["license"].as_str(), Some("apache-2.0"));
    let tags: Vec<&str> = fm["tags"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(tags.contains(&"clinical") && tags.contains(&"peft"));
    assert_eq!(
        fm["datasets"][0].as_str().unwrap(),
        format!("sha256:{}", common::INPUT_SHA)
    );
    check_hf_model_index(&fm["model-index"]);
    // Every metric with a fine-tuned value is in model-index with that value.
    let eval = common::eval_report(true);
    let mut listed = Vec::new();
    for r in fm["model-index"][0]["results"].as_sequence().unwrap() {
        for m in r["metrics"].as_sequence().unwrap() {
            listed.push((
                m["type"].as_str().unwrap().to_owned(),
                m["value"].as_f64().unwrap(),
            ));
        }
    }
    let want: Vec<(String, f64)> = eval["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| {
            Some((
                m["id"].as_str()?.to_owned(),
                m["finetuned"]["value"].as_f64()?,
            ))
        })
        .collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want = want;
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(listed, want);
}

#[test]
fn merged_release_is_a_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    common::full_run(&run);
    std::fs::write(
        run.join("train/training.json"),
        serde_json::to_vec(&common::training(true)).unwrap(),
    )
    .unwrap();
    let facts = RunFacts::load(&Sources::for_run(&run), CardConfig::default()).unwrap();
    let md = sealtune_card::render_markdown(&facts).unwrap();
    assert_eq!(
        front_matter(&md)["base_model_relation"].as_str(),
        Some("merge")
    );
}

#[test]
fn a_run_trained_on_unmasked_values_says_so() {
    let (_tmp, _out, md) = full_card();
    assert!(
        !md.contains("masking was turned off"),
        "masked run: no warning"
    );
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    common::full_run(&run);
    let mut mask = common::mask_report();
    mask["plaintext_kept_by_type"] = serde_json::json!({"EMAIL": 41, "US_SSN": 17});
    common::write(&run, "mask/report.json", &mask);
    let out = tmp.path().join("card");
    regenerate(&run, &out, None).unwrap();
    let md = std::fs::read_to_string(out.join("MODEL_CARD.md")).unwrap();
    let lineage = section(&md, "Data lineage");
    assert!(lineage.contains("masking was turned off"), "{lineage}");
    assert!(lineage.contains("58 detected PII values (`EMAIL` 41, `US_SSN` 17)"));
    assert!(section(&md, "Limitations and recommendations").contains("was not masked: 58"));
}

#[test]
fn the_residual_sweep_is_on_the_card() {
    let (_tmp, _out, md) = full_card();
    let lineage = section(&md, "Data lineage");
    assert!(
        lineage.contains(
            "Possible unmasked PII after masking (residual sweep): 5 over 319 records written (`address_line` 0, `long_digits` 3, `name_context` 2)"
        ),
        "{lineage}"
    );
    assert!(lineage.contains("not a guarantee"));
    // A report written before the sweep existed: said so, nothing invented.
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    common::full_run(&run);
    let mut mask = common::mask_report();
    mask.as_object_mut().unwrap().remove("residual");
    common::write(&run, "mask/report.json", &mask);
    let out = tmp.path().join("card");
    regenerate(&run, &out, None).unwrap();
    let md = std::fs::read_to_string(out.join("MODEL_CARD.md")).unwrap();
    assert!(
        section(&md, "Data lineage")
            .contains("Possible unmasked PII after masking (residual sweep): not recorded")
    );
}

#[test]
fn missing_artifacts_are_not_available_never_invented() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    common::train_only(&run);
    let out = tmp.path().join("card");
    regenerate(&run, &out, None).unwrap();
    let md = std::fs::read_to_string(out.join("MODEL_CARD.md")).unwrap();
    let lineage = section(&md, "Data lineage");
    assert!(
        lineage.contains("Not available:") && lineage.contains("ingest/report.json is missing")
    );
    assert!(lineage.contains("mask/report.json is missing"));
    assert!(lineage.contains("canaries.json is missing"));
    let ev = section(&md, "Evaluation");
    assert!(ev.contains("eval/report.json is missing"));
    assert!(!ev.contains('|'), "no table may be drawn without data");
    assert!(section(&md, "Training procedure").contains("metrics.jsonl is missing"));
    assert!(section(&md, "Intended use").contains("Not stated"));
    let fm = front_matter(&md);
    assert!(fm.get("model-index").is_none());
    assert!(fm.get("datasets").is_none());
    let j = common::read_json(&out.join("model-card.json"));
    for k in [
        "ingest",
        "mask",
        "eval",
        "canaries",
        "loss_curve",
        "release",
        "signature",
        "provenance",
    ] {
        assert!(
            j[k]["not_available"]
                .as_str()
                .is_some_and(|r| r.starts_with("not available")),
            "{k}: {}",
            j[k]
        );
    }
    assert!(j["stages"]["ingest"]["not_available"].as_str().is_some());
    assert_eq!(j["training"]["steps"], 150);
    let html = std::fs::read_to_string(out.join("MODEL_CARD.html")).unwrap();
    assert!(!html.contains("<svg"), "no plot without data");
}

#[test]
fn a_corrupt_artifact_is_an_error_not_a_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    common::full_run(&run);
    std::fs::write(
        run.join("eval/report.json"),
        br#"{"schema":"sealtune.eval-report/v1","metrics":5}"#,
    )
    .unwrap();
    let e = RunFacts::load(&Sources::for_run(&run), CardConfig::default()).unwrap_err();
    assert_eq!(e.exit().code(), 65);
    assert!(e.to_string().contains("eval/report.json"), "{e}");
}

#[test]
fn html_is_self_contained_with_three_plots() {
    let (_tmp, out, _md) = full_card();
    let html = std::fs::read_to_string(out.join("MODEL_CARD.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=\""));
    assert!(!html.contains("<link"));
    assert!(!html.contains("url("));
    assert!(
        !html.contains("<!-- figure:"),
        "every figure marker was replaced"
    );
    // Plots come from plotters' SVG backend: polylines and rectangles with data.
    assert!(html.contains("<polyline"));
    assert!(html.contains("Loss by step"));
}

#[test]
fn html_shows_config_text_as_text() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    common::full_run(&run);
    let cfg = CardConfig {
        intended_use: Some("<script>alert(1)</script> <!-- figure:loss -->".into()),
        ..CardConfig::default()
    };
    let (_, files) = regenerate(&run, &tmp.path().join("c"), Some(cfg)).unwrap();
    let html = std::fs::read_to_string(&files[1]).unwrap();
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;"));
    assert_eq!(
        html.matches("<svg").count(),
        3,
        "a marker in config text is not a figure"
    );
}

fn schema_dir() -> PathBuf {
    let dir = std::env::var_os("SEALTUNE_CYCLONEDX_SCHEMA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/cyclonedx-schema")
        });
    assert!(
        dir.join("bom-1.6.SNAPSHOT.schema.json").is_file(),
        "the CycloneDX 1.6 schema is not in {}; run `bash scripts/fetch-cyclonedx-schema.sh`",
        dir.display()
    );
    dir
}

fn cyclonedx_validator(dir: &Path) -> jsonschema::Validator {
    let load = |n: &str| -> Value { common::read_json(&dir.join(n)) };
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .with_resource(
            "http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json",
            jsonschema::Resource::from_contents(load("spdx.SNAPSHOT.schema.json")).unwrap(),
        )
        .with_resource(
            "http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json",
            jsonschema::Resource::from_contents(load("jsf-0.82.SNAPSHOT.schema.json")).unwrap(),
        )
        .build(&load("bom-1.6.SNAPSHOT.schema.json"))
        .expect("the CycloneDX schema compiles")
}

fn errors(v: &jsonschema::Validator, bom: &Value) -> Vec<String> {
    v.iter_errors(bom)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

#[test]
#[ignore = "needs the CycloneDX schema: bash scripts/fetch-cyclonedx-schema.sh"]
fn cyclonedx_bom_validates_against_the_official_schema() {
    let dir = schema_dir();
    let v = cyclonedx_validator(&dir);
    let (_tmp, out, _md) = full_card();
    let bom = common::read_json(&out.join("bom.cdx.json"));
    assert_eq!(errors(&v, &bom), Vec::<String>::new());
    assert_eq!(bom["specVersion"], "1.6");
    let model = &bom["components"][0];
    assert_eq!(model["type"], "machine-learning-model");
    assert!(model["modelCard"]["modelParameters"]["datasets"][0]["ref"].is_string());
    assert_eq!(
        model["pedigree"]["ancestors"][0]["hashes"][0]["content"],
        common::BASE_SHA
    );
    let data: Vec<&Value> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "data")
        .collect();
    assert_eq!(data.len(), 3, "one input file and two masked splits");
    assert_eq!(data[0]["hashes"][0]["content"], common::INPUT_SHA);
    assert!(data[0]["data"][0]["sensitiveData"].is_array());
    assert_eq!(data[1]["name"], "mask/train.jsonl");
    assert_eq!(data[1]["hashes"][0]["content"], common::MASKED_TRAIN_SHA);
    assert!(data[1]["data"][0].get("sensitiveData").is_none());
    assert_eq!(
        model["modelCard"]["modelParameters"]["datasets"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // The validator is live: a wrong component type is rejected.
    let mut bad = bom.clone();
    bad["components"][0]["type"] = Value::from("neural-net");
    assert!(!errors(&v, &bad).is_empty());

    // A run with missing artifacts still gives a valid BOM.
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    common::train_only(&run);
    let facts = RunFacts::load(&Sources::for_run(&run), CardConfig::default()).unwrap();
    assert_eq!(
        errors(&v, &sealtune_card::render_bom(&facts)),
        Vec::<String>::new()
    );
}

#[test]
fn attestations_reference_the_oms_root_digest_and_are_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    common::full_run(&run);
    let keys = sealtune_seal::keygen(&tmp.path().join("keys"), "reviewer").unwrap();
    // No release yet: attesting is refused with "missing input".
    let e = attest(&run, &keys.private_key, Decision::Approve, "ok").unwrap_err();
    assert_eq!(e.exit().code(), 66);

    let rel = run.join("release");
    std::fs::create_dir_all(&rel).unwrap();
    std::fs::write(rel.join("adapter_config.json"), b"{}").unwrap();
    write_card(
        &RunFacts::load(
            &Sources {
                run_dir: run.clone(),
                release_dir: rel.clone(),
            },
            card_config(),
        )
        .unwrap(),
        &rel,
    )
    .unwrap();
    let signed = sealtune_seal::sign_release(&rel, &keys.private_key, &Default::default()).unwrap();
    let a = attest(
        &run,
        &keys.private_key,
        Decision::Approve,
        "Reviewed leakage and bias tables.",
    )
    .unwrap();
    assert_eq!(a.root_digest, signed.root_digest);
    let env: sealtune_seal::dsse::Envelope =
        serde_json::from_slice(&std::fs::read(&a.path).unwrap()).unwrap();
    let vk = sealtune_seal::keys::load_public_key(&keys.public_key).unwrap();
    let st = sealtune_seal::dsse::verify_statement(&env, &vk).unwrap();
    assert_eq!(st.subject[0].digest["sha256"], signed.root_digest);
    assert_eq!(st.predicate["decision"], "approve");
    // The release still verifies: attestations live outside it.
    sealtune_seal::verify_release(&rel, &keys.public_key, None).unwrap();

    // Regenerating into the signed release directory is refused.
    assert_eq!(regenerate(&run, &rel, None).unwrap_err().exit().code(), 73);
    let (facts, _) = regenerate(&run, &run.join("card"), None).unwrap();
    assert_eq!(
        facts.card,
        card_config(),
        "card fields come from the release's model-card.json"
    );
    assert_eq!(facts.attestations.len(), 1);
    assert_eq!(facts.attestations[0].matches_current_signature, Some(true));
    let md = std::fs::read_to_string(run.join("card/MODEL_CARD.md")).unwrap();
    let so = section(&md, "Sign-off");
    assert!(so.contains("approve") && so.contains("Reviewed leakage and bias tables."));
    assert!(so.contains(&signed.root_digest));
    assert!(section(&md, "Model details").contains(&signed.root_digest));
}

#[test]
fn number_format() {
    use sealtune_card::markdown::fmt_num;
    assert_eq!(fmt_num(0.0), "0");
    assert_eq!(fmt_num(150.0), "150");
    assert_eq!(fmt_num(3.1379265), "3.1379");
    assert_eq!(fmt_num(0.05), "0.05");
    assert_eq!(fmt_num(-0.00001), "-1.000e-5");
    assert_eq!(fmt_num(1e-4), "1.000e-4");
}

#[test]
fn corrupt_artifacts_are_errors_never_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    common::full_run(&run);
    let files = [
        "ingest/report.json",
        "mask/report.json",
        "train/training.json",
        "train/metrics.jsonl",
        "train/canaries.json",
        "eval/report.json",
    ];
    for f in files {
        let path = run.join(f);
        let good = std::fs::read(&path).unwrap();
        let mut variants: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"null".to_vec(),
            b"{}".to_vec(),
            b"[]".to_vec(),
            vec![0xff, 0xfe, 0x00],
        ];
        for cut in [1, good.len() / 3, good.len() / 2, good.len() - 2] {
            variants.push(good[..cut].to_vec());
        }
        for at in (0..good.len()).step_by(good.len() / 40 + 1) {
            let mut v = good.clone();
            v[at] ^= 0x20;
            variants.push(v);
        }
        for v in variants {
            std::fs::write(&path, &v).unwrap();
            match RunFacts::load(&Sources::for_run(&run), CardConfig::default()) {
                Ok(facts) => {
                    let md = sealtune_card::render_markdown(&facts).unwrap();
                    sealtune_card::render_html(&facts, &md).unwrap();
                    sealtune_card::render_bom(&facts);
                }
                Err(e) => {
                    assert_eq!(e.exit().code(), 65, "{f}: {e}");
                    assert!(e.to_string().contains(f), "{f}: {e}");
                }
            }
        }
        std::fs::write(&path, &good).unwrap();
    }
    // A sealed file whose header is not one.
    let rel = run.join("release");
    std::fs::create_dir_all(&rel).unwrap();
    for bad in [
        &b"short"[..],
        b"sealtune-seal/1\n\xff\xff\xff\xff{}",
        b"sealtune-seal/1\n\0\0\0\x02{}",
    ] {
        std::fs::write(rel.join("w.seal"), bad).unwrap();
        let e = RunFacts::load(&Sources::for_run(&run), CardConfig::default()).unwrap_err();
        assert_eq!(e.exit().code(), 65, "{e}");
    }
}
