//! A model with its tokenizer, and the batched operations the suites need: scoring,
//! next-token distributions, continuations that share a cached prefix, and generation.

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

/// A record as chat messages: chats as they are, instructions as a user turn
/// (`instruction`, a blank line, `input`) answered by `output`; plain text as `None`.
pub fn record_messages(r: &Record) -> Option<Vec<Message>> {
    match r {
        Record::Chat { messages } => Some(
            messages
                .iter()
                .map(|m| Message {
                    role: role(m.role),
                    content: m.content.clone(),
                })
                .collect(),
        ),
        Record::Instruction {
            instruction,
            input,
            output,
        } => {
            let user = match input {
                Some(i) if !i.is_empty() => format!("{instruction}\n\n{i}"),
                _ => instruction.clone(),
            };
            Some(vec![
                Message {
                    role: Role::User,
                    content: user,
                },
                Message {
                    role: Role::Assistant,
                    content: output.clone(),
                },
            ])
        }
        Record::Text { .. } => None,
    }
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

    /// A record's token ids and the mask of tokens a fine-tune learns (assistant tokens
    /// of chats and instructions; every token of plain text), truncated to `max_tokens`.
    pub fn render_record(&self, r: &Record, max_tokens: usize) -> Result<RenderedChat> {
        let mut out = match record_messages(r) {
            Some(m) => self.tokenizer.render_chat(&m, false)?,
            None => {
                let text = match r {
                    Record::Text { text } => text.as_str(),
                    _ => "",
                };
                let ids = self.tokenizer.encode(text, true)?;
                RenderedChat {
                    assistant_mask: vec![true; ids.len()],
                    ids,
                }
            }
        };
        out.ids.truncate(max_tokens);
        out.assistant_mask.truncate(max_tokens);
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

    /// Log-probabilities of the next token after each prompt (left-padded batches).
    pub fn next_token_logprobs(&self, prompts: &[Vec<u32>]) -> Result<Vec<Vec<f64>>> {
        let mut out = Vec::with_capacity(prompts.len());
        let pad = self.model.config().pad_token_id.unwrap_or(0);
        for chunk in prompts.chunks(self.batch_size) {
            let t = chunk.iter().map(Vec::len).max().unwrap_or(0);
            let mut batch = Batch {
                tokens: Vec::new(),
                positions: Vec::new(),
                segments: Vec::new(),
            };
            for p in chunk {
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
        let one = |tokens: &[u32], start: usize| Batch {
            tokens: vec![tokens.to_vec()],
            positions: vec![(start as u32..(start + tokens.len()) as u32).collect()],
            segments: vec![vec![1; tokens.len()]],
        };
        let logits = self.model.forward(&one(prefix, 0), Some(&mut cache))?;
        let all = read_f32(logits)?;
        let first = log_softmax(&all[all.len() - v..]);
        let mut out = Vec::with_capacity(conts.len());
        for c in conts {
            if c.is_empty() {
                out.push(Vec::new());
                continue;
            }
            let mut lp = vec![first[c[0] as usize]];
            if c.len() > 1 {
                let mut cc = cache.clone();
                let logits = self
                    .model
                    .forward(&one(&c[..c.len() - 1], prefix.len()), Some(&mut cc))?;
                let rows = read_f32(logits)?;
                for (row, &tok) in rows.chunks(v).zip(&c[1..]) {
                    lp.push(log_softmax(row)[tok as usize]);
                }
            }
            out.push(lp);
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

    /// A sampled continuation (temperature, top-k, seed), stopping at end of turn.
    pub fn sample(
        &self,
        prompt: &[u32],
        max_new: usize,
        temperature: f32,
        top_k: usize,
        seed: u64,
    ) -> Result<Vec<u32>> {
        let cfg = SamplingConfig {
            max_new_tokens: max_new,
            temperature,
            top_k: (top_k > 0).then_some(top_k),
            seed,
            stop_tokens: self.stop_tokens(),
            ..SamplingConfig::default()
        };
        Ok(generate(&self.model, prompt, &cfg)?.tokens)
    }

    /// Decodes ids, skipping special tokens.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        Ok(self.tokenizer.decode(ids, true)?)
    }
}
