//! The quickstart's own sample (`datasets/sample/`) masked with the quickstart's
//! operators leaves none of its PII values behind. The generator,
//! `scripts/make-sample-data.py`, lists every value it wrote into each record in
//! `datasets/sample-pii.json`; this test greps the masked record for each one.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use zeroize::Zeroizing;

use sealtune_pii::{EntityType as E, MaskConfig, MaskKey, Masker, Operator, RecordKind};

#[derive(serde::Deserialize)]
struct Labelled {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn masked_sample_contains_none_of_its_pii_values() {
    // The operators of configs/quickstart.toml; the test fails if they change there.
    let quickstart = std::fs::read_to_string(root().join("configs/quickstart.toml")).unwrap();
    assert!(
        quickstart.contains(
            r#"operators = { PERSON = "pseudonymize", US_SSN = "mask", CREDIT_CARD = "mask", DATE_OF_BIRTH = "date_shift" }"#
        ),
        "configs/quickstart.toml's [mask] operators changed: update this test"
    );
    let cfg = MaskConfig {
        operators: [
            (E::Person, Operator::Pseudonymize),
            (E::UsSsn, Operator::Mask),
            (E::CreditCard, Operator::Mask),
            (E::DateOfBirth, Operator::DateShift),
        ]
        .into_iter()
        .collect(),
        ..MaskConfig::default()
    };
    let key = MaskKey::new(Zeroizing::new(
        b"sample-leak-test-key-0123456789ab".to_vec(),
    ))
    .unwrap();
    let masker = Masker::new(&cfg, key).unwrap();
    let labels: BTreeMap<String, Vec<Vec<Labelled>>> = serde_json::from_str(
        &std::fs::read_to_string(root().join("datasets/sample-pii.json")).unwrap(),
    )
    .unwrap();
    let (mut values, mut leaks) = (0usize, Vec::new());
    for (file, records) in &labels {
        let text = std::fs::read_to_string(root().join("datasets/sample").join(file)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), records.len(), "{file}: labels out of date");
        for (n, (line, want)) in lines.iter().zip(records).enumerate() {
            let rec: Value = serde_json::from_str(line).unwrap();
            let out = masker
                .mask_record(&rec, RecordKind::Chat, &format!("{file}:{}", n + 1))
                .unwrap();
            let masked = serde_json::to_string(&out.record.unwrap()).unwrap();
            for l in want {
                values += 1;
                if masked.contains(&l.value) {
                    leaks.push(format!("{file}:{} {}", n + 1, l.kind));
                }
            }
        }
    }
    assert!(values > 1500, "{values} values");
    assert!(
        leaks.is_empty(),
        "{} of {values} values left unmasked: {leaks:?}",
        leaks.len()
    );
}
