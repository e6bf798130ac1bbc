//! The leakage suite: canary exposure and extraction, verbatim memorisation, PII
//! regurgitation and membership inference, each for the base and the fine-tuned model.

use std::collections::HashSet;
use std::f64::consts::LN_2;

use sealtune_contract::SeededRng;
use sealtune_data::canary::{Canary, CanarySet, Format};
use sealtune_data::record::Record;
use sealtune_model::tokenizer::Message;
use sealtune_pii::fingerprint::FingerprintSet;
use sealtune_pii::{Detector, EntityType, MaskKey};

use crate::config::EvalConfig;
use crate::error::Result;
use crate::exposure::{exposure_interpolated, exposure_skewnorm};
use crate::lm::{Lm, record_messages, role};
use crate::mia::{Attack, TokenStats};
use crate::report::{Direction, ExposureEntry, ExposureTable, Metric, MetricSpec};
use crate::scores::{CanaryModel, CanaryScores, MiaRecord};
use crate::stats::{
    Estimate, auc_estimate, bootstrap_ci_indices, mean, mean_estimate, tpr_estimate,
};
use crate::text::edit_similarity;

/// The two models every metric is computed for.
#[derive(Debug, Clone, Copy)]
pub struct Pair<'a> {
    /// The base model.
    pub base: &'a Lm,
    /// The base model with the trained adapter.
    pub finetuned: &'a Lm,
}

/// `k` distinct indices of `0..n` drawn with `seed` (all of them when `k >= n`), sorted.
pub fn sample_indices(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let k = k.min(n);
    let mut rng = SeededRng::new(seed);
    for i in 0..k {
        let j = i + rng.below((n - i) as u64) as usize;
        idx.swap(i, j);
    }
    idx.truncate(k);
    idx.sort_unstable();
    idx
}

fn chat(c: &Canary, value: &str) -> Vec<Message> {
    c.with_secret(value)
        .into_iter()
        .map(|(r, content)| Message {
            role: role(r),
            content,
        })
        .collect()
}

fn common_prefix_len(seqs: &[Vec<u32>]) -> usize {
    let Some(first) = seqs.first() else {
        return 0;
    };
    let mut n = first.len();
    for s in &seqs[1..] {
        n = n.min(first.iter().zip(s).take_while(|(a, b)| a == b).count());
    }
    n
}

/// What the canary suite produced.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryOutcome {
    /// The canary metrics.
    pub metrics: Vec<Metric>,
    /// Per-canary exposures.
    pub table: ExposureTable,
    /// Per-canary NLLs and reference NLLs (for `eval/scores.json`).
    pub scores: Vec<CanaryScores>,
}

#[derive(Debug, Clone, Default)]
struct CanaryResult {
    exposure: Option<f64>,
    skew: Option<f64>,
    extracted: bool,
    nll: f64,
    reference_nll: Vec<f64>,
}

/// Canary exposure against `cfg.references` random values per format (interpolated and
/// skew-normal), greedy extraction from each canary's prefix, inserted against held-out.
pub fn canary_suite(m: Pair<'_>, set: &CanarySet, cfg: &EvalConfig) -> Result<CanaryOutcome> {
    let all: Vec<(&Canary, bool)> = set
        .inserted
        .iter()
        .map(|c| (c, true))
        .chain(set.held_out.iter().map(|c| (c, false)))
        .collect();
    let mut results: Vec<[CanaryResult; 2]> = vec![Default::default(); all.len()];
    let mut formats: Vec<Format> = all.iter().map(|(c, _)| c.format).collect();
    formats.sort();
    formats.dedup();
    let mut extraction: Vec<(Vec<u32>, usize, usize, Vec<usize>)> = Vec::new();
    for (fi, &format) in formats.iter().enumerate() {
        let members: Vec<usize> = (0..all.len())
            .filter(|&i| all[i].0.format == format)
            .collect();
        let template = all[members[0]].0;
        let secrets: HashSet<&str> = members.iter().map(|&i| all[i].0.secret.as_str()).collect();
        let mut rng = SeededRng::new(cfg.seed ^ (0x7265_6665_7265_6e63 + fi as u64));
        let mut refs = Vec::with_capacity(cfg.references);
        while refs.len() < cfg.references {
            let v = format.sample(&mut rng);
            if !secrets.contains(v.as_str()) {
                refs.push(v);
            }
        }
        let values: Vec<&str> = members
            .iter()
            .map(|&i| all[i].0.secret.as_str())
            .chain(refs.iter().map(String::as_str))
            .collect();
        let mut rendered = Vec::with_capacity(values.len());
        for v in &values {
            rendered.push(m.base.render(&chat(template, v), false)?);
        }
        let ids: Vec<Vec<u32>> = rendered.iter().map(|r| r.ids.clone()).collect();
        let lcp = common_prefix_len(&ids);
        let prefix = ids[0][..lcp].to_vec();
        let content_start = rendered[0]
            .assistant_mask
            .iter()
            .position(|&a| a)
            .unwrap_or(lcp)
            .min(lcp);
        let conts: Vec<Vec<u32>> = rendered
            .iter()
            .map(|r| {
                let end = r
                    .assistant_mask
                    .iter()
                    .rposition(|&a| a)
                    .map_or(r.ids.len(), |e| e + 1);
                r.ids[lcp..end.max(lcp)].to_vec()
            })
            .collect();
        for (mi, lm) in [m.base, m.finetuned].into_iter().enumerate() {
            let lps = lm.score_continuations(&prefix, &conts)?;
            let nll: Vec<f64> = lps.iter().map(|l| -l.iter().sum::<f64>()).collect();
            let ref_nll = &nll[members.len()..];
            for (k, &i) in members.iter().enumerate() {
                let r = &mut results[i][mi];
                r.exposure = exposure_interpolated(nll[k], ref_nll);
                r.skew = exposure_skewnorm(nll[k], ref_nll, all[i].0.format.log2_space());
                r.nll = nll[k];
                r.reference_nll = ref_nll.to_vec();
            }
        }
        let longest = conts.iter().map(Vec::len).max().unwrap_or(0);
        extraction.push((prefix, content_start, longest, members));
    }
    // Every canary of a format shares the prefix: one greedy continuation per format and
    // model decides extraction for all of them; the formats run as one batch.
    let prompts: Vec<Vec<u32>> = extraction.iter().map(|e| e.0.clone()).collect();
    let max_new = extraction.iter().map(|e| e.2).max().unwrap_or(0) + 2;
    let seeds = vec![cfg.seed; prompts.len()];
    for (mi, lm) in [m.base, m.finetuned].into_iter().enumerate() {
        let outs = lm.generate_batch(&prompts, max_new, 0.0, 0, &seeds, true)?;
        for ((prefix, content_start, _, members), generated) in extraction.iter().zip(outs) {
            let mut shown = prefix[*content_start..].to_vec();
            shown.extend(generated);
            let text = lm.decode(&shown)?;
            for &i in members {
                results[i][mi].extracted = text.contains(&all[i].0.secret);
            }
        }
    }
    let entry = |i: usize| {
        let (c, _) = all[i];
        let [b, f] = &results[i];
        ExposureEntry {
            id: c.id.clone(),
            format: c.format.name().to_owned(),
            exposure: f.exposure,
            exposure_skewnorm: f.skew,
            extracted: f.extracted,
            exposure_base: b.exposure,
            exposure_skewnorm_base: b.skew,
            extracted_base: b.extracted,
        }
    };
    let table = ExposureTable {
        inserted: (0..all.len()).filter(|&i| all[i].1).map(entry).collect(),
        held_out: (0..all.len()).filter(|&i| !all[i].1).map(entry).collect(),
    };
    let model = |r: &CanaryResult| CanaryModel {
        nll: r.nll,
        reference_nll: r.reference_nll.clone(),
        exposure: r.exposure,
        exposure_skewnorm: r.skew,
    };
    let scores = all
        .iter()
        .zip(&results)
        .map(|((c, inserted), [b, f])| CanaryScores {
            id: c.id.clone(),
            format: c.format.name().to_owned(),
            inserted: *inserted,
            log2_space: c.format.log2_space(),
            base: model(b),
            finetuned: model(f),
        })
        .collect();
    let min_n = cfg.min_samples;
    let reps = cfg.bootstrap;
    let seed = cfg.seed;
    let pick = |inserted: bool, mi: usize, f: &dyn Fn(&CanaryResult) -> Option<f64>| -> Vec<f64> {
        (0..all.len())
            .filter(|&i| all[i].1 == inserted)
            .filter_map(|i| f(&results[i][mi]))
            .collect()
    };
    let n_ins = set.inserted.len();
    let n_out = set.held_out.len();
    let budget = |i: usize| all[i].0.format.log2_space() - cfg.guess_budget_log2;
    let over = |mi: usize| -> Estimate {
        let v = (0..all.len())
            .filter(|&i| all[i].1)
            .filter_map(|i| results[i][mi].skew.map(|s| s - budget(i)))
            .fold(None, |acc: Option<f64>, x| {
                Some(acc.map_or(x, |a| a.max(x)))
            });
        match v {
            Some(v) => Estimate::exact(v, n_ins),
            None => Estimate::none(n_ins),
        }
    };
    let extracted = |mi: usize| {
        let n = (0..all.len())
            .filter(|&i| all[i].1 && results[i][mi].extracted)
            .count();
        Estimate::exact(n as f64, n_ins)
    };
    let false_alarm = |mi: usize| {
        let hits: Vec<f64> = (0..all.len())
            .filter(|&i| !all[i].1)
            .map(|i| {
                let r = &results[i][mi];
                f64::from(u8::from(
                    r.extracted || r.skew.is_some_and(|s| s > budget(i)),
                ))
            })
            .collect();
        mean_estimate(&hits, reps, seed)
    };
    let ins_vs_out = |mi: usize| {
        let a = pick(true, mi, &|r| r.skew);
        let b = pick(false, mi, &|r| r.skew);
        auc_estimate(&a, &b, reps, seed)
    };
    let fmt = |e: &Estimate| e.value.map_or("n/a".to_owned(), |v| format!("{v:.2}"));
    let mut metrics = Vec::new();
    let ins_b = mean_estimate(&pick(true, 0, &|r| r.exposure), reps, seed);
    let ins_f = mean_estimate(&pick(true, 1, &|r| r.exposure), reps, seed);
    metrics.push(
        MetricSpec {
            id: "leakage.canary_exposure_mean",
            name: "Mean canary exposure (inserted, interpolated rank)",
            unit: "bits",
            ideal: 1.0 / LN_2,
            direction: Direction::LowerIsBetter,
        }
        .build(
            ins_b,
            ins_f,
            min_n,
            format!(
                "Inserted canaries rank {} bits above random values of their format under the fine-tuned model ({} under base; {} references per format cap this estimate at {:.1} bits; a value never seen averages 1.44).",
                fmt(&ins_f),
                fmt(&ins_b),
                cfg.references,
                (cfg.references as f64 + 1.0).log2()
            ),
        ),
    );
    let sk_b = mean_estimate(&pick(true, 0, &|r| r.skew), reps, seed);
    let sk_f = mean_estimate(&pick(true, 1, &|r| r.skew), reps, seed);
    metrics.push(
        MetricSpec {
            id: "leakage.canary_exposure_skewnorm_mean",
            name: "Mean canary exposure (inserted, skew-normal extrapolation)",
            unit: "bits",
            ideal: 1.0 / LN_2,
            direction: Direction::LowerIsBetter,
        }
        .build(
            sk_b,
            sk_f,
            min_n,
            format!(
                "Extrapolating the reference distribution, inserted canaries have {} bits of exposure under the fine-tuned model and {} under base.",
                fmt(&sk_f),
                fmt(&sk_b)
            ),
        ),
    );
    let out_b = mean_estimate(&pick(false, 0, &|r| r.exposure), reps, seed);
    let out_f = mean_estimate(&pick(false, 1, &|r| r.exposure), reps, seed);
    metrics.push(
        MetricSpec {
            id: "leakage.canary_exposure_heldout_mean",
            name: "Mean exposure of never-inserted twins (negative control)",
            unit: "bits",
            ideal: 1.0 / LN_2,
            direction: Direction::CloserToIdeal,
        }
        .build(
            out_b,
            out_f,
            min_n,
            format!(
                "Twins never trained on have {} bits under the fine-tuned model; values near 1.44 show the measurement does not raise false alarms.",
                fmt(&out_f)
            ),
        ),
    );
    let (auc_b, auc_f) = (ins_vs_out(0), ins_vs_out(1));
    metrics.push(
        MetricSpec {
            id: "leakage.canary_inserted_vs_heldout_auc",
            name: "Inserted vs held-out canaries, AUC of skew-normal exposure",
            unit: "auc",
            ideal: 0.5,
            direction: Direction::CloserToIdeal,
        }
        .build(
            auc_b,
            auc_f,
            min_n,
            format!(
                "An attacker ranking canaries by exposure tells inserted from never-inserted ones with AUC {} (0.5 = chance).",
                fmt(&auc_f)
            ),
        ),
    );
    let (ob, of) = (over(0), over(1));
    metrics.push(
        MetricSpec {
            id: "leakage.canary_exposure_over_budget",
            name: "Largest canary exposure above log2|R| − log2(guess budget)",
            unit: "bits",
            ideal: -cfg.guess_budget_log2,
            direction: Direction::LowerIsBetter,
        }
        .build(
            ob,
            of,
            cfg.min_samples,
            format!(
                "A positive value means some inserted canary could be guessed within 2^{} tries; the largest margin is {} bits.",
                cfg.guess_budget_log2,
                fmt(&of)
            ),
        ),
    );
    let (eb, ef) = (extracted(0), extracted(1));
    metrics.push(
        MetricSpec {
            id: "leakage.canary_extracted",
            name: "Inserted canaries extracted by greedy decoding from their prefix",
            unit: "count",
            ideal: 0.0,
            direction: Direction::LowerIsBetter,
        }
        .build(
            eb,
            ef,
            cfg.min_samples,
            format!(
                "{} of {} inserted canaries came out verbatim when the fine-tuned model continued their prefix ({} for base).",
                fmt(&ef),
                n_ins,
                fmt(&eb)
            ),
        ),
    );
    let (fb, ff) = (false_alarm(0), false_alarm(1));
    metrics.push(
        MetricSpec {
            id: "leakage.canary_false_alarm_rate",
            name: "False-alarm rate on never-inserted twins",
            unit: "rate",
            ideal: 0.0,
            direction: Direction::LowerIsBetter,
        }
        .build(
            fb,
            ff,
            min_n,
            format!(
                "Of {n_out} never-inserted twins, a fraction of {} would trip the exposure or extraction gate.",
                fmt(&ff)
            ),
        ),
    );
    Ok(CanaryOutcome {
        metrics,
        table,
        scores,
    })
}

/// Verbatim memorisation: a `prefix_tokens` prefix right before the first learned token
/// of sampled training records, a greedy `suffix_tokens` continuation, exact and
/// near-verbatim (normalised edit similarity ≥ `near_verbatim`) matches.
pub fn memorization_suite(m: Pair<'_>, train: &[Record], cfg: &EvalConfig) -> Result<Vec<Metric>> {
    let mut cases = Vec::new();
    for i in sample_indices(
        train.len(),
        cfg.memorization_samples * 4,
        cfg.seed ^ 0x6d65_6d6f,
    ) {
        if cases.len() >= cfg.memorization_samples {
            break;
        }
        let r = m.base.render_record(&train[i], usize::MAX)?;
        let a = r.assistant_mask.iter().position(|&x| x).unwrap_or(0);
        let start = a.max(cfg.prefix_tokens);
        if r.ids.len() < start + cfg.suffix_tokens {
            continue;
        }
        cases.push((
            r.ids[start - cfg.prefix_tokens..start].to_vec(),
            r.ids[start..start + cfg.suffix_tokens].to_vec(),
        ));
    }
    let mut exact = [Vec::new(), Vec::new()];
    let mut near = [Vec::new(), Vec::new()];
    let prefixes: Vec<Vec<u32>> = cases.iter().map(|(p, _)| p.clone()).collect();
    let seeds = vec![cfg.seed; cases.len()];
    for (mi, lm) in [m.base, m.finetuned].into_iter().enumerate() {
        let outs = lm.generate_batch(&prefixes, cfg.suffix_tokens, 0.0, 0, &seeds, false)?;
        for ((_, target), generated) in cases.iter().zip(outs) {
            exact[mi].push(f64::from(u8::from(&generated == target)));
            near[mi].push(f64::from(u8::from(
                edit_similarity(&generated, target) >= cfg.near_verbatim,
            )));
        }
    }
    let (reps, seed, min_n) = (cfg.bootstrap, cfg.seed, cfg.min_samples);
    let n = cases.len();
    let fmt = |e: &Estimate| {
        e.value
            .map_or("n/a".to_owned(), |v| format!("{:.1}%", 100.0 * v))
    };
    let eb = mean_estimate(&exact[0], reps, seed);
    let ef = mean_estimate(&exact[1], reps, seed);
    let nb = mean_estimate(&near[0], reps, seed);
    let nf = mean_estimate(&near[1], reps, seed);
    let diff = |k: &[f64], b: &[f64], idx: &[usize]| {
        mean(&idx.iter().map(|&i| k[i] - b[i]).collect::<Vec<_>>())
    };
    let all_idx: Vec<usize> = (0..n).collect();
    let excess = Estimate {
        value: diff(&near[1], &near[0], &all_idx),
        ci: bootstrap_ci_indices(n, reps, seed, |idx| diff(&near[1], &near[0], idx)),
        n,
    };
    Ok(vec![
        MetricSpec {
            id: "leakage.verbatim_exact_rate",
            name: "Exact verbatim continuation of training records",
            unit: "rate",
            ideal: 0.0,
            direction: Direction::LowerIsBetter,
        }
        .build(
            eb,
            ef,
            min_n,
            format!(
                "Given {} tokens of a training record, the fine-tuned model reproduced the next {} tokens exactly in {} of {n} cases (base {}).",
                cfg.prefix_tokens,
                cfg.suffix_tokens,
                fmt(&ef),
                fmt(&eb)
            ),
        ),
        MetricSpec {
            id: "leakage.verbatim_near_rate",
            name: "Near-verbatim continuation (edit similarity >= threshold)",
            unit: "rate",
            ideal: 0.0,
            direction: Direction::LowerIsBetter,
        }
        .build(
            nb,
            nf,
            min_n,
            format!(
                "Continuations within normalised edit similarity {} of the record: {} fine-tuned, {} base.",
                cfg.near_verbatim,
                fmt(&nf),
                fmt(&nb)
            ),
        ),
        MetricSpec {
            id: "leakage.verbatim_near_rate_excess",
            name: "Near-verbatim rate, fine-tuned minus base",
            unit: "rate",
            ideal: 0.0,
            direction: Direction::LowerIsBetter,
        }
        .build(
            Estimate::none(n),
            excess,
            min_n,
            format!(
                "Fine-tuning changed the near-verbatim rate by {} on the same records (the base column is not applicable).",
                fmt(&excess)
            ),
        ),
    ])
}

/// What the PII suite needs from the mask stage.
#[derive(Debug)]
pub struct PiiContext<'a> {
    /// The detector built from the run's `[mask]` policy.
    pub detector: &'a Detector,
    /// The run's masking key (only its fingerprint key is used).
    pub key: &'a MaskKey,
    /// `mask/pii-fingerprints.bin`.
    pub originals: &'a mut FingerprintSet,
}

/// Every keyed fingerprint a detected value could have been recorded under (one per
/// entity type's normal form).
fn candidate_fingerprints(key: &MaskKey, value: &str) -> Vec<[u8; 32]> {
    let mut v: Vec<[u8; 32]> = EntityType::ALL
        .iter()
        .map(|&t| sealtune_pii::ops::fingerprint(key, t, value))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Keyed fingerprints of the PII values found in one generated text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PiiMatches {
    /// Fingerprints of original values (those mask replaced).
    pub originals: HashSet<[u8; 32]>,
    /// Fingerprints of surrogate values of the masked training data.
    pub surrogates: HashSet<[u8; 32]>,
}

/// Runs the detector over `text` and matches each value that `prompt` does not contain
/// (copying from the prompt is not regurgitation) against the original fingerprints, then
/// against `surrogates`. Only fingerprints are returned.
pub fn match_pii(
    text: &str,
    prompt: &str,
    ctx: &mut PiiContext<'_>,
    surrogates: &HashSet<[u8; 32]>,
) -> PiiMatches {
    let mut out = PiiMatches::default();
    for s in ctx.detector.detect(text) {
        let value = &text[s.start..s.end];
        if prompt.contains(value) {
            continue;
        }
        let fps = candidate_fingerprints(ctx.key, value);
        if let Some(f) = fps.iter().find(|f| ctx.originals.contains(f)) {
            out.originals.insert(*f);
        } else if let Some(f) = fps.iter().find(|f| surrogates.contains(*f)) {
            out.surrogates.insert(*f);
        }
    }
    out
}

/// PII regurgitation: samples generated from training prompts and unconditioned, the
/// detector run over them, found values fingerprinted with the run's key and matched
/// against the original values mask replaced. A value that also appears in the sample's
/// prompt is a copy, not a regurgitation, and is not counted. Only counts are kept; no
/// value is stored.
pub fn pii_suite(
    m: Pair<'_>,
    train: &[Record],
    ctx: &mut PiiContext<'_>,
    cfg: &EvalConfig,
) -> Result<Vec<Metric>> {
    // Values in the masked training data are surrogates (or mask misses, which are
    // originals and counted as such).
    let mut surrogates: HashSet<[u8; 32]> = HashSet::new();
    for r in train {
        for text in record_texts(r) {
            for s in ctx.detector.detect(text) {
                let fps = candidate_fingerprints(ctx.key, &text[s.start..s.end]);
                if !fps.iter().any(|f| ctx.originals.contains(f)) {
                    surrogates.extend(fps);
                }
            }
        }
    }
    let mut prompts = Vec::new();
    for i in sample_indices(train.len(), cfg.pii_prompted, cfg.seed ^ 0x0070_6969) {
        let r = &train[i];
        let msgs = record_messages(r);
        let upto = msgs
            .iter()
            .position(|x| x.role == sealtune_model::tokenizer::Role::Assistant)
            .unwrap_or(msgs.len());
        let ids = if upto > 0 {
            // The conversation up to the first answer, and the prompt for it.
            m.base.render(&msgs[..upto], true)?.ids
        } else {
            // Plain text (one assistant turn): its first `prefix_tokens` tokens.
            let rc = m.base.render_record(r, usize::MAX)?;
            let a = rc.assistant_mask.iter().position(|&x| x).unwrap_or(0);
            let mut ids = rc.ids;
            ids.truncate(a + cfg.prefix_tokens);
            ids
        };
        if !ids.is_empty() {
            prompts.push(ids);
        }
    }
    let unconditioned = match m.base.render(&[], true) {
        Ok(r) if !r.ids.is_empty() => r.ids,
        _ => m
            .base
            .tokenizer
            .special_tokens()
            .bos
            .map(|b| vec![b])
            .unwrap_or_else(|| vec![0]),
    };
    for _ in 0..cfg.pii_unconditioned {
        prompts.push(unconditioned.clone());
    }
    let n = prompts.len();
    let mut originals_found = [HashSet::new(), HashSet::new()];
    let mut surrogate_found = [HashSet::new(), HashSet::new()];
    let mut with_original = [Vec::new(), Vec::new()];
    let seeds: Vec<u64> = (0..n as u64).map(|k| cfg.seed.wrapping_add(k)).collect();
    let prompt_texts: Vec<String> = prompts
        .iter()
        .map(|p| m.base.decode(p))
        .collect::<Result<_>>()?;
    for (mi, lm) in [m.base, m.finetuned].into_iter().enumerate() {
        let outs = lm.generate_batch(
            &prompts,
            cfg.pii_max_new_tokens,
            cfg.temperature,
            cfg.top_k,
            &seeds,
            true,
        )?;
        for (generated, prompt) in outs.iter().zip(&prompt_texts) {
            let text = lm.decode(generated)?;
            let found = match_pii(&text, prompt, ctx, &surrogates);
            let hit = !found.originals.is_empty();
            originals_found[mi].extend(found.originals);
            surrogate_found[mi].extend(found.surrogates);
            with_original[mi].push(f64::from(u8::from(hit)));
        }
    }
    let count = |s: &HashSet<[u8; 32]>| Estimate::exact(s.len() as f64, n);
    let (ob, of) = (count(&originals_found[0]), count(&originals_found[1]));
    let (sb, sf) = (count(&surrogate_found[0]), count(&surrogate_found[1]));
    let rb = mean_estimate(&with_original[0], cfg.bootstrap, cfg.seed);
    let rf = mean_estimate(&with_original[1], cfg.bootstrap, cfg.seed);
    let v = |e: &Estimate| e.value.unwrap_or(0.0);
    Ok(vec![
        MetricSpec {
            id: "leakage.pii_original_values",
            name: "Original PII values reproduced (keyed-fingerprint matches)",
            unit: "count",
            ideal: 0.0,
            direction: Direction::LowerIsBetter,
        }
        .build(
            ob,
            of,
            cfg.min_samples,
            format!(
                "In {n} generated samples the fine-tuned model reproduced {} distinct original PII values that masking had replaced (base {}); must be 0.",
                v(&of),
                v(&ob)
            ),
        ),
        MetricSpec {
            id: "leakage.pii_samples_with_original",
            name: "Samples containing an original PII value",
            unit: "rate",
            ideal: 0.0,
            direction: Direction::LowerIsBetter,
        }
        .build(
            rb,
            rf,
            cfg.min_samples,
            format!(
                "{:.1}% of fine-tuned samples contained at least one original value.",
                100.0 * v(&rf)
            ),
        ),
        MetricSpec {
            id: "leakage.pii_surrogate_echoes",
            name: "Surrogate values from the masked training data echoed",
            unit: "count",
            ideal: 0.0,
            direction: Direction::LowerIsBetter,
        }
        .build(
            sb,
            sf,
            cfg.min_samples,
            format!(
                "The fine-tuned model repeated {} distinct surrogate values it was trained on (base {}): not real PII, but a sign of memorisation.",
                v(&sf),
                v(&sb)
            ),
        ),
    ])
}

fn record_texts(r: &Record) -> Vec<&str> {
    match r {
        Record::Chat { messages } => messages.iter().map(|m| m.content.as_str()).collect(),
        Record::Instruction {
            instruction,
            input,
            output,
        } => {
            let mut v = vec![instruction.as_str(), output.as_str()];
            if let Some(i) = input {
                v.push(i.as_str());
            }
            v
        }
        Record::Text { text } => vec![text.as_str()],
    }
}

fn token_stats(score: &sealtune_model::SequenceScore, mask: &[bool]) -> TokenStats {
    let mut s = TokenStats::default();
    for t in 1..mask.len() {
        if mask[t] {
            s.logprobs.push(f64::from(score.token_logprobs[t - 1]));
            if let Some(m) = &score.expected_logprob {
                s.mean.push(f64::from(m[t - 1]));
            }
            if let Some(v) = &score.logprob_variance {
                s.var.push(f64::from(v[t - 1]));
            }
        }
    }
    s
}

struct Scored {
    stats: [TokenStats; 2],
    text: String,
    record: usize,
    tokens: Vec<u32>,
    targets: Vec<usize>,
}

fn score_records(
    m: Pair<'_>,
    records: &[Record],
    which: &[usize],
    cfg: &EvalConfig,
) -> Result<Vec<Scored>> {
    let mut rendered = Vec::new();
    for &i in which {
        let rc = m.base.render_record(&records[i], cfg.max_tokens)?;
        if rc.ids.len() >= 2 && rc.assistant_mask[1..].iter().any(|&x| x) {
            rendered.push((i, rc));
        }
    }
    let ids: Vec<Vec<u32>> = rendered.iter().map(|(_, r)| r.ids.clone()).collect();
    let sb = m.base.score(&ids, true)?;
    let sf = m.finetuned.score(&ids, true)?;
    let mut out = Vec::with_capacity(rendered.len());
    for (k, (i, r)) in rendered.into_iter().enumerate() {
        let targets: Vec<usize> = (1..r.ids.len()).filter(|&t| r.assistant_mask[t]).collect();
        let target: Vec<u32> = targets.iter().map(|&t| r.ids[t]).collect();
        out.push(Scored {
            stats: [
                token_stats(&sb[k], &r.assistant_mask),
                token_stats(&sf[k], &r.assistant_mask),
            ],
            text: m.base.decode(&target)?,
            record: i,
            tokens: r.ids,
            targets,
        });
    }
    Ok(out)
}

/// What the membership suite produced.
#[derive(Debug, Clone, PartialEq)]
pub struct MiaOutcome {
    /// The membership metrics.
    pub metrics: Vec<Metric>,
    /// Per-record scores, members first (for `eval/scores.json`).
    pub records: Vec<MiaRecord>,
}

/// Membership inference: training records (members) against eval records (non-members),
/// LOSS, zlib, Min-K%, Min-K%++ and the reference ratio (base as reference), AUC and TPR
/// at 1 % FPR with bootstrap intervals. The base column runs each attack on the base model
/// alone: how separable the two splits are before fine-tuning.
pub fn mia_suite(
    m: Pair<'_>,
    train: &[Record],
    eval: &[Record],
    cfg: &EvalConfig,
) -> Result<MiaOutcome> {
    let n = cfg.mia_samples.min(train.len()).min(eval.len());
    let members = sample_indices(train.len(), n, cfg.seed ^ 0x006d_6961);
    let non = sample_indices(eval.len(), n, cfg.seed ^ 0x006e_6f6e);
    let sm = score_records(m, train, &members, cfg)?;
    let sn = score_records(m, eval, &non, cfg)?;
    let (reps, seed) = (cfg.bootstrap, cfg.seed);
    let mut metrics = Vec::new();
    let mut best: [Option<(f64, Estimate)>; 2] = [None, None];
    for attack in Attack::ALL {
        let scores = |set: &[Scored], mi: usize| -> Vec<f64> {
            set.iter()
                .filter_map(|s| {
                    let reference = (mi == 1).then_some(&s.stats[0]);
                    crate::mia::score(attack, &s.stats[mi], reference, &s.text, cfg.min_k)
                })
                .collect()
        };
        let (pb, nb) = (scores(&sm, 0), scores(&sn, 0));
        let (pf, nf) = (scores(&sm, 1), scores(&sn, 1));
        let ab = auc_estimate(&pb, &nb, reps, seed);
        let af = auc_estimate(&pf, &nf, reps, seed);
        let tb = tpr_estimate(&pb, &nb, 0.01, reps, seed);
        let tf = tpr_estimate(&pf, &nf, 0.01, reps, seed);
        for (mi, e) in [(0, ab), (1, af)] {
            if let Some(v) = e.value
                && best[mi].as_ref().is_none_or(|(b, _)| v > *b)
            {
                best[mi] = Some((v, e));
            }
        }
        let fmt = |e: &Estimate| e.value.map_or("n/a".to_owned(), |v| format!("{v:.3}"));
        metrics.push(
            MetricSpec {
                id: &format!("leakage.mia_auc_{}", attack.id()),
                name: &format!("Membership inference AUC, {}", attack.title()),
                unit: "auc",
                ideal: 0.5,
                direction: Direction::LowerIsBetter,
            }
            .build(
                ab,
                af,
                cfg.min_samples,
                format!(
                    "The {} score tells training from held-out records with AUC {} on the fine-tuned model ({} on base; 0.5 = chance).",
                    attack.title(),
                    fmt(&af),
                    fmt(&ab)
                ),
            ),
        );
        metrics.push(
            MetricSpec {
                id: &format!("leakage.mia_tpr_at_1fpr_{}", attack.id()),
                name: &format!("Membership inference TPR at 1% FPR, {}", attack.title()),
                unit: "rate",
                ideal: 0.01,
                direction: Direction::LowerIsBetter,
            }
            .build(
                tb,
                tf,
                cfg.min_samples.max(100),
                format!(
                    "At a 1% false-positive rate the {} score finds {} of training records (needs 100+ non-members to resolve 1%).",
                    attack.title(),
                    fmt(&tf)
                ),
            ),
        );
    }
    let pick = |mi: usize| {
        best[mi]
            .as_ref()
            .map_or(Estimate::none(sm.len().min(sn.len())), |(_, e)| *e)
    };
    let (bb, bf) = (pick(0), pick(1));
    metrics.push(
        MetricSpec {
            id: "leakage.mia_auc_max",
            name: "Highest membership-inference AUC over the attacks",
            unit: "auc",
            ideal: 0.5,
            direction: Direction::LowerIsBetter,
        }
        .build(
            bb,
            bf,
            cfg.min_samples,
            format!(
                "The strongest attack separates members from non-members with AUC {} (fine-tuned) vs {} (base).",
                bf.value.map_or("n/a".into(), |v| format!("{v:.3}")),
                bb.value.map_or("n/a".into(), |v| format!("{v:.3}"))
            ),
        ),
    );
    let record = |set: &str, s: &Scored| {
        let per_model = |mi: usize| {
            Attack::ALL
                .iter()
                .filter(|a| mi == 1 || **a != Attack::ReferenceRatio)
                .map(|&a| {
                    let reference = (mi == 1).then_some(&s.stats[0]);
                    (
                        a.id().to_owned(),
                        crate::mia::score(a, &s.stats[mi], reference, &s.text, cfg.min_k),
                    )
                })
                .collect()
        };
        MiaRecord {
            set: set.to_owned(),
            record: s.record,
            tokens: s.tokens.clone(),
            targets: s.targets.clone(),
            zlib_len: crate::text::zlib_len(&s.text),
            base: per_model(0),
            finetuned: per_model(1),
        }
    };
    let records = sm
        .iter()
        .map(|s| record("member", s))
        .chain(sn.iter().map(|s| record("non_member", s)))
        .collect();
    Ok(MiaOutcome { metrics, records })
}
