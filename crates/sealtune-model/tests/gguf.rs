//! GGUF import against gguf-py's dequantisation and transformers' own GGUF loading
//! (fixtures from scripts/make-llama-fixtures.py).

use sealtune_contract::ExitStatus as _;
use std::path::PathBuf;

use burn::prelude::*;
use sealtune_model::gguf::{GgmlType, dequantize};
use sealtune_model::model::read_f32;
use sealtune_model::tokenizer::Tokenizer;
use sealtune_model::{Batch, Llama, import_gguf};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vector {
    #[serde(rename = "type")]
    ty: String,
    bytes: String,
    values: Vec<f32>,
}

#[derive(Deserialize)]
struct Reference {
    dequant: Vec<Vector>,
    texts: Vec<String>,
    text_ids: Vec<Vec<u32>>,
    seq: Vec<u32>,
    logits: Vec<f32>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf_tiny")
}

fn reference() -> Reference {
    serde_json::from_str(&std::fs::read_to_string(dir().join("reference.json")).unwrap()).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn dequantisation_matches_gguf_py() {
    let r = reference();
    assert_eq!(r.dequant.len(), 7);
    for v in &r.dequant {
        let ty = match v.ty.as_str() {
            "Q4_0" => GgmlType::Q4_0,
            "Q4_1" => GgmlType::Q4_1,
            "Q5_0" => GgmlType::Q5_0,
            "Q5_1" => GgmlType::Q5_1,
            "Q8_0" => GgmlType::Q8_0,
            "Q4_K" => GgmlType::Q4K,
            "Q6_K" => GgmlType::Q6K,
            other => panic!("unexpected type {other}"),
        };
        let got = dequantize(ty, &unhex(&v.bytes));
        assert_eq!(got.len(), v.values.len(), "{}", v.ty);
        for (i, (g, w)) in got.iter().zip(&v.values).enumerate() {
            assert!(
                (g - w).abs() <= 1e-6 * w.abs().max(1.0),
                "{} value {i}: {g} vs {w}",
                v.ty
            );
        }
    }
}

#[test]
fn imported_model_and_tokenizer_match_transformers() {
    let r = reference();
    let out = tempfile::tempdir().unwrap();
    let summary = import_gguf(&dir().join("tiny.gguf"), out.path()).unwrap();
    assert_eq!(summary.tensors, 3 + 2 * 9);
    let model = Llama::load_dir(out.path(), &Device::flex()).unwrap();
    assert!(!model.config().tie_word_embeddings);
    let logits = read_f32(
        model
            .forward(&Batch::padded(std::slice::from_ref(&r.seq), 0), None)
            .unwrap(),
    )
    .unwrap();
    let d = logits
        .iter()
        .zip(&r.logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(d <= 1e-4, "max abs logit difference {d}");
    let tok = Tokenizer::from_dir(out.path()).unwrap();
    for (text, ids) in r.texts.iter().zip(&r.text_ids) {
        assert_eq!(&tok.encode(text, false).unwrap(), ids, "{text:?}");
        assert_eq!(&tok.decode(ids, false).unwrap(), text);
    }
    let special = tok.special_tokens();
    assert_eq!(special.eot, tok.token_to_id("<|im_end|>"));
}

#[test]
fn truncated_or_corrupt_files_are_errors() {
    let bytes = std::fs::read(dir().join("tiny.gguf")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("bad.gguf");
    for cut in [0, 3, 8, 24, 100, 1000, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let e = import_gguf(&p, &tmp.path().join("out")).unwrap_err();
        assert_eq!(e.exit().code(), 65, "cut at {cut}: {e}");
    }
    // Flip bytes across the header: never a panic.
    for at in (0..bytes.len().min(4096)).step_by(31) {
        let mut b = bytes.clone();
        b[at] ^= 0xa5;
        std::fs::write(&p, &b).unwrap();
        let _ = import_gguf(&p, &tmp.path().join("out2"));
    }
}

#[test]
fn chat_templates_render_and_mask_assistant_tokens() {
    use sealtune_model::tokenizer::{ChatTemplate, Message, Role};
    let out = tempfile::tempdir().unwrap();
    import_gguf(&dir().join("tiny.gguf"), out.path()).unwrap();
    let tok = Tokenizer::from_dir(out.path()).unwrap();
    assert_eq!(
        tok.template(),
        Some(&ChatTemplate::ChatMl {
            default_system: None
        })
    );
    let chat = [
        Message {
            role: Role::System,
            content: "Be brief.".into(),
        },
        Message {
            role: Role::User,
            content: "Hi the".into(),
        },
        Message {
            role: Role::Assistant,
            content: " the hat".into(),
        },
    ];
    let r = tok.render_chat(&chat, false).unwrap();
    let text: String = tok
        .render_chat_text(&chat, false)
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        text,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi the<|im_end|>\n<|im_start|>assistant\n the hat<|im_end|>\n"
    );
    assert_eq!(r.ids, tok.encode(&text, false).unwrap());
    let masked: Vec<u32> = r
        .ids
        .iter()
        .zip(&r.assistant_mask)
        .filter(|(_, m)| **m)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(tok.decode(&masked, false).unwrap(), " the hat<|im_end|>");
    let prompt = tok.render_chat_text(&chat[..2], true).unwrap();
    assert!(
        prompt
            .iter()
            .map(|(s, _)| s.as_str())
            .collect::<String>()
            .ends_with("<|im_start|>assistant\n")
    );

    // Llama 3.1 layout with its pinned date (text level: this toy vocabulary lacks the
    // Llama 3 special tokens).
    let llama = tok.with_template(ChatTemplate::Llama3 {
        date: "26 Jul 2024".into(),
    });
    let pieces = llama.render_chat_text(&chat, true).unwrap();
    let text: String = pieces.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        text,
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi the<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nthe hat<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    let assistant: String = pieces
        .iter()
        .filter(|(_, a)| *a)
        .map(|(s, _)| s.as_str())
        .collect();
    assert_eq!(assistant, "the hat<|eot_id|>");
}
