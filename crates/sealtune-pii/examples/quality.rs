//! Prints detection quality on the generated corpus as a Markdown table.
//!
//! `cargo run --release -p sealtune-pii --example quality -- [DOCS] [SEED]`
use std::io::Write;

use sealtune_pii::corpus::{Scores, generate, generate_holdout};
use sealtune_pii::{Detector, MaskConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let mut det = Detector::new(&MaskConfig::default()).expect("detector");
    if std::env::var_os("NO_TAGGER").is_some() {
        // The name rules without the learned tagger.
        det = det.with_person_model(None);
    }
    let mut sc = Scores::default();
    let verbose = std::env::var_os("SHOW_ERRORS").is_some();
    let mut err = std::io::stderr();
    let holdout = std::env::var_os("HOLDOUT").is_some();
    let docs = if holdout {
        generate_holdout(seed, n)
    } else {
        generate(seed, n)
    };
    for d in docs {
        let pred = det.detect(&d.text);
        if verbose {
            for g in &d.gold {
                if !pred
                    .iter()
                    .any(|p| p.entity == g.entity && p.start < g.end && g.start < p.end)
                {
                    let lo = d.text.floor_char_boundary(g.start.saturating_sub(30));
                    let hi = d.text.ceil_char_boundary((g.end + 20).min(d.text.len()));
                    let _ = writeln!(
                        err,
                        "MISS {} {:?} in {:?}",
                        g.entity,
                        &d.text[g.start..g.end],
                        &d.text[lo..hi]
                    );
                }
            }
            for p in &pred {
                for g in &d.gold {
                    if p.entity == g.entity
                        && p.start < g.end
                        && g.start < p.end
                        && (p.start, p.end) != (g.start, g.end)
                    {
                        let _ = writeln!(
                            err,
                            "PARTIAL {} gold {:?} pred {:?}",
                            g.entity,
                            &d.text[g.start..g.end],
                            &d.text[p.start..p.end]
                        );
                    }
                }
                if !d
                    .gold
                    .iter()
                    .any(|g| p.entity == g.entity && p.start < g.end && g.start < p.end)
                {
                    let lo = d.text.floor_char_boundary(p.start.saturating_sub(30));
                    let hi = d.text.ceil_char_boundary((p.end + 20).min(d.text.len()));
                    let _ = writeln!(
                        err,
                        "FP {} {:?} in {:?}",
                        p.entity,
                        &d.text[p.start..p.end],
                        &d.text[lo..hi]
                    );
                }
            }
        }
        sc.add(&d.text, &d.gold, &pred);
    }
    let _ = writeln!(
        err,
        "{n} documents{}, seed {seed}\n\n{}",
        if holdout { " (hold-out templates)" } else { "" },
        sc.to_markdown()
    );
}
