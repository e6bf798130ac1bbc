//! Record-level masking: chat / instruction / text records, batches on rayon
//! workers with ordered output, and the detect-only JSON Lines interface.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{MaskConfig, Operator};
use crate::detect::Detector;
use crate::error::PiiError;
use crate::key::MaskKey;
use crate::ops;
use crate::residual::{self, ResidualCounts, ResidualReport};
use crate::types::{CodePointSpan, EntityType, Span, to_code_points};

/// The shape of a record, as ingest identified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecordKind {
    /// `{"messages": [{"role": ..., "content": ...}, ...]}`.
    Chat,
    /// `{"instruction": ..., "input": ..., "output": ...}`.
    Instruction,
    /// `{"text": ...}`.
    Text,
}

impl RecordKind {
    /// The fields masked by default.
    pub fn default_fields(self) -> &'static [&'static str] {
        match self {
            RecordKind::Chat => &["messages"],
            RecordKind::Instruction => &["instruction", "input", "output"],
            RecordKind::Text => &["text"],
        }
    }
}

/// The result of masking one record.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskedRecord {
    /// The masked record, or `None` when a `drop_record` type was found.
    pub record: Option<Value>,
    /// Replacements per field and type (`messages` counts every message's content).
    pub counts: BTreeMap<String, BTreeMap<EntityType, u64>>,
    /// Fingerprints of the normalised original values replaced (unsorted, may repeat).
    pub fingerprints: Vec<[u8; 32]>,
    /// The type that caused the record to be dropped.
    pub dropped: Option<EntityType>,
    /// Residual-sweep findings in the masked output per field swept and
    /// category (see [`crate::residual`]); empty when the record is dropped.
    pub residual: BTreeMap<String, ResidualCounts>,
}

/// Aggregate figures for the mask stage's `report.json`: never a raw value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskReport {
    /// Records read, per split.
    pub records_in: BTreeMap<String, u64>,
    /// Records written, per split.
    pub records_out: BTreeMap<String, u64>,
    /// Records dropped by `drop_record`, per split and the type that caused it.
    pub dropped: BTreeMap<String, BTreeMap<EntityType, u64>>,
    /// Replacements per split, field and type.
    pub counts: BTreeMap<String, BTreeMap<String, BTreeMap<EntityType, u64>>>,
    /// The residual-risk sweep over the records written.
    #[serde(default)]
    pub residual: ResidualReport,
}

impl MaskReport {
    /// Adds one masked record of `split` (e.g. `train`, `eval`).
    pub fn add(&mut self, split: &str, r: &MaskedRecord) {
        *self.records_in.entry(split.to_string()).or_insert(0) += 1;
        match r.dropped {
            Some(t) => {
                *self
                    .dropped
                    .entry(split.to_string())
                    .or_default()
                    .entry(t)
                    .or_insert(0) += 1
            }
            None => {
                *self.records_out.entry(split.to_string()).or_insert(0) += 1;
                self.residual.add(&r.residual);
            }
        }
        let per_field = self.counts.entry(split.to_string()).or_default();
        for (field, by_type) in &r.counts {
            let dst = per_field.entry(field.clone()).or_default();
            for (t, n) in by_type {
                *dst.entry(*t).or_insert(0) += n;
            }
        }
    }

    /// Total replacements per type over all splits and fields.
    pub fn totals(&self) -> BTreeMap<EntityType, u64> {
        let mut out = BTreeMap::new();
        for fields in self.counts.values() {
            for by_type in fields.values() {
                for (t, n) in by_type {
                    *out.entry(*t).or_insert(0) += n;
                }
            }
        }
        out
    }
}

/// Per-record state: tag indices.
#[derive(Debug, Default)]
struct RecordState {
    tags: HashMap<(EntityType, String), usize>,
    next: HashMap<EntityType, usize>,
}

/// Masks records according to a [`MaskConfig`]. Build once, share across threads.
#[derive(Debug)]
pub struct Masker {
    detector: Detector,
    cfg: MaskConfig,
    key: MaskKey,
    /// Whether some date type is shifted (`date_shift`, or `pseudonymize`,
    /// which shifts dates), so that the record's offset is needed.
    shifts_dates: bool,
}

impl Masker {
    /// Builds a masker from the policy and the key the caller loaded
    /// (see [`MaskKey::from_config`]).
    pub fn new(cfg: &MaskConfig, key: MaskKey) -> Result<Self, PiiError> {
        let detector = Detector::new(cfg)?;
        let shifts_dates = [EntityType::Date, EntityType::DateOfBirth].iter().any(|t| {
            matches!(
                cfg.operator(*t),
                Operator::DateShift | Operator::Pseudonymize
            )
        });
        Ok(Masker {
            detector,
            cfg: cfg.clone(),
            key,
            shifts_dates,
        })
    }

    /// The detector in use.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// Masks one string. Returns the masked text, the spans found (byte offsets
    /// into the original), their fingerprints, and whether a drop type was found.
    /// Dates move by `date_offset` days (the record's or its subject's).
    /// The masked text is then swept for residual risk into `rc`, with the
    /// operators' output opaque to the sweep.
    /// `None` when `cancelled` said stop.
    #[allow(clippy::too_many_arguments)]
    fn mask_str(
        &self,
        text: &str,
        date_offset: i64,
        st: &mut RecordState,
        counts: &mut BTreeMap<EntityType, u64>,
        fps: &mut Vec<[u8; 32]>,
        rc: &mut ResidualCounts,
        cancelled: &dyn Fn() -> bool,
    ) -> Option<(String, Option<EntityType>)> {
        let spans = self.detector.detect_cancellable(text, cancelled)?;
        if spans.is_empty() {
            residual::sweep(text, &[], rc);
            return Some((text.to_string(), None));
        }
        let mut replaced = Vec::with_capacity(spans.len());
        let mut out = String::with_capacity(text.len() + 16 * spans.len());
        let mut last = 0;
        let mut drop = None;
        for (n, s) in spans.iter().enumerate() {
            if n % crate::detect::POLL == crate::detect::POLL - 1 && cancelled() {
                return None;
            }
            let val = &text[s.start..s.end];
            out.push_str(&text[last..s.start]);
            *counts.entry(s.entity).or_insert(0) += 1;
            fps.push(ops::fingerprint(&self.key, s.entity, val));
            let rep = match self.cfg.operator(s.entity) {
                Operator::Redact => ops::redact(s.entity),
                Operator::Tag => self.tag(st, s, val),
                Operator::Pseudonymize => match s.entity {
                    EntityType::Date | EntityType::DateOfBirth => self
                        .shift(val, date_offset)
                        .unwrap_or_else(|| self.tag(st, s, val)),
                    _ => ops::pseudonymize(&self.key, s.entity, val),
                },
                Operator::Mask => ops::mask(val, self.cfg.mask_keep_last),
                Operator::Hash => ops::hash(&self.key, s.entity, val),
                Operator::DateShift => self
                    .shift(val, date_offset)
                    .unwrap_or_else(|| self.tag(st, s, val)),
                Operator::DropRecord => {
                    drop.get_or_insert(s.entity);
                    ops::redact(s.entity)
                }
                Operator::Keep => val.to_string(),
            };
            let at = out.len();
            out.push_str(&rep);
            replaced.push((at, out.len()));
            last = s.end;
        }
        out.push_str(&text[last..]);
        residual::sweep(&out, &replaced, rc);
        Some((out, drop))
    }

    fn tag(&self, st: &mut RecordState, s: &Span, val: &str) -> String {
        let key = (s.entity, ops::normalize(s.entity, val));
        let n = match st.tags.get(&key) {
            Some(&n) => n,
            None => {
                let c = st.next.entry(s.entity).or_insert(0);
                *c += 1;
                st.tags.insert(key, *c);
                *c
            }
        };
        ops::tag(s.entity, n)
    }

    fn shift(&self, val: &str, date_offset: i64) -> Option<String> {
        ops::shift_date(val, date_offset)
    }

    /// The record's date offset: its subject's when `subject_field` is set
    /// and the record names one, else keyed by the record itself (never one
    /// offset for the whole dataset). 0 when no date type is shifted.
    fn date_offset(&self, record: &Value, obj: &serde_json::Map<String, Value>) -> i64 {
        if !self.shifts_dates {
            return 0;
        }
        let max = self.cfg.date_shift_max_days;
        let subject = self
            .cfg
            .subject_field
            .as_ref()
            .and_then(|f| match obj.get(f) {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            });
        match subject {
            Some(s) => ops::date_offset(&self.key, &s, max),
            None => ops::record_date_offset(&self.key, record, max),
        }
    }

    /// Masks the configured string fields of one record. `label` names the
    /// record in errors (e.g. `train.jsonl:17`).
    pub fn mask_record(
        &self,
        record: &Value,
        kind: RecordKind,
        label: &str,
    ) -> Result<MaskedRecord, PiiError> {
        self.mask_record_cancellable(record, kind, label, &|| false)
    }

    /// [`Masker::mask_record`] that polls `cancelled` often (between fields
    /// and messages, and every [`crate::detect::POLL`] matches or spans
    /// inside detection), so that one huge record stops soon after a signal:
    /// then [`PiiError::Interrupted`].
    pub fn mask_record_cancellable(
        &self,
        record: &Value,
        kind: RecordKind,
        label: &str,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<MaskedRecord, PiiError> {
        if cancelled() {
            return Err(PiiError::Interrupted);
        }
        let err = |m: String| PiiError::Record {
            record: label.to_string(),
            message: m,
        };
        let Value::Object(obj) = record else {
            return Err(err("expected a JSON object".into()));
        };
        let date_offset = self.date_offset(record, obj);
        let default: Vec<String> = kind
            .default_fields()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let fields = self.cfg.fields.as_ref().unwrap_or(&default);
        let mut out = obj.clone();
        let mut st = RecordState::default();
        let mut counts = BTreeMap::new();
        let mut fps = Vec::new();
        let mut dropped = None;
        let mut residual = BTreeMap::new();
        for f in fields {
            let Some(val) = out.get_mut(f) else { continue };
            let mut c = BTreeMap::new();
            let mut rc = ResidualCounts::new();
            // Masks one string of this field in place (chat contents or the field itself).
            let mut mask_one = |s: &mut String| -> Result<(), PiiError> {
                let (masked, d) = self
                    .mask_str(
                        s,
                        date_offset,
                        &mut st,
                        &mut c,
                        &mut fps,
                        &mut rc,
                        cancelled,
                    )
                    .ok_or(PiiError::Interrupted)?;
                *s = masked;
                dropped = dropped.or(d);
                Ok(())
            };
            match (f.as_str(), val) {
                ("messages", Value::Array(msgs)) => {
                    for (i, m) in msgs.iter_mut().enumerate() {
                        match m.get_mut("content") {
                            Some(Value::String(s)) => {
                                mask_one(s)?;
                            }
                            Some(Value::Null) | None => {}
                            Some(_) => {
                                return Err(err(format!("messages[{i}].content is not a string")));
                            }
                        }
                    }
                }
                (_, Value::String(s)) => {
                    mask_one(s)?;
                }
                (_, Value::Null) => {}
                (name, _) => {
                    return Err(err(format!(
                        "field `{name}` is not a string; fix the record or remove `{name}` from [mask].fields"
                    )));
                }
            }
            if !c.is_empty() {
                counts.insert(f.clone(), c);
            }
            residual.insert(f.clone(), rc);
        }
        Ok(MaskedRecord {
            record: if dropped.is_some() {
                None
            } else {
                Some(Value::Object(out))
            },
            counts,
            fingerprints: fps,
            residual: if dropped.is_some() {
                BTreeMap::new()
            } else {
                residual
            },
            dropped,
        })
    }

    /// Masks a batch on the rayon pool; results come back in input order.
    pub fn mask_batch(
        &self,
        records: &[Value],
        kind: RecordKind,
        first_index: u64,
    ) -> Vec<Result<MaskedRecord, PiiError>> {
        self.mask_batch_cancellable(records, kind, first_index, &|| false)
    }

    /// [`Masker::mask_batch`] with [`Masker::mask_record_cancellable`]: after
    /// `cancelled` says stop, the records still in work end with
    /// [`PiiError::Interrupted`] within about a second.
    pub fn mask_batch_cancellable(
        &self,
        records: &[Value],
        kind: RecordKind,
        first_index: u64,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Vec<Result<MaskedRecord, PiiError>> {
        records
            .par_iter()
            .enumerate()
            .map(|(i, r)| {
                let label = format!("record {}", first_index + i as u64);
                self.mask_record_cancellable(r, kind, &label, cancelled)
            })
            .collect()
    }

    /// Streams records through the rayon pool in batches of `batch_size`,
    /// calling `sink` with each result in input order. At most one batch of
    /// inputs and one of outputs is held at a time, so memory stays bounded.
    /// The sink's error stops the stream.
    pub fn mask_stream<I, S, E>(
        &self,
        input: I,
        kind: RecordKind,
        batch_size: usize,
        mut sink: S,
    ) -> Result<u64, E>
    where
        I: IntoIterator<Item = Value>,
        S: FnMut(u64, Result<MaskedRecord, PiiError>) -> Result<(), E>,
    {
        let batch_size = batch_size.max(1);
        let mut it = input.into_iter();
        let mut index = 0u64;
        loop {
            let batch: Vec<Value> = it.by_ref().take(batch_size).collect();
            if batch.is_empty() {
                return Ok(index);
            }
            let results = self.mask_batch(&batch, kind, index);
            drop(batch);
            for r in results {
                sink(index, r)?;
                index += 1;
            }
        }
    }
}

/// One `--detect` output line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectOutput {
    /// The input's `id`, copied as is.
    pub id: Value,
    /// Spans in Unicode code points, end exclusive, sorted by start.
    pub spans: Vec<CodePointSpan>,
}

/// Detects spans in one `{"id":..., "text":...}` line (1-based `line_no` for errors).
pub fn detect_line(det: &Detector, line: &str, line_no: u64) -> Result<DetectOutput, PiiError> {
    let bad = |reason: String| PiiError::DetectLine {
        line: line_no,
        reason,
    };
    let v: Value = serde_json::from_str(line).map_err(|e| {
        bad(match e.classify() {
            serde_json::error::Category::Eof => {
                format!(
                    "invalid JSON: the line ends at column {} before the value is complete",
                    e.column()
                )
            }
            _ => format!("invalid JSON at column {}", e.column()),
        })
    })?;
    let Value::Object(mut obj) = v else {
        return Err(bad("not a JSON object".into()));
    };
    let id = obj.remove("id").unwrap_or(Value::Null);
    let Some(Value::String(text)) = obj.get("text") else {
        return Err(bad("`text` is missing or not a string".into()));
    };
    let spans = det.detect(text);
    Ok(DetectOutput {
        id,
        spans: to_code_points(text, &spans),
    })
}

/// Runs detect-only mode over JSON Lines: reads `input`, writes one output
/// line per non-empty input line, in order, `batch` lines at a time on the
/// rayon pool. Returns the number of lines written.
pub fn detect_jsonl<R: BufRead, W: Write>(
    det: &Detector,
    input: R,
    in_path: &Path,
    mut output: W,
    out_path: &Path,
    batch: usize,
) -> Result<u64, PiiError> {
    let rd = |source| PiiError::Io {
        path: in_path.to_path_buf(),
        action: "read",
        source,
    };
    let wr = |source| PiiError::Io {
        path: out_path.to_path_buf(),
        action: "write",
        source,
    };
    let mut lines = input.lines();
    let mut line_no = 0u64;
    let mut written = 0u64;
    loop {
        let mut chunk = Vec::with_capacity(batch.max(1));
        for l in lines.by_ref() {
            line_no += 1;
            let l = l.map_err(rd)?;
            if l.trim().is_empty() {
                continue;
            }
            chunk.push((line_no, l));
            if chunk.len() >= batch.max(1) {
                break;
            }
        }
        if chunk.is_empty() {
            output.flush().map_err(wr)?;
            return Ok(written);
        }
        let outs: Vec<Result<DetectOutput, PiiError>> = chunk
            .par_iter()
            .map(|(n, l)| detect_line(det, l, *n))
            .collect();
        for o in outs {
            let o = o?;
            serde_json::to_writer(&mut output, &o).map_err(|e| wr(std::io::Error::other(e)))?;
            output.write_all(b"\n").map_err(wr)?;
            written += 1;
        }
    }
}

/// What [`mask_jsonl`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaskJsonlSummary {
    /// Masked records written.
    pub written: u64,
    /// Records a `drop_record` rule left out.
    pub dropped: u64,
    /// Replacements made, by entity type name.
    pub replacements: BTreeMap<String, u64>,
}

/// Masks JSON Lines records (chat, instruction or text, recognised by their fields and
/// parsed as strictly as ingest parses them) from `input` into `output`, in order; what
/// `sealtune mask` does outside a pipeline run. A line over `max_line` bytes, or one
/// that is not a record, stops with an error naming `in_path` and the line.
pub fn mask_jsonl<R: BufRead, W: Write>(
    masker: &Masker,
    input: R,
    in_path: &Path,
    mut output: W,
    out_path: &Path,
    max_line: usize,
) -> Result<MaskJsonlSummary, PiiError> {
    use sealtune_data::reader::{Line, LineReader};
    use sealtune_data::record::{JsonKind, parse_record};
    let wr = |source| PiiError::Io {
        path: out_path.to_path_buf(),
        action: "write",
        source,
    };
    let bad = |line: u64, reason: String| PiiError::Line {
        path: in_path.to_path_buf(),
        line,
        reason,
    };
    let shown = in_path.display().to_string();
    let mut lines = LineReader::new(input, max_line);
    let mut sum = MaskJsonlSummary::default();
    while let Some((line_no, _, line)) = lines.next_line().map_err(|source| PiiError::Io {
        path: in_path.to_path_buf(),
        action: "read",
        source,
    })? {
        let bytes = match line {
            Line::TooLong { len } => {
                let limit = if max_line >= 1 << 20 {
                    format!("{} MiB", max_line >> 20)
                } else {
                    format!("{max_line}-byte")
                };
                return Err(bad(
                    line_no,
                    format!("record is {len} bytes, over the {limit} limit"),
                ));
            }
            Line::Ok(b) => b,
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| bad(line_no, format!("invalid JSON at column {}", e.column())))?;
        let (json_kind, kind) = if v.get("messages").is_some() {
            (JsonKind::Chat, RecordKind::Chat)
        } else if v.get("instruction").is_some() {
            (JsonKind::Instruction, RecordKind::Instruction)
        } else {
            (JsonKind::Text, RecordKind::Text)
        };
        // The strict parser: duplicate keys are refused here as in ingest.
        let rec =
            parse_record(bytes, json_kind).map_err(|e| bad(line_no, e.reason().to_owned()))?;
        let v = serde_json::to_value(&rec).map_err(|e| bad(line_no, e.to_string()))?;
        let m = masker
            .mask_record(&v, kind, &format!("{shown}:{line_no}"))
            .map_err(|e| bad(line_no, e.to_string()))?;
        for types in m.counts.values() {
            for (t, n) in types {
                *sum.replacements.entry(t.to_string()).or_default() += n;
            }
        }
        match m.record {
            Some(v) => {
                serde_json::to_writer(&mut output, &v).map_err(|e| wr(std::io::Error::other(e)))?;
                output.write_all(b"\n").map_err(wr)?;
                sum.written += 1;
            }
            None => sum.dropped += 1,
        }
    }
    output.flush().map_err(wr)?;
    Ok(sum)
}
