//! The release stage in the engine, after two small fake stages named
//! `train` and `eval` that write contract-shaped artifacts (docs/CONTRACTS.md).

#[path = "../../sealtune-card/tests/common/mod.rs"]
mod common;

use sealtune_contract::ExitStatus as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use sealtune_pipeline::{
    CancelToken, Config, ConfigError, Engine, Events, Exit, RunOptions, Stage, StageContext,
    StageError, StageOutcome,
};
use sealtune_release::ReleaseStage;
use sealtune_seal::{KeySource, SealError, keygen, verify_release};

fn adapter_bytes() -> Vec<u8> {
    (0..50_000u32).map(|i| (i * 31 % 251) as u8).collect()
}

fn write(p: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// `train`: adapter, metrics, canaries, training.json; merged weights when `[train] merged = true`.
struct FakeTrain;
/// `eval`: report.json, gates passing (or an accepted failure) unless `[eval] pass = false`.
struct FakeEval;

impl Stage for FakeTrain {
    fn name(&self) -> &'static str {
        "train"
    }
    fn code_version(&self) -> &'static str {
        "fake-train/1"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[]
    }
    fn sections(&self) -> &'static [&'static str] {
        &["train"]
    }
    fn validate(&self, _: &Config) -> Result<(), ConfigError> {
        Ok(())
    }
    fn external_inputs(&self, _: &Config) -> Result<Vec<PathBuf>, StageError> {
        Ok(vec![])
    }
    fn run(&self, ctx: &StageContext<'_>) -> Result<Value, StageError> {
        let out = ctx.out_dir();
        let merged = ctx.config().section_json("train")["merged"] == json!(true);
        let weights = adapter_bytes();
        write(&out.join("adapter/adapter_model.safetensors"), &weights);
        write(
            &out.join("adapter/adapter_config.json"),
            br#"{"peft_type":"LORA","r":16}"#,
        );
        let mut t = common::training(merged);
        t["adapter"]["files"][0]["sha256"] = json!(hex::encode(Sha256::digest(&weights)));
        write(&out.join("training.json"), &serde_json::to_vec(&t).unwrap());
        write(
            &out.join("metrics.jsonl"),
            common::metrics_jsonl().as_bytes(),
        );
        write(
            &out.join("canaries.json"),
            &serde_json::to_vec(&common::canaries()).unwrap(),
        );
        if merged {
            write(&out.join("merged/model.safetensors"), &weights[..20_000]);
            write(
                &out.join("merged/config.json"),
                br#"{"model_type":"llama"}"#,
            );
        }
        Ok(json!({}))
    }
}

impl Stage for FakeEval {
    fn name(&self) -> &'static str {
        "eval"
    }
    fn code_version(&self) -> &'static str {
        "fake-eval/1"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &["train"]
    }
    fn sections(&self) -> &'static [&'static str] {
        &["eval"]
    }
    fn validate(&self, _: &Config) -> Result<(), ConfigError> {
        Ok(())
    }
    fn external_inputs(&self, _: &Config) -> Result<Vec<PathBuf>, StageError> {
        Ok(vec![])
    }
    fn run(&self, ctx: &StageContext<'_>) -> Result<Value, StageError> {
        let pass = ctx.config().section_json("eval")["pass"] != json!(false);
        write(
            &ctx.out_dir().join("report.json"),
            &serde_json::to_vec(&common::eval_report(pass)).unwrap(),
        );
        Ok(json!({}))
    }
}

struct Fixture {
    tmp: tempfile::TempDir,
    stages: Vec<Box<dyn Stage>>,
}

const RELEASE: &str = r#"
[release]
signing_key_file = "keys/rel.key.pem"

[[release.recipients]]
kek_file = "keys/rel.kek"

[release.card]
intended_use = "Summarise discharge notes for clinicians."
out_of_scope_use = ["Diagnosis"]
"#;

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        keygen(&tmp.path().join("keys"), "rel").unwrap();
        // An ingest report, as the real ingest stage leaves it, for lineage.
        write(
            &tmp.path().join("run/ingest/report.json"),
            &serde_json::to_vec(&common::ingest_report()).unwrap(),
        );
        // The engine refuses a non-empty directory that is not a run
        // directory; the ingest run that left that report began the log.
        write(&tmp.path().join("run/audit.jsonl"), b"");
        Fixture {
            tmp,
            stages: vec![
                Box::new(FakeTrain),
                Box::new(FakeEval),
                Box::new(ReleaseStage),
            ],
        }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }
    fn cfg(&self, body: &str) -> Config {
        let p = self.path("c.toml");
        std::fs::write(&p, body).unwrap();
        Config::load(&p, &["train", "eval", "release"]).unwrap()
    }
    fn run(&self, body: &str) -> Result<Vec<(String, StageOutcome)>, StageError> {
        let cfg = self.cfg(body);
        let events = Events::new(false, true);
        let e = Engine::new(
            &self.stages,
            &cfg,
            self.path("run"),
            &events,
            CancelToken::new(),
        );
        e.run(&RunOptions::default())
    }
    fn release(&self) -> PathBuf {
        self.path("run/release")
    }
    fn public_key(&self) -> PathBuf {
        self.path("keys/rel.pub.pem")
    }
    fn kek(&self) -> PathBuf {
        self.path("keys/rel.kek")
    }
}

fn release_files(dir: &Path) -> Vec<String> {
    sealtune_pipeline::fsutil::list_files(dir).unwrap()
}

#[test]
fn release_seals_describes_and_signs_and_the_output_verifies() {
    let f = Fixture::new();
    let out = f.run(RELEASE).unwrap();
    assert_eq!(
        out.last().unwrap(),
        &("release".to_owned(), StageOutcome::Ran)
    );
    let rel = f.release();
    assert_eq!(
        release_files(&rel),
        [
            "MODEL_CARD.html",
            "MODEL_CARD.md",
            "adapter_config.json",
            "adapter_model.safetensors.seal",
            "bom.cdx.json",
            "manifest.json",
            "model-card.json",
            "model.sig",
            "provenance.intoto.jsonl",
        ]
    );
    // No plaintext weights anywhere in the release.
    let weights = adapter_bytes();
    for name in release_files(&rel) {
        let b = std::fs::read(rel.join(&name)).unwrap();
        assert!(!b.windows(64).any(|w| w == &weights[1000..1064]), "{name}");
    }

    let report = verify_release(&rel, &f.public_key(), Some(&f.kek())).unwrap();
    assert_eq!(report.provenance_statements, 2);
    assert_eq!(report.sealed_checked.len(), 1);
    assert!(report.manifest.files.contains(&"MODEL_CARD.md".to_owned()));
    assert!(!report.manifest.files.contains(&"manifest.json".to_owned()));
    // The OMS subject is the model's name, not the staging directory's.
    assert_eq!(
        report.manifest.model_name,
        "SmolLM2-135M-Instruct-sealtune-run"
    );
    let (plain, _) = sealtune_seal::open_sealed(
        &rel.join("adapter_model.safetensors.seal"),
        &[KeySource::kek_file(&f.kek()).unwrap()],
    )
    .unwrap();
    assert_eq!(&plain[..], &weights[..]);

    // Provenance: SLSA v1 with config, dataset, base model and Cargo.lock digests.
    let vk = sealtune_seal::keys::load_public_key(&f.public_key()).unwrap();
    let text = std::fs::read_to_string(rel.join("provenance.intoto.jsonl")).unwrap();
    let sts = sealtune_seal::dsse::verify_jsonl(&text, &vk).unwrap();
    assert_eq!(sts[0].predicate_type, "https://slsa.dev/provenance/v1");
    assert_eq!(
        sts[1].predicate_type,
        "https://in-toto.io/attestation/test-result/v0.1"
    );
    let sealed_sha = hex::encode(Sha256::digest(
        std::fs::read(rel.join("adapter_model.safetensors.seal")).unwrap(),
    ));
    assert!(sts[0].subject.iter().any(|s| s.name.as_deref()
        == Some("adapter_model.safetensors.seal")
        && s.digest["sha256"] == sealed_sha));
    let deps = sts[0].predicate["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap()
        .clone();
    let dep = |prefix: &str| -> String {
        deps.iter()
            .find(|d| d["name"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("no dependency {prefix}"))["digest"]["sha256"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let cfg_sha = hex::encode(Sha256::digest(std::fs::read(f.path("c.toml")).unwrap()));
    assert_eq!(dep("config:"), cfg_sha);
    assert_eq!(dep("dataset:data/notes.jsonl"), common::INPUT_SHA);
    assert_eq!(dep("base-model:model.safetensors"), common::BASE_SHA);
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    assert_eq!(
        dep("code:Cargo.lock"),
        hex::encode(Sha256::digest(std::fs::read(lock).unwrap()))
    );
    assert_eq!(
        sts[0].predicate["runDetails"]["byproducts"][0]["annotations"]["backend"],
        "burn-flex"
    );
    assert_eq!(
        sts[1].predicate["result"], "WARNED",
        "one accepted gate failure"
    );
    assert_eq!(sts[1].predicate["warnedTests"].as_array().unwrap().len(), 1);

    // The card inside the release describes it and is signed with it.
    let md = std::fs::read_to_string(rel.join("MODEL_CARD.md")).unwrap();
    let kek_id = sealtune_seal::Kek::load(&f.kek()).unwrap().id();
    assert!(md.contains(&kek_id), "the card names the recipient key id");
    assert!(md.contains("Summarise discharge notes for clinicians."));
    assert!(md.contains("sealtune verify release --public-key SIGNER.pub.pem"));
    let hint = sealtune_seal::keys::key_hint(&vk).unwrap();
    assert!(
        md.contains(&format!("`sha256sum SIGNER.pub.pem` must print `{hint}`")),
        "the card tells how to check the signer's key"
    );
    assert!(md.contains(&format!("sha256:{}", common::INPUT_SHA)));
    assert!(md.contains("`https://slsa.dev/provenance/v1`"));
    let card: Value =
        serde_json::from_slice(&std::fs::read(rel.join("model-card.json")).unwrap()).unwrap();
    assert_eq!(
        card["release"]["sealed"][0]["name"],
        "adapter_model.safetensors.seal"
    );
    assert_eq!(card["release"]["sealed"][0]["sha256"], sealed_sha);
    assert_eq!(card["release"]["sealed"][0]["plaintext_bytes"], 50_000);

    // The stage manifest summary names the root digest that model.sig signs.
    let m = sealtune_pipeline::manifest::Manifest::read(&rel).unwrap();
    assert_eq!(
        m.summary["oms_root_digest"],
        report.manifest.root_digest.as_str()
    );

    // A second run changes nothing.
    let again = f.run(RELEASE).unwrap();
    assert!(again.iter().all(|(_, o)| *o == StageOutcome::Skipped));

    // The regenerated card now shows the OMS root digest.
    let (facts, _) = sealtune_card::regenerate(&f.path("run"), &f.path("run/card"), None).unwrap();
    assert_eq!(
        facts.signature.known().unwrap().root_digest,
        report.manifest.root_digest
    );
}

fn expect_mismatch(f: &Fixture, what: &str) {
    let e = verify_release(&f.release(), &f.public_key(), None).unwrap_err();
    assert_eq!(e.exit().code(), 65, "{what}: {e}");
    assert!(
        matches!(e, SealError::ContentMismatch { .. }),
        "{what}: {e}"
    );
}

#[test]
fn tampering_with_any_release_file_fails_verification() {
    let f = Fixture::new();
    f.run(RELEASE).unwrap();
    let rel = f.release();
    verify_release(&rel, &f.public_key(), None).unwrap();

    // The card is covered by the signature.
    let card = rel.join("MODEL_CARD.md");
    let original = std::fs::read(&card).unwrap();
    let mut edited = original.clone();
    edited.extend_from_slice(b"\nApproved by nobody.\n");
    std::fs::write(&card, &edited).unwrap();
    let e = verify_release(&rel, &f.public_key(), None).unwrap_err();
    assert!(e.to_string().contains("MODEL_CARD.md"), "{e}");
    expect_mismatch(&f, "edited card");
    std::fs::write(&card, &original).unwrap();
    verify_release(&rel, &f.public_key(), None).unwrap();

    // One flipped byte in a sealed file.
    let sealed = rel.join("adapter_model.safetensors.seal");
    let original = std::fs::read(&sealed).unwrap();
    let mut flipped = original.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 1;
    std::fs::write(&sealed, &flipped).unwrap();
    expect_mismatch(&f, "flipped sealed byte");
    std::fs::write(&sealed, &original).unwrap();

    // An extra file, and a removed one.
    std::fs::write(rel.join("extra.bin"), b"x").unwrap();
    expect_mismatch(&f, "extra file");
    std::fs::remove_file(rel.join("extra.bin")).unwrap();
    let bom = rel.join("bom.cdx.json");
    let b = std::fs::read(&bom).unwrap();
    std::fs::remove_file(&bom).unwrap();
    expect_mismatch(&f, "missing BOM");
    std::fs::write(&bom, b).unwrap();
    verify_release(&rel, &f.public_key(), Some(&f.kek())).unwrap();

    // Another signer's public key is refused.
    let other = keygen(&f.path("other"), "x").unwrap();
    let e = verify_release(&rel, &other.public_key, None).unwrap_err();
    assert_eq!(e.exit().code(), 77, "{e}");
}

#[test]
fn a_failed_gate_exits_3_and_writes_nothing() {
    let f = Fixture::new();
    let body = format!("[eval]\npass = false\n{RELEASE}");
    let e = f.run(&body).unwrap_err();
    assert_eq!(e.exit(), Exit::GateFailed);
    assert_eq!(e.exit().code(), 3);
    let msg = e.to_string();
    for want in [
        "canary_exposure",
        "leakage.canary_exposure_mean",
        "3.1379265",
        "<= 2.5",
        "[eval.accept] canary_exposure = \"reason\"",
    ] {
        assert!(msg.contains(want), "{want:?} not in: {msg}");
    }
    assert!(!f.release().exists(), "no release output");
    assert!(!f.path("run/.staging-release").exists(), "no staging left");
    // Upstream results are kept.
    assert!(f.path("run/eval/report.json").is_file());
}

#[test]
fn check_gates_fails_closed_on_an_inconsistent_report() {
    let mut eval: sealtune_card::facts::Eval =
        serde_json::from_value(common::eval_report(true)).unwrap();
    sealtune_release::check_gates(&eval).unwrap();
    // "accepted" without a reason is not an acceptance.
    eval.gates[1].reason = Some("  ".into());
    let e = sealtune_release::check_gates(&eval).unwrap_err();
    assert_eq!(e.exit().code(), 3);
    // A report that says passed = false with every gate green is refused too.
    let mut eval: sealtune_card::facts::Eval =
        serde_json::from_value(common::eval_report(true)).unwrap();
    eval.passed = false;
    assert_eq!(
        sealtune_release::check_gates(&eval)
            .unwrap_err()
            .exit()
            .code(),
        3
    );
}

#[test]
fn merged_weights_are_sealed_when_asked() {
    let f = Fixture::new();
    let body = format!(
        "[train]\nmerged = true\n{}",
        RELEASE.replace(
            "[[release.recipients]]",
            "include_merged = true\n\n[[release.recipients]]"
        )
    );
    f.run(&body).unwrap();
    let files = release_files(&f.release());
    assert!(files.contains(&"merged/model.safetensors.seal".to_owned()));
    assert!(files.contains(&"merged/config.json".to_owned()));
    let r = verify_release(&f.release(), &f.public_key(), Some(&f.kek())).unwrap();
    assert_eq!(r.sealed_checked.len(), 2);
    let md = std::fs::read_to_string(f.release().join("MODEL_CARD.md")).unwrap();
    assert!(md.contains("base_model_relation: merge"));

    // include_merged without merged weights: missing input.
    let f = Fixture::new();
    let body = RELEASE.replace(
        "[[release.recipients]]",
        "include_merged = true\n\n[[release.recipients]]",
    );
    let e = f.run(&body).unwrap_err();
    assert_eq!(e.exit(), Exit::NoInput, "{e}");
    assert!(e.to_string().contains("save_merged"), "{e}");
}

fn config_error(f: &Fixture, body: &str) -> ConfigError {
    ReleaseStage.validate(&f.cfg(body)).unwrap_err()
}

#[test]
fn config_errors_name_the_key() {
    let f = Fixture::new();
    ReleaseStage.validate(&f.cfg(RELEASE)).unwrap();
    let e = config_error(
        &f,
        &RELEASE.replace("[release.card]", "[release.card]\ncolour = 1"),
    );
    assert_eq!(e.key, "release.card.colour", "{e}");
    let e = config_error(
        &f,
        &RELEASE.replace("signing_key_file = \"keys/rel.key.pem\"", ""),
    );
    assert_eq!(e.key, "release.signing_key_file", "{e}");
    let e = config_error(&f, "[release]\nsigning_key_file = \"keys/rel.key.pem\"\n");
    assert_eq!(e.key, "release.recipients", "{e}");
    let e = config_error(
        &f,
        &RELEASE.replace(
            "kek_file = \"keys/rel.kek\"",
            "kek_file = \"keys/rel.kek\"\npassphrase_env = \"P\"",
        ),
    );
    assert_eq!(e.key, "release.recipients[0]", "{e}");
    let e = config_error(&f, &RELEASE.replace("keys/rel.kek", "keys/nope.kek"));
    assert_eq!(e.key, "release.recipients[0].kek_file", "{e}");
    assert!(e.message.contains("sealtune keygen"), "{e}");
    let e = config_error(&f, &RELEASE.replace("keys/rel.key.pem", "keys/nope.pem"));
    assert_eq!(e.key, "release.signing_key_file", "{e}");
}

#[test]
fn the_stage_key_holds_key_ids_never_secrets() {
    let f = Fixture::new();
    let cfg = f.cfg(RELEASE);
    let k = ReleaseStage.extra_key(&cfg).unwrap();
    let kek = sealtune_seal::Kek::load(&f.kek()).unwrap();
    assert_eq!(k["recipients"][0], format!("kek:{}", kek.id()));
    let vk = sealtune_seal::keys::load_public_key(&f.public_key()).unwrap();
    assert_eq!(
        k["signing_key_hint"],
        sealtune_seal::keys::key_hint(&vk).unwrap()
    );
    let text = k.to_string();
    let kek_text = std::fs::read_to_string(f.kek()).unwrap();
    assert!(!text.contains(kek_text.trim()));
    assert!(!text.contains(&hex::encode(kek.as_bytes())));
    let pem = std::fs::read_to_string(f.path("keys/rel.key.pem")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!text.contains(&body));
}
