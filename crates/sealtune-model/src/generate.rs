//! Text generation: greedy and sampled decoding with a KV cache.

use crate::error::{ModelError, Result};
use crate::model::{Batch, KvCache, Llama, read_f32};
use crate::tokenizer::{Message, Role, Tokenizer};
use sealtune_contract::SeededRng;

/// How to pick the next token.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingConfig {
    /// Most tokens to generate. Default 128.
    pub max_new_tokens: usize,
    /// Softmax temperature; 0 means greedy (argmax). Default 0.
    pub temperature: f32,
    /// Keep only the `k` most likely tokens before sampling. Default none.
    pub top_k: Option<usize>,
    /// Keep the smallest set of tokens whose probability reaches `p`. Default none.
    pub top_p: Option<f32>,
    /// Seed of the sampler, so runs repeat exactly. Default 0.
    pub seed: u64,
    /// Generation stops after any of these ids (which is kept in the output).
    pub stop_tokens: Vec<u32>,
    /// Use the KV cache (the result is the same; without it every step recomputes the
    /// whole prefix). Default true.
    pub use_cache: bool,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            max_new_tokens: 128,
            temperature: 0.0,
            top_k: None,
            top_p: None,
            seed: 0,
            stop_tokens: Vec::new(),
            use_cache: true,
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A stop token was produced.
    StopToken,
    /// `max_new_tokens` were produced.
    MaxTokens,
    /// The model's context length was reached.
    ContextFull,
}

/// Generated tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// New token ids (without the prompt).
    pub tokens: Vec<u32>,
    /// Why it stopped.
    pub stop: StopReason,
}

fn validate(cfg: &SamplingConfig) -> Result<()> {
    let bad = |name, message: &str| {
        Err(ModelError::Argument {
            name,
            message: message.to_owned(),
        })
    };
    if !(cfg.temperature >= 0.0 && cfg.temperature.is_finite()) {
        return bad("temperature", "must be a finite number >= 0 (0 is greedy)");
    }
    if cfg.top_k == Some(0) {
        return bad("top_k", "must be at least 1");
    }
    if let Some(p) = cfg.top_p
        && !(p > 0.0 && p <= 1.0)
    {
        return bad("top_p", "must be in (0, 1]");
    }
    Ok(())
}

/// Picks the next token from one position's logits.
fn pick(logits: &[f32], cfg: &SamplingConfig, rng: &mut SeededRng) -> u32 {
    let argmax = || {
        let mut best = 0;
        for (i, &v) in logits.iter().enumerate() {
            if v > logits[best] {
                best = i;
            }
        }
        best as u32
    };
    if cfg.temperature == 0.0 {
        return argmax();
    }
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    idx.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    if let Some(k) = cfg.top_k {
        idx.truncate(k.max(1));
    }
    let t = f64::from(cfg.temperature);
    let max = f64::from(logits[idx[0]]);
    let mut probs: Vec<f64> = idx
        .iter()
        .map(|&i| ((f64::from(logits[i]) - max) / t).exp())
        .collect();
    let sum: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= sum);
    if let Some(top_p) = cfg.top_p {
        let mut acc = 0.0;
        let mut keep = probs.len();
        for (n, p) in probs.iter().enumerate() {
            acc += p;
            if acc >= f64::from(top_p) {
                keep = n + 1;
                break;
            }
        }
        probs.truncate(keep);
        idx.truncate(keep);
        let s: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= s);
    }
    let mut u = rng.unit_f64();
    for (i, p) in idx.iter().zip(&probs) {
        if u < *p {
            return *i as u32;
        }
        u -= p;
    }
    idx[probs.len() - 1] as u32
}

fn last_logits(model: &Llama, batch: &Batch, cache: Option<&mut KvCache>) -> Result<Vec<f32>> {
    let logits = model.forward(batch, cache)?;
    let [_, t, _] = logits.dims();
    read_f32(logits.narrow(1, t - 1, 1))
}

fn single(tokens: &[u32], start: usize) -> Batch {
    Batch {
        tokens: vec![tokens.to_vec()],
        positions: vec![(start as u32..(start + tokens.len()) as u32).collect()],
        segments: vec![vec![1; tokens.len()]],
    }
}

/// Continues `prompt` (token ids) according to `cfg`.
pub fn generate(model: &Llama, prompt: &[u32], cfg: &SamplingConfig) -> Result<Generation> {
    validate(cfg)?;
    if prompt.is_empty() {
        return Err(ModelError::Argument {
            name: "prompt",
            message: "needs at least one token".into(),
        });
    }
    let max_ctx = model.config().max_position_embeddings;
    let mut rng = SeededRng::new(cfg.seed);
    let mut cache = KvCache::new(model);
    let mut all = prompt.to_vec();
    let mut out = Vec::new();
    let mut logits = if cfg.use_cache {
        last_logits(model, &single(prompt, 0), Some(&mut cache))?
    } else {
        last_logits(model, &single(prompt, 0), None)?
    };
    loop {
        if out.len() >= cfg.max_new_tokens {
            return Ok(Generation {
                tokens: out,
                stop: StopReason::MaxTokens,
            });
        }
        if all.len() >= max_ctx {
            return Ok(Generation {
                tokens: out,
                stop: StopReason::ContextFull,
            });
        }
        let next = pick(&logits, cfg, &mut rng);
        out.push(next);
        all.push(next);
        if cfg.stop_tokens.contains(&next) {
            return Ok(Generation {
                tokens: out,
                stop: StopReason::StopToken,
            });
        }
        if out.len() >= cfg.max_new_tokens {
            continue;
        }
        logits = if cfg.use_cache {
            last_logits(model, &single(&[next], all.len() - 1), Some(&mut cache))?
        } else {
            last_logits(model, &single(&all, 0), None)?
        };
    }
}

/// Convenience for `sealtune generate`: tokenises `prompt` (as one user message through the
/// chat template when `chat`), generates, and decodes the continuation. The model's EOS and
/// end-of-turn tokens are added to `cfg.stop_tokens`.
pub fn generate_text(
    model: &Llama,
    tokenizer: &Tokenizer,
    prompt: &str,
    chat: bool,
    cfg: &SamplingConfig,
) -> Result<String> {
    let ids = if chat {
        tokenizer
            .render_chat(
                &[Message {
                    role: Role::User,
                    content: prompt.to_owned(),
                }],
                true,
            )?
            .ids
    } else {
        tokenizer.encode(prompt, true)?
    };
    let mut cfg = cfg.clone();
    let special = tokenizer.special_tokens();
    for id in [special.eos, special.eot].into_iter().flatten() {
        if !cfg.stop_tokens.contains(&id) {
            cfg.stop_tokens.push(id);
        }
    }
    cfg.stop_tokens
        .extend(model.config().eos_token_ids.iter().copied());
    let generation = generate(model, &ids, &cfg)?;
    tokenizer.decode(&generation.tokens, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_respects_top_k_top_p_and_seed() {
        let logits = [0.0f32, 5.0, 4.9, -3.0, 1.0];
        let greedy = SamplingConfig::default();
        assert_eq!(pick(&logits, &greedy, &mut SeededRng::new(1)), 1);
        let k2 = SamplingConfig {
            temperature: 1.0,
            top_k: Some(2),
            ..SamplingConfig::default()
        };
        let mut rng = SeededRng::new(7);
        let draws: Vec<u32> = (0..200).map(|_| pick(&logits, &k2, &mut rng)).collect();
        assert!(draws.iter().all(|&d| d == 1 || d == 2));
        assert!(draws.contains(&1) && draws.contains(&2));
        let p = SamplingConfig {
            temperature: 1.0,
            top_p: Some(0.5),
            ..SamplingConfig::default()
        };
        assert!((0..100).all(|_| pick(&logits, &p, &mut rng) == 1));
        let hot = SamplingConfig {
            temperature: 10.0,
            seed: 3,
            ..SamplingConfig::default()
        };
        let a: Vec<u32> = {
            let mut r = SeededRng::new(3);
            (0..50).map(|_| pick(&logits, &hot, &mut r)).collect()
        };
        let b: Vec<u32> = {
            let mut r = SeededRng::new(3);
            (0..50).map(|_| pick(&logits, &hot, &mut r)).collect()
        };
        assert_eq!(a, b);
        assert!(a.contains(&3), "high temperature reaches unlikely tokens");
        assert!(
            validate(&SamplingConfig {
                top_p: Some(1.5),
                ..SamplingConfig::default()
            })
            .is_err()
        );
    }
}
