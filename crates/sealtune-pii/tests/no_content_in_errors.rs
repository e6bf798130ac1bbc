//! Errors about records never carry record content: detect-mode lines and
//! records the masker refuses, with keys and values that are all PII.

use sealtune_contract::ExitStatus as _;
use std::error::Error as _;

use serde_json::json;
use zeroize::Zeroizing;

use sealtune_pii::{Detector, MaskConfig, MaskKey, Masker, PiiError, RecordKind, detect_line};

const PII: &[&str] = &["Jane Roe SSN 933-11-2222", "jane.roe@example.com"];
const FRAGMENTS: &[&str] = &["Jane", "Roe", "933-11", "jane.roe"];

/// Display, Debug and every source in the chain.
fn all_text(e: &PiiError) -> String {
    let mut s = format!("{e}\n{e:?}");
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(&format!("\n{x}\n{x:?}"));
        src = x.source();
    }
    s
}

fn assert_clean(what: &str, text: &str) {
    for f in PII.iter().chain(FRAGMENTS) {
        assert!(!text.contains(f), "{what} holds {f:?}:\n{text}");
    }
}

#[test]
fn detect_line_errors_hold_no_content() {
    let det = Detector::new(&MaskConfig::default()).unwrap();
    let [p, q] = PII else { unreachable!() };
    let lines = [
        format!(r#"{{"id": "{p}", "text": {q}}}"#),
        format!(r#"{{"id": "{p}", "text": "{q}""#),
        format!(r#"{{"{p}": "{q}"}}"#),
        format!(r#"{{"id": "{p}", "text": ["{q}"]}}"#),
        format!(r#""{p}""#),
        format!(r#"["{p}", "{q}"]"#),
        format!(r#"{{"text": "{p}"}} {q}"#),
        format!(r#"{{"text": "\q{p}"}}"#),
    ];
    for (i, l) in lines.iter().enumerate() {
        let e = detect_line(&det, l, i as u64 + 1).unwrap_err();
        let text = all_text(&e);
        assert_clean(&format!("detect_line {l}"), &text);
        assert!(
            e.to_string().starts_with(&format!("line {}: ", i + 1)),
            "{e}"
        );
        assert_eq!(e.exit().code(), 65);
    }
    let e = detect_line(&det, &lines[0], 1).unwrap_err();
    assert!(e.to_string().contains("invalid JSON at column"), "{e}");
}

#[test]
fn mask_record_errors_hold_no_content() {
    let key = MaskKey::new(Zeroizing::new(b"0123456789abcdef0123456789abcdef".to_vec())).unwrap();
    let m = Masker::new(&MaskConfig::default(), key).unwrap();
    let (p, q) = (PII[0], PII[1]);
    let recs = [
        (
            json!({"messages": [{"role": "user", "content": {p: q}}]}),
            RecordKind::Chat,
        ),
        (json!({"text": [p, q]}), RecordKind::Text),
        (
            json!({"instruction": {p: q}, "output": q}),
            RecordKind::Instruction,
        ),
        (json!([p, q]), RecordKind::Text),
        (json!(p), RecordKind::Text),
    ];
    for (r, kind) in recs {
        let e = m.mask_record(&r, kind, "input.jsonl:7").unwrap_err();
        assert_clean(&format!("mask_record {r}"), &all_text(&e));
        assert!(e.to_string().contains("input.jsonl:7"), "{e}");
    }
}
