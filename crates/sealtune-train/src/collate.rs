//! From masked records to token batches: rendering through the chat template with a loss
//! mask, truncation, a seeded order, and packing into rows of `max_seq_len`.

use sealtune_contract::SeededRng;
use sealtune_data::canary::CanarySet;
use sealtune_model::Batch;
use sealtune_model::tokenizer::{Message, Tokenizer};
pub use sealtune_stagekit::chat::record_messages;
use sealtune_stagekit::chat::role;

use crate::config::{TrainConfig, Truncation};

/// Where an example came from (for reports; never its content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Line `n` (1-based) of mask's split file.
    Record(usize),
    /// An inserted canary, by id.
    Canary(String),
}

/// One tokenized example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// Token ids.
    pub ids: Vec<u32>,
    /// `target[i]`: token `i` is predicted (from tokens `..i`) and counts in the loss.
    /// `target[0]` is always false.
    pub target: Vec<bool>,
    /// Its source.
    pub origin: Origin,
}

impl Example {
    /// Tokens that count in the loss.
    pub fn loss_tokens(&self) -> usize {
        self.target.iter().filter(|&&t| t).count()
    }
}

/// Outcome of tokenizing one record.
#[derive(Debug)]
pub enum Rendered {
    /// Ready to train on.
    Example(Example),
    /// Longer than `max_seq_len` under `truncation = "drop"`.
    TooLong,
    /// Nothing left to train on (e.g. no assistant turn).
    NoTargets,
}

/// Renders messages through the tokenizer's chat template. Targets are the assistant
/// content and its end-of-turn token, or every token but the first with
/// `train_on_inputs`.
pub fn render(
    tok: &Tokenizer,
    messages: &[Message],
    cfg: &TrainConfig,
    origin: Origin,
) -> sealtune_model::Result<Rendered> {
    let chat = tok.render_chat(messages, false)?;
    let mut ids = chat.ids;
    let mut target: Vec<bool> = if cfg.train_on_inputs {
        (0..ids.len()).map(|i| i > 0).collect()
    } else {
        chat.assistant_mask
    };
    if let Some(t) = target.first_mut() {
        *t = false;
    }
    if ids.len() > cfg.max_seq_len {
        match cfg.truncation {
            Truncation::Drop => return Ok(Rendered::TooLong),
            Truncation::Truncate => {
                ids.truncate(cfg.max_seq_len);
                target.truncate(cfg.max_seq_len);
            }
        }
    }
    if !target.iter().any(|&t| t) {
        return Ok(Rendered::NoTargets);
    }
    Ok(Rendered::Example(Example {
        ids,
        target,
        origin,
    }))
}

/// The inserted canaries as examples, each `repeats` times.
pub fn canary_examples(
    tok: &Tokenizer,
    set: &CanarySet,
    cfg: &TrainConfig,
) -> sealtune_model::Result<Vec<Example>> {
    let mut out = Vec::new();
    for c in &set.inserted {
        let msgs: Vec<Message> = c
            .messages()
            .into_iter()
            .map(|(r, content)| Message {
                role: role(r),
                content,
            })
            .collect();
        if let Rendered::Example(ex) = render(tok, &msgs, cfg, Origin::Canary(c.id.clone()))? {
            for _ in 0..set.repeats {
                out.push(ex.clone());
            }
        }
    }
    Ok(out)
}

/// One optimiser step: its micro-batches, each a list of rows, each a list of example
/// indices.
pub type StepPlan = Vec<Vec<Vec<usize>>>;

/// The steps of one epoch: a seeded shuffle of the examples, packed in that order into
/// rows of at most `max_seq_len` tokens (one example per row without packing), rows
/// stacked into micro-batches of `rows_per_micro_batch`, micro-batches grouped into steps
/// of `grad_accum`. The last step of an epoch may be smaller.
pub fn plan_epoch(examples: &[Example], cfg: &TrainConfig, epoch: u64) -> Vec<StepPlan> {
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut rng = SeededRng::new(
        cfg.seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(epoch.wrapping_add(1).wrapping_mul(0xd1b5_4a32_d192_ed03)),
    );
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut used = 0usize;
    for i in order {
        let n = examples[i].ids.len();
        if !current.is_empty() && (!cfg.packing || used + n > cfg.max_seq_len) {
            rows.push(std::mem::take(&mut current));
            used = 0;
        }
        current.push(i);
        used += n;
    }
    if !current.is_empty() {
        rows.push(current);
    }
    let per_mb = cfg.rows_per_micro_batch().max(1);
    let micro: Vec<Vec<Vec<usize>>> = rows.chunks(per_mb).map(<[_]>::to_vec).collect();
    micro.chunks(cfg.grad_accum).map(<[_]>::to_vec).collect()
}

/// A micro-batch as model input plus, per row and position, the target token id and
/// whether it counts (position `p` predicts token `p + 1` of the same example).
#[derive(Debug, Clone)]
pub struct MicroBatch {
    /// Tokens, positions and segment ids.
    pub batch: Batch,
    /// `[rows × (len - 1)]` target ids, row-major.
    pub targets: Vec<u32>,
    /// `[rows × (len - 1)]` 1.0 where the prediction counts, else 0.0.
    pub weights: Vec<f32>,
    /// Number of counted predictions.
    pub loss_tokens: usize,
    /// All real tokens (no padding).
    pub tokens: usize,
}

/// Builds the model input for rows of examples.
pub fn micro_batch(examples: &[Example], rows: &[Vec<usize>], pad: u32) -> MicroBatch {
    let row_ids: Vec<Vec<Vec<u32>>> = rows
        .iter()
        .map(|r| r.iter().map(|&i| examples[i].ids.clone()).collect())
        .collect();
    let batch = Batch::packed(&row_ids, pad);
    let t = batch.tokens.first().map_or(0, Vec::len);
    let mut targets = Vec::with_capacity(rows.len() * t.saturating_sub(1));
    let mut weights = Vec::with_capacity(targets.capacity());
    let mut loss_tokens = 0;
    let mut tokens = 0;
    for (r, row) in rows.iter().enumerate() {
        let mut flags: Vec<bool> = Vec::with_capacity(t);
        for &i in row {
            let start = flags.len();
            flags.extend_from_slice(&examples[i].target);
            // An example's first token is never predicted: that prediction would come
            // from the previous example in the row.
            if let Some(f) = flags.get_mut(start) {
                *f = false;
            }
            tokens += examples[i].ids.len();
        }
        flags.resize(t, false);
        for p in 0..t.saturating_sub(1) {
            targets.push(batch.tokens[r][p + 1]);
            let on = flags[p + 1];
            weights.push(if on { 1.0 } else { 0.0 });
            loss_tokens += usize::from(on);
        }
    }
    MicroBatch {
        batch,
        targets,
        weights,
        loss_tokens,
        tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(n: usize, first_target: usize) -> Example {
        Example {
            ids: (0..n as u32).map(|i| i + 10).collect(),
            target: (0..n).map(|i| i >= first_target).collect(),
            origin: Origin::Record(0),
        }
    }

    fn cfg(max_seq_len: usize, packing: bool) -> TrainConfig {
        TrainConfig {
            max_seq_len,
            packing,
            ..TrainConfig::default()
        }
    }

    #[test]
    fn packing_fills_rows_without_splitting_examples() {
        let examples: Vec<Example> = [5, 7, 3, 9, 2, 8].iter().map(|&n| ex(n, 1)).collect();
        let c = cfg(12, true);
        let plan = plan_epoch(&examples, &c, 0);
        let mut seen: Vec<usize> = plan.iter().flatten().flatten().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, vec![0, 1, 2, 3, 4, 5], "every example exactly once");
        for row in plan.iter().flatten().flatten() {
            let len: usize = row.iter().map(|&i| examples[i].ids.len()).sum();
            assert!(len <= 12, "{row:?}");
        }
        let unpacked = plan_epoch(&examples, &cfg(12, false), 0);
        assert!(unpacked.iter().flatten().flatten().all(|r| r.len() == 1));
        assert_eq!(unpacked.len(), 6);
    }

    #[test]
    fn order_is_seeded() {
        let examples: Vec<Example> = (0..40).map(|n| ex(3 + n % 5, 1)).collect();
        let c = cfg(16, true);
        assert_eq!(plan_epoch(&examples, &c, 0), plan_epoch(&examples, &c, 0));
        assert_ne!(plan_epoch(&examples, &c, 0), plan_epoch(&examples, &c, 1));
        let other = TrainConfig {
            seed: 5,
            ..c.clone()
        };
        assert_ne!(
            plan_epoch(&examples, &c, 0),
            plan_epoch(&examples, &other, 0)
        );
    }

    #[test]
    fn steps_group_micro_batches() {
        let examples: Vec<Example> = (0..10).map(|_| ex(8, 1)).collect();
        let c = TrainConfig {
            batch_tokens: Some(16),
            grad_accum: 2,
            ..cfg(8, true)
        };
        let plan = plan_epoch(&examples, &c, 0);
        // 10 rows, 2 rows per micro-batch, 2 micro-batches per step: 3 steps (2, 2, 1).
        assert_eq!(plan.len(), 3);
        assert_eq!(plan[0].len(), 2);
        assert_eq!(plan[0][0].len(), 2);
        assert_eq!(plan[2].len(), 1);
    }

    #[test]
    fn targets_never_cross_examples() {
        let examples = vec![ex(4, 2), ex(3, 0)];
        let mb = micro_batch(&examples, &[vec![0, 1]], 0);
        assert_eq!(mb.batch.segments[0], vec![1, 1, 1, 1, 2, 2, 2]);
        // Predictions at p = 0..6 of tokens 1..7. The second example flags its first
        // token (index 4), but predicting it from the first example would cross examples.
        assert_eq!(mb.weights, vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
        assert_eq!(mb.loss_tokens, 4);
        assert_eq!(mb.targets[0], examples[0].ids[1]);
        assert_eq!(mb.tokens, 7);
    }
}
