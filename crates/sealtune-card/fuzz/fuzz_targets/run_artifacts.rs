//! Arbitrary bytes as one artifact of a run directory (chosen by the first
//! byte), then the whole card: facts, Markdown, HTML with plots, BOM. A
//! received run directory is untrusted input for `sealtune card`.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const FILES: [&str; 10] = [
    "ingest/report.json",
    "mask/report.json",
    "train/training.json",
    "train/metrics.jsonl",
    "train/canaries.json",
    "eval/report.json",
    "release/model.sig",
    "release/provenance.intoto.jsonl",
    "release/x.seal",
    "attestations/a.intoto.json",
];

fn run_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("temp dir").keep();
        for f in FILES {
            std::fs::create_dir_all(d.join(f).parent().expect("parent")).expect("mkdir");
        }
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let run = run_dir();
    for f in FILES {
        let _ = std::fs::remove_file(run.join(f));
    }
    let target = FILES[sel as usize % FILES.len()];
    if std::fs::write(run.join(target), body).is_err() {
        return;
    }
    let src = sealtune_card::Sources::for_run(run);
    if let Ok(facts) = sealtune_card::RunFacts::load(&src, sealtune_card::CardConfig::default()) {
        if let Ok(md) = sealtune_card::render_markdown(&facts) {
            let _ = sealtune_card::render_html(&facts, &md);
        }
        let _ = sealtune_card::render_bom(&facts);
    }
});
