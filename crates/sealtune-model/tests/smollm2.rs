//! SmolLM2-135M-Instruct, imported from its GGUF file, against transformers' computation from
//! the same file (reference values from `scripts/make-llama-fixtures.py --smollm2`).
//! `#[ignore]`d, so a fresh clone lists them as ignored: they need
//! `models/smollm2-135m-instruct` (`scripts/fetch-smollm2.sh`); `cargo test --
//! --include-ignored` runs them.

use std::path::PathBuf;

use sealtune_model::model::read_f32;
use sealtune_model::tokenizer::Tokenizer;
use sealtune_model::{Batch, Llama, SamplingConfig, generate};
use serde::Deserialize;

#[derive(Deserialize)]
struct Prompt {
    text: String,
    ids: Vec<u32>,
    top1: Vec<u32>,
    last_top_ids: Vec<usize>,
    last_top_logits: Vec<f32>,
    greedy32: Vec<u32>,
}

#[derive(Deserialize)]
struct Text {
    text: String,
    ids: Vec<u32>,
}

#[derive(Deserialize)]
struct Reference {
    prompts: Vec<Prompt>,
    texts: Vec<Text>,
}

/// Largest logit difference we accept: both sides dequantise the same GGUF blocks to f32,
/// so the remaining difference is f32 summation order over 30 layers.
const LOGIT_TOL: f32 = 5e-4;

fn setup() -> (PathBuf, Reference) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("../../models/smollm2-135m-instruct");
    assert!(
        dir.join("model.safetensors").exists(),
        "{} is absent; run scripts/fetch-smollm2.sh",
        dir.display()
    );
    let text = std::fs::read_to_string(root.join("tests/fixtures/smollm2_reference.json")).unwrap();
    (dir, serde_json::from_str(&text).unwrap())
}

#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn tokenizer_matches_transformers_and_round_trips() {
    let (dir, reference) = setup();
    let tok = Tokenizer::from_dir(&dir).unwrap();
    for t in &reference.texts {
        let ids = tok.encode(&t.text, false).unwrap();
        assert_eq!(ids, t.ids, "ids differ for {:?}", t.text);
        assert_eq!(
            tok.decode(&ids, false).unwrap(),
            t.text,
            "round trip of {:?}",
            t.text
        );
    }
    for p in &reference.prompts {
        assert_eq!(
            tok.encode(&p.text, false).unwrap(),
            p.ids,
            "prompt {:?}",
            p.text
        );
    }
    let special = tok.special_tokens();
    assert_eq!(
        (special.bos, special.eos, special.eot, special.pad),
        (Some(1), Some(2), Some(2), Some(2))
    );
}

#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn chat_rendering_matches_whole_string_encoding() {
    use sealtune_model::tokenizer::{Message, Role};
    let (dir, _) = setup();
    let tok = Tokenizer::from_dir(&dir).unwrap();
    let chat = [
        Message {
            role: Role::User,
            content: "What is 2 + 2?".into(),
        },
        Message {
            role: Role::Assistant,
            content: " It is 4.\n\nAnything else?".into(),
        },
        Message {
            role: Role::User,
            content: "no  thanks".into(),
        },
    ];
    let r = tok.render_chat(&chat, true).unwrap();
    let text: String = tok
        .render_chat_text(&chat, true)
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert!(text.starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"));
    assert_eq!(r.ids, tok.encode(&text, false).unwrap());
    let assistant: Vec<u32> = r
        .ids
        .iter()
        .zip(&r.assistant_mask)
        .filter(|(_, m)| **m)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(
        tok.decode(&assistant, false).unwrap(),
        " It is 4.\n\nAnything else?<|im_end|>"
    );
}

#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn logits_and_greedy_continuations_match_transformers() {
    let (dir, reference) = setup();
    // Every device this build has: flex, and LibTorch's CPU kernels in a libtorch build.
    let mut choices = vec![sealtune_model::DeviceChoice::Cpu];
    if sealtune_model::device::LIBTORCH_BUILD {
        choices.push(sealtune_model::DeviceChoice::LibtorchCpu);
    }
    for choice in choices {
        let compute = choice.resolve("test").unwrap();
        let model = Llama::load_dir(&dir, compute.device()).unwrap();
        logits_and_greedy_on(&model, &reference, &choice.to_string());
    }
}

/// The logits of one sequence, every position, row-major `[n, vocab]`.
fn logits_of(model: &Llama, ids: &[u32]) -> Vec<f32> {
    let batch = Batch::padded(&[ids.to_vec()], 0);
    read_f32(model.forward(&batch, None).unwrap()).unwrap()
}

fn argmax(row: &[f32]) -> usize {
    (0..row.len())
        .max_by(|&a, &b| row[a].total_cmp(&row[b]))
        .unwrap()
}

fn logits_and_greedy_on(model: &Llama, reference: &Reference, device: &str) {
    let v = model.config().vocab_size;
    let mut worst = 0f32;
    for p in &reference.prompts {
        let logits = logits_of(model, &p.ids);
        let n = p.ids.len();
        for t in 0..n {
            let top = argmax(&logits[t * v..(t + 1) * v]);
            assert_eq!(
                top as u32, p.top1[t],
                "{device}: {:?}: top-1 differs at position {t}",
                p.text
            );
        }
        let last = &logits[(n - 1) * v..];
        for (&id, &want) in p.last_top_ids.iter().zip(&p.last_top_logits) {
            worst = worst.max((last[id] - want).abs());
        }
        // transformers stops at the model's EOS, so do we.
        let cfg = SamplingConfig {
            max_new_tokens: 32,
            stop_tokens: model.config().eos_token_ids.clone(),
            ..SamplingConfig::default()
        };
        let g = generate(model, &p.ids, &cfg).unwrap();
        assert_eq!(
            g.tokens, p.greedy32,
            "{device}: {:?}: greedy continuation differs",
            p.text
        );
    }
    eprintln!("SmolLM2 on {device}: max abs logit difference (top-64 at last position): {worst:e}");
    assert!(worst <= LOGIT_TOL, "max abs logit difference {worst}");
}

#[cfg(feature = "libtorch")]
#[derive(Deserialize)]
struct Bf16Prompt {
    text: String,
    ids: Vec<u32>,
    top1: Vec<u32>,
    top1_margin: Vec<f32>,
    last_top_ids: Vec<usize>,
    last_f32: Vec<f32>,
    last_bf16: Vec<f32>,
    greedy: Vec<u32>,
    greedy_margin: Vec<f32>,
}

#[cfg(feature = "libtorch")]
#[derive(Deserialize)]
struct Bf16Reference {
    prompts: Vec<Bf16Prompt>,
}

/// A margin below which bf16's rounding may reorder the top two entries (bf16 logits of
/// SmolLM2 are multiples of 0.0625–0.125 where they matter): positions and greedy steps
/// whose reference top-1 leads by less are not compared.
#[cfg(feature = "libtorch")]
const BF16_CLEAR_MARGIN: f32 = 0.5;

/// SmolLM2 computing in bf16 on LibTorch's CPU against transformers in bf16 on the same
/// weights (`scripts/make-llama-fixtures.py --smollm2-bf16`). bf16 moves transformers' own
/// logits by `d_hf = max |bf16 − f32|` (0.15–0.55 over these prompts, one to four bf16
/// rounding steps of logits near 20); two bf16 computations that round in different places
/// (their matrix products accumulate in different orders) may each be that far from
/// float32, so over all prompts ours must be within `2·max d_hf` of transformers' bf16
/// logits and of its float32 ones, and within `3·d_hf` on each prompt. Top-1 at every
/// position and the greedy continuation must agree wherever transformers' bf16 top-1 leads
/// by at least [`BF16_CLEAR_MARGIN`].
#[cfg(feature = "libtorch")]
#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn bf16_logits_and_greedy_continuations_match_transformers_in_bf16() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (dir, _) = setup();
    let text =
        std::fs::read_to_string(root.join("tests/fixtures/smollm2_bf16_reference.json")).unwrap();
    let reference: Bf16Reference = serde_json::from_str(&text).unwrap();
    let compute = sealtune_model::ComputeSection {
        device: sealtune_model::DeviceChoice::LibtorchCpu,
        dtype: "bf16".parse().unwrap(),
    }
    .resolve("test", "test")
    .unwrap();
    let model = Llama::load_dir_as(&dir, compute.device(), compute.precision()).unwrap();
    assert_eq!(model.precision(), sealtune_model::Precision::Bf16);
    let v = model.config().vocab_size;
    let (mut compared_positions, mut compared_steps) = (0, 0);
    let (mut worst_hf, mut worst_ours) = (0f32, 0f32);
    for p in &reference.prompts {
        let logits = logits_of(&model, &p.ids);
        let n = p.ids.len();
        for t in 0..n {
            if p.top1_margin[t] < BF16_CLEAR_MARGIN {
                continue;
            }
            let top = argmax(&logits[t * v..(t + 1) * v]);
            assert_eq!(top as u32, p.top1[t], "{:?}: top-1 differs at {t}", p.text);
            compared_positions += 1;
        }
        let last = &logits[(n - 1) * v..];
        let max_diff = |want: &[f32], got: &dyn Fn(usize) -> f32| {
            p.last_top_ids
                .iter()
                .zip(want)
                .map(|(&id, &w)| (got(id) - w).abs())
                .fold(0f32, f32::max)
        };
        let d_hf = max_diff(&p.last_f32, &|id| {
            p.last_bf16[p.last_top_ids.iter().position(|&i| i == id).unwrap()]
        });
        let d_ours_bf16 = max_diff(&p.last_bf16, &|id| last[id]);
        let d_ours_f32 = max_diff(&p.last_f32, &|id| last[id]);
        eprintln!(
            "{:?}: |ours − transformers bf16| {d_ours_bf16:.3}, |ours − transformers f32| {d_ours_f32:.3}, |transformers bf16 − f32| {d_hf:.3}",
            p.text
        );
        worst_hf = worst_hf.max(d_hf);
        worst_ours = worst_ours.max(d_ours_bf16).max(d_ours_f32);
        assert!(
            d_ours_bf16.max(d_ours_f32) <= 3.0 * d_hf,
            "{:?}: {d_ours_bf16}, {d_ours_f32} > 3·{d_hf}",
            p.text
        );
        let steps = p
            .greedy_margin
            .iter()
            .take_while(|&&m| m >= BF16_CLEAR_MARGIN)
            .count();
        let cfg = SamplingConfig {
            max_new_tokens: steps,
            stop_tokens: model.config().eos_token_ids.clone(),
            ..SamplingConfig::default()
        };
        if steps > 0 {
            let g = generate(&model, &p.ids, &cfg).unwrap();
            assert_eq!(
                g.tokens,
                p.greedy[..steps],
                "{:?}: greedy continuation differs",
                p.text
            );
            compared_steps += steps;
        }
    }
    eprintln!("bf16: {compared_positions} positions and {compared_steps} greedy steps compared");
    assert!(compared_positions >= 20 && compared_steps >= 4);
    assert!(
        worst_ours <= 2.0 * worst_hf,
        "ours {worst_ours} > 2·{worst_hf} over all prompts"
    );
}
