//! Loss masks with SmolLM2's real tokenizer and chat template. `#[ignore]`d, so a fresh
//! clone lists them as ignored: they need `models/smollm2-135m-instruct`
//! (`scripts/fetch-smollm2.sh`); `cargo test -- --include-ignored` runs them.

use std::path::Path;

use sealtune_data::canary::{CanarySet, Format};
use sealtune_data::record::Record;
use sealtune_model::tokenizer::Tokenizer;
use sealtune_train::TrainConfig;
use sealtune_train::collate::{Origin, Rendered, canary_examples, record_messages, render};

fn tokenizer() -> Tokenizer {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/smollm2-135m-instruct");
    assert!(
        dir.join("tokenizer.json").is_file(),
        "{} is missing; run scripts/fetch-smollm2.sh",
        dir.display()
    );
    Tokenizer::from_dir(&dir).expect("tokenizer")
}

fn record(json: &str) -> Record {
    serde_json::from_str(json).expect("record")
}

/// The decoded runs of consecutive target tokens.
fn target_runs(tok: &Tokenizer, ids: &[u32], target: &[bool]) -> Vec<String> {
    let mut runs = Vec::new();
    let mut cur: Vec<u32> = Vec::new();
    for (i, &t) in target.iter().enumerate() {
        if t {
            cur.push(ids[i]);
        } else if !cur.is_empty() {
            runs.push(
                tok.decode(&std::mem::take(&mut cur), false)
                    .expect("decode"),
            );
        }
    }
    if !cur.is_empty() {
        runs.push(tok.decode(&cur, false).expect("decode"));
    }
    runs
}

fn example(tok: &Tokenizer, rec: &Record, cfg: &TrainConfig) -> sealtune_train::collate::Example {
    match render(tok, &record_messages(rec), cfg, Origin::Record(1)).expect("render") {
        Rendered::Example(e) => e,
        other => panic!("not rendered: {other:?}"),
    }
}

#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn the_loss_mask_is_exactly_the_assistant_turns_and_their_end_of_turn() {
    let tok = tokenizer();
    let cfg = TrainConfig::default();
    let rec = record(
        r#"{"messages":[{"role":"system","content":"You answer claims questions."},{"role":"user","content":"Is claim 7 covered?"},{"role":"assistant","content":"Yes, under section 4."},{"role":"user","content":"And claim 8?"},{"role":"assistant","content":"No: it was filed late."}]}"#,
    );
    let ex = example(&tok, &rec, &cfg);
    assert_eq!(
        target_runs(&tok, &ex.ids, &ex.target),
        vec![
            "Yes, under section 4.<|im_end|>",
            "No: it was filed late.<|im_end|>"
        ]
    );
    assert!(!ex.target[0]);

    // Instruction records: the output is the assistant turn.
    let ins = record(
        r#"{"instruction":"Summarise the note.","input":"Patient stable.","output":"Stable."}"#,
    );
    let ex = example(&tok, &ins, &cfg);
    assert_eq!(
        target_runs(&tok, &ex.ids, &ex.target),
        vec!["Stable.<|im_end|>"]
    );
    let text = tok.decode(&ex.ids, false).expect("decode");
    assert!(
        text.contains("Summarise the note.\n\nPatient stable."),
        "{text}"
    );

    // train_on_inputs: every token but the first.
    let all = TrainConfig {
        train_on_inputs: true,
        ..TrainConfig::default()
    };
    let ex = example(&tok, &rec, &all);
    assert_eq!(ex.loss_tokens(), ex.ids.len() - 1);
}

#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn truncation_and_dropping_follow_the_config() {
    let tok = tokenizer();
    let long = format!(
        r#"{{"messages":[{{"role":"user","content":"q"}},{{"role":"assistant","content":"{}"}}]}}"#,
        "word ".repeat(400)
    );
    let rec = record(&long);
    let cfg = TrainConfig {
        max_seq_len: 64,
        ..TrainConfig::default()
    };
    let ex = example(&tok, &rec, &cfg);
    assert_eq!(ex.ids.len(), 64);
    let drop = TrainConfig {
        truncation: sealtune_train::config::Truncation::Drop,
        ..cfg
    };
    let r = render(&tok, &record_messages(&rec), &drop, Origin::Record(1)).expect("render");
    assert!(matches!(r, Rendered::TooLong));
    // A chat without an assistant turn has nothing to train on.
    let q = record(r#"{"messages":[{"role":"user","content":"only a question"}]}"#);
    let r = render(
        &tok,
        &record_messages(&q),
        &TrainConfig::default(),
        Origin::Record(1),
    )
    .expect("render");
    assert!(matches!(r, Rendered::NoTargets));
}

#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn canaries_are_trained_on_their_secret_and_repeated() {
    let tok = tokenizer();
    let set = CanarySet::generate(1, 4, 3, &Format::ALL);
    let ex = canary_examples(&tok, &set, &TrainConfig::default()).expect("canaries");
    assert_eq!(ex.len(), 12);
    for (i, c) in set.inserted.iter().enumerate() {
        let e = &ex[i * 3];
        assert_eq!(e.origin, Origin::Canary(c.id.clone()));
        let runs = target_runs(&tok, &e.ids, &e.target);
        assert_eq!(runs.len(), 1);
        assert!(runs[0].contains(&c.secret), "{runs:?} lacks {}", c.secret);
    }
    // Held-out twins are never among the examples.
    for c in &set.held_out {
        assert!(!ex.iter().any(|e| e.origin == Origin::Canary(c.id.clone())));
    }
}
