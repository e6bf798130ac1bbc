//! `sealtune import-gguf`: import a Llama GGUF file (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q6_K) as HF safetensors, config.json and tokenizer.json.

use sealtune_pipeline::{Exit, Stage};

use crate::cli::ImportGgufArgs;
use crate::error::Fail;

/// Runs `sealtune import-gguf`.
pub(crate) fn command(args: ImportGgufArgs, _stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let ImportGgufArgs { file, out } = args;
    let t0 = std::time::Instant::now();
    let sum = sealtune_model::import_gguf(&file, &out).map_err(Fail::from)?;
    let types: Vec<String> = sum
        .source_types
        .iter()
        .map(|(k, v)| format!("{k}×{v}"))
        .collect();
    eprintln!(
        "{}: imported {} tensors ({} parameters; {}) into {} in {:.1}s",
        file.display(),
        sum.tensors,
        sum.parameters,
        types.join(", "),
        out.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(Exit::Success)
}
