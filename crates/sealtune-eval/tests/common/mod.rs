//! Test fixtures: the tiny GGUF Llama of the model crate imported into a HF directory, and
//! a LoRA adapter trained in the test (Adam on the adapter only) so that the fine-tuned
//! model really memorises chosen records.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::activation;
use sealtune_eval::lm::Lm;
use sealtune_model::model::read_f32;
use sealtune_model::tokenizer::Tokenizer;
use sealtune_model::{Batch, Llama, LoraConfig, LoraTarget, import_gguf};

/// The tiny model imported into `dir`, with a context long enough for byte-level chats.
pub fn tiny_model(dir: &Path) -> PathBuf {
    let gguf = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sealtune-model/tests/fixtures/gguf_tiny/tiny.gguf");
    let out = dir.join("model");
    import_gguf(&gguf, &out).unwrap();
    // RoPE works at any position; the fixture only declares 64.
    let cfg_path = out.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["max_position_embeddings"] = serde_json::json!(1024);
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    out
}

pub fn load(dir: &Path) -> Lm {
    let model = Llama::load_dir(dir, &Device::flex()).unwrap();
    let tok = Tokenizer::from_dir(dir).unwrap();
    Lm::new(model, tok, 8)
}

/// Trains a LoRA adapter on `seqs` (token ids with the mask of trained tokens) with Adam,
/// saves it in PEFT layout to `adapter_dir`, and returns the loaded fine-tuned model.
pub fn train_adapter(
    base: &Lm,
    seqs: &[(Vec<u32>, Vec<bool>)],
    steps: usize,
    adapter_dir: &Path,
) -> Lm {
    let mut m = base.model.clone();
    m.add_lora(&LoraConfig {
        rank: 16,
        alpha: 32.0,
        dropout: 0.0,
        targets: LoraTarget::ALL.to_vec(),
        seed: 3,
        ..LoraConfig::default()
    })
    .unwrap();
    // B starts at zero; the first gradient reaches it through A.
    let device = Device::flex();
    let ids: Vec<Vec<u32>> = seqs.iter().map(|(i, _)| i.clone()).collect();
    let batch = Batch::padded(&ids, 0);
    let (b, t) = (ids.len(), batch.tokens[0].len());
    let mut targets = Vec::new();
    let mut weights = Vec::new();
    for (ids, mask) in seqs {
        for p in 0..t - 1 {
            let ok = p + 1 < ids.len() && mask[p + 1];
            targets.push(if ok { i64::from(ids[p + 1]) } else { 0 });
            weights.push(if ok { 1.0f32 } else { 0.0 });
        }
    }
    let count: f32 = weights.iter().sum();
    let targets = Tensor::<3, Int>::from_data(TensorData::new(targets, [b, t - 1, 1]), &device);
    let weights = Tensor::<3>::from_data(TensorData::new(weights, [b, t - 1, 1]), &device);
    let names: Vec<String> = m.lora_tensors().into_iter().map(|(n, _)| n).collect();
    let mut adam: Vec<(Vec<f32>, Vec<f32>)> = m
        .lora_tensors()
        .iter()
        .map(|(_, t)| {
            let n = t.dims().iter().product();
            (vec![0.0; n], vec![0.0; n])
        })
        .collect();
    let (lr, b1, b2, eps) = (1e-2f32, 0.9f32, 0.999f32, 1e-8f32);
    for step in 1..=steps {
        m.map_lora(|_, t| t.autodiff().require_grad());
        let logits = m.forward(&batch, None).unwrap().narrow(1, 0, t - 1);
        let lp = activation::log_softmax(logits, 2).gather(2, targets.clone().autodiff());
        let loss = (lp * weights.clone().autodiff())
            .sum()
            .neg()
            .div_scalar(count);
        let grads = loss.backward();
        let mut updates = Vec::new();
        for (k, (name, p)) in m.lora_tensors().into_iter().enumerate() {
            assert_eq!(name, names[k]);
            let g = read_f32(p.grad(&grads).unwrap()).unwrap();
            let w = read_f32(p.clone().without_autodiff()).unwrap();
            let (mo, ve) = &mut adam[k];
            let mut nw = Vec::with_capacity(w.len());
            for i in 0..w.len() {
                mo[i] = b1 * mo[i] + (1.0 - b1) * g[i];
                ve[i] = b2 * ve[i] + (1.0 - b2) * g[i] * g[i];
                let mh = mo[i] / (1.0 - b1.powi(step as i32));
                let vh = ve[i] / (1.0 - b2.powi(step as i32));
                nw.push(w[i] - lr * mh / (vh.sqrt() + eps));
            }
            updates.push(Tensor::<2>::from_data(
                TensorData::new(nw, p.dims()),
                &device,
            ));
        }
        let mut it = updates.into_iter();
        m.map_lora(|_, _| it.next().unwrap());
    }
    m.save_peft_adapter(adapter_dir, "tiny").unwrap();
    let mut ft = base.model.clone();
    ft.load_peft_adapter(adapter_dir).unwrap();
    Lm::new(ft, base.tokenizer.clone(), base.batch_size)
}

/// Mean loss of the masked tokens of `ids` under `lm`.
pub fn loss(lm: &Lm, ids: &[u32], mask: &[bool]) -> f64 {
    let s = lm.score(&[ids.to_vec()], false).unwrap();
    let lp: Vec<f64> = (1..ids.len())
        .filter(|&t| mask[t])
        .map(|t| f64::from(s[0].token_logprobs[t - 1]))
        .collect();
    -lp.iter().sum::<f64>() / lp.len() as f64
}
