//! `sealtune audit`: the hash chain catches edits, removals, reordering and
//! truncation, and names the first bad entry.

use crate::util::*;

fn run_dir_with_history() -> Dir {
    let d = Dir::new();
    d.write("data/a.jsonl", chat_lines(5));
    d.config("chat", "");
    d.run(&["run", "cfg.toml", "--to", "mask"]).assert_code(0);
    d.run(&["run", "cfg.toml", "--to", "mask"]).assert_code(0);
    let r = d.run(&["audit", "--run-dir", "run"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("10 entries, hash chain intact"),
        "{}",
        r.stdout
    );
    d
}

fn lines(d: &Dir) -> Vec<String> {
    d.read("run/audit.jsonl")
        .lines()
        .map(String::from)
        .collect()
}

fn write_lines(d: &Dir, l: &[String]) {
    d.write("run/audit.jsonl", l.join("\n") + "\n");
}

#[test]
fn edited_entry_is_named() {
    let d = run_dir_with_history();
    let mut l = lines(&d);
    l[2] = l[2].replace("\"stage.end\"", "\"stage.skip\"");
    write_lines(&d, &l);
    d.run(&["audit", "--run-dir", "run"])
        .assert_code(65)
        .assert_stderr_has("audit.jsonl:3: entry seq 3 was modified");
    // And no new run appends to a broken log.
    d.run(&["run", "cfg.toml", "--to", "mask"])
        .assert_code(65)
        .assert_stderr_has("sealtune appends only to an intact log");
}

#[test]
fn removed_reordered_and_truncated_are_caught() {
    let d = run_dir_with_history();
    let l = lines(&d);
    let mut removed = l.clone();
    removed.remove(3);
    write_lines(&d, &removed);
    d.run(&["audit", "--run-dir", "run"])
        .assert_code(65)
        .assert_stderr_has("audit.jsonl:4: chain broken at entry seq 5");

    let mut swapped = l.clone();
    swapped.swap(1, 2);
    write_lines(&d, &swapped);
    d.run(&["audit", "--run-dir", "run"])
        .assert_code(65)
        .assert_stderr_has("audit.jsonl:2:");

    write_lines(&d, &l[..5]);
    d.run(&["audit", "--run-dir", "run"])
        .assert_code(65)
        .assert_stderr_has("truncated");

    write_lines(&d, &l);
    d.run(&["audit", "--run-dir", "run"]).assert_code(0);
}

#[test]
fn a_cut_or_deleted_log_stops_the_next_run_and_status_warns() {
    let d = run_dir_with_history();
    let l = lines(&d);
    write_lines(&d, &l[..8]);
    for args in [
        &["run", "cfg.toml", "--to", "mask"][..],
        &[
            "stage",
            "mask",
            "--config",
            "cfg.toml",
            "--run-dir",
            "run",
            "--force",
        ][..],
    ] {
        d.run(args)
            .assert_code(65)
            .assert_stderr_has("status.json records audit entry seq 10, but the log ends at seq 8");
    }
    assert_eq!(lines(&d).len(), 8, "a refused run appended to the log");
    d.run(&["status", "--run-dir", "run"])
        .assert_code(65)
        .assert_stderr_has("the audit log is not intact");
    let st = d.run(&["status", "--run-dir", "run", "--json"]);
    st.assert_code(65);
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(v["audit"]["intact"], false);
    d.run(&["audit", "--run-dir", "run"]).assert_code(65);

    // Deleted, with status.json: the stage manifests still anchor it.
    std::fs::remove_file(d.path().join("run/audit.jsonl")).unwrap();
    std::fs::remove_file(d.path().join("run/status.json")).unwrap();
    d.run(&["run", "cfg.toml", "--to", "mask"])
        .assert_code(65)
        .assert_stderr_has("manifest.json records audit entry seq");
    assert!(!d.exists("run/audit.jsonl"));
}
