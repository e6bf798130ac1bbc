//! Logits of tiny random Llama checkpoints against transformers' golden values
//! (made by scripts/make-llama-fixtures.py).

use std::path::PathBuf;

use burn::prelude::*;
use sealtune_model::model::read_f32;
use sealtune_model::{Batch, KvCache, Llama, Precision};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    seqs: Vec<Vec<u32>>,
    padded_logits: Vec<Vec<f32>>,
    single_logits: Vec<Vec<f32>>,
    packed: Vec<Vec<Vec<u32>>>,
    packed_logits: Vec<Vec<f32>>,
    vocab_size: usize,
}

const TOL: f32 = 1e-4;

/// Every device this build computes on: flex always, LibTorch's CPU with the `libtorch`
/// feature. Each golden check runs on each of them against the same transformers values.
fn devices() -> Vec<Device> {
    use sealtune_model::DeviceChoice;
    let mut v = vec![DeviceChoice::Cpu];
    if sealtune_model::device::LIBTORCH_BUILD {
        v.push(DeviceChoice::LibtorchCpu);
    }
    v.into_iter()
        .map(|c| c.resolve("test").unwrap().device().clone())
        .collect()
}

fn fixture_on(name: &str, device: &Device) -> (Llama, Golden) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let model = Llama::load_dir(&dir, device).expect("fixture loads");
    let text = std::fs::read_to_string(dir.join("golden.json")).unwrap();
    (model, serde_json::from_str(&text).unwrap())
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Row `r`, first `n` positions of logits `[b, t, v]`.
fn row(all: &[f32], t: usize, v: usize, r: usize, n: usize) -> &[f32] {
    &all[r * t * v..r * t * v + n * v]
}

fn check_case(name: &str) {
    for device in devices() {
        check_case_on(name, &device);
    }
}

fn check_case_on(name: &str, device: &Device) {
    let (model, g) = fixture_on(name, device);
    let v = g.vocab_size;
    let batch = Batch::padded(&g.seqs, 0);
    let t = batch.tokens[0].len();
    let logits = read_f32(model.forward(&batch, None).unwrap()).unwrap();
    for (r, s) in g.seqs.iter().enumerate() {
        let d = max_diff(row(&logits, t, v, r, s.len()), &g.padded_logits[r]);
        assert!(d <= TOL, "{name}: padded row {r}: max abs diff {d}");
        let d = max_diff(row(&logits, t, v, r, s.len()), &g.single_logits[r]);
        assert!(
            d <= TOL,
            "{name}: padded row {r} vs alone: max abs diff {d}"
        );
    }
    let packed = Batch::packed(&g.packed, 0);
    let t = packed.tokens[0].len();
    let logits = read_f32(model.forward(&packed, None).unwrap()).unwrap();
    for (r, ex) in g.packed.iter().enumerate() {
        let n: usize = ex.iter().map(Vec::len).sum();
        let d = max_diff(row(&logits, t, v, r, n), &g.packed_logits[r]);
        assert!(d <= TOL, "{name}: packed row {r}: max abs diff {d}");
    }
}

#[test]
fn gqa_llama3_untied_matches_transformers() {
    check_case("gqa_llama3_untied");
}

#[test]
fn tied_headdim_bf16_matches_transformers() {
    check_case("tied_headdim_bf16");
}

#[test]
fn kv_cache_equals_full_forward() {
    for device in devices() {
        kv_cache_equals_full_forward_on(&device);
    }
}

fn kv_cache_equals_full_forward_on(device: &Device) {
    let (model, g) = fixture_on("gqa_llama3_untied", device);
    let seq = &g.seqs[0];
    let v = g.vocab_size;
    let mut cache = KvCache::new(&model);
    // Prefill 5 tokens, then decode one at a time.
    let mut got = read_f32(
        model
            .forward(&Batch::padded(&[seq[..5].to_vec()], 0), Some(&mut cache))
            .unwrap(),
    )
    .unwrap();
    for (i, &tok) in seq.iter().enumerate().skip(5) {
        let step = Batch {
            tokens: vec![vec![tok]],
            positions: vec![vec![i as u32]],
            segments: vec![vec![1]],
        };
        got.extend(read_f32(model.forward(&step, Some(&mut cache)).unwrap()).unwrap());
    }
    assert_eq!(cache.len(), seq.len());
    let d = max_diff(&got, &g.single_logits[0]);
    assert!(d <= TOL, "cache vs golden: {d}");
    assert_eq!(got.len(), seq.len() * v);
}

#[test]
fn score_matches_log_softmax_of_golden() {
    for device in devices() {
        score_matches_log_softmax_of_golden_on(&device);
    }
}

fn score_matches_log_softmax_of_golden_on(device: &Device) {
    let (model, g) = fixture_on("gqa_llama3_untied", device);
    let v = g.vocab_size;
    let scores = model.score(&g.seqs, true).unwrap();
    for (s, (seq, logits)) in scores.iter().zip(g.seqs.iter().zip(&g.single_logits)) {
        assert_eq!(s.token_logprobs.len(), seq.len() - 1);
        for t in 0..seq.len() - 1 {
            let l = &logits[t * v..(t + 1) * v];
            let m = l.iter().copied().fold(f32::MIN, f32::max);
            let lse = m + l.iter().map(|x| (x - m).exp()).sum::<f32>().ln();
            let want = l[seq[t + 1] as usize] - lse;
            assert!((s.token_logprobs[t] - want).abs() < 1e-4);
            let mean: f32 = l.iter().map(|x| (x - lse).exp() * (x - lse)).sum();
            let var: f32 = l
                .iter()
                .map(|x| (x - lse).exp() * (x - lse - mean).powi(2))
                .sum();
            assert!((s.expected_logprob.as_ref().unwrap()[t] - mean).abs() < 1e-4);
            assert!((s.logprob_variance.as_ref().unwrap()[t] - var).abs() < 1e-3);
        }
    }
}

#[test]
fn extra_missing_and_misshaped_tensors_are_named() {
    use sealtune_model::safetensors::{Checkpoint, OwnedTensor, write_safetensors};
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gqa_llama3_untied");
    let mut ck = Checkpoint::open_dir(&src).unwrap();
    let names: Vec<String> = ck.names().cloned().collect();
    let mut tensors = Vec::new();
    for n in &names {
        let shape = ck.shape(n).unwrap().to_vec();
        let data = ck.read(n, &shape).unwrap();
        tensors.push(OwnedTensor {
            name: n.clone(),
            shape,
            data,
        });
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(src.join("config.json"), tmp.path().join("config.json")).unwrap();
    let load = |ts: &[OwnedTensor]| {
        write_safetensors(&tmp.path().join("model.safetensors"), ts).unwrap();
        Llama::load_dir(tmp.path(), &Device::flex())
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let mut extra = tensors.clone();
    extra.push(OwnedTensor {
        name: "model.layers.2.mlp.up_proj.weight".into(),
        shape: vec![1],
        data: vec![0.0],
    });
    assert!(load(&extra).contains("model.layers.2.mlp.up_proj.weight"));
    let missing: Vec<OwnedTensor> = tensors
        .iter()
        .filter(|t| t.name != "lm_head.weight")
        .cloned()
        .collect();
    let e = load(&missing);
    assert!(
        e.contains("lm_head.weight") && e.contains("tie_word_embeddings"),
        "{e}"
    );
    let mut bad = tensors.clone();
    let t = bad
        .iter_mut()
        .find(|t| t.name == "model.layers.1.self_attn.k_proj.weight")
        .unwrap();
    t.shape = vec![t.shape[1], t.shape[0]];
    let e = load(&bad);
    assert!(
        e.contains("model.layers.1.self_attn.k_proj.weight") && e.contains("shape"),
        "{e}"
    );
}

#[test]
fn generation_with_cache_equals_generation_without() {
    for device in devices() {
        generation_with_cache_equals_generation_without_on(&device);
    }
}

fn generation_with_cache_equals_generation_without_on(device: &Device) {
    use sealtune_model::{SamplingConfig, generate};
    let (model, _) = fixture_on("tied_headdim_bf16", device);
    for cfg in [
        SamplingConfig {
            max_new_tokens: 12,
            ..SamplingConfig::default()
        },
        SamplingConfig {
            max_new_tokens: 12,
            temperature: 0.9,
            top_k: Some(20),
            top_p: Some(0.95),
            seed: 42,
            ..SamplingConfig::default()
        },
    ] {
        let cached = generate(&model, &[1, 17, 5, 33], &cfg).unwrap();
        let uncached = generate(
            &model,
            &[1, 17, 5, 33],
            &SamplingConfig {
                use_cache: false,
                ..cfg.clone()
            },
        )
        .unwrap();
        assert_eq!(cached, uncached);
        assert_eq!(cached.tokens.len(), 12);
    }
    let stop = SamplingConfig {
        max_new_tokens: 12,
        ..SamplingConfig::default()
    };
    let first = generate(&model, &[1, 17, 5, 33], &stop).unwrap().tokens[2];
    let stopped = generate(
        &model,
        &[1, 17, 5, 33],
        &SamplingConfig {
            stop_tokens: vec![first],
            ..stop
        },
    )
    .unwrap();
    assert_eq!(stopped.stop, sealtune_model::StopReason::StopToken);
    assert_eq!(*stopped.tokens.last().unwrap(), first);
    assert!(stopped.tokens.len() <= 3);
}

#[test]
fn published_shapes_build_with_random_weights() {
    use sealtune_model::config::{PUBLISHED_SHAPES, published_shape};
    for name in PUBLISHED_SHAPES {
        let c = published_shape(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(c.head_dim * c.num_heads, c.hidden_size, "{name}");
    }
    let c = published_shape("llama-3.1-8b").unwrap();
    assert_eq!(
        (c.num_layers, c.num_kv_heads, c.vocab_size),
        (32, 8, 128_256)
    );
    assert!(published_shape("gpt-2").is_none());
    let mut host_logprobs = Vec::new();
    for device in devices() {
        let m = Llama::random(
            published_shape("tiny").unwrap(),
            &device,
            Precision::F32,
            7,
            false,
        )
        .unwrap();
        let scores = m.score(&[vec![5, 17, 300, 4000, 2]], false).unwrap();
        // Random weights at std 0.02 give a near-uniform next-token distribution.
        let uniform = -(4096f32).ln();
        for lp in &scores[0].token_logprobs {
            assert!((lp - uniform).abs() < 1.0, "{lp} vs {uniform}");
        }
        let again = Llama::random(
            published_shape("tiny").unwrap(),
            &device,
            Precision::F32,
            7,
            false,
        )
        .unwrap();
        let b = again.score(&[vec![5, 17, 300, 4000, 2]], false).unwrap();
        assert_eq!(scores[0].token_logprobs, b[0].token_logprobs, "seeded");
        // Drawn on the host: the same model on every device.
        let h = Llama::random(
            published_shape("tiny").unwrap(),
            &device,
            Precision::F32,
            7,
            true,
        )
        .unwrap();
        host_logprobs.push(
            h.score(&[vec![5, 17, 300, 4000, 2]], false).unwrap()[0]
                .token_logprobs
                .clone(),
        );
    }
    for other in &host_logprobs[1..] {
        for (a, b) in host_logprobs[0].iter().zip(other) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }
}
