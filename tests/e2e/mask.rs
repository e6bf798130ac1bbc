//! The mask stage in the pipeline and the standalone `sealtune mask`.

use crate::util::*;

const PII_LINES: &str = concat!(
    "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi, I'm Maria Lopez, email maria.lopez@example.com, phone (617) 555-0123. Card 4111 1111 1111 1111.\"},{\"role\":\"assistant\",\"content\":\"Thanks Maria, I will look into it.\"}]}\n",
    "{\"messages\":[{\"role\":\"user\",\"content\":\"Patient: GARCIA, José  DOB 04/12/1961  SSN 123-45-6789\"},{\"role\":\"assistant\",\"content\":\"Noted.\"}]}\n",
    "{\"messages\":[{\"role\":\"user\",\"content\":\"Wire to DE89370400440532013000 please\"},{\"role\":\"assistant\",\"content\":\"Done.\"}]}\n",
);

const RAW: [&str; 8] = [
    "maria.lopez@example.com",
    "555-0123",
    "4111 1111 1111 1111",
    "123-45-6789",
    "DE89370400440532013000",
    "04/12/1961",
    "Maria Lopez",
    "GARCIA",
];

#[test]
fn mask_stage_writes_masked_splits_report_and_fingerprints() {
    let d = Dir::new();
    let mut data = chat_lines(40);
    data.push_str(PII_LINES);
    d.write("data/a.jsonl", &data);
    d.config("chat", "eval_fraction = 0.25\n");
    d.run(&["run", "cfg.toml", "--to", "mask"]).assert_code(0);
    let train = d.read("run/mask/train.jsonl");
    let eval = d.read("run/mask/eval.jsonl");
    let ingest: serde_json::Value =
        serde_json::from_str(&d.read("run/ingest/report.json")).unwrap();
    assert_eq!(
        train.lines().count() as u64,
        ingest["totals"]["train"].as_u64().unwrap()
    );
    assert_eq!(
        eval.lines().count() as u64,
        ingest["totals"]["eval"].as_u64().unwrap()
    );
    for f in [
        "run/mask/train.jsonl",
        "run/mask/eval.jsonl",
        "run/mask/report.json",
        "run/audit.jsonl",
        "run/status.json",
        "run/mask/manifest.json",
    ] {
        let text = d.read(f);
        for raw in RAW {
            assert!(!text.contains(raw), "{f} holds {raw}");
        }
    }
    let report: serde_json::Value = serde_json::from_str(&d.read("run/mask/report.json")).unwrap();
    assert_eq!(report["records"]["in"], 43);
    let by_type = &report["replacements_by_type"];
    for t in ["EMAIL", "PHONE", "CREDIT_CARD", "US_SSN", "IBAN", "PERSON"] {
        assert!(by_type[t].as_u64().unwrap_or(0) >= 1, "no {t} in {by_type}");
    }
    let fp = std::fs::read(d.path().join("run/mask/pii-fingerprints.bin")).unwrap();
    assert_eq!(&fp[..8], b"SLTPIIFP");
    assert!(report["distinct_fingerprints"].as_u64().unwrap() >= 8);
}

#[test]
fn mask_needs_a_private_key_file() {
    let d = Dir::new();
    d.write("data/a.jsonl", chat_lines(3));
    d.config("chat", "");
    std::fs::remove_file(d.path().join("mask.key")).unwrap();
    // `validate` makes the same checks as a run's start.
    d.run(&["validate", "cfg.toml"])
        .assert_code(66)
        .assert_stderr_has("mask.key");
    d.run(&["run", "cfg.toml", "--to", "mask"]).assert_code(66);
    d.write("mask.key", [1u8; 32]);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        d.path().join("mask.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    d.run(&["validate", "cfg.toml"])
        .assert_code(77)
        .assert_stderr_has("chmod 600");
    d.run(&["run", "cfg.toml", "--to", "mask"])
        .assert_code(77)
        .assert_stderr_has("chmod 600");
    assert!(
        !d.exists("run/audit.jsonl"),
        "a refused start wrote to the run directory"
    );
    // No [mask] section: masking is never skipped silently.
    d.write(
        "cfg.toml",
        d.read("cfg.toml")
            .replace("[mask]\nkey_file = \"mask.key\"\n", ""),
    );
    d.run(&["validate", "cfg.toml"])
        .assert_code(78)
        .assert_stderr_has("mask.key_file");
}

#[test]
fn standalone_mask_and_detect() {
    let d = Dir::new();
    d.write("data/a.jsonl", chat_lines(1));
    d.config("chat", "");
    d.write("in.jsonl", PII_LINES);
    let r = d.run(&[
        "mask",
        "--config",
        "cfg.toml",
        "--in",
        "in.jsonl",
        "--out",
        "out.jsonl",
    ]);
    r.assert_code(0).assert_stderr_has("3 record(s) masked");
    let out = d.read("out.jsonl");
    assert_eq!(out.lines().count(), 3);
    for raw in RAW {
        assert!(!out.contains(raw), "out.jsonl holds {raw}");
    }
    d.run(&["mask", "--in", "in.jsonl", "--out", "x.jsonl"])
        .assert_code(64);
    d.run(&[
        "mask", "--config", "cfg.toml", "--in", "in.jsonl", "--out", "in.jsonl",
    ])
    .assert_code(64);
    d.write("bad.jsonl", "{\"messages\": 3}\n");
    d.run(&[
        "mask",
        "--config",
        "cfg.toml",
        "--in",
        "bad.jsonl",
        "--out",
        "b.jsonl",
    ])
    .assert_code(65)
    .assert_stderr_has("bad.jsonl:1");
    assert!(!d.exists("b.jsonl"));

    d.write("det.jsonl", "{\"id\": 1, \"text\": \"Écrire à zoë@example.com\"}\n{\"id\": \"b\", \"text\": \"nothing here\"}\n");
    d.run(&[
        "mask",
        "--detect",
        "--in",
        "det.jsonl",
        "--out",
        "spans.jsonl",
    ])
    .assert_code(0);
    let lines: Vec<serde_json::Value> = d
        .read("spans.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], 1);
    let span = &lines[0]["spans"][0];
    assert_eq!(span["type"], "EMAIL");
    // Offsets are in code points: "Écrire à " is 9 characters (11 bytes).
    assert_eq!(span["start"], 9);
    assert_eq!(span["end"], 9 + "zoë@example.com".chars().count());
    assert_eq!(lines[1]["spans"].as_array().unwrap().len(), 0);
}
