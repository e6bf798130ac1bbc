//! `MODEL_CARD.md`: Hugging Face YAML front matter and the reviewer sections.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::error::CardError;
use crate::facts::{Eval, ExposureEntry, Fact, Gate, Metric, RunFacts, Training};
use sealtune_contract::artifacts::eval::{Direction, Evidence};

/// Level-2 headings every card has, in order. Tests and reviewers rely on them.
pub const SECTIONS: [&str; 11] = [
    "Model details",
    "Intended use",
    "Out-of-scope use",
    "Data lineage",
    "Training procedure",
    "Evaluation",
    "Accepted gate failures",
    "Security",
    "Limitations and recommendations",
    "Sign-off",
    "Stage records",
];

/// Marker the HTML page replaces with a plot (`loss`, `exposure`, `groups`).
pub fn figure_marker(name: &str) -> String {
    format!("<!-- figure:{name} -->")
}

/// How every number appears in the card: integers without decimals, other
/// values with up to 4 decimals (trailing zeros dropped), very small ones in
/// scientific notation.
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    if x.abs() < 1e-3 {
        return format!("{x:.3e}");
    }
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

fn opt_num(x: Option<f64>) -> String {
    x.map_or_else(|| "not available".to_owned(), fmt_num)
}

fn ci(c: Option<[f64; 2]>) -> String {
    c.map_or_else(
        || "not available".to_owned(),
        |[lo, hi]| format!("[{}, {}]", fmt_num(lo), fmt_num(hi)),
    )
}

/// Escapes text for a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        head.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

fn not_available<T>(out: &mut String, f: &Fact<T>) {
    if let Fact::NotAvailable(r) = f {
        let _ = writeln!(out, "*{}*\n", cap(r));
    }
}

fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The Hugging Face `model-index` entry.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ModelIndex {
    /// Model name.
    pub name: String,
    /// One result per eval suite.
    pub results: Vec<IndexResult>,
}

/// One `model-index` result.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct IndexResult {
    /// The task.
    pub task: IndexTask,
    /// The dataset.
    pub dataset: IndexDataset,
    /// Metrics.
    pub metrics: Vec<IndexMetric>,
}

/// `task` of a result.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct IndexTask {
    /// Task id, e.g. `text-generation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Display name.
    pub name: String,
}

/// `dataset` of a result.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct IndexDataset {
    /// Dataset id.
    #[serde(rename = "type")]
    pub kind: String,
    /// Display name.
    pub name: String,
    /// Split.
    pub split: String,
}

/// One metric of a result.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct IndexMetric {
    /// Metric id.
    #[serde(rename = "type")]
    pub kind: String,
    /// Value.
    pub value: f64,
    /// Display name.
    pub name: String,
    /// Always false: self-reported.
    pub verified: bool,
}

/// The YAML front matter.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct FrontMatter {
    /// Base model id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_model: Option<String>,
    /// `adapter` or `merge`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_model_relation: Option<String>,
    /// Always `peft`.
    pub library_name: String,
    /// Licence id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Input datasets, named `sha256:<hex>`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub datasets: Vec<String>,
    /// Eval results in HF's schema.
    #[serde(rename = "model-index", skip_serializing_if = "Vec::is_empty", default)]
    pub model_index: Vec<ModelIndex>,
}

fn suite_title(s: &str) -> String {
    match s {
        "leakage" => "Leakage".into(),
        "bias" => "Bias".into(),
        other => cap(other),
    }
}

/// The front matter of a card.
pub fn front_matter(f: &RunFacts) -> FrontMatter {
    let t = f.training.known();
    let base_model = t.and_then(|t| t.base_model.name.clone());
    let relation = match (&base_model, &f.training) {
        (Some(_), Fact::Known(t)) => Some(if t.merged { "merge" } else { "adapter" }.to_owned()),
        _ => None,
    };
    let mut tags = vec!["sealtune".to_owned(), "lora".to_owned(), "peft".to_owned()];
    for tag in &f.card.tags {
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    let datasets = f
        .ingest
        .known()
        .map(|i| {
            i.files
                .iter()
                .map(|x| format!("sha256:{}", x.sha256))
                .collect()
        })
        .unwrap_or_default();
    let mut model_index = Vec::new();
    if let Some(e) = f.eval.known() {
        let mut by_suite: BTreeMap<&str, Vec<IndexMetric>> = BTreeMap::new();
        for m in &e.metrics {
            if let Some(v) = m.finetuned.value {
                by_suite.entry(&m.suite).or_default().push(IndexMetric {
                    kind: m.id.clone(),
                    value: v,
                    name: m.name.clone(),
                    verified: false,
                });
            }
        }
        let results: Vec<IndexResult> = by_suite
            .into_iter()
            .map(|(suite, metrics)| IndexResult {
                task: IndexTask {
                    kind: "text-generation".into(),
                    name: format!("{} evaluation", suite_title(suite)),
                },
                dataset: IndexDataset {
                    kind: format!("sealtune/{suite}"),
                    name: format!("sealtune {suite} suite on run {}", f.run_id),
                    split: "eval".into(),
                },
                metrics,
            })
            .collect();
        if !results.is_empty() {
            model_index.push(ModelIndex {
                name: f.model_name(),
                results,
            });
        }
    }
    FrontMatter {
        base_model,
        base_model_relation: relation,
        library_name: "peft".into(),
        license: f.license().known().cloned(),
        tags,
        datasets,
        model_index,
    }
}

/// One plain-language sentence about a metric: the eval suite's reading when
/// it gave one, else one built from the values and the direction.
pub fn metric_reading(m: &Metric) -> String {
    if !m.reading.trim().is_empty() {
        return m.reading.trim().to_owned();
    }
    if m.evidence == Evidence::Insufficient || m.finetuned.value.is_none() {
        return format!(
            "There was not enough evidence to measure {} reliably; do not rely on this figure.",
            m.name
        );
    }
    let want = match m.direction {
        Direction::LowerIsBetter => "lower is better".to_owned(),
        Direction::HigherIsBetter => "higher is better".to_owned(),
        Direction::CloserToIdeal => format!("closer to {} is better", fmt_num(m.ideal)),
    };
    format!(
        "{}: {} ({}) for the fine-tuned model against {} for the base model; {want}.",
        m.name,
        opt_num(m.finetuned.value),
        m.unit,
        opt_num(m.base.value)
    )
}

/// One plain-language sentence about a gate.
pub fn gate_reading(g: &Gate) -> String {
    let rule = format!("{} {} {}", g.metric, g.op, fmt_num(g.threshold));
    match (g.passed, g.accepted) {
        (true, _) => format!(
            "Passed: the {} model's value {} meets {rule}.",
            g.model,
            opt_num(g.value)
        ),
        (false, true) => format!(
            "Failed but accepted: the value {} does not meet {rule}; accepted because: {}",
            opt_num(g.value),
            g.reason.as_deref().unwrap_or("no reason recorded")
        ),
        (false, false) => format!(
            "FAILED: the value {} does not meet {rule}; the release stage refuses to seal.",
            opt_num(g.value)
        ),
    }
}

/// Per task and attribute, the largest difference in P(yes) between groups.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupGap {
    /// Task.
    pub task: String,
    /// Attribute.
    pub attribute: String,
    /// Gap under the base model.
    pub base: Option<f64>,
    /// Gap under the fine-tuned model.
    pub finetuned: Option<f64>,
}

fn gap(v: &[f64]) -> Option<f64> {
    if v.len() < 2 {
        return None;
    }
    let max = v.iter().copied().fold(f64::MIN, f64::max);
    let min = v.iter().copied().fold(f64::MAX, f64::min);
    Some(max - min)
}

/// Group gaps of an eval report, sorted by task and attribute.
pub fn group_gaps(e: &Eval) -> Vec<GroupGap> {
    type Pair = (Vec<f64>, Vec<f64>);
    let mut by: BTreeMap<(String, String), Pair> = BTreeMap::new();
    for g in &e.groups {
        let entry = by.entry((g.task.clone(), g.attribute.clone())).or_default();
        entry.0.push(g.p_yes_base);
        entry.1.push(g.p_yes_finetuned);
    }
    by.into_iter()
        .map(|((task, attribute), (b, f))| GroupGap {
            task,
            attribute,
            base: gap(&b),
            finetuned: gap(&f),
        })
        .collect()
}

/// Summary of exposures of one canary set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExposureSummary {
    /// Canaries with an exposure value.
    pub n: u64,
    /// Mean exposure in bits.
    pub mean: Option<f64>,
    /// Largest exposure in bits.
    pub max: Option<f64>,
    /// Canaries whose secret greedy decoding reproduced.
    pub extracted: u64,
}

/// Summarises a list of exposures.
pub fn exposure_summary(xs: &[ExposureEntry]) -> ExposureSummary {
    let vals: Vec<f64> = xs.iter().filter_map(|x| x.exposure).collect();
    let n = vals.len();
    ExposureSummary {
        n: n as u64,
        mean: (n > 0).then(|| vals.iter().sum::<f64>() / n as f64),
        max: vals.iter().copied().reduce(f64::max),
        extracted: xs.iter().filter(|x| x.extracted).count() as u64,
    }
}

/// Identifier types the masker does not detect (see docs/PII.md).
pub const NOT_COVERED: [&str; 6] = [
    "vehicle identifiers, serial numbers and licence plates",
    "device identifiers and serial numbers other than MAC addresses",
    "biometric identifiers and full-face photographs (text only)",
    "cities, counties or neighbourhoods named alone, and non-US address formats",
    "relative dates (\"last Tuesday\") and numeric day-month without a year",
    "account, member or record numbers written without a context word",
];

fn model_details(out: &mut String, f: &RunFacts) {
    let _ = writeln!(out, "## Model details\n");
    let _ = writeln!(out, "- **Model name:** {}", f.model_name());
    match &f.training {
        Fact::Known(t) => {
            let b = &t.base_model;
            let _ = writeln!(
                out,
                "- **Base model:** {} (loaded from `{}`)",
                b.name.as_deref().unwrap_or("name not stated in [model]"),
                b.path
            );
            let _ = writeln!(
                out,
                "- **Relation to the base model:** {}",
                if t.merged {
                    "adapter, also released merged into the base weights"
                } else {
                    "adapter (the base model is needed to use it)"
                }
            );
            let a = &t.adapter;
            let _ = writeln!(
                out,
                "- **Adapter:** {} rank {}, alpha {}, dropout {}, rsLoRA {}, on {}; {} trainable parameters",
                a.kind.to_uppercase(),
                a.rank,
                fmt_num(a.alpha),
                fmt_num(a.dropout),
                if a.use_rslora { "on" } else { "off" },
                a.targets.join(", "),
                a.trainable_parameters
            );
        }
        Fact::NotAvailable(r) => {
            let _ = writeln!(out, "- **Base model and adapter:** {r}");
        }
    }
    let _ = writeln!(out, "- **License:** {}", fact_text(&f.license()));
    match &f.signature {
        Fact::Known(s) => {
            let _ = writeln!(out, "- **OMS root digest:** `sha256:{}`", s.root_digest);
        }
        Fact::NotAvailable(r) => {
            let _ = writeln!(out, "- **OMS root digest:** {r}");
        }
    }
    if let Some(c) = &f.card.contact {
        let _ = writeln!(out, "- **Contact:** {c}");
    }
    out.push('\n');
    if let Fact::Known(t) = &f.training {
        let _ = writeln!(out, "Base model files:\n");
        let rows: Vec<Vec<String>> = t
            .base_model
            .files
            .iter()
            .map(|x| {
                vec![
                    format!("`{}`", x.name),
                    format!("`{}`", x.sha256),
                    x.bytes.map_or("not recorded".into(), |b| b.to_string()),
                ]
            })
            .collect();
        table(out, &["File", "SHA-256", "Bytes"], &rows);
        let _ = writeln!(out, "Adapter files (before sealing):\n");
        let rows: Vec<Vec<String>> = t
            .adapter
            .files
            .iter()
            .map(|x| vec![format!("`{}`", x.name), format!("`{}`", x.sha256)])
            .collect();
        table(out, &["File", "SHA-256"], &rows);
    }
}

fn fact_text(f: &Fact<String>) -> String {
    match f {
        Fact::Known(s) => s.clone(),
        Fact::NotAvailable(r) => r.clone(),
    }
}

fn uses(out: &mut String, f: &RunFacts) {
    let _ = writeln!(out, "## Intended use\n");
    match &f.card.intended_use {
        Some(u) => {
            let _ = writeln!(out, "{u}\n");
        }
        None => {
            let _ = writeln!(
                out,
                "*Not stated: set `[release.card] intended_use` in the config.*\n"
            );
        }
    }
    let _ = writeln!(out, "## Out-of-scope use\n");
    if f.card.out_of_scope_use.is_empty() {
        let _ = writeln!(
            out,
            "*Not stated: set `[release.card] out_of_scope_use` in the config.*\n"
        );
    } else {
        for u in &f.card.out_of_scope_use {
            let _ = writeln!(out, "- {u}");
        }
        out.push('\n');
    }
}

fn lineage(out: &mut String, f: &RunFacts) {
    let _ = writeln!(out, "## Data lineage\n");
    let _ = writeln!(out, "### Input files\n");
    match &f.ingest {
        Fact::Known(i) => {
            let rows: Vec<Vec<String>> = i
                .files
                .iter()
                .map(|x| {
                    vec![
                        format!("`{}`", x.path),
                        format!("`{}`", x.sha256),
                        x.bytes.to_string(),
                        x.read.to_string(),
                        x.accepted.to_string(),
                        x.duplicates.to_string(),
                        x.quarantined.to_string(),
                    ]
                })
                .collect();
            table(
                out,
                &[
                    "File",
                    "SHA-256",
                    "Bytes",
                    "Read",
                    "Accepted",
                    "Duplicates",
                    "Quarantined",
                ],
                &rows,
            );
            let t = &i.totals;
            let _ = writeln!(
                out,
                "Format `{}`. In total {} records read, {} accepted, {} exact duplicates dropped, {} quarantined; split {} train / {} eval ({}).\n",
                i.format,
                t.read,
                t.accepted,
                t.duplicates,
                t.quarantined,
                t.train,
                t.eval,
                serde_json::to_string(&i.split).unwrap_or_default()
            );
        }
        Fact::NotAvailable(_) => not_available(out, &f.ingest),
    }
    let _ = writeln!(out, "### Masking\n");
    match &f.mask {
        Fact::Known(m) => {
            if m.plaintext_kept() > 0 {
                let _ = writeln!(
                    out,
                    "**Warning: masking was turned off.** {} detected PII values ({}) were kept in plaintext (operator `keep`, `allow_plaintext = true`): this model was trained on unmasked personal data. That is meant only for positive controls on synthetic data.\n",
                    m.plaintext_kept(),
                    m.plaintext_kept_by_type
                        .iter()
                        .map(|(t, n)| format!("`{t}` {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let r = &m.records;
            let _ = writeln!(
                out,
                "Records: {} in, {} train, {} eval, {} dropped by policy, {} quarantined. Masking key id `{}`; {} distinct keyed fingerprints of replaced values kept for the regurgitation test (no plaintext).\n",
                r.read,
                r.train,
                r.eval,
                r.dropped,
                r.quarantined,
                m.mask_key_id,
                m.distinct_fingerprints
            );
            let rows: Vec<Vec<String>> = m
                .replacements_by_type
                .iter()
                .map(|(t, n)| vec![format!("`{t}`"), n.to_string()])
                .collect();
            if rows.is_empty() {
                let _ = writeln!(out, "No PII was found to replace.\n");
            } else {
                table(out, &["PII type", "Replacements"], &rows);
            }
            match &m.residual {
                Some(r) => {
                    let _ = writeln!(
                        out,
                        "Possible unmasked PII after masking (residual sweep): {} over {} records written ({}). A high-recall count of shapes in the masked output that may be PII the detector missed (names after a title or role word, 7+ digit runs, street address lines); an upper bound to guide review, not a count of leaks and not a guarantee. No values are recorded.\n",
                        r.total,
                        r.swept_records,
                        r.by_type
                            .iter()
                            .map(|(t, n)| format!("`{t}` {n}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "Possible unmasked PII after masking (residual sweep): not recorded (mask/report.json has no `residual`).\n"
                    );
                }
            }
            let p = &m.policy;
            let _ = writeln!(
                out,
                "Policy: default operator `{}`, default threshold {}, per-type operators {}, entities {}.\n",
                p["default_operator"].as_str().unwrap_or("not recorded"),
                p["default_threshold"]
                    .as_f64()
                    .map_or("not recorded".into(), fmt_num),
                serde_json::to_string(&p["operators"]).unwrap_or_default(),
                if p["entities"].is_null() {
                    "all".to_owned()
                } else {
                    serde_json::to_string(&p["entities"]).unwrap_or_default()
                }
            );
        }
        Fact::NotAvailable(_) => not_available(out, &f.mask),
    }
    match &f.masked_data {
        Fact::Known(files) => {
            let _ = writeln!(out, "Masked records training read:\n");
            let rows: Vec<Vec<String>> = files
                .iter()
                .map(|x| {
                    vec![
                        format!("`{}`", x.name),
                        format!("`{}`", x.sha256),
                        x.bytes.map_or("not recorded".into(), |b| b.to_string()),
                    ]
                })
                .collect();
            table(out, &["File", "SHA-256", "Bytes"], &rows);
        }
        Fact::NotAvailable(_) => not_available(out, &f.masked_data),
    }
    let _ = writeln!(out, "### Canaries\n");
    match &f.canaries {
        Fact::Known(c) => {
            let _ = writeln!(
                out,
                "Synthetic canaries (formats {}, seed {}): {} inserted into training, each {} times; {} held out as references that training never saw. They are not PII; they measure memorisation.\n",
                c.formats.join(", "),
                c.seed,
                c.inserted,
                c.repeats,
                c.held_out
            );
        }
        Fact::NotAvailable(_) => not_available(out, &f.canaries),
    }
}

fn training(out: &mut String, f: &RunFacts) {
    let _ = writeln!(out, "## Training procedure\n");
    match &f.training {
        Fact::Known(t) => training_known(out, t),
        Fact::NotAvailable(_) => not_available(out, &f.training),
    }
    let _ = writeln!(out, "### Loss curve\n");
    match &f.loss_curve {
        Fact::Known(c) if !c.train.is_empty() => {
            let _ = writeln!(out, "{}\n", figure_marker("loss"));
            let n = c.train.len();
            let picks: Vec<usize> = if n <= 8 {
                (0..n).collect()
            } else {
                let mut v: Vec<usize> = (0..8).map(|i| i * (n - 1) / 7).collect();
                v.dedup();
                v
            };
            let rows: Vec<Vec<String>> = picks
                .into_iter()
                .map(|i| vec![c.train[i].step.to_string(), fmt_num(c.train[i].loss)])
                .collect();
            let _ = writeln!(
                out,
                "Training loss at {} of {} logged steps (the plot is in MODEL_CARD.html):\n",
                rows.len(),
                n
            );
            table(out, &["Step", "Training loss"], &rows);
            if !c.eval.is_empty() {
                let rows: Vec<Vec<String>> = c
                    .eval
                    .iter()
                    .map(|p| vec![p.step.to_string(), fmt_num(p.loss)])
                    .collect();
                table(out, &["Step", "Eval loss"], &rows);
            }
        }
        Fact::Known(_) => {
            let _ = writeln!(
                out,
                "*Not available: train/metrics.jsonl holds no training step.*\n"
            );
        }
        Fact::NotAvailable(_) => not_available(out, &f.loss_curve),
    }
}

fn training_known(out: &mut String, t: &Training) {
    let _ = writeln!(
        out,
        "- **Steps:** {}, epochs completed {}, tokens seen {}, loss tokens {}",
        t.steps,
        fmt_num(t.epochs_completed),
        t.tokens_seen,
        t.loss_tokens
    );
    let _ = writeln!(
        out,
        "- **Records:** {} train, {} eval, {} canary records",
        t.records.train, t.records.eval, t.records.canary_records
    );
    let _ = writeln!(
        out,
        "- **Final loss:** train {}, eval {}",
        opt_num(t.final_loss.train_loss),
        opt_num(t.final_loss.eval_loss)
    );
    let _ = writeln!(
        out,
        "- **Duration:** {} s wall time{}",
        fmt_num(t.wall_time_s),
        t.resumed_from_step
            .map_or(String::new(), |s| format!(", resumed from step {s}"))
    );
    // Every field, in the sorted order training.json lists them.
    let hw: Vec<String> = match serde_json::to_value(&t.hardware) {
        Ok(serde_json::Value::Object(m)) => m
            .iter()
            .map(|(k, v)| format!("{k} {}", json_scalar(v)))
            .collect(),
        _ => Vec::new(),
    };
    let _ = writeln!(out, "- **Hardware:** {}", hw.join(", "));
    let _ = writeln!(
        out,
        "- **Weights at rest:** {}",
        match &t.sealed_at_rest {
            Some(s) => format!(
                "sealed: the checkpoints and the trained adapter{} were written only encrypted, for {} key(s) from `{}`, and decrypted into memory by resume, eval and release",
                if t.merged { " and merged model" } else { "" },
                s.recipients.len(),
                s.keys_from
            ),
            None => "in clear: the run directory holds the trained adapter unencrypted (`[train] seal_at_rest = true` keeps it sealed)".to_owned(),
        }
    );
    let _ = writeln!(
        out,
        "- **Peak memory:** {}\n",
        t.peak_rss_mib
            .map_or("not recorded".into(), |m| format!("{} MiB", fmt_num(m)))
    );
    let rows: Vec<Vec<String>> = t
        .hyperparameters
        .iter()
        .map(|(k, v)| vec![format!("`{k}`"), json_scalar(v)])
        .collect();
    let _ = writeln!(out, "Hyperparameters (every `[train]` setting):\n");
    table(out, &["Setting", "Value"], &rows);
}

fn json_scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.as_f64().map_or(n.to_string(), fmt_num),
        serde_json::Value::Null => "none".into(),
        other => other.to_string(),
    }
}

fn evaluation(out: &mut String, f: &RunFacts) {
    let _ = writeln!(out, "## Evaluation\n");
    let e = match &f.eval {
        Fact::Known(e) => e,
        Fact::NotAvailable(_) => {
            not_available(out, &f.eval);
            return;
        }
    };
    let _ = writeln!(
        out,
        "Base model: {}. Fine-tuned model: {}. Intervals are the eval suite's confidence intervals; n is the fine-tuned sample size.\n",
        e.models.base, e.models.finetuned
    );
    let mut suites: Vec<&str> = vec!["leakage", "bias"];
    let mut others: Vec<&str> = e
        .metrics
        .iter()
        .map(|m| m.suite.as_str())
        .filter(|s| !suites.contains(s))
        .collect();
    others.sort();
    others.dedup();
    suites.extend(others);
    for suite in suites {
        let _ = writeln!(out, "### {}\n", suite_title(suite));
        let rows: Vec<Vec<String>> = e
            .metrics
            .iter()
            .filter(|m| m.suite == suite)
            .map(|m| {
                vec![
                    format!("`{}`", m.id),
                    m.name.clone(),
                    m.unit.clone(),
                    opt_num(m.base.value),
                    ci(m.base.ci),
                    opt_num(m.finetuned.value),
                    ci(m.finetuned.ci),
                    m.finetuned.n.to_string(),
                    m.evidence.to_string(),
                    metric_reading(m),
                ]
            })
            .collect();
        if rows.is_empty() {
            let _ = writeln!(
                out,
                "*Not available: eval/report.json has no {suite} metric.*\n"
            );
        } else {
            table(
                out,
                &[
                    "Metric",
                    "Name",
                    "Unit",
                    "Base",
                    "Base CI",
                    "Fine-tuned",
                    "Fine-tuned CI",
                    "n",
                    "Evidence",
                    "Reading",
                ],
                &rows,
            );
        }
        if suite == "leakage" {
            exposure_section(out, e);
        }
        if suite == "bias" {
            groups_section(out, e);
            benchmarks_section(out, e);
        }
    }
    let _ = writeln!(out, "### Release gates\n");
    let rows: Vec<Vec<String>> = e
        .gates
        .iter()
        .map(|g| {
            vec![
                format!("`{}`", g.name),
                format!("`{}`", g.metric),
                g.model.clone(),
                opt_num(g.value),
                format!("{} {}", g.op, fmt_num(g.threshold)),
                if g.passed {
                    "passed".into()
                } else if g.accepted {
                    "failed, accepted".into()
                } else {
                    "FAILED".into()
                },
                gate_reading(g),
            ]
        })
        .collect();
    if rows.is_empty() {
        let _ = writeln!(out, "*Not available: eval/report.json lists no gate.*\n");
    } else {
        table(
            out,
            &[
                "Gate", "Metric", "Model", "Value", "Rule", "Status", "Reading",
            ],
            &rows,
        );
    }
    let _ = writeln!(
        out,
        "Overall: {}.\n",
        if e.passed {
            "every gate passed or was accepted with a recorded reason"
        } else {
            "at least one gate FAILED and was not accepted; this model must not be released"
        }
    );
}

fn exposure_section(out: &mut String, e: &Eval) {
    let ins = exposure_summary(&e.exposure.inserted);
    let held = exposure_summary(&e.exposure.held_out);
    if ins.n == 0 && held.n == 0 {
        let _ = writeln!(
            out,
            "*Canary exposure: not available (eval/report.json lists no exposure).*\n"
        );
        return;
    }
    let _ = writeln!(out, "{}\n", figure_marker("exposure"));
    let row = |name: &str, s: &ExposureSummary| {
        vec![
            name.to_owned(),
            s.n.to_string(),
            opt_num(s.mean),
            opt_num(s.max),
            s.extracted.to_string(),
        ]
    };
    table(
        out,
        &[
            "Canaries",
            "Count",
            "Mean exposure (bits)",
            "Max exposure (bits)",
            "Extracted",
        ],
        &[row("inserted", &ins), row("held out", &held)],
    );
    let _ = writeln!(
        out,
        "Reading: exposure measures how much more likely the model finds a trained secret than random values of the same format; held-out canaries show the level expected without memorisation. Inserted canaries far above the held-out ones, or any extracted secret, mean the model memorised training text.\n"
    );
}

fn groups_section(out: &mut String, e: &Eval) {
    if e.groups.is_empty() {
        let _ = writeln!(
            out,
            "*Group outcomes: not available (eval/report.json lists no group).*\n"
        );
        return;
    }
    let rows: Vec<Vec<String>> = e
        .groups
        .iter()
        .map(|g| {
            vec![
                g.task.clone(),
                g.attribute.clone(),
                g.group.clone(),
                fmt_num(g.p_yes_base),
                fmt_num(g.p_yes_finetuned),
                g.n.to_string(),
            ]
        })
        .collect();
    table(
        out,
        &[
            "Task",
            "Attribute",
            "Group",
            "P(yes) base",
            "P(yes) fine-tuned",
            "n",
        ],
        &rows,
    );
    let _ = writeln!(out, "{}\n", figure_marker("groups"));
    let rows: Vec<Vec<String>> = group_gaps(e)
        .iter()
        .map(|g| {
            vec![
                g.task.clone(),
                g.attribute.clone(),
                opt_num(g.base),
                opt_num(g.finetuned),
            ]
        })
        .collect();
    table(
        out,
        &[
            "Task",
            "Attribute",
            "Largest gap base",
            "Largest gap fine-tuned",
        ],
        &rows,
    );
    let _ = writeln!(
        out,
        "Reading: the gap is the largest difference in the probability of a \"yes\" between groups that differ only in the attribute; 0 is parity, and a gap that grew after fine-tuning means the training data taught the model a difference.\n"
    );
}

fn benchmark_title(b: &str) -> &str {
    match b {
        "crows_pairs" => "CrowS-Pairs",
        "bbq" => "BBQ",
        "discrim_eval" => "discrim-eval",
        other => other,
    }
}

/// Which part of each published benchmark was scored, and its figures per category.
fn benchmarks_section(out: &mut String, e: &Eval) {
    if e.benchmarks.is_empty() && e.breakdown.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "#### Published benchmarks by category
"
    );
    for b in &e.benchmarks {
        let subset = match b.selection.as_str() {
            "all" => "the whole file".to_owned(),
            "seeded sample" => "a seeded random sample (`[eval] seed`)".to_owned(),
            other => other.to_owned(),
        };
        let _ = writeln!(
            out,
            "- {}: {} of {} items scored, {subset} (`[eval] benchmark_limit`).",
            benchmark_title(&b.benchmark),
            b.scored,
            b.available
        );
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = e
        .breakdown
        .iter()
        .map(|r| {
            vec![
                benchmark_title(&r.benchmark).to_owned(),
                r.category.clone(),
                format!("`{}`", r.measure),
                opt_num(r.base.value),
                ci(r.base.ci),
                opt_num(r.finetuned.value),
                ci(r.finetuned.ci),
                r.finetuned.n.to_string(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        table(
            out,
            &[
                "Benchmark",
                "Category",
                "Measure",
                "Base",
                "Base CI",
                "Fine-tuned",
                "Fine-tuned CI",
                "n",
            ],
            &rows,
        );
    }
    let _ = writeln!(
        out,
        "Reading: `pct_stereotype` is the percentage of CrowS-Pairs pairs whose more stereotyping sentence the model finds more likely (50 = no preference) and `likelihood_diff` the mean gap between the two sentences' log-likelihoods, as lm-evaluation-harness defines them; BBQ's bias scores run from -1 to 1 (0 = none); a discrim-eval `discrimination_score` is the mean logit difference in P(yes) from the baseline group (male, white, 60 and over), positive when the group is favoured. docs/EVAL.md gives each definition.\n"
    );
}

fn accepted(out: &mut String, f: &RunFacts) {
    let _ = writeln!(out, "## Accepted gate failures\n");
    match &f.eval {
        Fact::Known(e) => {
            let acc: Vec<&Gate> = e.gates.iter().filter(|g| !g.passed && g.accepted).collect();
            if acc.is_empty() {
                let _ = writeln!(out, "None: no failed gate was accepted.\n");
            }
            for g in acc {
                let _ = writeln!(
                    out,
                    "- **{}**: value {} against {} {}. Recorded reason: {}",
                    g.name,
                    opt_num(g.value),
                    g.op,
                    fmt_num(g.threshold),
                    g.reason.as_deref().unwrap_or("none recorded")
                );
            }
            out.push('\n');
        }
        Fact::NotAvailable(_) => not_available(out, &f.eval),
    }
}

fn security(out: &mut String, f: &RunFacts) {
    let _ = writeln!(out, "## Security\n");
    let _ = writeln!(
        out,
        "Weights are sealed with sealtune's format `sealtune-seal/1` ({}): one fresh data key per file, wrapped for every recipient, a key commitment checked before any chunk, the header bound into key derivation, and a shorter final chunk so truncation is detected (specified in docs/FORMAT.md). Nothing is decrypted to disk when loading.\n",
        sealtune_seal::format::SUITE
    );
    match &f.release {
        Fact::Known(r) => {
            let rows: Vec<Vec<String>> = r
                .sealed
                .iter()
                .map(|s| {
                    vec![
                        format!("`{}`", s.name),
                        s.plaintext_bytes.to_string(),
                        format!("`{}`", s.sha256),
                        s.recipients
                            .iter()
                            .map(|x| format!("{} `{}`", x.kind, x.id))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]
                })
                .collect();
            if rows.is_empty() {
                let _ = writeln!(out, "*No sealed file in the release directory.*\n");
            } else {
                table(
                    out,
                    &[
                        "Sealed file",
                        "Plaintext bytes",
                        "SHA-256 (sealed)",
                        "Recipients (key ids)",
                    ],
                    &rows,
                );
            }
            let rows: Vec<Vec<String>> = r
                .clear
                .iter()
                .map(|c| vec![format!("`{}`", c.name), format!("`{}`", c.sha256)])
                .collect();
            if !rows.is_empty() {
                let _ = writeln!(out, "Files in clear:\n");
                table(out, &["File", "SHA-256"], &rows);
            }
        }
        Fact::NotAvailable(_) => not_available(out, &f.release),
    }
    let _ = writeln!(
        out,
        "`model.sig` is an OpenSSF Model Signing v1.0 bundle (Sigstore bundle v0.3, DSSE envelope, in-toto statement) signed with ECDSA P-256 over every file of the release directory, this card included; only the engine's `manifest.json` is left out."
    );
    match &f.signature {
        Fact::Known(s) => {
            let _ = writeln!(
                out,
                "It covers {} resources ({} serialization); root digest `sha256:{}`; signer key hint `{}`.\n",
                s.resources,
                s.method,
                s.root_digest,
                s.key_hint.as_deref().unwrap_or("not recorded")
            );
        }
        Fact::NotAvailable(r) => {
            let _ = writeln!(out, "Signature details: {r}.\n");
        }
    }
    match &f.provenance {
        Fact::Known(p) => {
            let _ = writeln!(
                out,
                "`provenance.intoto.jsonl` holds {} DSSE-signed in-toto statements: {}.\n",
                p.len(),
                p.iter()
                    .map(|s| format!("`{}`", s.predicate_type))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Fact::NotAvailable(_) => not_available(out, &f.provenance),
    }
    let _ = writeln!(out, "### How to verify\n");
    // The provenance envelopes carry the signer's key hint as their keyid,
    // so it is known before model.sig exists.
    let hint = f
        .signature
        .known()
        .and_then(|s| s.key_hint.clone())
        .or_else(|| {
            f.provenance
                .known()
                .and_then(|p| p.iter().find_map(|s| s.keyids.first().cloned()))
        });
    let _ = writeln!(
        out,
        "Get the signer's public key (`SIGNER.pub.pem`) through a channel you trust, not from this directory; `sha256sum SIGNER.pub.pem` must print {}. Then, from the run directory:\n",
        hint.map_or_else(
            || "the key hint recorded in `model.sig`".to_owned(),
            |h| format!("`{h}`")
        )
    );
    let _ = writeln!(
        out,
        "```sh\n# signature, every file digest, no unsigned file, provenance signatures\nsealtune verify release --public-key SIGNER.pub.pem\n# the same, and every chunk of every sealed file authenticated (no plaintext written)\nsealtune verify release --public-key SIGNER.pub.pem --kek RECIPIENT.kek\n# the stock OpenSSF verifier (pip install model-signing)\nmodel_signing verify key release --signature release/model.sig --public_key SIGNER.pub.pem --ignore-paths release/manifest.json\n```\n"
    );
}

fn limitations(out: &mut String, f: &RunFacts) {
    let _ = writeln!(out, "## Limitations and recommendations\n");
    if let Some(m) = f.mask.known()
        && m.plaintext_kept() > 0
    {
        let _ = writeln!(
            out,
            "- The training data was not masked: {} detected PII values were kept in plaintext (see Data lineage). Do not deploy this model on anything but synthetic data.",
            m.plaintext_kept()
        );
    }
    let _ = writeln!(
        out,
        "- Masking is a safeguard, not a proof of de-identification. The masker does not detect: {}.",
        NOT_COVERED.join("; ")
    );
    if let Some(m) = f.mask.known()
        && let Some(list) = m.policy["entities"].as_array()
    {
        {
            let on: Vec<&str> = list.iter().filter_map(|v| v.as_str()).collect();
            let off: Vec<&str> = sealtune_contract::EntityType::ALL
                .iter()
                .map(|t| t.as_str())
                .filter(|t| !on.contains(t))
                .collect();
            if !off.is_empty() {
                let _ = writeln!(
                    out,
                    "- This run's policy (`[mask] entities`) did not look for: {}.",
                    off.join(", ")
                );
            }
        }
    }
    if let Some(e) = f.eval.known() {
        let weak: Vec<&str> = e
            .metrics
            .iter()
            .filter(|m| m.evidence == Evidence::Insufficient || m.finetuned.value.is_none())
            .map(|m| m.id.as_str())
            .collect();
        if !weak.is_empty() {
            let _ = writeln!(
                out,
                "- Insufficient evidence for: {}; these figures do not support a decision.",
                weak.join(", ")
            );
        }
    }
    let _ = writeln!(
        out,
        "- Leakage and bias figures come from synthetic probes on this run; they bound, but do not rule out, memorisation of other text and unfair behaviour on other tasks."
    );
    let _ = writeln!(
        out,
        "- Use only with the base model recorded above (check its digests), keep a human in the loop for every output that affects a person, and re-run the evaluation after any further training."
    );
    for l in &f.card.limitations {
        let _ = writeln!(out, "- {l}");
    }
    out.push('\n');
}

fn signoff(out: &mut String, f: &RunFacts) {
    let _ = writeln!(out, "## Sign-off\n");
    if f.attestations.is_empty() {
        let _ = writeln!(
            out,
            "No reviewer has attested this release yet. A reviewer records a decision with\n`sealtune attest --run-dir DIR --key REVIEWER.key.pem --decision approve|reject --note TEXT`;\n`sealtune card --run-dir DIR` then lists it here.\n"
        );
        return;
    }
    let rows: Vec<Vec<String>> = f
        .attestations
        .iter()
        .map(|a| {
            vec![
                a.time.clone(),
                a.decision.clone(),
                format!("`{}`", a.reviewer_key),
                format!("`sha256:{}`", a.root_digest),
                match a.matches_current_signature {
                    Some(true) => "yes".into(),
                    Some(false) => "NO: the release changed since".into(),
                    None => "not available (no model.sig)".into(),
                },
                a.note.clone(),
                format!("`attestations/{}`", a.file),
            ]
        })
        .collect();
    table(
        out,
        &[
            "Time",
            "Decision",
            "Reviewer key",
            "OMS root digest",
            "Matches current signature",
            "Note",
            "File",
        ],
        &rows,
    );
    let _ = writeln!(
        out,
        "Each attestation is a DSSE-signed in-toto statement; check its signature with the reviewer's public key.\n"
    );
}

fn stage_records(out: &mut String, f: &RunFacts) {
    let _ = writeln!(out, "## Stage records\n");
    let rows: Vec<Vec<String>> = crate::facts::STAGES
        .iter()
        .filter_map(|name| f.stages.get(*name).map(|s| (name.to_string(), s)))
        .chain(
            f.stages
                .iter()
                .filter(|(n, _)| !crate::facts::STAGES.contains(&n.as_str()))
                .map(|(n, s)| (n.clone(), s)),
        )
        .map(|(name, s)| match s {
            Fact::Known(s) => vec![
                name,
                s.code_version.clone(),
                s.sealtune_version.clone(),
                s.finished.clone(),
                format!("`{}`", s.outputs_digest),
            ],
            Fact::NotAvailable(r) => {
                vec![name, r.clone(), String::new(), String::new(), String::new()]
            }
        })
        .collect();
    table(
        out,
        &[
            "Stage",
            "Code version",
            "sealtune",
            "Finished",
            "Outputs digest",
        ],
        &rows,
    );
}

/// Renders `MODEL_CARD.md`.
pub fn render_markdown(f: &RunFacts) -> Result<String, CardError> {
    let fm = serde_yaml::to_string(&front_matter(f))
        .map_err(|e| CardError::Internal(format!("front matter: {e}")))?;
    let mut out = format!("---\n{fm}---\n\n");
    let _ = writeln!(out, "# Model card: {}\n", f.model_name());
    let status = match f.eval.known() {
        Some(e) if e.passed => "every release gate passed or was accepted with a recorded reason",
        Some(_) => "a release gate FAILED",
        None => "evaluation results are not available",
    };
    let _ = writeln!(
        out,
        "A LoRA fine-tune produced by sealtune run `{}`: {status}. Every figure below is read from the run's artifacts; what is missing says so.\n",
        f.run_id
    );
    model_details(&mut out, f);
    uses(&mut out, f);
    lineage(&mut out, f);
    training(&mut out, f);
    evaluation(&mut out, f);
    accepted(&mut out, f);
    security(&mut out, f);
    limitations(&mut out, f);
    signoff(&mut out, f);
    stage_records(&mut out, f);
    Ok(out)
}
