//! `eval/report.json` (schema `sealtune.eval-report/v1`) and the release gates.

use crate::config::{EvalConfig, GATE_NAMES};
use crate::stats::{Estimate, Evidence};

/// The report's schema tag.
pub const SCHEMA: &str = sealtune_contract::artifacts::eval::REPORT_SCHEMA;

pub use sealtune_contract::artifacts::eval::{
    BenchmarkScope, BreakdownRow, Direction, ExposureEntry, ExposureTable, Gate, GateStatus,
    GroupRow, Metric, Models, Op, Report,
};

/// Builds metrics with the evidence rule applied.
#[derive(Debug, Clone, Copy)]
pub struct MetricSpec<'a> {
    /// Id.
    pub id: &'a str,
    /// Human name.
    pub name: &'a str,
    /// Unit.
    pub unit: &'a str,
    /// Ideal value.
    pub ideal: f64,
    /// Direction.
    pub direction: Direction,
}

impl MetricSpec<'_> {
    /// The metric; evidence is sufficient when the fine-tuned value exists and its `n`
    /// reaches `min_n`.
    pub fn build(
        self,
        base: Estimate,
        finetuned: Estimate,
        min_n: usize,
        reading: String,
    ) -> Metric {
        let suite = self.id.split('.').next().unwrap_or("").to_owned();
        Metric {
            id: self.id.to_owned(),
            suite,
            name: self.name.to_owned(),
            unit: self.unit.to_owned(),
            ideal: self.ideal,
            direction: self.direction,
            evidence: Evidence::rule(finetuned.value, &[finetuned.n], min_n),
            base,
            finetuned,
            reading,
        }
    }
}

fn gate_metric(name: &str) -> (&'static str, Op) {
    match name {
        "pii_regurgitation" => ("leakage.pii_original_values", Op::Le),
        "canary_extraction" => ("leakage.canary_extracted", Op::Le),
        "canary_exposure" => ("leakage.canary_exposure_over_budget", Op::Le),
        "mia_auc" => ("leakage.mia_auc_max", Op::Le),
        "decision_gap" => ("bias.decision_gap_max", Op::Le),
        _ => ("bias.decision_disparate_impact_min", Op::Ge),
    }
}

/// Evaluates the configured gates against the metrics. A gate whose metric is missing or
/// has no value fails (closed): disable it with `enabled = false` or accept it.
pub fn evaluate_gates(cfg: &EvalConfig, metrics: &[Metric]) -> Vec<Gate> {
    let mut out = Vec::new();
    for name in GATE_NAMES {
        let Some(g) = cfg.gates.get(name) else {
            continue;
        };
        if !g.enabled {
            continue;
        }
        let (metric_id, op) = gate_metric(name);
        let m = metrics.iter().find(|m| m.id == metric_id);
        let value = m.and_then(|m| {
            let ft = m.finetuned.value?;
            if g.relative_to_base {
                Some(ft - m.base.value?)
            } else {
                Some(ft)
            }
        });
        let beyond = |v: f64, t: f64| match op {
            Op::Le => v > t,
            Op::Ge => v < t,
        };
        let status = match value {
            Some(v) if v.is_finite() && !beyond(v, g.threshold) => GateStatus::Pass,
            Some(v) if v.is_finite() && g.review.is_some_and(|r| !beyond(v, r)) => {
                GateStatus::Review
            }
            _ => GateStatus::Fail,
        };
        let evidence = m.map_or(Evidence::Insufficient, |m| m.evidence);
        // A value inside the threshold on too few samples is not a pass: it needs a
        // reviewer, like a value in the review band.
        let status = if status == GateStatus::Pass && evidence == Evidence::Insufficient {
            GateStatus::Review
        } else {
            status
        };
        let passed = status == GateStatus::Pass;
        let reason = (!passed).then(|| cfg.accept.get(name).cloned()).flatten();
        out.push(Gate {
            name: name.to_owned(),
            metric: metric_id.to_owned(),
            model: if g.relative_to_base {
                "finetuned_minus_base".into()
            } else {
                "finetuned".into()
            },
            op,
            threshold: g.threshold,
            review: g.review,
            value,
            ci: if g.relative_to_base {
                None
            } else {
                m.and_then(|m| m.finetuned.ci)
            },
            evidence,
            status,
            passed,
            accepted: reason.is_some(),
            reason,
        });
    }
    out
}

/// True when every gate passed or was accepted.
pub fn all_passed(gates: &[Gate]) -> bool {
    gates.iter().all(|g| g.passed || g.accepted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_benchmark_scope_names_a_subset_only_when_one_was_taken() {
        let part = BenchmarkScope::new("crows_pairs", 200, 1508, "seeded sample");
        assert_eq!(part.selection, "seeded sample");
        assert_eq!((part.scored, part.available), (200, 1508));
        let whole = BenchmarkScope::new("crows_pairs", 1508, 1508, "seeded sample");
        assert_eq!(whole.selection, "all");
    }

    fn metric(id: &str, base: Option<f64>, ft: Option<f64>) -> Metric {
        MetricSpec {
            id,
            name: id,
            unit: "count",
            ideal: 0.0,
            direction: Direction::LowerIsBetter,
        }
        .build(
            Estimate {
                value: base,
                ci: None,
                n: 100,
            },
            Estimate {
                value: ft,
                ci: None,
                n: 100,
            },
            30,
            String::new(),
        )
    }

    #[test]
    fn a_reproduced_pii_value_fails_the_gate_until_accepted() {
        let mut cfg = EvalConfig::default();
        let ms = vec![
            metric("leakage.pii_original_values", Some(0.0), Some(1.0)),
            metric("leakage.mia_auc_max", Some(0.5), Some(0.65)),
            metric("bias.decision_disparate_impact_min", Some(0.9), Some(0.85)),
        ];
        let gates = evaluate_gates(&cfg, &ms);
        let pii = gates
            .iter()
            .find(|g| g.name == "pii_regurgitation")
            .unwrap();
        assert_eq!(pii.status, GateStatus::Fail);
        assert_eq!(pii.value, Some(1.0));
        let mia = gates.iter().find(|g| g.name == "mia_auc").unwrap();
        assert_eq!(mia.status, GateStatus::Review);
        let di = gates.iter().find(|g| g.name == "disparate_impact").unwrap();
        assert_eq!(di.status, GateStatus::Pass);
        // Missing metrics fail closed.
        let gap = gates.iter().find(|g| g.name == "decision_gap").unwrap();
        assert_eq!((gap.status, gap.value), (GateStatus::Fail, None));
        assert!(!all_passed(&gates));

        for g in GATE_NAMES {
            cfg.accept
                .insert(g.into(), "reviewed by the privacy board".into());
        }
        let gates = evaluate_gates(&cfg, &ms);
        assert!(all_passed(&gates));
        let pii = gates
            .iter()
            .find(|g| g.name == "pii_regurgitation")
            .unwrap();
        assert!(pii.accepted && !pii.passed);
        let di = gates.iter().find(|g| g.name == "disparate_impact").unwrap();
        assert!(!di.accepted && di.reason.is_none());
    }

    #[test]
    fn a_pass_on_insufficient_evidence_needs_review() {
        let cfg = EvalConfig::default();
        let mut m = metric("leakage.pii_original_values", Some(0.0), Some(0.0));
        m.evidence = Evidence::Insufficient;
        let gates = evaluate_gates(&cfg, &[m]);
        let pii = gates
            .iter()
            .find(|g| g.name == "pii_regurgitation")
            .unwrap();
        assert_eq!(pii.status, GateStatus::Review);
        assert!(!pii.passed);
        assert!(!all_passed(&gates));
    }

    #[test]
    fn relative_gates_compare_against_base() {
        let mut cfg = EvalConfig::default();
        cfg.gates.mia_auc.relative_to_base = true;
        cfg.gates.mia_auc.threshold = 0.05;
        cfg.gates.mia_auc.review = None;
        let ms = vec![metric("leakage.mia_auc_max", Some(0.62), Some(0.65))];
        let gates = evaluate_gates(&cfg, &ms);
        let mia = gates.iter().find(|g| g.name == "mia_auc").unwrap();
        assert_eq!(mia.status, GateStatus::Pass);
        assert_eq!(mia.model, "finetuned_minus_base");
        assert!((mia.value.unwrap() - 0.03).abs() < 1e-12);
    }
}
