//! Ingest: malformed data gives exit 65 with file:line; quarantine keeps going
//! and the counts add up; CSV and the other formats are read.

use crate::util::*;

fn fails_with(content: &[u8], needle: &str) {
    let d = Dir::new();
    d.write("data/a.jsonl", content);
    d.config("chat", "");
    let r = d.run(&["run", "cfg.toml", "--to", "mask"]);
    r.assert_code(65).assert_stderr_has(needle);
    assert!(!d.exists("run/ingest/manifest.json"));
    assert_eq!(stage_state(&d, "ingest"), "failed");
}

#[test]
fn malformed_records_name_the_line() {
    let good = chat_line(0);
    fails_with(
        format!("{good}{{\"messages\": [\n{good}").as_bytes(),
        "data/a.jsonl:2: invalid JSON",
    );
    fails_with(
        format!("{good}{good}{{\"messages\":[{{\"role\":\"user\"}}]}}\n").as_bytes(),
        "a.jsonl:3: missing field `messages[0].content`",
    );
    fails_with(
        format!("{{\"messages\":[{{\"role\":\"user\",\"content\":7}}]}}\n{good}").as_bytes(),
        "a.jsonl:1: `messages[0].content` must be a string, found a number",
    );
    let mut bad_utf8 = good.clone().into_bytes();
    bad_utf8.extend_from_slice(b"{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}\n");
    fails_with(&bad_utf8, "a.jsonl:2: not valid UTF-8");
    fails_with(b"", "a.jsonl:1: the file holds no records (it is empty)");
    fails_with(b"\n\n", "only blank lines");
}

#[test]
fn oversized_line_is_refused_without_reading_it() {
    let d = Dir::new();
    let mut big = String::from("{\"text\":\"");
    big.push_str(&"x".repeat(10 * 1024 * 1024));
    big.push_str("\"}\n");
    d.write(
        "data/a.jsonl",
        format!("{{\"text\":\"ok\"}}\n{big}{{\"text\":\"ok2\"}}\n"),
    );
    d.config("text", "");
    let r = d.run(&["run", "cfg.toml", "--to", "mask"]);
    r.assert_code(65).assert_stderr_has(
        "a.jsonl:2: record is 10485771 bytes, over data.max_record_bytes = 1048576",
    );
}

#[test]
fn quarantine_counts_add_up_and_never_hold_content() {
    let d = Dir::new();
    let secret = "SSN 900-12-3456";
    let mut s = chat_lines(10);
    s.push_str(&chat_line(3)); // duplicate
    s.push_str(&format!(
        "{{\"messages\":[{{\"role\":\"user\",\"content\":\"{secret}\"}}]}}\n"
    )); // no assistant
    s.push_str("not json at all\n");
    s.push('\n'); // blank: not a record
    s.push_str(&format!("{{\"messages\":[],\"extra\":\"{secret}\"}}\n"));
    d.write("data/a.jsonl", s);
    d.config("chat", "on_invalid = \"quarantine\"\n");
    let r = d.run(&["run", "cfg.toml", "--to", "mask"]);
    r.assert_code(0)
        .assert_stderr_has("3 invalid record(s) quarantined");
    let report: serde_json::Value =
        serde_json::from_str(&d.read("run/ingest/report.json")).unwrap();
    let t = &report["totals"];
    assert_eq!(t["read"], 14);
    assert_eq!(t["accepted"], 10);
    assert_eq!(t["duplicates"], 1);
    assert_eq!(t["quarantined"], 3);
    assert_eq!(
        t["train"].as_u64().unwrap() + t["eval"].as_u64().unwrap(),
        10
    );
    assert_eq!(report["files"][0]["blank_lines"], 1);
    let q = d.read("run/ingest/quarantine.jsonl");
    let lines: Vec<serde_json::Value> = q
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines
            .iter()
            .map(|l| l["line"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![12, 13, 15]
    );
    for f in [
        "run/ingest/quarantine.jsonl",
        "run/ingest/report.json",
        "run/audit.jsonl",
        "run/status.json",
    ] {
        assert!(
            !d.read(f).contains("900-12-3456"),
            "{f} holds record content"
        );
    }
    assert!(!r.stderr.contains("900-12-3456"));
}

#[test]
fn fail_mode_lists_first_errors_and_total() {
    let d = Dir::new();
    let mut s = chat_lines(2);
    for _ in 0..30 {
        s.push_str("{\"messages\": 5}\n");
    }
    d.write("data/a.jsonl", s);
    d.config("chat", "max_errors_listed = 3\n");
    let r = d.run(&["run", "cfg.toml", "--to", "mask"]);
    r.assert_code(65)
        .assert_stderr_has("30 invalid record(s); the first 3:")
        .assert_stderr_has("a.jsonl:5:");
    assert!(!r.stderr.contains("a.jsonl:6:"));
}

#[test]
fn index_matches_report_and_split_is_deterministic() {
    let d = Dir::new();
    d.write("data/a.jsonl", chat_lines(500));
    d.config("chat", "eval_fraction = 0.2\nsplit_seed = 7\n");
    d.run(&["run", "cfg.toml", "--to", "mask"]).assert_code(0);
    let idx = sealtune_data::index::Index::read(&d.path().join("run/ingest/index.bin")).unwrap();
    assert_eq!(idx.entries.len(), 500);
    assert_eq!(idx.files[0].path, "data/a.jsonl");
    let n_eval = idx
        .entries
        .iter()
        .filter(|e| e.split == sealtune_data::index::Split::Eval)
        .count();
    assert!((60..140).contains(&n_eval), "{n_eval}");
    assert_eq!(idx.entries[10].line, 11);
    let first = std::fs::read(d.path().join("run/ingest/index.bin")).unwrap();
    // Same records in another file layout (extra blank line, another dir name) split the same.
    let d2 = Dir::new();
    d2.write("data/a.jsonl", chat_lines(500));
    d2.config("chat", "eval_fraction = 0.2\nsplit_seed = 7\n");
    d2.run(&["run", "cfg.toml", "--to", "mask"]).assert_code(0);
    assert_eq!(
        first,
        std::fs::read(d2.path().join("run/ingest/index.bin")).unwrap()
    );
}

#[test]
fn csv_instruction_and_text_formats() {
    let d = Dir::new();
    d.write(
        "data/a.csv",
        "question,context,answer\n\"What is, in short\",ctx,\"multi\nline\"\nq2,,a2\nq3,ctx3,\n",
    );
    d.config("csv", "on_invalid = \"quarantine\"\n[data.csv]\ninstruction = \"question\"\ninput = \"context\"\noutput = \"answer\"\n");
    d.run(&["run", "cfg.toml", "--to", "mask"]).assert_code(0);
    let report: serde_json::Value =
        serde_json::from_str(&d.read("run/ingest/report.json")).unwrap();
    assert_eq!(report["totals"]["accepted"], 2);
    assert_eq!(report["totals"]["quarantined"], 1);
    assert!(d.read("run/ingest/quarantine.jsonl").contains("\"line\":5"));

    let d = Dir::new();
    d.write("data/a.csv", "note\nhello\n");
    d.config("csv", "[data.csv]\ntext = \"nope\"\n");
    d.run(&["run", "cfg.toml", "--to", "mask"])
        .assert_code(65)
        .assert_stderr_has("a.csv:1: the header has no column \"nope\"");

    let d = Dir::new();
    d.write("data/a.jsonl", "{\"instruction\":\"i\",\"output\":\"o\"}\n{\"instruction\":\"i\",\"input\":\"x\",\"output\":\"o\"}\n");
    d.config("instruction", "");
    d.run(&["run", "cfg.toml", "--to", "mask"]).assert_code(0);
    d.write("data/a.jsonl", "{\"instruction\":\"i\"}\n");
    d.run(&["run", "cfg.toml", "--to", "mask"])
        .assert_code(65)
        .assert_stderr_has("missing field `output`");
}

/// Records whose keys and values are all PII, malformed in many ways, through
/// `run` in fail and quarantine mode and through `mask --detect`: no PII may
/// reach stderr, stdout (human or JSON events), the audit log, status.json or
/// any file of the run directory.
#[test]
fn record_content_never_reaches_messages_logs_or_status() {
    const PII: [&str; 4] = [
        "Jane Roe",
        "933-11-2222",
        "jroe@example.org",
        "4111 1111 1111 1111",
    ];
    let good = chat_line(0);
    let jsonl = format!(
        "{good}\
         {{\"Jane Roe SSN 933-11-2222\": \"jroe@example.org\"}}\n\
         {{\"messages\": [{{\"role\": \"Jane Roe\", \"content\": \"933-11-2222\"}}]}}\n\
         {{\"messages\": [{{\"role\": \"user\", \"content\": 4111}}], \"jroe@example.org\": 1}}\n\
         {{\"messages\": \"Jane Roe 933-11-2222\"}}\n\
         {{\"messages\": [{{\"role\": \"user\", \"content\": \"a\"}}, {{\"role\": \"assistant\", \"content\": \"b\"}}], \"messages\": \"Jane Roe\"}}\n\
         {{\"text\": \"Jane Roe\" \"933-11-2222\"}}\n\
         {{\"messages\": [{{\"role\": \"user\", \"content\": \"hi\", \"4111 1111 1111 1111\": true}}]}}\n\
         {good}"
    );
    let csv_no_header = "Jane Roe,933-11-2222,jroe@example.org\nJohn Doe,4111 1111 1111 1111,x\n";
    let check = |d: &Dir, outputs: &[&str]| {
        let mut texts: Vec<(String, String)> = outputs
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("output {i}"), s.to_string()))
            .collect();
        for f in walk(&d.path().join("run")) {
            let rel = f.strip_prefix(d.path()).unwrap().display().to_string();
            texts.push((
                rel,
                String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned(),
            ));
        }
        for (name, t) in texts {
            for p in PII {
                assert!(!t.contains(p), "{name} holds {p:?}:\n{t}");
            }
        }
    };
    for mode in ["fail", "quarantine"] {
        let d = Dir::new();
        d.write("data/a.jsonl", &jsonl);
        d.config("chat", &format!("on_invalid = \"{mode}\"\n"));
        let human = d.run(&["run", "cfg.toml", "--to", "mask"]);
        let json = d.run(&[
            "run", "cfg.toml", "--to", "mask", "--json", "--force", "ingest",
        ]);
        let status = d.run(&["status", "--run-dir", "run", "--json"]);
        let audit = d.run(&["audit", "--run-dir", "run", "--show"]);
        if mode == "fail" {
            human.assert_code(65);
        } else {
            human.assert_code(0);
            assert!(d.read("run/ingest/quarantine.jsonl").lines().count() >= 6);
        }
        check(
            &d,
            &[
                &human.stderr,
                &human.stdout,
                &json.stdout,
                &json.stderr,
                &status.stdout,
                &audit.stdout,
            ],
        );
    }
    let d = Dir::new();
    d.write("data/a.csv", csv_no_header);
    d.config(
        "csv",
        "[data.csv]\nuser = \"question\"\nassistant = \"answer\"\n",
    );
    let r = d.run(&["run", "cfg.toml", "--to", "mask"]);
    r.assert_code(65);
    check(&d, &[&r.stderr, &r.stdout]);
    // The standalone masker and detector too.
    d.write("in.jsonl", &jsonl);
    for args in [
        &[
            "mask",
            "--config",
            "cfg.toml",
            "--in",
            "in.jsonl",
            "--out",
            "out.jsonl",
        ][..],
        &[
            "mask",
            "--detect",
            "--in",
            "in.jsonl",
            "--out",
            "spans.jsonl",
        ][..],
    ] {
        let r = d.run(args);
        assert_ne!(r.code, 0);
        check(&d, &[&r.stderr, &r.stdout]);
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
