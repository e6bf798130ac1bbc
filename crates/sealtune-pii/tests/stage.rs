//! The mask stage under the engine, after ingest: `mask/report.json` carries
//! the residual-risk sweep, with counts and field names only.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use sealtune_data::IngestStage;
use sealtune_pii::MaskStage;
use sealtune_pipeline::{CancelToken, Config, Engine, Events, RunOptions, Stage};

// Values the report must never hold. The `ref` number is not PII to the
// detector (an order-like reference), so it survives masking and the sweep
// counts it; the pseudonym written for the doctor's name is not counted.
const INPUT: &str = r#"{"text": "Dr. Maria Lopez called about ref 8675309 today."}
{"text": "Follow-up booked; nothing else to note."}
{"text": "Patient: John Carter, phone (617) 555-0123."}
"#;
const VALUES: &[&str] = &["Maria", "Lopez", "8675309", "John", "Carter", "555-0123"];

#[test]
fn mask_report_has_the_residual_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("mask.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(tmp.path().join("in.jsonl"), INPUT).unwrap();
    let cfg_path = tmp.path().join("c.toml");
    std::fs::write(
        &cfg_path,
        "[data]\ninputs = [\"in.jsonl\"]\nformat = \"text\"\neval_fraction = 0.0\n\n\
         [mask]\nkey_file = \"mask.key\"\noperators = { PERSON = \"pseudonymize\" }\n",
    )
    .unwrap();
    let cfg = Config::load(&cfg_path, &["data", "mask"]).unwrap();
    let stages: Vec<Box<dyn Stage>> = vec![Box::new(IngestStage), Box::new(MaskStage)];
    let events = Events::new(false, true);
    let run = tmp.path().join("run");
    let engine = Engine::new(&stages, &cfg, run.clone(), &events, CancelToken::new());
    engine.validate().unwrap();
    engine.run(&RunOptions::default()).unwrap();

    let bytes = std::fs::read(run.join("mask/report.json")).unwrap();
    let report: Value = serde_json::from_slice(&bytes).unwrap();
    let r = &report["residual"];
    assert!(r.is_object(), "{report}");
    assert_eq!(r["swept_records"], 3);
    assert_eq!(r["by_type"]["long_digits"], 1, "{r}");
    assert_eq!(
        r["by_type"]["name_context"], 0,
        "pseudonyms are not counted: {r}"
    );
    assert_eq!(r["by_type"]["address_line"], 0);
    assert_eq!(r["by_field"]["text"]["long_digits"], 1);
    assert_eq!(r["total"], 1);
    assert!(
        r["note"]
            .as_str()
            .unwrap()
            .contains("no values are recorded")
    );
    // The masked split really holds the surviving number; the report does not.
    let train = std::fs::read_to_string(run.join("mask/train.jsonl")).unwrap();
    assert!(train.contains("8675309"));
    let text = String::from_utf8(bytes).unwrap();
    for v in VALUES {
        assert!(!text.contains(v), "mask/report.json holds a value");
    }
}

/// Ingest keeps only the text fields, so `subject_field` could never take
/// effect in a pipeline run: the config is refused, naming the key and its line.
#[test]
fn subject_field_is_refused_in_a_pipeline_config() {
    let text = "[data]\ninputs = [\"in.jsonl\"]\nformat = \"text\"\n\n\
                [mask]\nkey_file = \"mask.key\"\nsubject_field = \"patient_id\"\n";
    let cfg = Config::from_str(
        std::path::Path::new("c.toml"),
        text.to_string(),
        &["data", "mask"],
    )
    .unwrap();
    let err = MaskStage.validate(&cfg).unwrap_err();
    assert_eq!(err.key, "mask.subject_field");
    assert_eq!(err.line, Some(7));
    assert!(
        err.message.contains("ingest passes only the text fields"),
        "{err}"
    );
    assert!(!err.to_string().contains("patient_id"), "{err}");
}
