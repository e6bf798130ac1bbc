//! The run engine through the binary: skipping, staleness, the stage command,
//! kill -9 and SIGTERM in the middle of a stage, the lock, JSON events.

use crate::util::*;

fn events_of(r: &Ran, kind: &str) -> Vec<serde_json::Value> {
    r.events()
        .into_iter()
        .filter(|e| e["type"] == kind)
        .collect()
}

#[test]
fn rerun_skips_and_changes_make_stale() {
    let d = Dir::new();
    d.write("data/a.jsonl", chat_lines(20));
    d.config("chat", "");
    let edit = |from: &str, to: &str| d.write("cfg.toml", d.read("cfg.toml").replace(from, to));
    let r = d.run(&["run", "cfg.toml", "--json", "--to", "mask"]);
    r.assert_code(0);
    assert_eq!(events_of(&r, "stage_end").len(), 2);
    assert_eq!(stage_state(&d, "ingest"), "done");
    assert_eq!(stage_state(&d, "mask"), "done");
    let index_before = std::fs::read(d.path().join("run/ingest/index.bin")).unwrap();

    let r = d.run(&["run", "cfg.toml", "--json", "--to", "mask"]);
    r.assert_code(0);
    assert_eq!(events_of(&r, "stage_skipped").len(), 2);
    assert_eq!(stage_state(&d, "ingest"), "skipped");

    // A section no stage reads leaves everything up to date.
    edit("id = \"t\"", "id = \"t\"\ndescription = \"x\"");
    assert_eq!(stage_state(&d, "ingest"), "skipped");
    let r = d.run(&["run", "cfg.toml", "--json", "--to", "mask"]);
    assert_eq!(events_of(&r, "stage_skipped").len(), 2);

    // Changing an input makes ingest and every stage after it stale.
    d.write("data/a.jsonl", chat_lines(21));
    assert_eq!(stage_state(&d, "ingest"), "stale");
    assert_eq!(stage_state(&d, "mask"), "stale");
    let r = d.run(&["run", "cfg.toml", "--json", "--to", "mask"]);
    assert_eq!(events_of(&r, "stage_end").len(), 2);
    assert_ne!(
        index_before,
        std::fs::read(d.path().join("run/ingest/index.bin")).unwrap()
    );

    // Changing mask's section reruns mask only.
    edit(
        "key_file = \"mask.key\"",
        "default_operator = \"redact\"\nkey_file = \"mask.key\"",
    );
    assert_eq!(stage_state(&d, "ingest"), "done");
    assert_eq!(stage_state(&d, "mask"), "stale");
    let r = d.run(&["run", "cfg.toml", "--json", "--to", "mask"]);
    let ends = events_of(&r, "stage_end");
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0]["data"]["stage"], "mask");

    // Changing ingest's section reruns both.
    edit(
        "format = \"chat\"",
        "format = \"chat\"\neval_fraction = 0.5",
    );
    assert_eq!(stage_state(&d, "ingest"), "stale");
    let r = d.run(&["run", "cfg.toml", "--json", "--to", "mask"]);
    assert_eq!(events_of(&r, "stage_end").len(), 2);

    // Another masking key reruns mask: its one-way id is part of the key.
    d.mask_key("mask.key", 9);
    assert_eq!(stage_state(&d, "mask"), "stale");
    let r = d.run(&["run", "cfg.toml", "--json", "--to", "mask"]);
    assert_eq!(events_of(&r, "stage_end").len(), 1);

    // An edited output makes its stage stale; rerunning ingest restores the
    // same bytes, so mask stays up to date.
    d.write("run/ingest/report.json", "{}");
    assert_eq!(stage_state(&d, "ingest"), "stale");
    let r = d.run(&["run", "cfg.toml", "--json", "--to", "mask"]);
    r.assert_code(0);
    assert_eq!(events_of(&r, "stage_end").len(), 1);
    assert_eq!(events_of(&r, "stage_skipped")[0]["data"]["stage"], "mask");
    assert_eq!(stage_state(&d, "ingest"), "done");

    // --force reruns an up-to-date stage; --to stops early.
    let r = d.run(&[
        "run", "cfg.toml", "--json", "--force", "mask", "--to", "mask",
    ]);
    assert_eq!(events_of(&r, "stage_end").len(), 1);
    let r = d.run(&[
        "run", "cfg.toml", "--json", "--to", "ingest", "--force", "ingest",
    ]);
    let ends = events_of(&r, "stage_end");
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0]["data"]["stage"], "ingest");
    d.run(&["audit", "--run-dir", "run"]).assert_code(0);
}

#[test]
fn stage_command_and_usage_errors() {
    let d = Dir::new();
    d.write("data/a.jsonl", chat_lines(5));
    d.config("chat", "");
    let r = d.run(&[
        "stage",
        "ingest",
        "--config",
        "cfg.toml",
        "--run-dir",
        "run2",
        "--json",
    ]);
    r.assert_code(0);
    assert!(d.exists("run2/ingest/manifest.json"));
    let r = d.run(&[
        "stage",
        "ingest",
        "--config",
        "cfg.toml",
        "--run-dir",
        "run2",
        "--json",
    ]);
    assert_eq!(events_of(&r, "stage_skipped").len(), 1);
    d.run(&[
        "stage",
        "deploy",
        "--config",
        "cfg.toml",
        "--run-dir",
        "run2",
    ])
    .assert_code(64)
    .assert_stderr_has("unknown stage `deploy`");
    // The scheduler entry refuses a stage whose input stage has not run...
    d.run(&["stage", "mask", "--config", "cfg.toml", "--run-dir", "run3"])
        .assert_code(66)
        .assert_stderr_has("stage mask needs stage ingest");
    d.run(&["stage", "mask", "--config", "cfg.toml", "--run-dir", "run2"])
        .assert_code(0);
    // ... or is stale.
    d.write("data/a.jsonl", chat_lines(6));
    d.run(&["stage", "mask", "--config", "cfg.toml", "--run-dir", "run2"])
        .assert_code(66)
        .assert_stderr_has("not up to date");
    d.run(&["run", "cfg.toml", "--from", "nope"])
        .assert_code(64);
    d.run(&["run", "cfg.toml", "--frm", "x"]).assert_code(64);
    d.run(&["status", "--run-dir", "nowhere"]).assert_code(66);
}

#[test]
fn json_events_have_the_envelope() {
    let d = Dir::new();
    d.write("data/a.jsonl", chat_lines(5));
    d.config("chat", "");
    let r = d.run(&["run", "cfg.toml", "--json", "--to", "mask"]);
    r.assert_code(0);
    let ev = r.events();
    let kinds: Vec<&str> = ev.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"run_start"));
    assert_eq!(kinds.last(), Some(&"run_end"));
    assert!(kinds.contains(&"stage_start") && kinds.contains(&"stage_end"));
    for e in &ev {
        assert!(e["data"].is_object(), "{e}");
        assert_eq!(e.as_object().unwrap().len(), 2, "{e}");
    }
    let end = ev
        .iter()
        .find(|e| e["type"] == "stage_end" && e["data"]["stage"] == "ingest")
        .unwrap();
    assert_eq!(end["data"]["summary"]["totals"]["accepted"], 5);
    // Errors too are JSON on stdout in --json mode.
    d.write("data/a.jsonl", "oops\n");
    let r = d.run(&["run", "cfg.toml", "--json", "--to", "mask"]);
    r.assert_code(65);
    let ev = r.events();
    assert!(
        ev.iter()
            .any(|e| e["type"] == "stage_failed" && e["data"]["exit_code"] == 65)
    );
    assert!(ev.iter().any(|e| e["type"] == "error"));
}

/// A run directory with a large input, and a started `sealtune run` that has
/// begun ingesting it.
fn start_big_run(d: &Dir) -> std::process::Child {
    write_large(&d.path().join("data/big.jsonl"), 400);
    d.config("chat", "");
    let child = d.spawn(&["run", "cfg.toml", "--to", "mask"]);
    let staging = d.path().join("run/.staging-ingest");
    assert!(wait_for(60.0, || staging.exists()), "ingest never started");
    std::thread::sleep(std::time::Duration::from_millis(150));
    child
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn kill_9_mid_ingest_then_rerun_finishes_cleanly_and_lock_refuses_a_second_run() {
    let d = Dir::new();
    let mut child = start_big_run(&d);

    // While it runs, a second run on the same directory is refused.
    let r = d.run(&["run", "cfg.toml", "--to", "mask"]);
    r.assert_code(75)
        .assert_stderr_has("is locked by pid")
        .assert_stderr_has(&child.id().to_string());
    assert_eq!(stage_state(&d, "ingest"), "running");

    signal(&child, "-9");
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(
        !d.exists("run/ingest/manifest.json"),
        "a killed stage must not look complete"
    );
    assert_eq!(stage_state(&d, "ingest"), "interrupted");

    let r = d.run(&["run", "cfg.toml", "--to", "mask"]);
    r.assert_code(0)
        .assert_stderr_has("ended without releasing");
    assert_eq!(stage_state(&d, "ingest"), "done");
    assert!(!d.exists("run/.staging-ingest"));
    let report: serde_json::Value =
        serde_json::from_str(&d.read("run/ingest/report.json")).unwrap();
    let t = &report["totals"];
    assert_eq!(t["read"], t["accepted"]);
    d.run(&["audit", "--run-dir", "run"]).assert_code(0);
    assert!(d.read("run/audit.jsonl").contains("lock.recovered"));
}

#[test]
fn sigterm_stops_at_a_safe_point_with_75_and_rerun_continues() {
    let d = Dir::new();
    let child = start_big_run(&d);
    signal(&child, "-TERM");
    let t0 = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    // It stops at the next safe point (every 1024 records), not after reading
    // all 400 MB.
    assert!(
        t0.elapsed().as_secs_f64() < 2.0,
        "took {:?} to stop",
        t0.elapsed()
    );
    let r: Ran = out.into();
    r.assert_code(75).assert_stderr_has("interrupted");
    assert!(!d.exists("run/ingest"));
    assert!(!d.exists("run/.staging-ingest"));
    assert_eq!(stage_state(&d, "ingest"), "interrupted");
    assert!(d.read("run/audit.jsonl").contains("stage.interrupted"));
    d.run(&["audit", "--run-dir", "run"]).assert_code(0);
    d.run(&["run", "cfg.toml", "--to", "mask"]).assert_code(0);
    assert_eq!(stage_state(&d, "ingest"), "done");
}

#[test]
fn corrupt_status_json_is_reported_then_rebuilt() {
    let d = Dir::new();
    d.write("data/a.jsonl", chat_lines(5));
    d.config("chat", "");
    d.run(&["run", "cfg.toml", "--to", "mask"]).assert_code(0);
    d.write("run/status.json", "{bad");
    d.run(&["status", "--run-dir", "run"])
        .assert_code(65)
        .assert_stderr_has("not a valid status file");
    d.run(&["run", "cfg.toml", "--to", "mask"])
        .assert_code(0)
        .assert_stderr_has("rebuilding it");
    assert_eq!(stage_state(&d, "ingest"), "skipped");
}
