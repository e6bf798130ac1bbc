//! `sealtune plan`, and `sealtune stage` needing only its own stage's keys.

use crate::util::*;

#[test]
fn plan_writes_each_kind_lists_placeholders_and_reads_no_key() {
    let d = Dir::new();
    d.write("data/a.jsonl", chat_lines(4));
    d.config("chat", "");
    // Key files that cannot be read: plan must not need them.
    std::fs::remove_file(d.path().join("keys/t.key.pem")).unwrap();
    std::fs::remove_file(d.path().join("mask.key")).unwrap();
    for (kind, files) in [
        (
            "slurm",
            &["ingest.sbatch", "release.sbatch", "submit.sh"][..],
        ),
        (
            "kubernetes",
            &[
                "00-volume.yaml",
                "01-config.yaml",
                "30-train.yaml",
                "run.sh",
            ][..],
        ),
        ("argo", &["workflow.yaml"][..]),
    ] {
        let out = format!("plan-{kind}");
        let r = d.run(&["plan", "cfg.toml", "--emit", kind, "--out", &out]);
        r.assert_code(0).assert_stderr_has("FILL_IN_");
        for f in files {
            assert!(d.exists(&format!("{out}/{f}")), "{kind}: {f}");
        }
        // Never overwrites.
        d.run(&["plan", "cfg.toml", "--emit", kind, "--out", &out])
            .assert_code(73);
    }
    let r = d.run(&[
        "plan",
        "cfg.toml",
        "--emit",
        "kubernetes",
        "--image",
        "i",
        "--namespace",
        "n",
        "--storage-class",
        "s",
    ]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("# ==> 50-release.yaml <=="),
        "{}",
        r.stdout
    );
    assert!(!r.stderr.contains("FILL_IN_"), "{}", r.stderr);
    assert!(
        r.stderr.contains("create secret generic t-signing-key"),
        "{}",
        r.stderr
    );
    d.run(&["plan", "cfg.toml", "--emit", "nomad"])
        .assert_code(64);
    d.write("bad.toml", "[data]\nformat = 3\n");
    d.run(&["plan", "bad.toml", "--emit", "slurm"])
        .assert_code(78);
}

#[test]
fn a_stage_job_needs_only_its_own_keys() {
    let d = Dir::new();
    d.write("data/a.jsonl", chat_lines(20));
    d.config("chat", "");
    // The ingest and mask jobs run without the signing key and the KEK.
    std::fs::remove_file(d.path().join("keys/t.key.pem")).unwrap();
    std::fs::remove_file(d.path().join("keys/t.kek")).unwrap();
    let stage = |name: &str| d.run(&["stage", name, "--config", "cfg.toml", "--run-dir", "run"]);
    stage("ingest").assert_code(0);
    stage("mask").assert_code(0);
    // A whole run still checks every stage's keys first.
    let r = d.run(&["run", "cfg.toml", "--to", "mask"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    // The mask job does need the masking key.
    std::fs::remove_file(d.path().join("mask.key")).unwrap();
    assert_ne!(stage("mask").code, 0);
}
