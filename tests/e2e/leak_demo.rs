//! The positive control: configs/leak-demo.toml trains SmolLM2 with masking
//! off on planted PII and repeated canaries; eval must catch the leak and stop
//! the run (exit 3) before anything is released. Needs the real model
//! (scripts/fetch-smollm2.sh); takes a few minutes on 2 cores.

use serde_json::Value;

use crate::util::*;

fn gate<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("no gate {name}"))
}

#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn the_leak_demo_fails_its_gates_and_releases_nothing() {
    let d = shipped_layout("leak-demo.toml");
    let r = d.run(&["run", "configs/leak-demo.toml"]);
    r.assert_code(3)
        .assert_stderr_has("gate `pii_regurgitation` failed")
        .assert_stderr_has("gate `canary_extraction` failed")
        .assert_stderr_has("--accept-failed-gates");
    assert!(
        !d.exists("runs/leak-demo/release"),
        "nothing may be released"
    );

    // Mask kept the planted values (the control) but still fingerprinted them.
    let mask: Value = serde_json::from_str(&d.read("runs/leak-demo/mask/report.json")).unwrap();
    let kept: u64 = mask["plaintext_kept_by_type"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(kept > 0 && mask["distinct_fingerprints"].as_u64().unwrap() > 0);

    // The gates fail on what the model reproduced, not for want of evidence.
    let report: Value = serde_json::from_str(&d.read("runs/leak-demo/eval/report.json")).unwrap();
    assert_eq!(report["passed"], false);
    for name in ["pii_regurgitation", "canary_extraction"] {
        let g = gate(&report, name);
        assert_eq!(g["status"], "fail", "{g}");
        assert!(g["value"].as_f64().unwrap() >= 1.0, "{g}");
    }
    // The base model reproduced none of it: the leak comes from fine-tuning.
    let metric = |id: &str| {
        report["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("no metric {id}"))
            .clone()
    };
    for id in ["leakage.pii_original_values", "leakage.canary_extracted"] {
        assert_eq!(metric(id)["base"]["value"], 0.0, "{id}");
    }
    // Negative control: never-inserted twins stay near 1/ln 2 bits.
    let heldout = metric("leakage.canary_exposure_heldout_mean")["finetuned"]["value"]
        .as_f64()
        .unwrap();
    assert!(heldout < 4.0, "held-out exposure {heldout}");

    // The audit log records the failure; a rerun stops again without retraining.
    assert!(
        d.read("runs/leak-demo/audit.jsonl")
            .contains("gates.failed")
    );
    let r = d.run(&["run", "configs/leak-demo.toml"]);
    r.assert_code(3);
    assert_eq!(
        r.stderr.matches("skipped (up to date)").count(),
        4,
        "{}",
        r.stderr
    );
}
