//! Messages about records never carry record content. Every key and value in
//! these inputs is "PII"; each malformed shape goes through ingest with both
//! `on_invalid` policies, and every error (Display and Debug), quarantine
//! entry, report and other output file is searched for the PII strings.

use std::path::{Path, PathBuf};

use sealtune_data::config::{CsvConfig, DataConfig, Format, OnInvalid};
use sealtune_data::ingest::{IngestRun, ingest};
use sealtune_data::record::{JsonKind, parse_record, validate_json};

/// The PII, used as keys and as values.
const PII: &[&str] = &[
    "Jane Roe SSN 933-11-2222",
    "933-11-2222",
    "jane.roe@example.com",
    "4111 1111 1111 1111",
    "MRN 00451234",
    "Acme Mutual policy 77-AB-1234",
];

/// Fragments that must not appear anywhere (shorter than the PII, so that a
/// truncated or partly escaped copy is caught too).
const FRAGMENTS: &[&str] = &[
    "Jane", "Roe", "933-11", "11-2222", "jane.roe", "4111", "00451234", "Acme", "77-AB",
];

fn assert_clean(what: &str, text: &str) {
    for f in PII.iter().chain(FRAGMENTS) {
        assert!(
            !text.contains(f),
            "{what} holds record content {f:?}:\n{text}"
        );
    }
}

fn data(format: Format, on_invalid: OnInvalid, csv: Option<CsvConfig>) -> DataConfig {
    DataConfig {
        inputs: vec![],
        format,
        csv,
        eval_fraction: 0.3,
        split_seed: 1,
        on_invalid,
        max_record_bytes: 1 << 16,
        dedup: true,
        max_errors_listed: 1000,
    }
}

/// Malformed JSONL lines of every kind; `{p}` / `{q}` stand for PII.
fn bad_json_lines(kind: JsonKind) -> Vec<String> {
    let p = PII[0];
    let q = PII[1];
    let r = PII[2];
    let mut v: Vec<String> = vec![
        // Unknown keys that are PII, with PII values, first and last.
        format!(r#"{{"{p}": "{q}"}}"#),
        format!(r#"{{"id": 1, "{p}": "{q}", "{r}": 5}}"#),
        format!(r#"{{"{p}": {{"{q}": ["{r}"]}}}}"#),
        // Duplicate keys: PII and allowed ones.
        format!(r#"{{"{p}": 1, "{p}": 2}}"#),
        format!(r#"{{"id": "{p}", "id": "{q}"}}"#),
        // Not an object.
        format!(r#""{p}""#),
        format!(r#"["{p}", {{"{q}": 1}}]"#),
        format!("{}", 933112222u64),
        // Invalid JSON of many kinds, PII around the error.
        format!(r#"{{"{p}": "{q}""#),
        format!(r#"{{"{p}" "{q}"}}"#),
        format!(r#"{{{p}: "{q}"}}"#),
        format!(r#"{{"text": {p}}}"#),
        format!(r#"{{"text": "{q}"}} {p}"#),
        format!(r#"{{"text": "\q{p}"}}"#),
        format!("{{\"text\": \"{p}\u{1}{q}\"}}"),
        format!(r#"{{"text": tru{p}}}"#),
        format!(r#"{{"text": 12{p}}}"#),
        format!(r#"{{"text": "{p}\ud800"}}"#),
        format!(r#"{{"text": "{p}\u12"}}"#),
        format!(r#"{{"text": 1e999, "{p}": 1}}"#),
        format!(r#"{{"text": "{p}",}}"#),
        format!(r#"{{"{p}": "{q}" , "#),
        format!("{}\"{p}\"{}", "[".repeat(300), "]".repeat(300)),
        format!("{}{p}", "{\"a\":".repeat(200)),
        // Wrong types of the allowed fields, PII inside.
        format!(r#"{{"id": {{"{p}": "{q}"}}, "text": "x"}}"#),
        format!(r#"{{"id": ["{p}"], "text": "x"}}"#),
        format!(r#"{{"id": null, "text": "{p}"}}"#),
    ];
    match kind {
        JsonKind::Text => v.extend([
            format!(r#"{{"text": {{"{p}": "{q}"}}}}"#),
            format!(r#"{{"text": ["{p}"]}}"#),
            format!(r#"{{"text": true, "id": "{p}"}}"#),
            format!(r#"{{"text": "{p}", "text": "{q}"}}"#),
            format!(r#"{{"text": "{p}", "{q}": "{r}"}}"#),
            format!(r#"{{"text": "  ", "id": "{p}"}}"#),
            format!(r#"{{"messages": [{{"role": "user", "content": "{p}"}}]}}"#),
        ]),
        JsonKind::Instruction => v.extend([
            format!(r#"{{"instruction": "{p}"}}"#),
            format!(r#"{{"instruction": "{p}", "output": {{"{q}": 1}}}}"#),
            format!(r#"{{"instruction": "{p}", "input": 7, "output": "{q}"}}"#),
            format!(r#"{{"instruction": "{p}", "output": "{q}", "{r}": "{p}"}}"#),
            format!(r#"{{"instruction": "{p}", "output": "{q}", "output": "{r}"}}"#),
            format!(r#"{{"instruction": " ", "output": "{q}"}}"#),
            format!(r#"{{"output": "{q}", "input": ["{p}"]}}"#),
        ]),
        JsonKind::Chat => v.extend([
            format!(r#"{{"messages": "{p}"}}"#),
            format!(r#"{{"messages": {{"{p}": "{q}"}}}}"#),
            format!(r#"{{"messages": ["{p}"]}}"#),
            r#"{"messages": []}"#.to_string(),
            format!(r#"{{"messages": [{{"role": "{p}", "content": "{q}"}}]}}"#),
            format!(r#"{{"messages": [{{"role": "user", "content": "{p}", "{q}": "{r}"}}]}}"#),
            format!(r#"{{"messages": [{{"{q}": "user", "content": "{p}"}}]}}"#),
            format!(
                r#"{{"messages": [{{"role": "user", "content": "{p}", "content": "{q}"}}, {{"role": "assistant", "content": "{r}"}}]}}"#
            ),
            format!(
                r#"{{"messages": [{{"role": "user", "content": "{p}"}}, {{"role": "assistant", "content": {{"{q}": "{r}"}}}}]}}"#
            ),
            format!(
                r#"{{"messages": [{{"role": "user", "content": "{p}"}}, {{"role": "system", "content": "{q}"}}, {{"role": "assistant", "content": "{r}"}}]}}"#
            ),
            format!(r#"{{"messages": [{{"role": "user", "content": "{p}"}}]}}"#),
            format!(r#"{{"messages": [["user", "{p}"], ["assistant", "{q}"]]}}"#),
            format!(
                r#"{{"messages": [{{"role": "user", "content": "{p}"}}], "messages": [{{"role": "assistant", "content": "{q}"}}]}}"#
            ),
            format!(r#"{{"messages": [{{"role": "user", "content": "{p}"}}], "{q}": 1}}"#),
        ]),
    }
    v
}

fn good_line(kind: JsonKind) -> &'static str {
    match kind {
        JsonKind::Text => r#"{"text": "an ordinary note"}"#,
        JsonKind::Instruction => r#"{"instruction": "say hi", "output": "hi"}"#,
        JsonKind::Chat => {
            r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}"#
        }
    }
}

/// Runs ingest and returns every text it produced: the error (Display and
/// Debug) or the report, the quarantine file and every other output file.
fn ingest_outputs(d: &DataConfig, file: &Path, out: &Path) -> Vec<(String, String)> {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap();
    let files = vec![file.to_path_buf()];
    let names = vec!["input".to_string()];
    let res = ingest(IngestRun {
        data: d,
        files: &files,
        names: &names,
        expected_sha256: None,
        out_dir: out,
        on_bytes: &mut |_| {},
        cancelled: &|| false,
    });
    let mut texts = Vec::new();
    match res {
        Ok(report) => {
            texts.push(("report Debug".into(), format!("{report:?}")));
            texts.push((
                "report JSON".into(),
                serde_json::to_string(&report).unwrap(),
            ));
        }
        Err(e) => {
            texts.push(("error Display".into(), format!("{e}")));
            texts.push(("error Debug".into(), format!("{e:?}")));
        }
    }
    for entry in std::fs::read_dir(out).unwrap() {
        let p = entry.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        texts.push((
            p.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    texts
}

fn check_jsonl(format: Format, kind: JsonKind) {
    let t = tempfile::tempdir().unwrap();
    let lines = bad_json_lines(kind);
    // Every line on its own: each reason checked directly.
    for line in &lines {
        let e = match parse_record(line.as_bytes(), kind) {
            Ok(r) => panic!("accepted {line}: {r:?}"),
            Err(e) => e.to_string(),
        };
        assert_clean(&format!("parse_record reason for {line}"), &e);
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
            && let Err(e) = validate_json(v, kind)
        {
            assert_clean(&format!("validate_json reason for {line}"), e.reason());
        }
    }
    // All of them in one file, plus bad UTF-8, with a valid record so that
    // quarantine mode completes.
    let mut file: Vec<u8> = Vec::new();
    file.extend_from_slice(good_line(kind).as_bytes());
    file.push(b'\n');
    for line in &lines {
        file.extend_from_slice(line.as_bytes());
        file.push(b'\n');
    }
    file.extend_from_slice(b"{\"text\": \"");
    file.extend_from_slice(PII[0].as_bytes());
    file.extend_from_slice(b"\xff\"}\n");
    file.extend_from_slice(b"{\"");
    file.extend_from_slice(PII[0].as_bytes());
    file.extend_from_slice(b"\xfe\": 1}\n");
    let path = t.path().join("in.jsonl");
    std::fs::write(&path, &file).unwrap();
    let n_bad = lines.len() as u64 + 2;
    for policy in [OnInvalid::Fail, OnInvalid::Quarantine] {
        let d = data(format, policy, None);
        let texts = ingest_outputs(&d, &path, &t.path().join("out"));
        for (what, text) in &texts {
            assert_clean(&format!("{format:?} {policy:?} {what}"), text);
        }
        if policy == OnInvalid::Quarantine {
            let q = std::fs::read_to_string(t.path().join("out/quarantine.jsonl")).unwrap();
            assert_eq!(q.lines().count() as u64, n_bad, "{q}");
        } else {
            let (_, msg) = &texts[0];
            assert!(msg.contains(&format!("{n_bad} invalid record(s)")), "{msg}");
        }
    }
}

#[test]
fn jsonl_text_messages_hold_no_content() {
    check_jsonl(Format::Text, JsonKind::Text);
}

#[test]
fn jsonl_instruction_messages_hold_no_content() {
    check_jsonl(Format::Instruction, JsonKind::Instruction);
}

#[test]
fn jsonl_chat_messages_hold_no_content() {
    check_jsonl(Format::Chat, JsonKind::Chat);
}

#[test]
fn reasons_name_the_line_position_and_allowed_keys() {
    let p = PII[0];
    let e = parse_record(
        format!(r#"{{"id": 1, "text": "x", "{p}": "{p}"}}"#).as_bytes(),
        JsonKind::Text,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("the record object's key #3") && e.contains("allowed keys: text, id"),
        "{e}"
    );
    let e = parse_record(
        format!(r#"{{"messages": [{{"role": "user", "content": "a"}}, {{"role": "assistant", "{p}": "b"}}]}}"#).as_bytes(),
        JsonKind::Chat,
    )
    .unwrap_err().to_string();
    assert!(
        e.contains("`messages[1]`'s key #2") && e.contains("allowed keys: role, content"),
        "{e}"
    );
    let e = parse_record(br#"{"text": "a", "text": "b"}"#, JsonKind::Text)
        .unwrap_err()
        .to_string();
    assert!(e.contains("duplicate key") && e.contains("key #2"), "{e}");
    let e = parse_record(br#"{"text": {"a": 1, "b": 2, "a": 3}}"#, JsonKind::Text)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("duplicate key") && e.contains("a nested object's key #3"),
        "{e}"
    );
    let e = parse_record(br#"{"text": "a"} x"#, JsonKind::Text)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("invalid JSON at column") && e.contains("one record per line"),
        "{e}"
    );
}

fn csv_cfg() -> CsvConfig {
    CsvConfig {
        delimiter: ",".into(),
        instruction: Some("question".into()),
        output: Some("answer".into()),
        ..Default::default()
    }
}

fn check_csv(name: &str, content: &[u8], policies: &[OnInvalid]) -> Vec<(String, String)> {
    let t = tempfile::tempdir().unwrap();
    let path: PathBuf = t.path().join(format!("{name}.csv"));
    std::fs::write(&path, content).unwrap();
    let mut all = Vec::new();
    for &policy in policies {
        let d = data(Format::Csv, policy, Some(csv_cfg()));
        let texts = ingest_outputs(&d, &path, &t.path().join("out"));
        for (what, text) in &texts {
            assert_clean(&format!("csv {name} {policy:?} {what}"), text);
        }
        all.extend(texts);
    }
    all
}

#[test]
fn csv_messages_hold_no_content() {
    let both = [OnInvalid::Fail, OnInvalid::Quarantine];
    let [p, q, r, s, ..] = PII else {
        unreachable!()
    };
    // No header row: the first record is taken as the header.
    let texts = check_csv("no_header", format!("{p},{q}\n{r},{s}\n").as_bytes(), &both);
    assert!(
        texts[0].1.contains("the header has no column \"question\"")
            && texts[0].1.contains("2 column(s)"),
        "{}",
        texts[0].1
    );
    // A header whose names are PII.
    check_csv("pii_header", format!("\"{p}\",\"{q}\"\n").as_bytes(), &both);
    // Rows with the wrong number of fields, bad UTF-8, empty required fields,
    // a stray quote and an unclosed quote.
    let mut rows = b"question,answer\nhi,hello\n".to_vec();
    rows.extend_from_slice(format!("{p},{q},{r}\n{s}\n").as_bytes());
    rows.extend_from_slice(p.as_bytes());
    rows.extend_from_slice(b"\xff,");
    rows.extend_from_slice(format!("{q}\n").as_bytes());
    rows.extend_from_slice(format!("\"{p}\",\" \"\n").as_bytes());
    rows.extend_from_slice(format!("{p} \"{q}\" x,{r}\n").as_bytes());
    let texts = check_csv("rows", &rows, &both);
    assert!(
        texts
            .iter()
            .any(|(_, t)| t.contains("the record has 3 field(s) but the header has 2")),
        "{texts:?}"
    );
    let mut unclosed = b"question,answer\nhi,hello\n".to_vec();
    unclosed.extend_from_slice(format!("\"{p},{q}\n{r},{s}\n").as_bytes());
    check_csv("unclosed", &unclosed, &both);
    // A header that is not valid UTF-8.
    let mut bad_header = p.as_bytes().to_vec();
    bad_header.extend_from_slice(b"\xff,answer\nhi,hello\n");
    check_csv("bad_header", &bad_header, &both);
}
