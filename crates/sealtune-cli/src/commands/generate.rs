//! `sealtune generate`: generate a continuation with a model directory and optionally a PEFT adapter, or a signed sealed release (verified, then decrypted into memory only).

use sealtune_pipeline::{Exit, Stage};

use crate::cli::GenerateArgs;
use crate::error::Fail;
use crate::release_use;

/// Runs `sealtune generate`.
pub(crate) fn command(args: GenerateArgs, _stages: &[Box<dyn Stage>]) -> Result<Exit, Fail> {
    let GenerateArgs {
        model,
        device,
        dtype,
        adapter,
        release,
        public_key,
        kek,
        prompt,
        chat,
        max_new_tokens,
        greedy,
        temperature,
        top_p,
        top_k,
        seed,
    } = args;
    let compute = sealtune_model::ComputeSection {
        device: device.unwrap_or_default(),
        dtype: dtype.unwrap_or_default(),
    }
    .resolve("--device", "--dtype")
    .map_err(Fail::from)?;
    let device = compute.device().clone();
    let precision = compute.precision();
    let mut m = match (&release, &public_key, &kek) {
        (Some(r), Some(pk), Some(kek)) => {
            // Verified and decrypted into memory; the plaintext
            // buffers are zeroized when `opened` drops below.
            let opened = release_use::open(r, pk, kek)?;
            release_use::load_model(&opened, &model, &device, precision)?
        }
        _ => sealtune_model::Llama::load_dir_as(&model, &device, precision).map_err(Fail::from)?,
    };
    if let Some(a) = &adapter {
        m.load_peft_adapter(a).map_err(Fail::from)?;
    }
    m.merge_lora();
    let tok = sealtune_model::tokenizer::Tokenizer::from_dir(&model).map_err(Fail::from)?;
    let temperature = if greedy {
        0.0
    } else {
        temperature.unwrap_or(0.0)
    };
    if temperature < 0.0 || !temperature.is_finite() {
        return Err(Fail {
            exit: Exit::Usage,
            message: "--temperature must be a finite number ≥ 0".into(),
        });
    }
    if let Some(p) = top_p
        && !(p > 0.0 && p <= 1.0)
    {
        return Err(Fail {
            exit: Exit::Usage,
            message: "--top-p must be in (0, 1]".into(),
        });
    }
    let cfg = sealtune_model::SamplingConfig {
        max_new_tokens,
        temperature,
        top_k,
        top_p,
        seed,
        ..Default::default()
    };
    let text = sealtune_model::generate_text(&m, &tok, &prompt, chat, &cfg).map_err(Fail::from)?;
    println!("{text}");
    Ok(Exit::Success)
}
