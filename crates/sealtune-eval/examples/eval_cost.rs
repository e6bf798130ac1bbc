//! Measures what the `[eval]` defaults cost: runs every suite on a model directory with a
//! fresh LoRA adapter attached (so the fine-tuned side pays the adapter's cost), on chat
//! records from JSONL files (the last 10 % as non-members), with 4 inserted and 4
//! held-out canaries, and writes the timings and the report to stderr as JSON.
//!
//! ```text
//! cargo run -p sealtune-eval --example eval_cost -- models/smollm2-135m-instruct datasets/sample/*.jsonl
//! ```

use std::path::PathBuf;
use std::time::Instant;

use sealtune_data::canary::{CanarySet, Format};
use sealtune_eval::config::EvalConfig;
use sealtune_eval::leakage::{Pair, PiiContext};
use sealtune_eval::lm::Lm;
use sealtune_eval::report::Models;
use sealtune_eval::stage::{EvalData, evaluate, read_records};
use sealtune_model::tokenizer::Tokenizer;
use sealtune_model::{Device, Llama, LoraConfig};
use sealtune_pii::fingerprint::FingerprintSet;
use sealtune_pii::{Detector, MaskConfig, MaskKey};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((dir, files)) = args.split_first() else {
        return Err("usage: eval_cost MODEL_DIR RECORDS.jsonl...".into());
    };
    let dir = PathBuf::from(dir);
    let t0 = Instant::now();
    let base = Llama::load_dir(&dir, &Device::flex())?;
    let tok = Tokenizer::from_dir(&dir)?;
    let mut ft = base.clone();
    ft.add_lora(&LoraConfig::default())?;
    // As the stage does.
    ft.merge_lora();
    let cfg = EvalConfig::default();
    let base = Lm::new(base, tok.clone(), cfg.batch_size);
    let ft = Lm::new(ft, tok, cfg.batch_size);
    let mut records = Vec::new();
    for f in files {
        records.extend(read_records(&PathBuf::from(f))?);
    }
    let cut = records.len() - records.len() / 10;
    let eval = records.split_off(cut);
    let data = EvalData {
        train: records,
        eval,
        canaries: Some(CanarySet::generate(0, 4, 10, &Format::ALL)),
    };
    let detector = Detector::new(&MaskConfig::default())?;
    let key = MaskKey::new(zeroize::Zeroizing::new(vec![1u8; 32]))?;
    let mut originals = FingerprintSet::new();
    let pii = PiiContext {
        detector: &detector,
        key: &key,
        originals: &mut originals,
    };
    let load_s = t0.elapsed().as_secs_f64();
    let models = Models {
        base: dir.display().to_string(),
        finetuned: "base + fresh adapter".into(),
    };
    let pair = Pair {
        base: &base,
        finetuned: &ft,
    };
    let (report, timings, _) = evaluate(pair, &data, Some(pii), &cfg, models, false, &|| Ok(()))?;
    let summary = serde_json::json!({
        "load_s": load_s,
        "timings_s": timings,
        "total_s": t0.elapsed().as_secs_f64(),
        "metrics": report.metrics.iter().map(|m| serde_json::json!({
            "id": m.id, "base": m.base.value, "finetuned": m.finetuned.value,
            "n": m.finetuned.n, "evidence": m.evidence})).collect::<Vec<_>>(),
    });
    eprintln!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
