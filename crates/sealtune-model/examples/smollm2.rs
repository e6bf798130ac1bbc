//! End-to-end driver for the model crate (until the `sealtune` CLI wires these functions):
//!
//! ```text
//! cargo run --release -p sealtune-model --example smollm2 -- import FILE.gguf OUT_DIR
//! cargo run --release -p sealtune-model --example smollm2 -- generate DIR "prompt" [--chat] [--max N]
//! cargo run --release -p sealtune-model --example smollm2 -- bench DIR [TOKENS] [REPEATS]
//! cargo run --release -p sealtune-model --example smollm2 -- bench-lora DIR [TOKENS] [REPEATS]
//! cargo run --release -p sealtune-model --example smollm2 -- lora-demo MODEL_DIR OUT_DIR
//! ```
//!
//! `lora-demo` attaches a rank-4 adapter with random B to the model, writes it in PEFT layout
//! (`OUT_DIR/adapter`), the merged model (`OUT_DIR/merged`) and the logits of a fixed batch
//! with and without the adapter (`OUT_DIR/logits.json`) for `scripts/check-peft-compat.py`.
// A command-line tool: its output is the point.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::time::Instant;

use burn::prelude::Device;
use sealtune_model::tokenizer::Tokenizer;
use sealtune_model::{Llama, SamplingConfig, generate_text, import_gguf};

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let device = Device::flex();
    match args.first().map(String::as_str) {
        Some("import") if args.len() == 3 => {
            let t = Instant::now();
            let s = import_gguf(Path::new(&args[1]), Path::new(&args[2]))?;
            println!(
                "imported {} tensors ({} parameters, source types {:?}) in {:.2} s; peak RSS {:.0} MiB",
                s.tensors,
                s.parameters,
                s.source_types,
                t.elapsed().as_secs_f64(),
                peak_rss_mib().unwrap_or(0.0)
            );
        }
        Some("generate") if args.len() >= 3 => {
            let dir = Path::new(&args[1]);
            let chat = args.iter().any(|a| a == "--chat");
            let max = args
                .iter()
                .position(|a| a == "--max")
                .and_then(|i| args.get(i + 1))
                .map(|s| s.parse())
                .transpose()?
                .unwrap_or(64);
            let t = Instant::now();
            let model = Llama::load_dir(dir, &device)?;
            let tok = Tokenizer::from_dir(dir)?;
            eprintln!(
                "loaded in {:.2} s, peak RSS {:.0} MiB",
                t.elapsed().as_secs_f64(),
                peak_rss_mib().unwrap_or(0.0)
            );
            let cfg = SamplingConfig {
                max_new_tokens: max,
                ..SamplingConfig::default()
            };
            let t = Instant::now();
            let text = generate_text(&model, &tok, &args[2], chat, &cfg)?;
            println!("{text}");
            eprintln!("generated in {:.2} s", t.elapsed().as_secs_f64());
        }
        Some("bench") if args.len() >= 2 => {
            let dir = Path::new(&args[1]);
            let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(128);
            let reps: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(3);
            let t = Instant::now();
            let model = Llama::load_dir(dir, &device)?;
            let load_s = t.elapsed().as_secs_f64();
            let load_rss = peak_rss_mib().unwrap_or(0.0);
            let vocab = model.config().vocab_size as u32;
            let seq: Vec<u32> = (0..n as u32).map(|i| (i * 7919 + 13) % vocab).collect();
            let batch = sealtune_model::Batch::padded(&[seq], 0);
            // Warm-up.
            let _ = sealtune_model::model::read_f32(model.forward(&batch, None)?)?;
            let t = Instant::now();
            for _ in 0..reps {
                let _ = sealtune_model::model::read_f32(model.forward(&batch, None)?)?;
            }
            let secs = t.elapsed().as_secs_f64() / reps as f64;
            println!(
                "{{\"load_s\": {load_s:.3}, \"load_peak_rss_mib\": {load_rss:.0}, \"tokens\": {n}, \"forward_s\": {secs:.4}, \"tokens_per_s\": {:.1}, \"peak_rss_mib\": {:.0}}}",
                n as f64 / secs,
                peak_rss_mib().unwrap_or(0.0)
            );
        }
        Some("bench-lora") if args.len() >= 2 => {
            // Forward alone vs forward + backward with rank-16 adapters on all projections
            // (A and B tracked by autodiff, W frozen outside it).
            let dir = Path::new(&args[1]);
            let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(128);
            let reps: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(3);
            let mut model = Llama::load_dir(dir, &device)?;
            model.add_lora(&sealtune_model::LoraConfig {
                dropout: 0.0,
                ..Default::default()
            })?;
            let vocab = model.config().vocab_size as u32;
            let seq: Vec<u32> = (0..n as u32).map(|i| (i * 7919 + 13) % vocab).collect();
            let batch = sealtune_model::Batch::padded(&[seq], 0);
            let _ = sealtune_model::model::read_f32(model.forward(&batch, None)?)?;
            let t = Instant::now();
            for _ in 0..reps {
                let _ = sealtune_model::model::read_f32(model.forward(&batch, None)?)?;
            }
            let untracked = t.elapsed().as_secs_f64() / reps as f64;
            model.map_lora(|_, t| t.autodiff().require_grad());
            let step = |backward: bool| -> Result<f64, Box<dyn std::error::Error>> {
                let t = Instant::now();
                let logits = model.forward(&batch, None)?;
                if backward {
                    let grads = logits.mean().backward();
                    let (_, a) = &model.lora_tensors()[0];
                    let g = a.grad(&grads).ok_or("no gradient for lora_A")?;
                    let _ = sealtune_model::model::read_f32(g)?;
                } else {
                    let _ = sealtune_model::model::read_f32(logits.without_autodiff())?;
                }
                Ok(t.elapsed().as_secs_f64())
            };
            step(true)?;
            let fwd: f64 = (0..reps).map(|_| step(false)).sum::<Result<f64, _>>()? / reps as f64;
            let train: f64 = (0..reps).map(|_| step(true)).sum::<Result<f64, _>>()? / reps as f64;
            println!(
                "{{\"tokens\": {n}, \"untracked_lora_forward_s\": {untracked:.4}, \"lora_forward_s\": {fwd:.4}, \"lora_forward_backward_s\": {train:.4}, \"ratio\": {:.2}, \"train_tokens_per_s\": {:.1}, \"peak_rss_mib\": {:.0}}}",
                train / fwd,
                n as f64 / train,
                peak_rss_mib().unwrap_or(0.0)
            );
        }
        Some("lora-demo") if args.len() == 3 => {
            let dir = Path::new(&args[1]);
            let out = Path::new(&args[2]);
            let mut model = Llama::load_dir(dir, &device)?;
            let vocab = model.config().vocab_size as u32;
            let seqs: Vec<Vec<u32>> = (0..2u32)
                .map(|r| (0..12u32).map(|i| (r * 31 + i * 7 + 3) % vocab).collect())
                .collect();
            let batch = sealtune_model::Batch::padded(&seqs, 0);
            let base_logits = sealtune_model::model::read_f32(model.forward(&batch, None)?)?;
            let cfg = sealtune_model::LoraConfig {
                rank: 4,
                alpha: 8.0,
                dropout: 0.0,
                ..Default::default()
            };
            model.add_lora(&cfg)?;
            model.map_lora(|k, t| {
                if k.contains("lora_B") {
                    burn::Tensor::random(
                        t.dims(),
                        burn::tensor::Distribution::Normal(0.0, 0.05),
                        &t.device(),
                    )
                } else {
                    t
                }
            });
            let logits = sealtune_model::model::read_f32(model.forward(&batch, None)?)?;
            model.save_peft_adapter(&out.join("adapter"), &dir.display().to_string())?;
            model.save_merged(dir, &out.join("merged"))?;
            let json = serde_json::json!({
                "input_ids": seqs,
                "logits": logits,
                "base_logits": base_logits,
            });
            std::fs::write(out.join("logits.json"), serde_json::to_vec(&json)?)?;
            println!("wrote {}", out.display());
        }
        _ => {
            eprintln!(
                "usage: smollm2 import FILE.gguf OUT_DIR | generate DIR PROMPT [--chat] [--max N] | bench DIR [TOKENS] [REPEATS] | bench-lora DIR [TOKENS] [REPEATS] | lora-demo MODEL_DIR OUT_DIR"
            );
            std::process::exit(64);
        }
    }
    Ok(())
}
