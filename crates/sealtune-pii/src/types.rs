//! Canonical entity types and detected spans.

use serde::{Deserialize, Serialize};

pub use sealtune_contract::EntityType;

/// A detected entity: byte offsets into the scanned text (`end` exclusive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// What was found.
    pub entity: EntityType,
    /// Confidence in `0.0..=1.0`.
    pub score: f32,
}

impl Span {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True for an empty span.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// A span with offsets in Unicode code points (`end` exclusive): the `--detect` form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodePointSpan {
    /// Code point offset of the first character.
    pub start: usize,
    /// Code point offset one past the last character.
    pub end: usize,
    /// Canonical type name.
    #[serde(rename = "type")]
    pub entity: EntityType,
    /// Confidence, rounded to three decimals.
    pub score: f32,
}

/// Converts byte-offset spans (sorted by start, as [`crate::Detector::detect`]
/// returns them, or in any order) to code point offsets in one pass over `text`.
///
/// Offsets that do not fall on a character boundary are rounded down to one.
pub fn to_code_points(text: &str, spans: &[Span]) -> Vec<CodePointSpan> {
    let mut offsets: Vec<usize> = spans.iter().flat_map(|s| [s.start, s.end]).collect();
    offsets.sort_unstable();
    offsets.dedup();
    let mut map = Vec::with_capacity(offsets.len());
    let mut cp = 0usize;
    let mut it = offsets.iter().peekable();
    for (b, _) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        while let Some(&&o) = it.peek() {
            if o <= b {
                map.push((o, if o == b { cp } else { cp.saturating_sub(1) }));
                it.next();
            } else {
                break;
            }
        }
        cp += 1;
    }
    for &o in it {
        map.push((o, cp.saturating_sub(1)));
    }
    let lookup = |o: usize| -> usize {
        match map.binary_search_by_key(&o, |&(k, _)| k) {
            Ok(i) => map[i].1,
            Err(_) => 0,
        }
    };
    spans
        .iter()
        .map(|s| CodePointSpan {
            start: lookup(s.start),
            end: lookup(s.end),
            entity: s.entity,
            score: (s.score * 1000.0).round() / 1000.0,
        })
        .collect()
}
