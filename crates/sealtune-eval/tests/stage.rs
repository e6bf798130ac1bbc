//! The eval stage under the engine, with stand-in mask and train stages that write the
//! files of the contract (masked splits, fingerprints, a PEFT adapter, canaries.json).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use serde_json::{Value, json};

use sealtune_data::canary::{CanarySet, Format};
use sealtune_eval::stage::EvalStage;
use sealtune_model::{Device, Llama, LoraConfig};
use sealtune_pii::fingerprint::FingerprintSet;
use sealtune_pipeline::{
    CancelToken, Config, ConfigError, Engine, Events, Exit, RunOptions, Stage, StageContext,
    StageError,
};

const TRAIN: &str = r#"{"messages":[{"role":"user","content":"Why was my card declined?"},{"role":"assistant","content":"The daily limit was reached; it resets at midnight."}]}
{"messages":[{"role":"user","content":"Summarise the visit."},{"role":"assistant","content":"Follow-up for asthma; inhaler technique reviewed, peak flow stable."}]}
"#;
const EVAL: &str = r#"{"messages":[{"role":"user","content":"Can I change my address?"},{"role":"assistant","content":"Please confirm address changes in the app under Profile."}]}
"#;

struct FakeMask;

impl Stage for FakeMask {
    fn name(&self) -> &'static str {
        "mask"
    }
    fn code_version(&self) -> &'static str {
        "test/1"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[]
    }
    fn sections(&self) -> &'static [&'static str] {
        &[]
    }
    fn validate(&self, _: &Config) -> Result<(), ConfigError> {
        Ok(())
    }
    fn external_inputs(&self, _: &Config) -> Result<Vec<PathBuf>, StageError> {
        Ok(Vec::new())
    }
    fn run(&self, ctx: &StageContext<'_>) -> Result<Value, StageError> {
        let out = ctx.out_dir();
        std::fs::write(out.join("train.jsonl"), TRAIN).unwrap();
        std::fs::write(out.join("eval.jsonl"), EVAL).unwrap();
        FingerprintSet::new()
            .write(&out.join("pii-fingerprints.bin"))
            .unwrap();
        Ok(json!({}))
    }
}

struct FakeTrain {
    model: PathBuf,
}

impl Stage for FakeTrain {
    fn name(&self) -> &'static str {
        "train"
    }
    fn code_version(&self) -> &'static str {
        "test/1"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &["mask"]
    }
    fn sections(&self) -> &'static [&'static str] {
        &[]
    }
    fn validate(&self, _: &Config) -> Result<(), ConfigError> {
        Ok(())
    }
    fn external_inputs(&self, _: &Config) -> Result<Vec<PathBuf>, StageError> {
        Ok(Vec::new())
    }
    fn run(&self, ctx: &StageContext<'_>) -> Result<Value, StageError> {
        let out = ctx.out_dir();
        let mut m = Llama::load_dir(&self.model, &Device::flex()).unwrap();
        m.add_lora(&LoraConfig::default()).unwrap();
        m.save_peft_adapter(&out.join("adapter"), "tiny").unwrap();
        let set = CanarySet::generate(1, 2, 5, &[Format::Ssn, Format::Passphrase]);
        std::fs::write(out.join("canaries.json"), serde_json::to_vec(&set).unwrap()).unwrap();
        Ok(json!({}))
    }
}

#[test]
fn eval_stage_writes_its_report_then_stops_the_run_on_failed_gates() {
    let tmp = tempfile::tempdir().unwrap();
    let model = common::tiny_model(tmp.path());
    let key = tmp.path().join("mask.key");
    std::fs::write(&key, [9u8; 32]).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg_path = tmp.path().join("c.toml");
    std::fs::write(
        &cfg_path,
        "[model]\npath = \"model\"\nname = \"tiny\"\n\n[mask]\nkey_file = \"mask.key\"\n\n\
         [eval]\nreferences = 16\nbootstrap = 20\nmia_samples = 2\npii_prompted = 2\n\
         pii_unconditioned = 1\npii_max_new_tokens = 8\nmemorization_samples = 2\n\
         write_scores = true\n\
         [eval.accept]\ndecision_gap = \"reviewed: tiny random test model\"\n",
    )
    .unwrap();
    let cfg = Config::load(&cfg_path, &["model", "mask", "eval"]).unwrap();
    let stages: Vec<Box<dyn Stage>> = vec![
        Box::new(FakeMask),
        Box::new(FakeTrain {
            model: model.clone(),
        }),
        Box::new(EvalStage),
    ];
    let events = Events::new(false, true);
    let run = tmp.path().join("run");
    let engine = Engine::new(&stages, &cfg, run.clone(), &events, CancelToken::new());
    engine.validate().unwrap();
    // Gates that are not passed or accepted stop the run (exit 3) after the report
    // is committed.
    let e = engine.run(&RunOptions::default()).unwrap_err();
    assert_eq!(e.exit(), Exit::GateFailed);
    assert!(
        e.to_string()
            .contains("gate `pii_regurgitation` needs review"),
        "{e}"
    );
    assert!(
        !e.to_string().contains("gate `decision_gap`"),
        "accepted: {e}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(run.join("eval/report.json")).unwrap()).unwrap();
    assert_eq!(report["schema"], "sealtune.eval-report/v1");
    assert_eq!(report["models"]["base"], "tiny");
    assert_eq!(report["exposure"]["inserted"].as_array().unwrap().len(), 2);
    assert_eq!(report["exposure"]["held_out"].as_array().unwrap().len(), 2);
    let gates = report["gates"].as_array().unwrap();
    assert_eq!(gates.len(), 6);
    // A fresh adapter leaks nothing: 0 originals, but from 2 samples that is not
    // evidence, so the gate asks for review instead of passing.
    let pii = gates
        .iter()
        .find(|g| g["name"] == "pii_regurgitation")
        .unwrap();
    assert_eq!(pii["value"], 0.0);
    assert_eq!(pii["evidence"], "insufficient");
    assert_eq!(pii["status"], "review");
    assert_eq!(pii["passed"], false);
    let gap = gates.iter().find(|g| g["name"] == "decision_gap").unwrap();
    if gap["passed"] == false {
        assert_eq!(gap["accepted"], true);
        assert_eq!(gap["reason"], "reviewed: tiny random test model");
    }
    // The per-record scores: owner-only, and never a canary's secret.
    let scores_path = run.join("eval/scores.json");
    let mode = std::fs::metadata(&scores_path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let scores_text = std::fs::read_to_string(&scores_path).unwrap();
    let scores: Value = serde_json::from_str(&scores_text).unwrap();
    assert_eq!(scores["schema"], "sealtune.eval-scores/1");
    assert_eq!(scores["canaries"].as_array().unwrap().len(), 4);
    let canaries: Value =
        serde_json::from_slice(&std::fs::read(run.join("train/canaries.json")).unwrap()).unwrap();
    for c in canaries["inserted"]
        .as_array()
        .unwrap()
        .iter()
        .chain(canaries["held_out"].as_array().unwrap())
    {
        let secret = c["secret"].as_str().unwrap();
        assert!(
            !scores_text.contains(secret),
            "a canary secret in scores.json"
        );
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(run.join("eval/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["summary"]["passed"], report["passed"]);
    assert!(manifest["summary"]["timings_s"]["canaries"].is_number());

    // Nothing changed: a second run skips eval, and with a reason to accept the
    // failed gates it goes on. A new mask key reruns eval.
    let engine = Engine::new(&stages, &cfg, run.clone(), &events, CancelToken::new())
        .accept_failed_gates("tiny random test model")
        .unwrap();
    let again = engine.run(&RunOptions::default()).unwrap();
    assert!(
        again
            .iter()
            .all(|(_, o)| *o == sealtune_pipeline::StageOutcome::Skipped)
    );
    let audit = std::fs::read_to_string(run.join("audit.jsonl")).unwrap();
    assert!(audit.contains("\"gates.failed\"") && audit.contains("\"gates.accepted\""));
    assert!(audit.contains("tiny random test model"));
    std::fs::write(&key, [10u8; 32]).unwrap();
    let engine = Engine::new(&stages, &cfg, run.clone(), &events, CancelToken::new())
        .accept_failed_gates("tiny random test model")
        .unwrap();
    let third = engine.run(&RunOptions::default()).unwrap();
    assert!(
        third
            .iter()
            .any(|(n, o)| n == "eval" && *o == sealtune_pipeline::StageOutcome::Ran)
    );
}

#[test]
fn a_bad_eval_section_is_a_config_error_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("c.toml");
    std::fs::write(
        &p,
        "[model]\npath = \"m\"\n[mask]\nkey_env = \"K\"\n[eval]\nsuffix_tokens = 5\n",
    )
    .unwrap();
    let cfg = Config::load(&p, &["model", "mask", "eval"]).unwrap();
    let e = EvalStage.validate(&cfg).unwrap_err();
    assert!(e.to_string().contains("eval.suffix_tokens"), "{e}");
    std::fs::write(
        &p,
        "[model]\npath = \"m\"\n[mask]\nkey_env = \"K\"\n[eval]\nrefs = 5\n",
    )
    .unwrap();
    let cfg = Config::load(&p, &["model", "mask", "eval"]).unwrap();
    assert!(EvalStage.validate(&cfg).is_err());
    std::fs::write(
        &p,
        "[model]\npath = \"m\"\n[mask]\nkey_env = \"K\"\n[eval]\nbenchmark_limit = 0\n",
    )
    .unwrap();
    let cfg = Config::load(&p, &["model", "mask", "eval"]).unwrap();
    let e = EvalStage.validate(&cfg).unwrap_err();
    assert!(e.to_string().contains("eval.benchmark_limit"), "{e}");
}
