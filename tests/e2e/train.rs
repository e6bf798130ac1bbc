//! The train stage end to end on a tiny random model with SmolLM2's real tokenizer:
//! outputs, canaries, and resume equivalence after kill -9 and after SIGTERM.

use std::path::Path;

use crate::util::*;

const TRAIN: &str = r#"
[train]
max_seq_len = 128
max_steps = 60
seed = 3
eval_every = 20
checkpoint_every = 2
keep_checkpoints = 2

[train.lora]
rank = 4
alpha = 8
dropout = 0.1

[train.optim]
learning_rate = 5e-3
warmup_steps = 2

[train.canaries]
count = 2
repeats = 3
"#;

/// A project with 40 chat records, the tiny model and a training config (needs the
/// SmolLM2 tokenizer).
fn project() -> Dir {
    let src = smollm2_dir();
    let d = Dir::new();
    tiny_chat_model(&src, &d.path().join("model"));
    d.write("data/chat.jsonl", chat_lines(40));
    let cfg = d.config("chat", "eval_fraction = 0.2\n");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(TRAIN);
    std::fs::write(&cfg, text).unwrap();
    d
}

fn adapter_sha(d: &Dir) -> String {
    sha256_hex(&d.path().join("run/train/adapter/adapter_model.safetensors"))
}

fn first_checkpoint(d: &Dir) -> bool {
    let dir = d.path().join("run/.work/train/checkpoints");
    std::fs::read_dir(&dir).is_ok_and(|rd| {
        rd.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("step-"))
    })
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn train_writes_adapter_metrics_canaries_and_resumes_to_the_same_bytes() {
    let a = project();
    a.run(&["run", "cfg.toml", "--to", "train"]).assert_code(0);
    let want = adapter_sha(&a);

    // Outputs.
    let cfg: serde_json::Value =
        serde_json::from_str(&a.read("run/train/adapter/adapter_config.json")).unwrap();
    assert_eq!(cfg["r"], 4);
    assert_eq!(cfg["peft_type"], "LORA");
    let metrics = lines(&a.path().join("run/train/metrics.jsonl"));
    let train: Vec<_> = metrics.iter().filter(|m| m["kind"] == "train").collect();
    assert_eq!(train.len(), 60);
    for (i, m) in train.iter().enumerate() {
        assert_eq!(m["step"], i as u64 + 1);
        for k in ["loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s"] {
            assert!(m[k].is_number(), "{k} missing in {m}");
        }
    }
    let first: f64 = train[..5].iter().map(|m| m["loss"].as_f64().unwrap()).sum();
    let last: f64 = train[55..]
        .iter()
        .map(|m| m["loss"].as_f64().unwrap())
        .sum();
    assert!(
        last < first * 0.97,
        "loss did not go down: {first} -> {last}"
    );
    let evals: Vec<_> = metrics.iter().filter(|m| m["kind"] == "eval").collect();
    assert_eq!(evals.len(), 3, "eval at 20, 40 and the end: {evals:?}");
    let training: serde_json::Value =
        serde_json::from_str(&a.read("run/train/training.json")).unwrap();
    assert_eq!(training["steps"], 60);
    assert_eq!(training["records"]["canary_records"], 6);
    let r = &training["records"];
    assert_eq!(
        r["train"].as_u64().unwrap(),
        r["trained_examples"].as_u64().unwrap()
            + r["too_long"].as_u64().unwrap()
            + r["no_targets"].as_u64().unwrap()
    );
    assert_eq!(
        training["adapter"]["files"][0]["sha256"].as_str().unwrap(),
        want
    );
    assert!(training["final"]["eval_loss"].is_number());
    // The device actually used is recorded (the default build has only the CPU).
    if !cfg!(feature = "libtorch") {
        assert_eq!(training["hardware"]["device"], "cpu");
        assert_eq!(training["hardware"]["backend"], "burn-flex");
    }
    assert_eq!(training["hardware"]["dtype"], "f32");

    // Canaries: inserted and held out are distinct, and none is in the eval split.
    let canaries: serde_json::Value =
        serde_json::from_str(&a.read("run/train/canaries.json")).unwrap();
    let eval_split = a.read("run/mask/eval.jsonl");
    let (ins, out) = (
        canaries["inserted"].as_array().unwrap(),
        canaries["held_out"].as_array().unwrap(),
    );
    assert_eq!((ins.len(), out.len()), (2, 2));
    for c in ins.iter().chain(out) {
        assert!(!eval_split.contains(c["secret"].as_str().unwrap()));
    }
    assert!(
        !a.exists("run/.work/train"),
        "the work directory is removed on success"
    );

    // kill -9 after the first checkpoint, then rerun: same adapter bytes.
    let b = project();
    let mut child = b.spawn(&["run", "cfg.toml", "--to", "train"]);
    assert!(
        wait_for(120.0, || first_checkpoint(&b)),
        "no checkpoint appeared"
    );
    signal(child.id(), "-9");
    child.wait().unwrap();
    assert!(
        !b.exists("run/train/manifest.json"),
        "killed before the end"
    );
    let r = b.run(&["run", "cfg.toml", "--to", "train"]);
    r.assert_code(0)
        .assert_stderr_has("resuming from the checkpoint at step");
    assert_eq!(adapter_sha(&b), want, "resumed after kill -9");
    let tb: serde_json::Value = serde_json::from_str(&b.read("run/train/training.json")).unwrap();
    assert!(tb["resumed_from_step"].as_u64().unwrap() >= 2);
    assert_eq!(
        lines(&b.path().join("run/train/metrics.jsonl"))
            .iter()
            .filter(|m| m["kind"] == "train")
            .count(),
        60,
        "one metrics line per step after a resume"
    );

    // SIGTERM: a checkpoint, exit 75, then the rerun finishes with the same bytes.
    let c = project();
    let child = c.spawn(&["run", "cfg.toml", "--to", "train"]);
    assert!(
        wait_for(120.0, || first_checkpoint(&c)),
        "no checkpoint appeared"
    );
    signal(child.id(), "-TERM");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(stderr.contains("resumes from it"), "{stderr}");
    c.run(&["run", "cfg.toml", "--to", "train"]).assert_code(0);
    assert_eq!(adapter_sha(&c), want, "resumed after SIGTERM");
}

#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn train_config_errors_name_the_key() {
    let d = project();
    let cfg = d.path().join("cfg.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("max_seq_len = 128", "max_seq_len = 4")).unwrap();
    d.run(&["validate", "cfg.toml"])
        .assert_code(78)
        .assert_stderr_has("train.max_seq_len");
    std::fs::write(&cfg, text.replace("rank = 4", "rank = 4\nrnak = 2")).unwrap();
    d.run(&["validate", "cfg.toml"])
        .assert_code(78)
        .assert_stderr_has("rnak");
    // A missing model directory is a missing input.
    std::fs::write(&cfg, text.replace("path = \"model\"", "path = \"nowhere\"")).unwrap();
    d.run(&["run", "cfg.toml", "--to", "train"])
        .assert_code(66)
        .assert_stderr_has("nowhere");
}

/// `[train] activation_checkpointing` recomputes each layer in the backward pass and gets
/// the gradients of the whole graph to the bit on the CPU, so the stage writes the same
/// adapter bytes with it as without.
#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn activation_checkpointing_trains_the_same_adapter_bytes() {
    let plain = project();
    plain
        .run(&["run", "cfg.toml", "--to", "train"])
        .assert_code(0);
    let ckpt = project();
    let cfg = ckpt.path().join("cfg.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("\n[train]\n"));
    std::fs::write(
        &cfg,
        text.replace(
            "\n[train]\n",
            "\n[train]\nactivation_checkpointing = true\n",
        ),
    )
    .unwrap();
    ckpt.run(&["run", "cfg.toml", "--to", "train"])
        .assert_code(0);
    assert_eq!(adapter_sha(&plain), adapter_sha(&ckpt));
    let training: serde_json::Value =
        serde_json::from_str(&ckpt.read("run/train/training.json")).unwrap();
    assert_eq!(training["steps"], 60);
}
