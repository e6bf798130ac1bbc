//! The `eval` stage: leakage, bias and quality tests, and the gates.

/// The stage's directory.
pub const DIR: &str = "eval";
/// Every metric, its threshold and whether its gate passed.
pub const REPORT: &str = "report.json";
/// The schema id of [`REPORT`].
pub const REPORT_SCHEMA: &str = "sealtune.eval-report/v1";
/// Per-record membership scores (token ids of masked records; owner-only).
pub const SCORES: &str = "scores.json";

use serde::{Deserialize, Serialize};

/// Whether a metric had enough data to support a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Evidence {
    /// Enough samples and a computed value.
    Sufficient,
    /// Too few samples (or nothing computable): do not read the value as decisive.
    Insufficient,
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Evidence::Sufficient => "sufficient",
            Evidence::Insufficient => "insufficient",
        })
    }
}

impl Evidence {
    /// The evidence rule: a value exists and every sample count reaches `min_n`.
    pub fn rule(value: Option<f64>, counts: &[usize], min_n: usize) -> Evidence {
        if value.is_some_and(f64::is_finite) && counts.iter().all(|&n| n >= min_n) {
            Evidence::Sufficient
        } else {
            Evidence::Insufficient
        }
    }
}

/// A value with a 95 % bootstrap interval and the number of samples behind it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The point estimate; `None` when it cannot be computed.
    pub value: Option<f64>,
    /// 95 % percentile-bootstrap interval, when computed.
    pub ci: Option<[f64; 2]>,
    /// Samples behind the value.
    pub n: usize,
}

impl Estimate {
    /// No value (nothing could be computed from `n` samples).
    pub fn none(n: usize) -> Estimate {
        Estimate {
            value: None,
            ci: None,
            n,
        }
    }

    /// A value without an interval (a count, or a statistic with no sampling error).
    pub fn exact(value: f64, n: usize) -> Estimate {
        Estimate {
            value: Some(value),
            ci: None,
            n,
        }
    }
}

/// Which way a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Smaller is better.
    LowerIsBetter,
    /// Larger is better.
    HigherIsBetter,
    /// Nearer the ideal is better.
    CloserToIdeal,
}

/// One metric, for both models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Stable id, `suite.name`.
    pub id: String,
    /// `leakage` or `bias`.
    pub suite: String,
    /// Human name.
    pub name: String,
    /// Unit (`bits`, `rate`, `count`, `auc`, `probability`, `ratio`, `percent`).
    pub unit: String,
    /// The value of a model that leaks nothing or treats groups alike.
    pub ideal: f64,
    /// Which way is better.
    pub direction: Direction,
    /// The base model.
    pub base: Estimate,
    /// The fine-tuned model (base + adapter).
    pub finetuned: Estimate,
    /// Whether the samples suffice to decide.
    pub evidence: Evidence,
    /// One plain-language sentence for a reviewer.
    pub reading: String,
}

/// A gate's comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Pass when the value is at most the threshold.
    #[serde(rename = "<=")]
    Le,
    /// Pass when the value is at least the threshold.
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    /// `<=` or `>=`.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Le => "<=",
            Op::Ge => ">=",
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.symbol())
    }
}

/// Gate outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GateStatus {
    /// Within the threshold.
    Pass,
    /// Beyond the threshold but within the review band: needs a person and an accept reason.
    Review,
    /// Beyond the threshold (or not computable): needs an accept reason.
    Fail,
}

/// One release gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// Gate name (`[eval.gates]` key).
    pub name: String,
    /// The metric id it reads.
    pub metric: String,
    /// `finetuned`, or `finetuned_minus_base` for a gate relative to base.
    pub model: String,
    /// Comparison.
    pub op: Op,
    /// Threshold.
    pub threshold: f64,
    /// End of the review band, if any.
    pub review: Option<f64>,
    /// The compared value (`null` when the metric could not be computed).
    pub value: Option<f64>,
    /// The metric's interval for the fine-tuned model.
    pub ci: Option<[f64; 2]>,
    /// The metric's evidence.
    pub evidence: Evidence,
    /// pass / review / fail.
    pub status: GateStatus,
    /// True when `status` is pass.
    pub passed: bool,
    /// True when a failing gate was accepted through `[eval.accept]`.
    pub accepted: bool,
    /// The accept reason.
    pub reason: Option<String>,
}

/// `models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Models {
    /// The base model's name or path.
    pub base: String,
    /// How the fine-tuned model was formed.
    pub finetuned: String,
}

/// One canary's exposure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExposureEntry {
    /// Canary id.
    pub id: String,
    /// Format name.
    pub format: String,
    /// Interpolated exposure under the fine-tuned model, bits.
    pub exposure: Option<f64>,
    /// Skew-normal exposure under the fine-tuned model, bits.
    pub exposure_skewnorm: Option<f64>,
    /// Greedily extracted by the fine-tuned model.
    pub extracted: bool,
    /// Interpolated exposure under the base model, bits.
    pub exposure_base: Option<f64>,
    /// Skew-normal exposure under the base model, bits.
    pub exposure_skewnorm_base: Option<f64>,
    /// Greedily extracted by the base model.
    pub extracted_base: bool,
}

/// `exposure`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExposureTable {
    /// Canaries inserted into training.
    pub inserted: Vec<ExposureEntry>,
    /// Their never-inserted twins.
    pub held_out: Vec<ExposureEntry>,
}

/// One demographic group's decision rate on one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRow {
    /// Task (`loan_approval`, ...).
    pub task: String,
    /// Attribute (`gender`, ...).
    pub attribute: String,
    /// Group.
    pub group: String,
    /// Mean p(yes)/(p(yes)+p(no)) under the base model.
    pub p_yes_base: f64,
    /// The same under the fine-tuned model.
    pub p_yes_finetuned: f64,
    /// Prompts behind the means.
    pub n: usize,
}

/// One figure of a published benchmark for one category (or `all`), both models: what a
/// reviewer compares with the reference implementation's per-category output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakdownRow {
    /// `crows_pairs`, `bbq` or `discrim_eval`.
    pub benchmark: String,
    /// `all`, a CrowS-Pairs bias type, a BBQ category, a discrim-eval attribute, or
    /// `attribute:group`.
    pub category: String,
    /// `pct_stereotype`, `likelihood_diff`, `accuracy_ambig`, `accuracy_disambig`,
    /// `bias_ambig`, `bias_disambig`, `gap_max` or `discrimination_score`.
    pub measure: String,
    /// Base model.
    pub base: Estimate,
    /// Fine-tuned model.
    pub finetuned: Estimate,
}

/// How much of a benchmark file was scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchmarkScope {
    /// `crows_pairs`, `bbq` or `discrim_eval`.
    pub benchmark: String,
    /// Items scored.
    pub scored: usize,
    /// Items in the file.
    pub available: usize,
    /// `all`, `seeded sample` (CrowS-Pairs, BBQ; seed `[eval] seed`) or
    /// `first decision questions` (discrim-eval, whole questions in file order).
    pub selection: String,
}

impl BenchmarkScope {
    /// `scored` of `available` items of `benchmark`, chosen by `how` (`all` when every
    /// item was scored).
    pub fn new(benchmark: &str, scored: usize, available: usize, how: &str) -> Self {
        Self {
            benchmark: benchmark.into(),
            scored,
            available,
            selection: if scored == available { "all" } else { how }.into(),
        }
    }
}

/// `eval/report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`REPORT_SCHEMA`].
    pub schema: String,
    /// The two models compared.
    pub models: Models,
    /// Every metric.
    pub metrics: Vec<Metric>,
    /// Every gate.
    pub gates: Vec<Gate>,
    /// True when every gate passed or was accepted with a reason.
    pub passed: bool,
    /// Per-canary exposure.
    pub exposure: ExposureTable,
    /// Per-group decision rates.
    pub groups: Vec<GroupRow>,
    /// Published benchmarks per category (empty when none is configured).
    #[serde(default)]
    pub breakdown: Vec<BreakdownRow>,
    /// How much of each configured benchmark was scored.
    #[serde(default)]
    pub benchmarks: Vec<BenchmarkScope>,
}
