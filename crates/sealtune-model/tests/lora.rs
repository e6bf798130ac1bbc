//! LoRA on activations: PEFT init, merge/unmerge, adapter and merged export, autodiff.

use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::Distribution;
use sealtune_model::model::read_f32;
use sealtune_model::{Batch, Llama, LoraConfig, LoraTarget};

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn logits(model: &Llama) -> Vec<f32> {
    let batch = Batch::padded(&[vec![1, 17, 5, 33, 8, 61], vec![1, 9, 70]], 0);
    read_f32(model.forward(&batch, None).unwrap()).unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Adapter with non-zero B so it changes the output.
fn trained_like(dir: &str, cfg: &LoraConfig) -> Llama {
    let mut m = Llama::load_dir(&fixture_dir(dir), &Device::flex()).unwrap();
    m.add_lora(cfg).unwrap();
    m.map_lora(|k, t| {
        if k.contains("lora_B") {
            Tensor::random(t.dims(), Distribution::Normal(0.0, 0.1), &t.device())
        } else {
            t
        }
    });
    m
}

#[test]
fn peft_init_leaves_the_model_unchanged() {
    let base = Llama::load_dir(&fixture_dir("gqa_llama3_untied"), &Device::flex()).unwrap();
    let mut m = base.clone();
    m.add_lora(&LoraConfig::default()).unwrap();
    assert_eq!(m.lora_tensors().len(), 2 * 7 * 2);
    assert_eq!(logits(&m), logits(&base));
    // A is Kaiming-uniform with bound 1/sqrt(in).
    let (_, a) = &m.lora_tensors()[0];
    let a = read_f32(a.clone()).unwrap();
    let bound = 1.0 / (32f32).sqrt();
    assert!(a.iter().all(|x| x.abs() <= bound) && a.iter().any(|x| x.abs() > bound / 2.0));
}

#[test]
fn merge_equals_adapter_and_unmerge_restores() {
    let cfg = LoraConfig {
        rank: 4,
        alpha: 8.0,
        use_rslora: true,
        targets: vec![LoraTarget::QProj, LoraTarget::VProj, LoraTarget::DownProj],
        ..LoraConfig::default()
    };
    let mut m = trained_like("gqa_llama3_untied", &cfg);
    let base = Llama::load_dir(&fixture_dir("gqa_llama3_untied"), &Device::flex()).unwrap();
    let with_adapter = logits(&m);
    assert!(
        max_diff(&with_adapter, &logits(&base)) > 1e-3,
        "adapter must matter"
    );
    m.merge_lora();
    let merged = logits(&m);
    assert!(
        max_diff(&merged, &with_adapter) <= 1e-5,
        "{}",
        max_diff(&merged, &with_adapter)
    );
    m.unmerge_lora();
    assert!(max_diff(&logits(&m), &with_adapter) <= 1e-5);
}

#[test]
fn peft_adapter_and_merged_export_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = LoraConfig {
        rank: 3,
        alpha: 6.0,
        ..LoraConfig::default()
    };
    let m = trained_like("tied_headdim_bf16", &cfg);
    let want = logits(&m);
    let adapter = tmp.path().join("adapter");
    m.save_peft_adapter(&adapter, "tied_headdim_bf16").unwrap();
    let conf: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(adapter.join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(conf["peft_type"], "LORA");
    assert_eq!(conf["r"], 3);
    let mut loaded = Llama::load_dir(&fixture_dir("tied_headdim_bf16"), &Device::flex()).unwrap();
    loaded.load_peft_adapter(&adapter).unwrap();
    assert!(max_diff(&logits(&loaded), &want) <= 1e-6);
    let ck = sealtune_model::safetensors::Checkpoint::open_file(
        &adapter.join("adapter_model.safetensors"),
    )
    .unwrap();
    assert_eq!(
        ck.shape("base_model.model.model.layers.1.self_attn.o_proj.lora_A.weight"),
        Some(&[3usize, 48][..])
    );
    assert_eq!(
        ck.shape("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"),
        Some(&[24usize, 3][..])
    );
    let merged_dir = tmp.path().join("merged");
    m.save_merged(&fixture_dir("tied_headdim_bf16"), &merged_dir)
        .unwrap();
    let merged = Llama::load_dir(&merged_dir, &Device::flex()).unwrap();
    assert!(max_diff(&logits(&merged), &want) <= 1e-5);
}

#[test]
fn adapter_with_a_missing_tensor_is_rejected_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let m = trained_like(
        "gqa_llama3_untied",
        &LoraConfig {
            rank: 2,
            ..LoraConfig::default()
        },
    );
    m.save_peft_adapter(tmp.path(), "x").unwrap();
    let mut other = Llama::load_dir(&fixture_dir("tied_headdim_bf16"), &Device::flex()).unwrap();
    let e = other.load_peft_adapter(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("lora_A.weight") && e.contains("shape"), "{e}");
}

#[test]
fn gradients_reach_only_the_adapter() {
    let cfg = LoraConfig {
        rank: 2,
        dropout: 0.1,
        targets: vec![LoraTarget::QProj, LoraTarget::UpProj],
        ..LoraConfig::default()
    };
    let mut m = trained_like("gqa_llama3_untied", &cfg);
    m.map_lora(|_, t| t.autodiff().require_grad());
    m.set_training(true);
    let batch = Batch::padded(&[vec![1, 17, 5, 33]], 0);
    let loss = m.forward(&batch, None).unwrap().sum();
    let grads = loss.backward();
    let params = m.lora_tensors();
    assert_eq!(params.len(), 2 * 2 * 2);
    for (name, t) in &params {
        let g = t
            .grad(&grads)
            .unwrap_or_else(|| panic!("{name} has no gradient"));
        let g = read_f32(g).unwrap();
        assert!(g.iter().any(|x| *x != 0.0), "{name}: zero gradient");
    }
}

#[test]
fn adapter_from_memory_equals_adapter_from_disk_and_is_checked_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = LoraConfig {
        rank: 3,
        alpha: 6.0,
        ..LoraConfig::default()
    };
    let m = trained_like("gqa_llama3_untied", &cfg);
    let adapter = tmp.path().join("adapter");
    m.save_peft_adapter(&adapter, "x").unwrap();
    let conf = std::fs::read(adapter.join("adapter_config.json")).unwrap();
    let weights = std::fs::read(adapter.join("adapter_model.safetensors")).unwrap();
    let mut disk = Llama::load_dir(&fixture_dir("gqa_llama3_untied"), &Device::flex()).unwrap();
    disk.load_peft_adapter(&adapter).unwrap();
    let mut mem = Llama::load_dir(&fixture_dir("gqa_llama3_untied"), &Device::flex()).unwrap();
    mem.load_peft_adapter_bytes(&conf, &weights, std::path::Path::new("release"))
        .unwrap();
    assert_eq!(logits(&mem), logits(&disk));
    assert!(max_diff(&logits(&mem), &logits(&m)) <= 1e-6);
    // Wrong model: the shape error names the tensor and the in-memory origin.
    let mut other = Llama::load_dir(&fixture_dir("tied_headdim_bf16"), &Device::flex()).unwrap();
    let e = other
        .load_peft_adapter_bytes(&conf, &weights, std::path::Path::new("release"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("lora_A.weight") && e.contains("release"), "{e}");
    // Truncated bytes are a format error, not a panic.
    let mut m2 = Llama::load_dir(&fixture_dir("gqa_llama3_untied"), &Device::flex()).unwrap();
    assert!(
        m2.load_peft_adapter_bytes(&conf, &weights[..weights.len() - 4], "r".as_ref())
            .is_err()
    );
}

#[test]
fn merged_export_is_sharded_like_the_base_and_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    // A sharded copy of the base: two shards and an index.
    let base = tmp.path().join("base");
    std::fs::create_dir_all(&base).unwrap();
    let src = fixture_dir("gqa_llama3_untied");
    std::fs::copy(src.join("config.json"), base.join("config.json")).unwrap();
    let plain = Llama::load_dir(&src, &Device::flex()).unwrap();
    let tensors = plain.to_hf_tensors().unwrap();
    let (a, b): (Vec<_>, Vec<_>) = tensors
        .into_iter()
        .partition(|t| t.name.contains("layers.0") || t.name.contains("embed"));
    let mut map = serde_json::Map::new();
    for (shard, ts) in [("s-1.safetensors", &a), ("s-2.safetensors", &b)] {
        sealtune_model::safetensors::write_safetensors(&base.join(shard), ts).unwrap();
        for t in ts.iter() {
            map.insert(t.name.clone(), shard.into());
        }
    }
    std::fs::write(
        base.join("model.safetensors.index.json"),
        serde_json::json!({ "weight_map": map }).to_string(),
    )
    .unwrap();
    let cfg = LoraConfig {
        rank: 2,
        ..LoraConfig::default()
    };
    let mut m = Llama::load_dir(&base, &Device::flex()).unwrap();
    m.add_lora(&cfg).unwrap();
    m.map_lora(|k, t| {
        if k.contains("lora_B") {
            Tensor::random(t.dims(), Distribution::Normal(0.0, 0.1), &t.device())
        } else {
            t
        }
    });
    let want = logits(&m);
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let files = m.save_merged_like(&base, &out, 0o600).unwrap();
    let mut names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "config.json",
            "model.safetensors.index.json",
            "s-1.safetensors",
            "s-2.safetensors"
        ]
    );
    for f in &files {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    let merged = Llama::load_dir(&out, &Device::flex()).unwrap();
    assert!(max_diff(&logits(&merged), &want) <= 1e-5);
    // No temporary files are left behind.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 4);
}
