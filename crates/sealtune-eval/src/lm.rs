//! A model with its tokenizer, and the batched operations the suites need: scoring,
//! next-token distributions, continuations that share a cached prefix, and generation.

use sealtune_contract::SeededRng;
use sealtune_data::record::{Record, Role as DataRole};
use sealtune_model::model::read_f32;
use sealtune_model::tokenizer::{Message, RenderedChat, Role, Tokenizer};
use sealtune_model::{Batch, KvCache, Llama, SamplingConfig, SequenceScore, generate};

use crate::error::Result;

/// A language model with its tokenizer.
#[derive(Debug, Clone)]
pub struct Lm {
    /// The model (base, or base with the adapter attached).
    pub model: Llama,
    /// The tokenizer with its chat template.
    pub tokenizer: Tokenizer,
    /// Rows per forward pass.
    pub batch_size: usize,
}

/// Converts the data crate's chat roles to the model crate's.
pub fn role(r: DataRole) -> Role {
    match r {
        DataRole::System => Role::System,
        DataRole::User => Role::User,
        DataRole::Assistant => Role::Assistant,
    }
}

/// A record as chat messages, exactly as the train stage renders it
/// ([`sealtune_stagekit::chat::record_messages`]): plain text is one assistant turn, so
/// eval scores the tokens training learned, in the context they were learned in.
pub fn record_messages(r: &Record) -> Vec<Message> {
    sealtune_stagekit::chat::record_messages(r)
}

/// Log-softmax of one row of logits, in f64.
pub fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = f64::from(max)
        + logits
            .iter()
            .map(|&x| (f64::from(x) - f64::from(max)).exp())
            .sum::<f64>()
            .ln();
    logits.iter().map(|&x| f64::from(x) - lse).collect()
}

impl Lm {
    /// A model and tokenizer scoring `batch_size` rows at a time.
    pub fn new(model: Llama, tokenizer: Tokenizer, batch_size: usize) -> Self {
        Self {
            model,
            tokenizer,
            batch_size: batch_size.max(1),
        }
    }

    /// A record's token ids and the mask of tokens a fine-tune learns (the assistant
    /// turns; plain text is one assistant turn, as training renders it), keeping the last
    /// `max_tokens`.
    pub fn render_record(&self, r: &Record, max_tokens: usize) -> Result<RenderedChat> {
        let mut out = self.tokenizer.render_chat(&record_messages(r), false)?;
        // Keep the end: the learned tokens of a chat come last.
        let cut = out.ids.len().saturating_sub(max_tokens);
        out.ids.drain(..cut);
        out.assistant_mask.drain(..cut);
        Ok(out)
    }

    /// Chat rendering.
    pub fn render(&self, messages: &[Message], generation_prompt: bool) -> Result<RenderedChat> {
        Ok(self.tokenizer.render_chat(messages, generation_prompt)?)
    }

    /// Per-token log-probabilities of each sequence (at least 2 tokens each), in batches of
    /// similar lengths; results in input order.
    pub fn score(&self, seqs: &[Vec<u32>], vocab_stats: bool) -> Result<Vec<SequenceScore>> {
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(seqs[i].len()));
        let mut out: Vec<Option<SequenceScore>> = vec![None; seqs.len()];
        for chunk in order.chunks(self.batch_size) {
            let batch: Vec<Vec<u32>> = chunk.iter().map(|&i| seqs[i].clone()).collect();
            for (&i, s) in chunk.iter().zip(self.model.score(&batch, vocab_stats)?) {
                out[i] = Some(s);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// The token a text is scored after when it has no chat template around it: the
    /// tokenizer's start token, else its end token (lm-evaluation-harness's prefix
    /// token). `None` when the tokenizer names neither.
    pub fn start_token(&self) -> Option<u32> {
        let s = self.tokenizer.special_tokens();
        s.bos.or(s.eos)
    }

    /// Log-likelihood of every token of each text, conditioned on [`Lm::start_token`]
    /// (the text is encoded without special tokens, so its first token is scored too).
    /// Without a start token the first token cannot be predicted and only the rest is
    /// scored; a text of one such token then scores 0.
    pub fn text_logprobs(&self, texts: &[String]) -> Result<Vec<Vec<f64>>> {
        let start = self.start_token();
        let mut ids = Vec::with_capacity(texts.len());
        let mut short = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            let mut v = start.map_or_else(Vec::new, |s| vec![s]);
            v.extend(self.tokenizer.encode(t, false)?);
            if v.len() < 2 {
                short.push(i);
                v = vec![0, 0];
            }
            ids.push(v);
        }
        let mut out: Vec<Vec<f64>> = self
            .score(&ids, false)?
            .into_iter()
            .map(|s| s.token_logprobs.iter().map(|&x| f64::from(x)).collect())
            .collect();
        for i in short {
            out[i].clear();
        }
        Ok(out)
    }

    /// Log-probabilities of the next token after each prompt (left-padded batches).
    pub fn next_token_logprobs(&self, prompts: &[Vec<u32>]) -> Result<Vec<Vec<f64>>> {
        let mut out = Vec::with_capacity(prompts.len());
        let pad = self.model.config().pad_token_id.unwrap_or(0);
        for chunk in prompts.chunks(self.batch_size) {
            let t = chunk.iter().map(Vec::len).max().unwrap_or(0);
            let batch = left_padded(chunk, t, pad);
            let hidden = self.model.hidden_states(&batch, None)?;
            let last = self.model.logits(hidden.narrow(1, t - 1, 1));
            let v = self.model.config().vocab_size;
            let flat = read_f32(last)?;
            out.extend(flat.chunks(v).map(log_softmax));
        }
        Ok(out)
    }

    /// Log-probabilities of each continuation's tokens after a shared `prefix`, whose keys
    /// and values are computed once and reused for every continuation.
    pub fn score_continuations(&self, prefix: &[u32], conts: &[Vec<u32>]) -> Result<Vec<Vec<f64>>> {
        let v = self.model.config().vocab_size;
        let mut cache = KvCache::new(&self.model);
        let prompt = Batch {
            tokens: vec![prefix.to_vec()],
            positions: vec![(0..prefix.len() as u32).collect()],
            segments: vec![vec![1; prefix.len()]],
        };
        let logits = self.model.forward(&prompt, Some(&mut cache))?;
        let all = read_f32(logits)?;
        let first = log_softmax(&all[all.len() - v..]);
        let mut out: Vec<Vec<f64>> = conts
            .iter()
            .map(|c| {
                c.first()
                    .map(|&t| vec![first[t as usize]])
                    .unwrap_or_default()
            })
            .collect();
        // The rest of every continuation longer than one token, `batch_size` at a time.
        let long: Vec<usize> = (0..conts.len()).filter(|&i| conts[i].len() > 1).collect();
        for chunk in long.chunks(self.batch_size) {
            let rows: Vec<&[u32]> = chunk.iter().map(|&i| conts[i].as_slice()).collect();
            let lps = self.model.score_continuations(&cache, &rows)?;
            for (&i, lp) in chunk.iter().zip(lps) {
                out[i].extend(lp.into_iter().map(f64::from));
            }
        }
        Ok(out)
    }

    /// The ids that end a turn or the text.
    pub fn stop_tokens(&self) -> Vec<u32> {
        let s = self.tokenizer.special_tokens();
        let mut v: Vec<u32> = [s.eos, s.eot].into_iter().flatten().collect();
        v.extend(self.model.config().eos_token_ids.iter().copied());
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Greedy continuation of `prompt`, `max_new` tokens at most; `stop` ends it early.
    pub fn greedy(&self, prompt: &[u32], max_new: usize, stop: bool) -> Result<Vec<u32>> {
        let cfg = SamplingConfig {
            max_new_tokens: max_new,
            stop_tokens: if stop { self.stop_tokens() } else { Vec::new() },
            ..SamplingConfig::default()
        };
        Ok(generate(&self.model, prompt, &cfg)?.tokens)
    }

    /// Continues every prompt in left-padded batches sharing one KV cache: greedy when
    /// `temperature` is 0, else sampled from the `top_k` most likely tokens (0 = all) with
    /// one seeded generator per prompt. A row ends at a stop token (kept) when `stop`, at
    /// `max_new` tokens, or at the model's context length.
    pub fn generate_batch(
        &self,
        prompts: &[Vec<u32>],
        max_new: usize,
        temperature: f32,
        top_k: usize,
        seeds: &[u64],
        stop: bool,
    ) -> Result<Vec<Vec<u32>>> {
        let stops = if stop { self.stop_tokens() } else { Vec::new() };
        let pad = self.model.config().pad_token_id.unwrap_or(0);
        let v = self.model.config().vocab_size;
        let max_ctx = self.model.config().max_position_embeddings;
        let mut out = Vec::with_capacity(prompts.len());
        for (ci, chunk) in prompts.chunks(self.batch_size).enumerate() {
            let t = chunk.iter().map(Vec::len).max().unwrap_or(0);
            if t == 0 {
                out.extend(chunk.iter().map(|_| Vec::new()));
                continue;
            }
            let batch = left_padded(chunk, t, pad);
            let mut rngs: Vec<SeededRng> = (0..chunk.len())
                .map(|r| SeededRng::new(seeds.get(ci * self.batch_size + r).copied().unwrap_or(0)))
                .collect();
            let mut cache = KvCache::new(&self.model);
            let hidden = self.model.hidden_states(&batch, Some(&mut cache))?;
            let mut logits = read_f32(self.model.logits(hidden.narrow(1, t - 1, 1)))?;
            let mut generated: Vec<Vec<u32>> = vec![Vec::new(); chunk.len()];
            let mut done: Vec<bool> = chunk.iter().map(|p| p.is_empty()).collect();
            for step in 0..max_new {
                let mut next = Vec::with_capacity(chunk.len());
                for (r, row) in logits.chunks(v).enumerate() {
                    if done[r] || chunk[r].len() + step >= max_ctx {
                        done[r] = true;
                        next.push(pad);
                        continue;
                    }
                    let tok = pick(row, temperature, top_k, &mut rngs[r]);
                    generated[r].push(tok);
                    if stops.contains(&tok) {
                        done[r] = true;
                    }
                    next.push(tok);
                }
                if done.iter().all(|&d| d) || step + 1 == max_new {
                    break;
                }
                let step_batch = Batch {
                    tokens: next.iter().map(|&x| vec![x]).collect(),
                    positions: chunk
                        .iter()
                        .map(|p| vec![(p.len() + step) as u32])
                        .collect(),
                    segments: vec![vec![1]; chunk.len()],
                };
                logits = read_f32(self.model.forward(&step_batch, Some(&mut cache))?)?;
            }
            out.extend(generated);
        }
        Ok(out)
    }

    /// Decodes ids, skipping special tokens.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        Ok(self.tokenizer.decode(ids, true)?)
    }
}

/// Picks a token: argmax at temperature 0, else a draw from the softmax of the `top_k`
/// largest logits (all when 0) divided by the temperature.
pub fn pick(logits: &[f32], temperature: f32, top_k: usize, rng: &mut SeededRng) -> u32 {
    let mut best = 0;
    for (i, &x) in logits.iter().enumerate() {
        if x > logits[best] {
            best = i;
        }
    }
    if temperature == 0.0 {
        return best as u32;
    }
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    idx.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    if top_k > 0 {
        idx.truncate(top_k);
    }
    let t = f64::from(temperature);
    let max = f64::from(logits[idx[0]]);
    let w: Vec<f64> = idx
        .iter()
        .map(|&i| ((f64::from(logits[i]) - max) / t).exp())
        .collect();
    let total: f64 = w.iter().sum();
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
    let mut acc = 0.0;
    for (k, x) in w.iter().enumerate() {
        acc += x;
        if u < acc {
            return idx[k] as u32;
        }
    }
    idx[idx.len() - 1] as u32
}

/// Prompts left-padded to length `t` with `pad` (segment 0, which attention
/// ignores), so that every row's last token sits at position `t - 1`.
fn left_padded(prompts: &[Vec<u32>], t: usize, pad: u32) -> Batch {
    let mut batch = Batch {
        tokens: Vec::with_capacity(prompts.len()),
        positions: Vec::with_capacity(prompts.len()),
        segments: Vec::with_capacity(prompts.len()),
    };
    for p in prompts {
        let padn = t - p.len();
        let mut tokens = vec![pad; padn];
        tokens.extend_from_slice(p);
        let mut positions = vec![0u32; padn];
        positions.extend(0..p.len() as u32);
        let mut segments = vec![0u32; padn];
        segments.extend(std::iter::repeat_n(1, p.len()));
        batch.tokens.push(tokens);
        batch.positions.push(positions);
        batch.segments.push(segments);
    }
    batch
}
