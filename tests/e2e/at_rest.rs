//! `[train] seal_at_rest`: no file under the run directory parses as safetensors, at any
//! point (after a kill -9 mid-training, after the whole pipeline), and the pipeline's
//! results are those of a run that kept its weights in clear.

use std::path::Path;

use crate::release_use::{REL, gen_args};
use crate::util::*;

const RECIPIENTS: &str = "recipients = [{ kek_file = \"keys/t.kek\" }]\n";

/// The pipeline test's project, with merged weights trained and released, and the given
/// extra `[train]` lines; `long` trains 40 steps with a checkpoint every 2.
fn project(train: &str, long: bool) -> Dir {
    let d = crate::pipeline::project(true);
    let cfg = d.path().join("cfg.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    if long {
        text = text
            .replace("max_steps = 6\n", "max_steps = 40\n")
            .replace("checkpoint_every = 0\n", "checkpoint_every = 2\n");
    }
    let text = text
        .replace(
            "[train]\n",
            &format!("[train]\nsave_merged = true\n{train}"),
        )
        .replace(RECIPIENTS, &format!("{RECIPIENTS}include_merged = true\n"));
    std::fs::write(&cfg, text).unwrap();
    d
}

/// Files under `root` that parse as safetensors, except the base model's.
fn clear_weights(root: &Path) -> Vec<String> {
    all_files(root)
        .into_iter()
        .filter(|p| !p.starts_with(root.join("model")) && parses_as_safetensors(p))
        .map(|p| p.display().to_string())
        .collect()
}

fn json(d: &Dir, rel: &str) -> serde_json::Value {
    serde_json::from_str(&d.read(rel)).unwrap()
}

/// The eval report without its timings.
fn results(d: &Dir) -> serde_json::Value {
    let mut r = json(d, "run/eval/report.json");
    let o = r.as_object_mut().unwrap();
    o.retain(|k, _| !k.contains("time") && k != "hardware" && k != "created");
    r
}

/// `sealtune verify` of the run's release with the test keys passes.
fn verify(d: &Dir) {
    let mut args = vec!["verify", "run/release"];
    args.extend_from_slice(&REL[2..]);
    d.run(&args).assert_code(0);
}

/// The greedy text of the released model (`generate --release`).
fn generate(d: &Dir) -> String {
    let mut args = gen_args(&["--model", "model"]);
    args.extend_from_slice(&REL);
    let r = d.run(&args);
    r.assert_code(0);
    r.stdout.clone()
}

#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn weights_sealed_at_rest_never_appear_in_clear_and_change_no_result() {
    let clear = project("", false);
    clear.run(&["run", "cfg.toml"]).assert_code(0);
    // The check finds clear weights where they are.
    let found = clear_weights(clear.path());
    assert!(
        found
            .iter()
            .any(|p| p.ends_with("train/adapter/adapter_model.safetensors"))
            && found
                .iter()
                .any(|p| p.ends_with("train/merged/model.safetensors")),
        "{found:?}"
    );

    let sealed = project("seal_at_rest = true\n", false);
    sealed.run(&["run", "cfg.toml"]).assert_code(0);
    let found = clear_weights(sealed.path());
    assert!(found.is_empty(), "clear weights: {found:?}");
    for f in [
        "run/train/adapter/adapter_model.safetensors.seal",
        "run/train/merged/model.safetensors.seal",
        "run/release/adapter_model.safetensors.seal",
        "run/release/merged/model.safetensors.seal",
    ] {
        assert!(sealed.exists(f), "{f} missing");
    }
    // Sealed weights are private to the owner.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(
        sealed
            .path()
            .join("run/train/adapter/adapter_model.safetensors.seal"),
    )
    .unwrap()
    .permissions()
    .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The same adapter (digest of the clear bytes), evaluation and generated text.
    let (tc, ts) = (
        json(&clear, "run/train/training.json"),
        json(&sealed, "run/train/training.json"),
    );
    assert_eq!(tc["adapter"]["files"], ts["adapter"]["files"]);
    assert_eq!(tc["sealed_at_rest"], serde_json::Value::Null);
    assert_eq!(ts["sealed_at_rest"]["keys_from"], "release.recipients");
    assert_eq!(results(&clear), results(&sealed));
    verify(&sealed);
    assert_eq!(generate(&clear), generate(&sealed));

    // The released adapter opens to the very bytes training produced.
    let mut export = vec!["export"];
    export.extend_from_slice(&REL);
    export.extend_from_slice(&["--out", "peft", "--peft"]);
    sealed.run(&export).assert_code(0);
    assert_eq!(
        sha256_hex(&sealed.path().join("peft/adapter_model.safetensors")),
        ts["adapter"]["files"][0]["sha256"].as_str().unwrap()
    );

    // The card and the signed provenance say so.
    let card = sealed.read("run/release/MODEL_CARD.md");
    assert!(card.contains("**Weights at rest:** sealed"), "{card}");
    assert!(
        clear
            .read("run/release/MODEL_CARD.md")
            .contains("**Weights at rest:** in clear")
    );
    let key = sealtune_seal::keys::load_public_key(&sealed.path().join("keys/t.pub.pem")).unwrap();
    let prov = sealed.read("run/release/provenance.intoto.jsonl");
    let env = serde_json::from_str(prov.lines().next().unwrap()).unwrap();
    let st = sealtune_seal::dsse::verify_statement(&env, &key).unwrap();
    let at_rest = &st.predicate["buildDefinition"]["internalParameters"]["weights_at_rest"];
    assert_eq!(at_rest["sealed"], true, "{at_rest}");
    assert_eq!(at_rest["keys_from"], "release.recipients");

    // A sealed adapter is not loaded as a clear one: the error says what to do.
    sealed
        .run(&[
            "generate",
            "--prompt",
            "hi",
            "--model",
            "model",
            "--adapter",
            "run/train/adapter",
        ])
        .assert_code(66)
        .assert_stderr_has("sealed at rest");
}

#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn sealed_checkpoints_resume_after_kill_9_to_the_same_adapter() {
    let clear = project("", true);
    clear
        .run(&["run", "cfg.toml", "--to", "train"])
        .assert_code(0);
    let want = json(&clear, "run/train/training.json")["adapter"]["files"].clone();

    // Its own keys, not the release's.
    let d = project(
        "seal_at_rest = true\nat_rest_recipients = [{ kek_file = \"keys/rest.kek\" }]\n",
        true,
    );
    d.run(&["keygen", "--out", "keys", "--name", "rest"])
        .assert_code(0);
    let ckpts = d.path().join("run/.work/train/checkpoints");
    let mut child = d.spawn(&["run", "cfg.toml", "--to", "train"]);
    assert!(
        wait_for(120.0, || std::fs::read_dir(&ckpts).is_ok_and(|rd| rd
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("step-")))),
        "no checkpoint appeared"
    );
    let ok = std::process::Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    child.wait().unwrap();
    assert!(
        !d.exists("run/train/manifest.json"),
        "killed before the end"
    );
    let files = all_files(&ckpts);
    assert!(
        files
            .iter()
            .any(|p| p.ends_with("tensors.safetensors.seal")),
        "{files:?}"
    );
    let found = clear_weights(d.path());
    assert!(found.is_empty(), "clear weights after kill -9: {found:?}");

    d.run(&["run", "cfg.toml", "--to", "train"])
        .assert_code(0)
        .assert_stderr_has("resuming from the checkpoint at step");
    let t = json(&d, "run/train/training.json");
    assert_eq!(t["adapter"]["files"], want, "resumed after kill -9");
    assert_eq!(t["sealed_at_rest"]["keys_from"], "train.at_rest_recipients");
    // The release's key cannot open weights sealed for the training key.
    d.run(&[
        "unseal",
        "run/train/adapter/adapter_model.safetensors.seal",
        "--out",
        "x",
        "--kek",
        "keys/t.kek",
    ])
    .assert_code(77);
    assert!(!d.exists("x"));
    // The release stage opens them with the training key and seals for the release's.
    d.run(&["run", "cfg.toml"]).assert_code(0);
    assert!(clear_weights(d.path()).is_empty());
    verify(&d);
}

#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn at_rest_settings_are_checked_and_errors_name_the_key() {
    let d = crate::pipeline::project(true);
    let cfg = d.path().join("cfg.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let with = |train: &str| {
        std::fs::write(
            &cfg,
            text.replace("[train]\n", &format!("[train]\n{train}")),
        )
        .unwrap();
    };
    with("at_rest_recipients = [{ kek_file = \"keys/t.kek\" }]\n");
    d.run(&["validate", "cfg.toml"])
        .assert_code(78)
        .assert_stderr_has("train.at_rest_recipients")
        .assert_stderr_has("seal_at_rest = true");
    with("seal_at_rest = true\nat_rest_recipients = [{ kek_file = \"keys/none.kek\" }]\n");
    d.run(&["validate", "cfg.toml"])
        .assert_code(78)
        .assert_stderr_has("train.at_rest_recipients[0].kek_file")
        .assert_stderr_has("sealtune keygen");
    with(
        "seal_at_rest = true\nat_rest_recipients = [{ kek_file = \"keys/t.kek\", passphrase_env = \"P\" }]\n",
    );
    d.run(&["validate", "cfg.toml"])
        .assert_code(78)
        .assert_stderr_has("train.at_rest_recipients[0]")
        .assert_stderr_has("exactly one");
    // A KEK others can read is refused before training starts.
    with("seal_at_rest = true\nat_rest_recipients = [{ kek_file = \"keys/open.kek\" }]\n");
    std::fs::copy(d.path().join("keys/t.kek"), d.path().join("keys/open.kek")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        d.path().join("keys/open.kek"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let r = d.run(&["run", "cfg.toml"]);
    r.assert_code(77).assert_stderr_has("chmod 600");
    assert!(!d.exists("run/train/manifest.json"));
    // Without [release] recipients, seal_at_rest needs its own.
    std::fs::write(
        &cfg,
        text.replace("[train]\n", "[train]\nseal_at_rest = true\n")
            .replace(RECIPIENTS, ""),
    )
    .unwrap();
    d.run(&["run", "cfg.toml", "--to", "train"])
        .assert_code(78)
        .assert_stderr_has("train.seal_at_rest");
}
