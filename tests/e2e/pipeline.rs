//! The whole pipeline on a tiny random model with SmolLM2's tokenizer: ingest, mask,
//! train, eval, release; then verify, the card, a reviewer's attestation, tampering, and
//! a failed gate that stops the release.

use crate::util::*;

const STAGES: &str = r#"
[train]
max_seq_len = 128
max_steps = 6
checkpoint_every = 0

[train.lora]
rank = 4
alpha = 8

[train.canaries]
count = 2
repeats = 2

[eval]
references = 8
mia_samples = 4
memorization_samples = 2
pii_prompted = 2
pii_unconditioned = 1
pii_max_new_tokens = 8
suffix_tokens = 32
bootstrap = 20
bias_templates = 1
bias_names = 1
"#;

const ACCEPT: &str = r#"
[eval.accept]
pii_regurgitation = "test: tiny samples"
canary_extraction = "test: tiny samples"
canary_exposure = "test: tiny samples"
mia_auc = "test: tiny samples"
decision_gap = "test: random model"
disparate_impact = "test: random model"
"#;

const RELEASE: &str = r#"
[release.card]
intended_use = "Testing the pipeline."
"#;

/// Asserts that `rel` is exactly its contract type `T`: parsed into it and written back,
/// nothing is lost and nothing is added.
fn follows<T: serde::de::DeserializeOwned + serde::Serialize>(d: &Dir, rel: &str) {
    let text = d.read(rel);
    let typed: T = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{rel} does not follow its contract type: {e}"));
    let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), raw, "{rel}");
}

pub(crate) fn project(accept: bool) -> Dir {
    let src = smollm2_dir();
    let d = Dir::new();
    tiny_chat_model(&src, &d.path().join("model"));
    d.write(
        "data/chat.jsonl",
        (0..40)
            .map(|i| {
                format!(
                    "{{\"messages\":[{{\"role\":\"user\",\"content\":\"Who is member {i}?\"}},{{\"role\":\"assistant\",\"content\":\"Member {i} is Maria Lopez, SSN 912-34-{:04}.\"}}]}}\n",
                    1000 + i
                )
            })
            .collect::<String>(),
    );
    d.run(&["keygen", "--out", "keys", "--name", "t"])
        .assert_code(0);
    let cfg = d.config("chat", "eval_fraction = 0.25\n");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(STAGES);
    if accept {
        text.push_str(ACCEPT);
    }
    text.push_str(RELEASE);
    std::fs::write(&cfg, text).unwrap();
    d
}

#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn the_whole_pipeline_releases_a_verifiable_signed_model_with_its_card() {
    let d = project(true);
    d.run(&["run", "cfg.toml"]).assert_code(0);
    for f in [
        "adapter_model.safetensors.seal",
        "adapter_config.json",
        "MODEL_CARD.md",
        "MODEL_CARD.html",
        "model-card.json",
        "bom.cdx.json",
        "provenance.intoto.jsonl",
        "model.sig",
    ] {
        assert!(d.exists(&format!("run/release/{f}")), "release/{f} missing");
    }
    // No plaintext weights leave in the release.
    assert!(!d.exists("run/release/adapter_model.safetensors"));
    let v = d.run(&[
        "verify",
        "run/release",
        "--public-key",
        "keys/t.pub.pem",
        "--kek",
        "keys/t.kek",
    ]);
    v.assert_code(0);

    // Every JSON artifact is exactly its contract type: parsed into it and written
    // back, nothing is lost and nothing is added.
    use sealtune_contract::artifacts::{eval, ingest, mask, train};
    follows::<ingest::Report>(&d, "run/ingest/report.json");
    follows::<mask::Report>(&d, "run/mask/report.json");
    follows::<train::Training>(&d, "run/train/training.json");
    follows::<eval::Report>(&d, "run/eval/report.json");
    for line in d.read("run/train/metrics.jsonl").lines() {
        let typed: train::MetricsLine = serde_json::from_str(line).unwrap();
        let raw: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(serde_json::to_value(&typed).unwrap(), raw, "{line}");
    }

    // The card's numbers come from the artifacts.
    let card = d.read("run/release/MODEL_CARD.md");
    for section in [
        "## Model details",
        "## Data lineage",
        "## Training procedure",
        "## Evaluation",
        "## Security",
        "## Accepted gate failures",
        "## Limitations and recommendations",
    ] {
        assert!(card.contains(section), "card lacks {section}");
    }
    let training: serde_json::Value =
        serde_json::from_str(&d.read("run/train/training.json")).unwrap();
    let adapter_sha = training["adapter"]["files"][0]["sha256"].as_str().unwrap();
    let facts: serde_json::Value =
        serde_json::from_str(&d.read("run/release/model-card.json")).unwrap();
    assert!(
        facts.to_string().contains(adapter_sha),
        "model-card.json does not carry the adapter digest from training.json"
    );
    assert!(
        card.contains("test: random model"),
        "accepted reasons are shown"
    );

    // The unsealed adapter equals what train wrote.
    d.run(&[
        "unseal",
        "run/release/adapter_model.safetensors.seal",
        "--out",
        "adapter.out",
        "--kek",
        "keys/t.kek",
    ])
    .assert_code(0);
    assert_eq!(
        sha256_hex(&d.path().join("adapter.out")),
        sha256_hex(&d.path().join("run/train/adapter/adapter_model.safetensors"))
    );

    // A reviewer signs off; the regenerated card lists it.
    d.run(&[
        "attest",
        "--run-dir",
        "run",
        "--key",
        "keys/t.key.pem",
        "--decision",
        "approve",
        "--note",
        "fine for the test",
    ])
    .assert_code(0);
    d.run(&["card", "--run-dir", "run"]).assert_code(0);
    assert!(
        d.read("run/card/MODEL_CARD.md")
            .contains("fine for the test")
    );

    // The release's signed provenance anchors the run's audit log: a log
    // rewritten since (here: a consistent chain of other entries, with
    // status.json and the manifests' anchors stripped to match) fails.
    let ok = d.run(&[
        "verify",
        "run/release",
        "--public-key",
        "keys/t.pub.pem",
        "--run-dir",
        "run",
    ]);
    ok.assert_code(0);
    assert!(
        ok.stdout
            .contains("that the release's signed provenance records")
    );
    let log = d.read("run/audit.jsonl");
    let n = log.lines().count();
    let fake = d.path().join("fake.jsonl");
    let mut l = sealtune_pipeline::audit::AuditLog::open(&fake).unwrap();
    for i in 0..n {
        l.append("run.start", None, serde_json::json!({ "i": i }))
            .unwrap();
    }
    drop(l);
    std::fs::copy(&fake, d.path().join("run/audit.jsonl")).unwrap();
    for st in [
        "status.json",
        "ingest/manifest.json",
        "mask/manifest.json",
        "train/manifest.json",
        "eval/manifest.json",
        "release/manifest.json",
    ] {
        let p = d.path().join("run").join(st);
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("audit_head");
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    }
    d.run(&["audit", "--run-dir", "run"]).assert_code(0);
    d.run(&[
        "verify",
        "run/release",
        "--public-key",
        "keys/t.pub.pem",
        "--run-dir",
        "run",
    ])
    .assert_code(65)
    .assert_stderr_has("the signed provenance of run/release");

    // Everything is up to date on a rerun.
    let r = d.run(&["run", "cfg.toml"]);
    r.assert_code(0);
    assert_eq!(
        r.stderr.matches("skipped (up to date)").count(),
        5,
        "{}",
        r.stderr
    );

    // Tampering with the card breaks verification.
    let p = d.path().join("run/release/MODEL_CARD.md");
    std::fs::write(&p, card.replace("Model details", "Model detail")).unwrap();
    let v = d.run(&["verify", "run/release", "--public-key", "keys/t.pub.pem"]);
    assert_ne!(v.code, 0, "a changed card must not verify");
}

#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn a_failed_gate_stops_the_run_until_accepted_with_a_reason() {
    let d = project(false);
    // Eval writes its report, then stops the run: exit 3, nothing released.
    let r = d.run(&["run", "cfg.toml"]);
    r.assert_code(3)
        .assert_stderr_has("eval: gate")
        .assert_stderr_has("--accept-failed-gates");
    assert!(d.exists("run/eval/report.json"), "the eval report is kept");
    assert!(!d.exists("run/release"), "nothing is released");
    assert_eq!(stage_state(&d, "eval"), "done");
    // A scheduler running the stages one at a time gets exit 3 from eval (up to
    // date, its verdict unchanged), and the release stage alone is refused too.
    let stage = |name: &str| d.run(&["stage", name, "--config", "cfg.toml", "--run-dir", "run"]);
    stage("eval").assert_code(3).assert_stderr_has("eval: gate");
    stage("release").assert_code(3);
    // `status` shows why the run stopped, under the eval row.
    let st = d.run(&["status", "--run-dir", "run"]);
    st.assert_code(0);
    assert!(st.stdout.contains("↳ eval: gate"), "{}", st.stdout);
    // --reason goes with --accept-failed-gates, and is not empty.
    d.run(&["run", "cfg.toml", "--accept-failed-gates"])
        .assert_code(64);
    d.run(&["run", "cfg.toml", "--accept-failed-gates", "--reason", " "])
        .assert_code(64);

    // Accepted with a reason: eval is not rerun, release goes ahead, and the
    // reason is in the audit log, in the signed release and on the card.
    let reason = "tiny random test model; reviewed by the test";
    let r = d.run(&[
        "run",
        "cfg.toml",
        "--accept-failed-gates",
        "--reason",
        reason,
    ]);
    r.assert_code(0);
    assert!(
        r.stderr.contains("eval     skipped (up to date)"),
        "{}",
        r.stderr
    );
    let audit = d.read("run/audit.jsonl");
    assert!(audit.contains("gates.failed") && audit.contains("gates.accepted"));
    assert!(audit.contains(reason));
    follows::<sealtune_contract::artifacts::release::Acceptance>(&d, "run/release/acceptance.json");
    let acc: serde_json::Value =
        serde_json::from_str(&d.read("run/release/acceptance.json")).unwrap();
    assert_eq!(acc["reason"], reason);
    assert!(!acc["gates"].as_array().unwrap().is_empty());
    let card = d.read("run/release/MODEL_CARD.md");
    assert!(card.contains(reason), "the card shows the reason");
    assert!(card.contains("--accept-failed-gates"));
    d.run(&["verify", "run/release", "--public-key", "keys/t.pub.pem"])
        .assert_code(0);
    // A regenerated card keeps it.
    d.run(&["card", "--run-dir", "run"]).assert_code(0);
    assert!(d.read("run/card/MODEL_CARD.md").contains(reason));
    // Without the flag the next run stops at eval again.
    d.run(&["run", "cfg.toml"]).assert_code(3);
}
