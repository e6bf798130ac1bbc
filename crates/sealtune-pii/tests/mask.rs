//! Record masking, operators, streaming, detect-only JSON Lines, config parsing.

use sealtune_contract::ExitStatus as _;
use std::path::Path;

use serde_json::{Value, json};
use zeroize::Zeroizing;

use sealtune_pii::{
    EntityType as E, FingerprintSet, MaskConfig, MaskKey, Masker, Operator, RecordKind,
    detect_jsonl, mask_jsonl, ops, validate as v,
};

fn key() -> MaskKey {
    MaskKey::new(Zeroizing::new(b"0123456789abcdef0123456789abcdef".to_vec())).unwrap()
}

fn masker(cfg: MaskConfig) -> Masker {
    Masker::new(&cfg, key()).unwrap()
}

#[test]
fn tag_is_consistent_within_a_record() {
    let m = masker(MaskConfig::default());
    let rec = json!({"messages": [
        {"role": "user", "content": "Patient: Maria Lopez, call 617-555-0123"},
        {"role": "assistant", "content": "Calling Maria Lopez at (617) 555-0123 now; Dr. Chen will follow up."}
    ]});
    let out = m.mask_record(&rec, RecordKind::Chat, "r1").unwrap();
    let r = out.record.unwrap();
    assert_eq!(
        r["messages"][0]["content"],
        "Patient: <PERSON_1>, call <PHONE_1>"
    );
    assert_eq!(
        r["messages"][1]["content"],
        "Calling <PERSON_1> at <PHONE_1> now; Dr. <PERSON_2> will follow up."
    );
    assert_eq!(r["messages"][0]["role"], "user");
    assert_eq!(out.counts["messages"][&E::Person], 3);
    assert_eq!(out.fingerprints.len(), 5);
    // Same number in two formats: one fingerprint.
    assert_eq!(out.fingerprints[1], out.fingerprints[3]);
}

#[test]
fn operators_per_type() {
    let cfg = MaskConfig {
        operators: [
            (E::UsSsn, Operator::Mask),
            (E::Email, Operator::Redact),
            (E::CreditCard, Operator::Pseudonymize),
            (E::Phone, Operator::Hash),
            (E::DateOfBirth, Operator::DateShift),
            (E::Person, Operator::Pseudonymize),
        ]
        .into_iter()
        .collect(),
        subject_field: Some("patient_id".into()),
        ..MaskConfig::default()
    };
    let m = masker(cfg);
    let rec = json!({"patient_id": "p-17", "instruction": "Summarise", "input": "Patient: Maria Lopez, SSN 123-45-6789, DOB 03/14/1962, card 4111 1111 1111 1111, email maria@x.org, phone 617-555-0123", "output": "ok"});
    let out = m.mask_record(&rec, RecordKind::Instruction, "r").unwrap();
    let text = out.record.unwrap()["input"].as_str().unwrap().to_string();
    assert!(text.contains("***-**-6789"), "{text}");
    assert!(text.contains("[EMAIL]"), "{text}");
    assert!(text.contains("<PHONE:"), "{text}");
    assert!(
        !text.contains("Maria")
            && !text.contains("4111 1111 1111 1111")
            && !text.contains("03/14/1962"),
        "{text}"
    );
    let card = text
        .split("card ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert!(v::credit_card(&v::digits(card)), "{card}");
    // Date shifted by the subject's offset, same format.
    let dob = text
        .split("DOB ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    let off = ops::date_offset(&key(), "p-17", 365);
    assert_eq!(ops::shift_date("03/14/1962", off).as_deref(), Some(dob));
    // Deterministic across records and runs.
    let again = m.mask_record(&rec, RecordKind::Instruction, "r").unwrap();
    assert_eq!(again.record.unwrap()["input"].as_str().unwrap(), text);
}

/// The shifted date after `DOB ` in a masked text record.
fn dob_after(out: &sealtune_pii::MaskedRecord, field: &str, cue: &str) -> String {
    let r = out.record.as_ref().unwrap();
    let text = r[field].as_str().unwrap();
    text.split(cue)
        .nth(1)
        .unwrap()
        .split([',', ' '])
        .next()
        .unwrap()
        .trim_end_matches('.')
        .to_string()
}

fn days(iso: &str) -> i64 {
    // Days since 1970-01-01 of an ISO date (the test's own arithmetic).
    let p: Vec<i64> = iso.split('-').map(|x| x.parse().unwrap()).collect();
    let (y, m, d) = (p[0], p[1], p[2]);
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

fn date_shift_cfg(subject_field: Option<&str>) -> MaskConfig {
    MaskConfig {
        operators: [
            (E::Date, Operator::DateShift),
            (E::DateOfBirth, Operator::DateShift),
        ]
        .into_iter()
        .collect(),
        subject_field: subject_field.map(str::to_string),
        ..MaskConfig::default()
    }
}

#[test]
fn date_shift_is_per_record_without_a_subject_field() {
    let m = masker(date_shift_cfg(None));
    // Two records with the same birth date: with one dataset-wide offset, one
    // known (original, shifted) pair would reveal both. Each record now has
    // its own keyed offset. The key is fixed, so this is a fixed outcome.
    let a = json!({"text": "Record A. DOB 1962-03-14, admitted 2023-05-02 for review."});
    let b = json!({"text": "Record B. DOB 1962-03-14, admitted 2023-05-02 for review."});
    let ma = m.mask_record(&a, RecordKind::Text, "a").unwrap();
    let mb = m.mask_record(&b, RecordKind::Text, "b").unwrap();
    let (dob_a, dob_b) = (
        dob_after(&ma, "text", "DOB "),
        dob_after(&mb, "text", "DOB "),
    );
    assert_ne!(dob_a, "1962-03-14");
    assert_ne!(dob_b, "1962-03-14");
    assert_ne!(dob_a, dob_b, "two records share one offset");
    let off_a = ops::record_date_offset(&key(), &a, 365);
    let off_b = ops::record_date_offset(&key(), &b, 365);
    assert_ne!(off_a, off_b);
    assert_eq!(
        ops::shift_date("1962-03-14", off_a).as_deref(),
        Some(dob_a.as_str())
    );
    assert_eq!(
        ops::shift_date("1962-03-14", off_b).as_deref(),
        Some(dob_b.as_str())
    );
    // Inside one record the interval between dates is kept.
    for out in [&ma, &mb] {
        let adm = dob_after(out, "text", "admitted ");
        assert_ne!(adm, "2023-05-02");
        assert_eq!(
            days(&adm) - days(&dob_after(out, "text", "DOB ")),
            days("2023-05-02") - days("1962-03-14")
        );
    }
    // Deterministic: the same record, the same offset, in any key order.
    assert_eq!(m.mask_record(&a, RecordKind::Text, "a").unwrap(), ma);
    let i1 = json!({"instruction": "x", "input": "DOB 1962-03-14", "output": "y"});
    let mut rev = serde_json::Map::new();
    for k in ["output", "input", "instruction"] {
        rev.insert(k.into(), i1[k].clone());
    }
    assert_eq!(
        ops::record_date_offset(&key(), &i1, 365),
        ops::record_date_offset(&key(), &Value::Object(rev), 365)
    );
    // Over many records the offsets spread out: no dataset-wide value.
    let offsets: std::collections::BTreeSet<i64> = (0..64)
        .map(|i| ops::record_date_offset(&key(), &json!({"text": format!("note {i}")}), 365))
        .collect();
    assert!(offsets.len() > 50, "{} distinct offsets", offsets.len());
    assert!(offsets.iter().all(|o| *o != 0 && o.abs() <= 365));
}

#[test]
fn date_shift_is_per_subject_with_a_subject_field() {
    let m = masker(date_shift_cfg(Some("patient_id")));
    let a = json!({"patient_id": "p-17", "text": "Visit one. DOB 1962-03-14, seen 2023-05-02."});
    let b = json!({"patient_id": "p-17", "text": "Visit two, other words. DOB 1962-03-14, seen 2024-01-09."});
    let c = json!({"patient_id": "p-18", "text": "Visit one. DOB 1962-03-14, seen 2023-05-02."});
    let ma = m.mask_record(&a, RecordKind::Text, "a").unwrap();
    let mb = m.mask_record(&b, RecordKind::Text, "b").unwrap();
    let mc = m.mask_record(&c, RecordKind::Text, "c").unwrap();
    // The same subject: one offset, so the timeline across records is kept.
    let off = ops::date_offset(&key(), "p-17", 365);
    assert_eq!(
        ops::shift_date("1962-03-14", off).unwrap(),
        dob_after(&ma, "text", "DOB ")
    );
    assert_eq!(
        dob_after(&ma, "text", "DOB "),
        dob_after(&mb, "text", "DOB ")
    );
    assert_eq!(
        days(&dob_after(&mb, "text", "seen ")) - days(&dob_after(&ma, "text", "seen ")),
        days("2024-01-09") - days("2023-05-02")
    );
    // Another subject: another offset.
    assert_ne!(
        dob_after(&ma, "text", "DOB "),
        dob_after(&mc, "text", "DOB ")
    );
    // A record without the field is keyed by itself, not by an empty subject
    // that every such record would share.
    let d = json!({"text": "No subject. DOB 1962-03-14."});
    let e = json!({"patient_id": "", "text": "Empty subject. DOB 1962-03-14."});
    for r in [&d, &e] {
        let out = m.mask_record(r, RecordKind::Text, "r").unwrap();
        assert_eq!(
            ops::shift_date("1962-03-14", ops::record_date_offset(&key(), r, 365)).unwrap(),
            dob_after(&out, "text", "DOB ")
        );
    }
}

#[test]
fn drop_record_and_bad_fields() {
    let cfg = MaskConfig {
        operators: [(E::Secret, Operator::DropRecord)].into_iter().collect(),
        ..MaskConfig::default()
    };
    let m = masker(cfg);
    let out = m
        .mask_record(
            &json!({"text": "my key is sk_live_abcdefghijklmnopqrstuv"}),
            RecordKind::Text,
            "r",
        )
        .unwrap();
    assert!(out.record.is_none());
    assert_eq!(out.dropped, Some(E::Secret));
    let e = m
        .mask_record(&json!({"text": 5}), RecordKind::Text, "line 9")
        .unwrap_err();
    assert_eq!(e.exit().code(), 65);
    assert!(
        e.to_string().contains("line 9") && e.to_string().contains("text"),
        "{e}"
    );
    assert!(
        m.mask_record(
            &json!({"messages": [{"role": "user", "content": ["x"]}]}),
            RecordKind::Chat,
            "r"
        )
        .is_err()
    );
}

#[test]
fn stream_keeps_order_and_fingerprints_roundtrip() {
    let m = masker(MaskConfig::default());
    let recs: Vec<Value> = (0..257)
        .map(|i| json!({"text": format!("record {i}: email user{i}@example.org")}))
        .collect();
    let mut seen = Vec::new();
    let mut fps = FingerprintSet::new();
    let n = m
        .mask_stream(
            recs,
            RecordKind::Text,
            16,
            |i, r| -> Result<(), std::convert::Infallible> {
                let r = r.unwrap();
                let t = r.record.unwrap()["text"].as_str().unwrap().to_string();
                assert_eq!(t, format!("record {i}: email <EMAIL_1>"));
                fps.extend(r.fingerprints);
                seen.push(i);
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(n, 257);
    assert_eq!(seen, (0..257).collect::<Vec<u64>>());
    assert_eq!(fps.len(), 257);
    let want = ops::fingerprint(&key(), E::Email, "USER5@example.org");
    let bytes = fps.to_bytes();
    let mut back = FingerprintSet::from_bytes(&bytes, Path::new("mem")).unwrap();
    assert!(back.contains(&want));
}

#[test]
fn detect_jsonl_lines() {
    let m = masker(MaskConfig::default());
    let input = "{\"id\": 1, \"text\": \"Ñame: José García, ssn 123-45-6789\"}\n\n{\"id\": \"b\", \"text\": \"nothing here\"}\n";
    let mut out = Vec::new();
    let n = detect_jsonl(
        m.detector(),
        input.as_bytes(),
        Path::new("in.jsonl"),
        &mut out,
        Path::new("out.jsonl"),
        1,
    )
    .unwrap();
    assert_eq!(n, 2);
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["id"], 1);
    let spans = lines[0]["spans"].as_array().unwrap();
    assert_eq!(spans[0]["type"], "PERSON");
    assert_eq!(spans[0]["start"], 6);
    assert_eq!(spans[0]["end"], 17);
    assert_eq!(spans[1]["type"], "US_SSN");
    assert_eq!(lines[1], json!({"id": "b", "spans": []}));
    let e = detect_jsonl(
        m.detector(),
        "{\"id\":1}\n".as_bytes(),
        Path::new("in"),
        Vec::new(),
        Path::new("out"),
        4,
    )
    .unwrap_err();
    assert_eq!(e.exit().code(), 65);
    assert!(e.to_string().contains("line 1"));
}

#[test]
fn mask_jsonl_masks_in_order_and_names_the_bad_line() {
    let m = masker(MaskConfig::default());
    let input = concat!(
        "{\"text\": \"Name: José García, ssn 123-45-6789\"}\n",
        "\n",
        "{\"instruction\": \"Summarise\", \"output\": \"write to jose.garcia@example.com\"}\n",
    );
    let mut out = Vec::new();
    let sum = mask_jsonl(
        &m,
        input.as_bytes(),
        Path::new("in.jsonl"),
        &mut out,
        Path::new("out.jsonl"),
        1 << 20,
    )
    .unwrap();
    assert_eq!((sum.written, sum.dropped), (2, 0));
    assert!(sum.replacements.contains_key("PERSON"), "{sum:?}");
    assert!(sum.replacements.contains_key("US_SSN"), "{sum:?}");
    assert!(sum.replacements.contains_key("EMAIL"), "{sum:?}");
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 2);
    for raw in ["José", "García", "123-45-6789", "jose.garcia@example.com"] {
        assert!(!text.contains(raw), "{raw} survived: {text}");
    }
    assert!(text.lines().next().unwrap().contains("\"text\""));
    // A bad line stops with its file and line, and no content in the message.
    let bad = "{\"text\": \"ok\"}\n{\"text\": \"Jane Roe\", \"Jane Roe\": 1}\n";
    let e = mask_jsonl(
        &m,
        bad.as_bytes(),
        Path::new("in.jsonl"),
        Vec::new(),
        Path::new("out.jsonl"),
        1 << 20,
    )
    .unwrap_err();
    assert_eq!(e.exit().code(), 65);
    let shown = sealtune_contract::with_causes(&e);
    assert!(shown.starts_with("in.jsonl:2: "), "{shown}");
    assert!(!shown.contains("Jane"), "{shown}");
    // Over the line limit.
    let e = mask_jsonl(
        &m,
        "{\"text\": \"0123456789\"}\n".as_bytes(),
        Path::new("in.jsonl"),
        Vec::new(),
        Path::new("out.jsonl"),
        8,
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("in.jsonl:1: record is"), "{e}");
}

#[test]
fn config_parses_and_rejects_unknown_keys() {
    let cfg: MaskConfig = toml::from_str(
        r#"
        key_env = "SEALTUNE_MASK_KEY"
        default_operator = "redact"
        operators = { PERSON = "pseudonymize", US_SSN = "mask" }
        thresholds = { PERSON = 0.7 }
        context_window = 4
        allow = ["Acme Clinic"]
        deny = { PERSON = ["Dr Zed"] }
        [[recognizers]]
        name = "employee id"
        type = "INSURANCE_ID"
        pattern = 'EMP-\d{6}'
        context = ["employee"]
        "#,
    )
    .unwrap();
    assert_eq!(cfg.operator(E::Person), Operator::Pseudonymize);
    assert_eq!(cfg.operator(E::Email), Operator::Redact);
    assert_eq!(cfg.recognizers[0].score, 0.8);
    assert!(toml::from_str::<MaskConfig>("key_fil = \"x\"").is_err());
    assert!(toml::from_str::<MaskConfig>("operators = { NOT_A_TYPE = \"tag\" }").is_err());
    let bad = MaskConfig {
        default_threshold: 1.5,
        ..MaskConfig::default()
    };
    let e = bad.validate().unwrap_err();
    assert_eq!(e.exit().code(), 78);
    assert!(e.to_string().contains("default_threshold"));
}

#[test]
fn key_sources() {
    let dir = std::env::temp_dir().join(format!("sealtune-pii-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("mask.key");
    std::fs::write(&f, "ab".repeat(32)).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(MaskKey::from_file(&f).unwrap_err().exit().code(), 77);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert!(MaskKey::from_file(&f).is_ok());
    assert_eq!(
        MaskKey::from_file(&dir.join("missing"))
            .unwrap_err()
            .exit()
            .code(),
        66
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keep_needs_allow_plaintext_and_still_fingerprints() {
    let keep_ssn = MaskConfig {
        operators: [(E::UsSsn, Operator::Keep)].into_iter().collect(),
        ..MaskConfig::default()
    };
    let e = keep_ssn.validate().unwrap_err();
    assert_eq!(e.exit().code(), 78);
    assert!(e.to_string().contains("operators.US_SSN"), "{e}");
    assert!(e.to_string().contains("allow_plaintext"), "{e}");
    let e = MaskConfig {
        default_operator: Operator::Keep,
        ..MaskConfig::default()
    }
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("default_operator"), "{e}");

    let cfg = MaskConfig {
        allow_plaintext: true,
        ..keep_ssn
    };
    cfg.validate().unwrap();
    assert!(cfg.keeps_plaintext());
    let m = masker(cfg);
    let rec = json!({"text": "Maria Lopez, SSN 123-45-6789"});
    let out = m.mask_record(&rec, RecordKind::Text, "r").unwrap();
    let text = out.record.unwrap()["text"].as_str().unwrap().to_string();
    assert_eq!(text, "<PERSON_1>, SSN 123-45-6789");
    // The kept value is counted and fingerprinted like a replaced one, so eval
    // can recognise it when the model reproduces it.
    assert_eq!(out.counts["text"][&E::UsSsn], 1);
    assert_eq!(out.fingerprints.len(), 2);
    assert!(
        out.fingerprints
            .contains(&ops::fingerprint(&key(), E::UsSsn, "123-45-6789"))
    );
}

#[test]
fn residual_sweep_per_field_and_not_for_dropped_records() {
    use sealtune_pii::ResidualKind as R;
    let cfg = MaskConfig {
        operators: [(E::Secret, Operator::DropRecord)].into_iter().collect(),
        ..MaskConfig::default()
    };
    let m = masker(cfg);
    let rec = json!({"messages": [
        {"role": "user", "content": "Hi, Dr. Maria Lopez here, ref 8675309"},
        {"role": "assistant", "content": "Thanks, noted under ref 8675310."}
    ]});
    let out = m.mask_record(&rec, RecordKind::Chat, "r").unwrap();
    let r = out.record.as_ref().unwrap();
    assert!(
        r["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("<PERSON_1>")
    );
    // Both surviving numbers counted under `messages`; the tag is not a name.
    assert_eq!(out.residual["messages"].get(&R::LongDigits), Some(&2));
    assert_eq!(out.residual["messages"].get(&R::NameContext), None);
    let dropped = m
        .mask_record(
            &json!({"text": "ref 8675309, key sk_live_abcdefghijklmnopqrstuv"}),
            RecordKind::Text,
            "r",
        )
        .unwrap();
    assert!(dropped.record.is_none() && dropped.residual.is_empty());
}
