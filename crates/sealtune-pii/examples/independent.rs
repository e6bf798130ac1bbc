//! Detection quality on the independently written evaluation set
//! (`tests/independent/`, written by someone who never read the detector).
//!
//! ```text
//! cargo run --release -p sealtune-pii --example independent -- dev|holdout|dev2|holdout2|dev3|holdout3|dev4|holdout4|dev5|holdout5|dev6|holdout6|dev7|holdout7
//! ```
//!
//! `dev`/`holdout` are the first set (`tests/independent/`); `dev2`/`holdout2`
//! the second (`tests/independent2/`), written by another author who had not
//! seen the detector either, after the detector changes it is used to judge;
//! `dev3`/`holdout3` the third (`tests/independent3/`), likewise; `dev4`/`holdout4`
//! the fourth (`tests/independent4/`), written after the learned name tagger was
//! trained (on the first three sets' `dev` parts only); `dev5`/`holdout5` the fifth
//! (`tests/independent5/`), written after the tagger was trained on the first four;
//! `dev6`/`holdout6` the sixth (`tests/independent6/`), written after all five were used;
//! `dev7`/`holdout7` the seventh (`tests/independent7/`), written after all six were used.
//!
//! Prints the per-type table, the share of PII characters left unmasked, the share of
//! other characters masked, and the share of documents with PII that leak at least one
//! PII character; `NO_TAGGER=1` runs the name rules without the learned tagger. `SHOW_MISSES=1` lists the missed spans and the false positives with
//! their context, for the dev part only: the
//! hold-out part is scored, never inspected.
#![allow(clippy::print_stdout)]

use std::path::Path;

use sealtune_pii::corpus::{Gold, Scores};
use sealtune_pii::{Detector, MaskConfig};

/// Up to 40 bytes either side of a span, cut at character boundaries.
fn context(text: &str, start: usize, end: usize) -> &str {
    let mut a = start.saturating_sub(40);
    while !text.is_char_boundary(a) {
        a -= 1;
    }
    let mut z = (end + 40).min(text.len());
    while !text.is_char_boundary(z) {
        z += 1;
    }
    &text[a..z]
}

fn main() {
    let part = std::env::args().nth(1).unwrap_or_else(|| "dev".into());
    let (dir, file) = match part.as_str() {
        "dev" | "holdout" => ("tests/independent", part.clone()),
        "dev2" => ("tests/independent2", "dev".to_string()),
        "holdout2" => ("tests/independent2", "holdout".to_string()),
        "dev3" => ("tests/independent3", "dev".to_string()),
        "holdout3" => ("tests/independent3", "holdout".to_string()),
        "dev4" => ("tests/independent4", "dev".to_string()),
        "holdout4" => ("tests/independent4", "holdout".to_string()),
        "dev5" => ("tests/independent5", "dev".to_string()),
        "holdout5" => ("tests/independent5", "holdout".to_string()),
        "dev6" => ("tests/independent6", "dev".to_string()),
        "holdout6" => ("tests/independent6", "holdout".to_string()),
        "dev7" => ("tests/independent7", "dev".to_string()),
        "holdout7" => ("tests/independent7", "holdout".to_string()),
        _ => {
            eprintln!(
                "usage: independent dev|holdout|dev2|holdout2|dev3|holdout3|dev4|holdout4|dev5|holdout5|dev6|holdout6|dev7|holdout7"
            );
            std::process::exit(64);
        }
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(dir)
        .join(format!("{file}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("{}: {e}", path.display());
        std::process::exit(66);
    });
    let show = part.starts_with("dev") && std::env::var_os("SHOW_MISSES").is_some();
    let mut det = Detector::new(&MaskConfig::default()).expect("detector");
    if std::env::var_os("NO_TAGGER").is_some() {
        det = det.with_person_model(None);
    }
    let mut sc = Scores::default();
    let (mut docs_with_pii, mut docs_leaking) = (0usize, 0usize);
    let docs = sealtune_pii::corpus::read_labelled(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for doc in docs {
        let gold: Vec<Gold> = doc.gold;
        let pred = det.detect(&doc.text);
        let covered = |i: usize| pred.iter().any(|p| p.start <= i && i < p.end);
        let mut leaks = false;
        for g in &gold {
            let missed: Vec<usize> = (g.start..g.end)
                .filter(|&i| {
                    doc.text.is_char_boundary(i)
                        && !doc.text[i..].starts_with(char::is_whitespace)
                        && !covered(i)
                })
                .collect();
            if !missed.is_empty() {
                leaks = true;
                if show {
                    println!(
                        "{} {:?} missed {}: {:?} in {:?}",
                        doc.id,
                        g.entity,
                        missed.len(),
                        &doc.text[g.start..g.end],
                        context(&doc.text, g.start, g.end)
                    );
                }
            }
        }
        if show {
            for p in &pred {
                if !gold.iter().any(|g| g.start < p.end && p.start < g.end) {
                    println!(
                        "{} false {:?}: {:?} in {:?}",
                        doc.id,
                        p.entity,
                        &doc.text[p.start..p.end],
                        context(&doc.text, p.start, p.end)
                    );
                }
            }
        }
        docs_with_pii += usize::from(!gold.is_empty());
        docs_leaking += usize::from(leaks);
        sc.add(&doc.text, &gold, &pred);
    }
    println!("{}", sc.to_markdown());
    println!(
        "{part}: PII characters left unmasked {:.2}%, other characters masked {:.2}%, documents with PII that leak ≥ 1 PII character {docs_leaking}/{docs_with_pii} ({:.0}%)",
        100.0 * sc.pii_unmasked_rate(),
        100.0 * sc.non_pii_masked_rate(),
        100.0 * docs_leaking as f64 / docs_with_pii.max(1) as f64
    );
}
