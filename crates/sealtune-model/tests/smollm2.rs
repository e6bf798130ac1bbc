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

fn logits_and_greedy_on(model: &Llama, reference: &Reference, device: &str) {
    let v = model.config().vocab_size;
    let mut worst = 0f32;
    for p in &reference.prompts {
        let logits = read_f32(
            model
                .forward(&Batch::padded(std::slice::from_ref(&p.ids), 0), None)
                .unwrap(),
        )
        .unwrap();
        let n = p.ids.len();
        for t in 0..n {
            let row = &logits[t * v..(t + 1) * v];
            let top = (0..v).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
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
