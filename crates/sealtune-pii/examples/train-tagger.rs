//! Trains the learned name tagger (`sealtune_pii::tagger`) on the `dev` parts of
//! the independently written evaluation sets, and chooses its threshold by
//! cross-validation on those same parts. The hold-out parts are never read.
//!
//! ```text
//! cargo run --release -p sealtune-pii --example train-tagger -- cv        # 5-fold CV table
//! cargo run --release -p sealtune-pii --example train-tagger -- write T   # train on all, threshold T
//! ```
//!
//! `cv` trains on four fifths of the dev documents and scores the whole
//! detector (rules and tagger) on the fifth, for each threshold, summed over
//! the five folds; the first row is the rules alone. It names the threshold the
//! committed model uses: the lowest whose share of other characters masked
//! stays within the project's 3% target for it (find as many names as possible
//! for a fixed cost in over-masking). `write` writes `data/person-tagger.bin`,
//! which `tests/tagger.rs` checks is reproduced.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::sync::Arc;

use sealtune_pii::corpus::{Gold, Scores};
use sealtune_pii::tagger::{self, TrainDoc};
use sealtune_pii::{Detector, EntityType, MaskConfig};

const THRESHOLDS: &[f32] = &[0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mode = std::env::args().nth(1).unwrap_or_else(|| "cv".into());
    let mut labelled = Vec::new();
    for rel in tagger::TRAINING_SETS {
        let text = std::fs::read_to_string(dir.join(rel)).expect("dev set");
        labelled.extend(sealtune_pii::corpus::read_labelled(&text).expect("dev set"));
    }
    let docs = tagger::training_docs(dir).expect("dev sets");
    assert_eq!(docs.len(), labelled.len());
    match mode.as_str() {
        "write" => {
            let t: f32 = std::env::args()
                .nth(2)
                .and_then(|t| t.parse().ok())
                .expect("write THRESHOLD");
            let m = tagger::train(&docs, tagger::EPOCHS, tagger::SEED, t);
            let out = dir.join("data/person-tagger.bin");
            std::fs::write(&out, m.to_bytes()).expect("write the model");
            println!(
                "wrote {} ({} documents, threshold {t})",
                out.display(),
                docs.len()
            );
        }
        "cv" => cv(&labelled, &docs),
        _ => {
            eprintln!("usage: train-tagger cv | write THRESHOLD");
            std::process::exit(64);
        }
    }
}

fn cv(labelled: &[sealtune_pii::corpus::Labelled], docs: &[TrainDoc]) {
    const K: usize = 5;
    let rules = Detector::new(&MaskConfig::default())
        .expect("detector")
        .with_person_model(None);
    let mut base = Scores::default();
    let mut miss_rules = std::collections::BTreeMap::new();
    let mut miss_tagged = std::collections::BTreeMap::new();
    let mut per: Vec<Scores> = THRESHOLDS.iter().map(|_| Scores::default()).collect();
    for fold in 0..K {
        let mut train: Vec<TrainDoc> = docs
            .iter()
            .enumerate()
            .filter(|(i, _)| i % K != fold)
            .map(|(_, d)| d.clone())
            .collect();
        if let Some(n) = std::env::var("GEN").ok().and_then(|n| n.parse().ok()) {
            for d in sealtune_pii::corpus::generate(fold as u64 + 11, n) {
                train.push(TrainDoc {
                    names: d
                        .gold
                        .iter()
                        .filter(|g| g.entity == EntityType::Person)
                        .map(|g| (g.start, g.end))
                        .collect(),
                    text: d.text,
                });
            }
        }
        let model = tagger::train(&train, tagger::EPOCHS, tagger::SEED, 0.5);
        let dets: Vec<Detector> = THRESHOLDS
            .iter()
            .map(|&t| {
                Detector::new(&MaskConfig::default())
                    .expect("detector")
                    .with_person_model(Some(Arc::new(model.clone().with_threshold(t))))
            })
            .collect();
        for (i, d) in labelled.iter().enumerate() {
            if i % K != fold {
                continue;
            }
            let gold: &[Gold] = &d.gold;
            let r = rules.detect(&d.text);
            tally(&mut miss_rules, &d.text, gold, &r);
            base.add(&d.text, gold, &r);
            for (k, (s, det)) in per.iter_mut().zip(&dets).enumerate() {
                let p = det.detect(&d.text);
                if THRESHOLDS[k] == 0.6 {
                    tally(&mut miss_tagged, &d.text, gold, &p);
                    if std::env::var_os("SHOW").is_some() {
                        for g in gold.iter().filter(|g| g.entity == EntityType::Person) {
                            if !p.iter().any(|q| q.start < g.end && g.start < q.end) {
                                let a = d.text.floor_char_boundary(g.start.saturating_sub(30));
                                let z = d.text.ceil_char_boundary((g.end + 30).min(d.text.len()));
                                println!(
                                    "miss {:?} in {:?}",
                                    &d.text[g.start..g.end],
                                    &d.text[a..z]
                                );
                            }
                        }
                        for q in p.iter().filter(|q| q.entity == EntityType::Person) {
                            if !gold.iter().any(|g| q.start < g.end && g.start < q.end) {
                                let a = d.text.floor_char_boundary(q.start.saturating_sub(30));
                                let z = d.text.ceil_char_boundary((q.end + 30).min(d.text.len()));
                                println!(
                                    "false {:?} in {:?}",
                                    &d.text[q.start..q.end],
                                    &d.text[a..z]
                                );
                            }
                        }
                    }
                }
                s.add(&d.text, gold, &p);
            }
        }
    }
    println!(
        "| tagger threshold | PII chars unmasked | other chars masked | PERSON recall | PERSON precision |"
    );
    println!("|---|---:|---:|---:|---:|");
    let row = |name: String, s: &Scores| {
        let p = s
            .per_type
            .get(&EntityType::Person)
            .cloned()
            .unwrap_or_default();
        println!(
            "| {name} | {:.2}% | {:.2}% | {:.3} | {:.3} |",
            100.0 * s.pii_unmasked_rate(),
            100.0 * s.non_pii_masked_rate(),
            p.recall(),
            p.precision()
        );
    };
    row("rules alone".into(), &base);
    for (t, s) in THRESHOLDS.iter().zip(&per) {
        row(format!("{t}"), s);
    }
    // The rule for the committed threshold: the lowest (most names found) whose share
    // of other characters masked stays within the project's target for it, 3%. A fixed
    // budget: one tied to the rules' own over-masking made the tagger more cautious
    // each time the rules grew more precise.
    let budget = 0.03;
    if let Some((t, _)) = THRESHOLDS
        .iter()
        .zip(&per)
        .find(|(_, s)| s.non_pii_masked_rate() <= budget)
    {
        println!(
            "\nchosen threshold: {t} (the lowest with other characters masked within the 3% target)"
        );
    }
    println!(
        "\n| type | unmasked characters, rules alone | with the tagger at 0.6 |\n|---|---:|---:|"
    );
    for (t, n) in &miss_rules {
        println!(
            "| {t:?} | {n} | {} |",
            miss_tagged.get(t).copied().unwrap_or(0)
        );
    }
}

/// Adds the gold characters (not blanks) that no prediction covers, by type.
fn tally(
    out: &mut std::collections::BTreeMap<EntityType, usize>,
    text: &str,
    gold: &[Gold],
    pred: &[sealtune_pii::Span],
) {
    for g in gold {
        let n = text[g.start..g.end]
            .char_indices()
            .filter(|&(o, c)| {
                let i = g.start + o;
                !c.is_whitespace() && !pred.iter().any(|p| p.start <= i && i < p.end)
            })
            .count();
        *out.entry(g.entity).or_insert(0) += n;
    }
}
