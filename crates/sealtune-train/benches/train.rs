//! LoRA training throughput on a real model (CPU), for the side-by-side comparison with
//! PyTorch + HF PEFT in `scripts/bench-train.sh`.
//!
//! ```text
//! cargo bench -p sealtune-train --bench train -- MODEL_DIR [--seq 512] [--steps 3] [--rank 16] [--device cpu]
//! cargo bench -p sealtune-train --bench train -- --shape llama-3.2-1b [--seq ...]
//! ```
//!
//! `--shape` builds a published shape (`llama-3.2-1b`, `llama-3.1-8b`, `tiny`) with random
//! weights on the device instead of loading a model directory: throughput does not
//! depend on the weight values. `--shape NAME --print-config` prints the shape as a HF
//! `config.json` (for `scripts/bench-train-peft.py --config`). `--init host` draws the
//! random weights on the host, the same for every device, and `--dropout 0` removes the
//! device's dropout noise: together they make loss curves comparable across devices.
//!
//! `--attention decomposed` computes attention from burn's composed operations (which keep
//! every layer's probabilities for the backward pass) instead of the fused operation the
//! stages use (`--attention fused`, the default), for a before/after in one binary.
//!
//! `--cross-entropy full` computes the loss from the logits of every position (burn's
//! log-softmax and gather) instead of the blocked operation the stages use
//! (`--cross-entropy blocked`, the default).
//!
//! `--checkpointing` trains with activation checkpointing (`[train]
//! activation_checkpointing`): each layer's intermediates are recomputed in the backward
//! pass instead of kept.
//!
//! `--check-kernels [--device D]` compares the fused attention with the decomposed one and
//! the blocked cross-entropy with the full one on the device (outputs and gradients,
//! relative error, tolerance 1e-4) and exits 1 past it.
//!
//! `MODEL_DIR --print-logits [--seq N]` prints the logits of the bench's token sequence at
//! every position (JSON) instead of training.
//!
//! `--device` takes the values of `[compute] device` and `--dtype` those of `[compute]
//! dtype` (`auto`: bf16 on CUDA, f32 elsewhere); LibTorch devices and bf16 need
//! `--features libtorch` (scripts/bench-train.sh builds it). With `--check-kernels` on a
//! LibTorch device, both kernels are also checked in bf16 (tolerance 3e-2, a few bf16
//! rounding steps).
//!
//! Trains rank-r LoRA (alpha 2r, dropout 0.05) on all seven projections with AdamW on one
//! sequence of `seq` token ids (`(i * 7919 + 13) % vocab`, every position counted in the
//! loss) — the batch `scripts/bench-train-peft.py` uses. One warm-up step, then `steps`
//! timed steps. Prints one JSON line: tokens/s, the time split between forward+loss,
//! backward and the optimiser, and peak RSS.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use burn::prelude::Tensor;

use sealtune_model::config::{PUBLISHED_SHAPES, published_shape};
use sealtune_model::{
    AttentionKind, ComputeSection, CrossEntropyKind, DeviceChoice, DtypeChoice, Llama, LoraConfig,
    Precision,
};
use sealtune_train::collate::{Example, Origin, micro_batch};
use sealtune_train::config::OptimConfig;
use sealtune_train::optim::AdamW;
use sealtune_train::trainer::Trainer;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value_of = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    let shape = value_of("--shape");
    if args.iter().any(|a| a == "--check-kernels") {
        // The fused attention against the decomposed one on this device: output and the
        // gradients of q, k and v on packed and padded rows; the blocked cross-entropy
        // against the full one: loss and the hidden states' gradient (scripts/gpu-check.sh).
        let choice: DeviceChoice = value_of("--device").unwrap_or("cpu").parse()?;
        let compute = choice.resolve("--device")?;
        // Float32 on both sides differs by summation order (tolerance 1e-4); in bf16 the
        // fused kernels accumulate in float32 while the references round intermediates
        // to bf16 (tolerance 3e-2, a few bf16 rounding steps of 2^-8).
        let precisions: &[Precision] = if compute.kind() == "cpu" {
            &[Precision::F32]
        } else {
            &[Precision::F32, Precision::Bf16]
        };
        let tolerance = |p: Precision| if p == Precision::F32 { 1e-4 } else { 3e-2 };
        let mut failed = Vec::new();
        for &precision in precisions {
            for (shape, seed) in [([2, 4, 128, 64], 1u64), ([2, 8, 512, 64], 2)] {
                let c = sealtune_model::attention::compare_with_decomposed(
                    compute.device(),
                    shape,
                    seed,
                    precision,
                );
                if c.worst() > tolerance(precision) {
                    failed.push(format!("attention {shape:?} {precision}: {:e}", c.worst()));
                }
                println!(
                    "{}",
                    serde_json::json!({
                        "check": "attention", "device": compute.to_string(), "shape": shape,
                        "dtype": precision.as_str(),
                        "output": c.output, "inference": c.inference, "dq": c.dq, "dk": c.dk, "dv": c.dv,
                    })
                );
            }
            for (shape, seed) in [([257, 64, 1000], 3u64), ([64, 576, 49_152], 4)] {
                let c = sealtune_model::cross_entropy::compare_with_full(
                    compute.device(),
                    shape,
                    seed,
                    precision,
                );
                if c.worst() > tolerance(precision) {
                    failed.push(format!(
                        "cross-entropy {shape:?} {precision}: {:e}",
                        c.worst()
                    ));
                }
                println!(
                    "{}",
                    serde_json::json!({
                        "check": "cross-entropy", "device": compute.to_string(), "shape": shape,
                        "dtype": precision.as_str(),
                        "loss": c.loss, "inference": c.inference, "dhidden": c.dhidden,
                    })
                );
            }
        }
        if !failed.is_empty() {
            eprintln!(
                "a fused kernel differs from its reference past the tolerance (1e-4 in f32, 3e-2 in bf16): {}",
                failed.join("; ")
            );
            std::process::exit(1);
        }
        return Ok(());
    }
    if args.iter().any(|a| a == "--print-config") {
        // The shape as a HF config.json, so the PyTorch side builds the same model.
        let hf = shape.and_then(sealtune_model::config::published_shape_hf);
        let Some(hf) = hf else {
            eprintln!(
                "--print-config needs --shape {}",
                PUBLISHED_SHAPES.join("|")
            );
            std::process::exit(64);
        };
        println!("{}", serde_json::to_string(&hf)?);
        return Ok(());
    }
    let dir = args
        .iter()
        .enumerate()
        .find(|(i, a)| {
            !a.starts_with("--")
                && !a.chars().all(|c| c.is_ascii_digit())
                && (*i == 0
                    || !matches!(
                        args[*i - 1].as_str(),
                        "--device"
                            | "--dtype"
                            | "--shape"
                            | "--init"
                            | "--dropout"
                            | "--attention"
                            | "--cross-entropy"
                    ))
        })
        .map(|(_, a)| PathBuf::from(a));
    if dir.is_none() == shape.is_none() {
        eprintln!(
            "usage: cargo bench -p sealtune-train --bench train -- (MODEL_DIR | --shape {}) [--seq N] [--steps N] [--rank N] [--device D]",
            PUBLISHED_SHAPES.join("|")
        );
        std::process::exit(64);
    }
    let seq = arg(&args, "--seq", 512);
    let steps = arg(&args, "--steps", 3);
    let rank = arg(&args, "--rank", 16);
    let compute = ComputeSection {
        device: value_of("--device").unwrap_or("cpu").parse()?,
        dtype: value_of("--dtype")
            .unwrap_or("auto")
            .parse::<DtypeChoice>()?,
    }
    .resolve("--device", "--dtype")?;

    let t = Instant::now();
    let model = match (&dir, shape) {
        (Some(dir), _) => Llama::load_dir_as(dir, compute.device(), compute.precision())?,
        (None, Some(name)) => {
            let Some(config) = published_shape(name) else {
                eprintln!(
                    "--shape {name}: expected one of {}",
                    PUBLISHED_SHAPES.join(", ")
                );
                std::process::exit(64);
            };
            Llama::random(
                config,
                compute.device(),
                compute.precision(),
                1,
                value_of("--init") == Some("host"),
            )?
        }
        (None, None) => unreachable!("checked above"),
    };
    let load_s = t.elapsed().as_secs_f64();
    if args.iter().any(|a| a == "--print-logits") {
        // The logits of the bench's token sequence (`--seq` tokens), every position, for
        // a comparison with transformers on the same weights (scripts/gpu-check.sh).
        let vocab = model.config().vocab_size;
        let ids: Vec<u32> = (0..seq).map(|i| ((i * 7919 + 13) % vocab) as u32).collect();
        let batch = sealtune_model::Batch::padded(std::slice::from_ref(&ids), 0);
        let logits = sealtune_model::model::read_f32(model.forward(&batch, None)?)?;
        println!(
            "{}",
            serde_json::json!({
                "device": compute.to_string(), "dtype": compute.dtype(), "vocab": vocab,
                "ids": ids, "logits": logits,
            })
        );
        return Ok(());
    }
    let attention_name = value_of("--attention").unwrap_or("fused");
    let attention = match attention_name {
        "fused" => AttentionKind::Fused,
        "fused-whole" => AttentionKind::FusedWhole,
        "decomposed" => AttentionKind::Decomposed,
        other => {
            eprintln!("--attention {other}: expected fused, fused-whole or decomposed");
            std::process::exit(64);
        }
    };
    let cross_entropy = match value_of("--cross-entropy").unwrap_or("blocked") {
        "blocked" => CrossEntropyKind::Blocked,
        "full" => CrossEntropyKind::Full,
        other => {
            eprintln!("--cross-entropy {other}: expected blocked or full");
            std::process::exit(64);
        }
    };
    let mut model = model;
    model.set_attention(attention);
    model.set_cross_entropy(cross_entropy);
    let vocab = model.config().vocab_size as u32;
    let lora = LoraConfig {
        rank,
        alpha: 2.0 * rank as f64,
        dropout: value_of("--dropout")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.05),
        ..LoraConfig::default()
    };
    let mut trainer = Trainer::new(model, &lora)?;
    let checkpointing = args.iter().any(|a| a == "--checkpointing");
    trainer.set_activation_checkpointing(checkpointing);
    let ids: Vec<u32> = (0..seq as u32).map(|i| (i * 7919 + 13) % vocab).collect();
    let ex = vec![Example {
        target: (0..seq).map(|i| i > 0).collect(),
        ids,
        origin: Origin::Record(1),
    }];
    let mb = vec![micro_batch(&ex, &[vec![0]], trainer.pad_id())];
    let cfg = OptimConfig {
        learning_rate: 1e-4,
        ..OptimConfig::default()
    };

    trainer.step(&mb, &cfg, 1e-4, 0)?; // warm-up
    let mut step_s = Vec::new();
    let mut losses = Vec::new();
    for s in 0..steps {
        let t = Instant::now();
        let stats = trainer.step(&mb, &cfg, 1e-4, s as u64 + 1)?;
        step_s.push(t.elapsed().as_secs_f64());
        losses.push(stats.loss);
    }
    let mean_step = step_s.iter().sum::<f64>() / steps as f64;

    // Where the time goes: forward + loss alone (no autodiff), and the optimiser update
    // alone on buffers of the same size; backward is the rest.
    let t = Instant::now();
    for _ in 0..steps {
        trainer.eval_loss(&mb)?;
    }
    let forward_s = t.elapsed().as_secs_f64() / steps as f64;
    // The update on the device, on as many values as the adapter has, waited for by
    // reading one value back.
    let device = trainer.model().device().clone();
    let n = trainer.trainable_parameters();
    let grads = Tensor::<1>::ones([n], &device);
    let mut params = grads.clone();
    let mut opt = AdamW::new(n, &device);
    let t = Instant::now();
    for _ in 0..steps {
        opt.update(&mut params, &grads, &cfg, 1e-4);
    }
    sealtune_model::model::read_f32(params.sum())?;
    let optim_s = t.elapsed().as_secs_f64() / steps as f64;

    let rss = sealtune_pipeline::proc::peak_rss_kib().map_or(0.0, |k| k as f64 / 1024.0);
    println!(
        "{}",
        serde_json::json!({
            "impl": "sealtune",
            "device": compute.to_string(),
            "dtype": compute.dtype(),
            "attention": attention_name,
            "cross_entropy": format!("{cross_entropy:?}").to_lowercase(),
            "checkpointing": checkpointing,
            "model": shape.map_or_else(|| dir.as_ref().map(|d| d.display().to_string()), |s| Some(s.to_string())),
            "seq": seq,
            "rank": rank,
            "steps": steps,
            "threads": std::thread::available_parallelism().map_or(1, usize::from),
            "load_s": load_s,
            "step_s": mean_step,
            "tokens_per_s": seq as f64 / mean_step,
            "forward_loss_s": forward_s,
            "optimizer_s": optim_s,
            "backward_s": (mean_step - forward_s - optim_s).max(0.0),
            "trainable_parameters": trainer.trainable_parameters(),
            "losses": losses,
            "peak_rss_mib": rss,
        })
    );
    Ok(())
}
