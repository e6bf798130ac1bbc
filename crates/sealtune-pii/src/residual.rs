//! Residual-risk sweep: a cheap, high-recall pass over the *masked* output
//! that counts what still looks like PII the detector may have missed.
//!
//! The sweep is deliberately cruder than the detector: it counts shapes, not
//! validated values, so its figures are an upper-bound style signal ("this
//! many places deserve a look"), not a measurement of missed PII and not a
//! guarantee that nothing else was missed. It records counts per category and
//! per field name only, never a value or a position.
//!
//! Text the masking operators wrote (tags, pseudonyms, shifted dates, hashes,
//! and values kept by `keep`, which the report counts separately) is opaque to
//! the sweep: it is replaced by one placeholder character before scanning, so
//! a pseudonym after `Dr.` or the hex digits of a hash are never counted.
//!
//! Categories ([`ResidualKind`]):
//! - `name_context`: a capitalised word right after a name-context word
//!   (titles `Dr`, `Mr`, `Mrs`, `Ms`, `Mx`, `Miss`, `Prof`; role and kin
//!   words such as `patient`, `pt`, `customer`, `member`, `claimant`,
//!   `husband`, `wife`, `son`, `daughter`, `mother`, `father`, `sister`,
//!   `brother`, `niece`, `nephew`, `spouse`, `agent`, `caller`, more kin
//!   words, and form roles such as `subscriber`, `cardholder`, `insured`,
//!   `attending`, `referring`; salutations `dear`, `hi`, `hello`; `name:`),
//!   unless the word is a common function word or part of an organisational
//!   phrase (`The`, `He`, `Services`, `Care`, `ID`, ...); or a chat speaker
//!   label at the start of a line
//!   (`Maria:`, `[10:42] Maria:`, `Maria Lopez:`) whose capitalised word is
//!   not a common label (`Agent`, `Customer`, `Note`, `Plan`, `Subject`, ...).
//! - `long_digits`: a run of 7 or more ASCII digits, allowing single space or
//!   dash separators between groups (`617 555 0123`, `4111-1111-1111`);
//!   ISO-shaped dates (`2024-03-05`) inside a run are not counted, since
//!   dates are not a category of the sweep, nor are UUIDs (record ids).
//!   Reference numbers that the detector leaves on purpose (order, invoice,
//!   tracking, transaction numbers) are counted: the sweep does not read
//!   context, which is what makes it an upper bound.
//! - `address_line`: a line that still holds a street address (1-6 digits,
//!   one to three capitalised words, a street suffix such as `St`, `Avenue`,
//!   `Rd`, `Blvd`) or a `City, ST 12345` line (a US state code and a ZIP).
//!   Counted once per line.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A category of the residual sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResidualKind {
    /// A capitalised word after a name cue, or an unknown chat speaker label.
    NameContext,
    /// 7+ digits, single space/dash separators allowed.
    LongDigits,
    /// A street address or `City, ST 12345` line.
    AddressLine,
}

impl ResidualKind {
    /// Every category, in report order.
    pub const ALL: [ResidualKind; 3] = [
        ResidualKind::NameContext,
        ResidualKind::LongDigits,
        ResidualKind::AddressLine,
    ];

    /// The report name (`name_context`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ResidualKind::NameContext => "name_context",
            ResidualKind::LongDigits => "long_digits",
            ResidualKind::AddressLine => "address_line",
        }
    }
}

impl std::fmt::Display for ResidualKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counts per category.
pub type ResidualCounts = BTreeMap<ResidualKind, u64>;

/// What `mask/report.json` says about the sweep.
pub const NOTE: &str = "high-recall sweep of the masked output for shapes the detector may have missed (name_context, long_digits, address_line); an upper-bound style signal to guide review, not a count of missed PII and not a guarantee; text written by the masking operators is not counted; no values are recorded";

/// The placeholder that stands for text an operator wrote.
const OPAQUE: char = '\u{FFFC}';

/// Sweeps one masked string and adds what it finds to `counts`. `replaced`
/// are the byte ranges of `text` that the masking operators wrote, in
/// ascending order and not overlapping; they are never counted.
pub fn sweep(text: &str, replaced: &[(usize, usize)], counts: &mut ResidualCounts) {
    let skel = skeleton(text, replaced);
    let mut add = |k: ResidualKind, n: u64| {
        if n > 0 {
            *counts.entry(k).or_insert(0) += n;
        }
    };
    add(ResidualKind::LongDigits, long_digits(&skel));
    let (names, addresses) = scan_lines(&skel);
    add(ResidualKind::NameContext, names);
    add(ResidualKind::AddressLine, addresses);
}

/// `text` with every replaced range, and every tag-shaped token
/// (`<PERSON_1>`, `<EMAIL:3f2a...>`, `[EMAIL]`), collapsed to one [`OPAQUE`]
/// character. The shapes are recognised too so that a masked file swept
/// without its ranges still does not count the operators' own tokens.
fn skeleton<'a>(text: &'a str, replaced: &[(usize, usize)]) -> Cow<'a, str> {
    let mut cur = Cow::Borrowed(text);
    if !replaced.is_empty() {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for &(s, e) in replaced {
            if s < last || e > text.len() || s > e {
                continue;
            }
            out.push_str(&text[last..s]);
            out.push(OPAQUE);
            last = e;
        }
        out.push_str(&text[last..]);
        cur = Cow::Owned(out);
    }
    if !cur.contains(['<', '[']) {
        return cur;
    }
    let mut out = String::with_capacity(cur.len());
    let mut i = 0;
    while let Some(off) = cur[i..].find(['<', '[']) {
        let at = i + off;
        out.push_str(&cur[i..at]);
        match tag_shape_len(&cur.as_bytes()[at..]) {
            Some(len) => {
                out.push(OPAQUE);
                i = at + len;
            }
            None => {
                out.push_str(&cur[at..at + 1]);
                i = at + 1;
            }
        }
    }
    out.push_str(&cur[i..]);
    Cow::Owned(out)
}

/// The length of an operator token at the start of `b`: `[TYPE]`,
/// `<TYPE>`, `<TYPE_3>`, `<TYPE:0123abcd>` (TYPE: upper-case letters,
/// digits and `_`, starting with a letter, 2+ characters).
fn tag_shape_len(b: &[u8]) -> Option<usize> {
    let mut j = 1;
    while j < b.len() && (b[j].is_ascii_uppercase() || b[j].is_ascii_digit() || b[j] == b'_') {
        j += 1;
    }
    if j < 3 || !b[1].is_ascii_uppercase() {
        return None;
    }
    match (b[0], b.get(j)) {
        (b'[', Some(b']')) | (b'<', Some(b'>')) => Some(j + 1),
        (b'<', Some(b':')) => {
            let mut k = j + 1;
            while k < b.len() && b[k].is_ascii_hexdigit() {
                k += 1;
            }
            (k > j + 1 && b.get(k) == Some(&b'>')).then_some(k + 1)
        }
        _ => None,
    }
}

/// Runs of 7+ ASCII digits with single space/dash separators, ISO-shaped
/// dates taken out.
fn long_digits(s: &str) -> u64 {
    let b = s.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        // UUIDs are identifiers of records, never a person's: skipped whole.
        if (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'-')) && is_uuid(&b[i..]) {
            i += 36;
            continue;
        }
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // Groups of the run: (digits, separator before it).
        let mut groups: Vec<(usize, u8)> = Vec::new();
        let mut sep = 0u8;
        let mut j = i;
        loop {
            let start = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            groups.push((j - start, sep));
            if j + 1 < b.len() && matches!(b[j], b' ' | b'-') && b[j + 1].is_ascii_digit() {
                sep = b[j];
                j += 1;
            } else {
                break;
            }
        }
        i = j;
        // Split the run at ISO-shaped dates (yyyy-mm-dd, dd-mm-yyyy).
        let mut acc = 0usize;
        let mut k = 0;
        while k < groups.len() {
            let date = k + 2 < groups.len()
                && groups[k + 1].1 == b'-'
                && groups[k + 2].1 == b'-'
                && matches!(
                    (groups[k].0, groups[k + 1].0, groups[k + 2].0),
                    (4, 2, 2) | (2, 2, 4)
                );
            if date {
                if acc >= 7 {
                    n += 1;
                }
                acc = 0;
                k += 3;
            } else {
                acc += groups[k].0;
                k += 1;
            }
        }
        if acc >= 7 {
            n += 1;
        }
    }
    n
}

/// `8-4-4-4-12` hex digits at the start of `b`, not followed by a letter,
/// digit or dash.
fn is_uuid(b: &[u8]) -> bool {
    b.len() >= 36
        && b[..36].iter().enumerate().all(|(k, c)| {
            if matches!(k, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
        && !b
            .get(36)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// Letters (with inner `'`, `’` or `-`): byte range.
    Word(usize, usize),
    /// ASCII digits: byte range.
    Num(usize, usize),
    /// Text an operator wrote.
    Opaque,
    /// Any other non-space character.
    Punct(char),
}

fn tokens(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c.is_alphabetic() {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = it.peek() {
                if d.is_alphabetic() {
                    end = j + d.len_utf8();
                    it.next();
                } else if matches!(d, '\'' | '’' | '-')
                    && s[j + d.len_utf8()..]
                        .chars()
                        .next()
                        .is_some_and(char::is_alphabetic)
                {
                    it.next();
                } else {
                    break;
                }
            }
            out.push(Tok::Word(i, end));
        } else if c.is_ascii_digit() {
            let mut end = i + 1;
            while let Some(&(j, d)) = it.peek() {
                if d.is_ascii_digit() {
                    end = j + 1;
                    it.next();
                } else {
                    break;
                }
            }
            out.push(Tok::Num(i, end));
        } else if c == OPAQUE {
            out.push(Tok::Opaque);
        } else if !c.is_whitespace() {
            out.push(Tok::Punct(c));
        }
    }
    out
}

/// Words after which a capitalised word is likely a name.
#[rustfmt::skip]
const NAME_CUES: &[&str] = &[
    "dr", "mr", "mrs", "ms", "mx", "miss", "prof", "patient", "pt", "customer", "member",
    "claimant", "husband", "wife", "son", "daughter", "mother", "father", "sister", "brother",
    "niece", "nephew", "spouse", "agent", "caller", "dear", "hi", "hello", "grandmother",
    "grandfather", "grandson", "granddaughter", "aunt", "uncle", "cousin", "guardian", "partner",
    "subscriber", "cardholder", "policyholder", "beneficiary", "guarantor", "insured", "attending",
    "referring",
];

/// Capitalised words that follow cues without being names.
#[rustfmt::skip]
const NOT_NAMES: &[&str] = &[
    "the", "a", "an", "this", "that", "these", "those", "he", "she", "they", "we", "i", "you",
    "it", "his", "her", "their", "our", "my", "your", "is", "was", "has", "had", "and", "or",
    "but", "not", "no", "yes", "in", "on", "at", "of", "for", "with", "from", "to", "by", "as",
    "all", "there", "here", "team", "everyone", "again", "thanks", "thank", "please", "good",
    "sir", "madam", "valued", "unknown", "none", "na", "n", "who", "what", "when", "where", "how",
    "why", "if", "so", "ok", "okay", "services", "service", "care", "relations", "id", "number",
    "portal", "account", "accounts", "desk", "centre", "center", "line", "office", "department",
    "agreement", "statement", "name", "names", "notes", "note",
];

/// Line-start labels that are not speakers' names.
#[rustfmt::skip]
const LABELS: &[&str] = &[
    "agent", "customer", "support", "note", "notes", "plan", "subject", "from", "to", "re", "fwd",
    "cc", "bcc", "date", "time", "user", "assistant", "system", "bot", "patient", "pt", "doctor",
    "nurse", "provider", "physician", "clinician", "rep", "representative", "operator", "caller",
    "client", "member", "admin", "staff", "team", "me", "you", "question", "answer", "summary",
    "assessment", "diagnosis", "impression", "history", "hpi", "medications", "meds", "allergies",
    "vitals", "exam", "findings", "results", "labs", "procedure", "reason", "complaint",
    "disposition", "instructions", "discharge", "admission", "status", "comment", "comments",
    "response", "reply", "issue", "problem", "description", "details", "update", "resolution",
    "action", "request", "ticket", "priority", "category", "account", "address", "phone", "email",
    "dob", "mrn", "ssn", "name", "id", "type", "amount", "balance", "total", "order", "tel", "fax",
    "mobile", "cell", "ref", "reference", "attn", "attention", "signed", "regards", "sincerely",
    "thanks", "warning", "error", "info", "debug", "step", "example", "input", "output",
    "instruction", "context", "title", "location", "department", "unit", "room", "bed", "facility",
    "clinic", "hospital", "insurance", "policy", "group", "employer", "occupation", "age", "sex",
    "gender", "height", "weight", "temp", "pulse", "follow", "followup", "recommendation",
    "recommendations", "objective", "subjective", "medication", "allergy", "social", "family",
    "review", "signature", "hi", "hello", "dear", "ps", "fyi", "important", "tip", "q", "a",
    "subscriber", "cardholder", "policyholder", "beneficiary", "guarantor", "insured", "holder",
    "admitted", "discharged", "attending", "referring", "consultant", "course", "pcp", "surgeon",
    "author", "reviewer", "approver", "owner", "assignee", "reporter", "requester", "contact",
    "emergency", "relationship", "next", "kin", "case", "visit", "encounter", "specialty",
    "service", "services", "medical", "current", "past", "chief", "dx", "rx", "sig", "hx", "tx",
    "outcome", "condition", "temperature", "bp", "hr", "rr", "spo2", "ecg", "ekg", "imaging",
    "lab", "mailing", "billing", "shipping", "home", "work", "primary", "secondary",
];

/// Street suffixes of `address_line`.
#[rustfmt::skip]
const STREET_SUFFIXES: &[&str] = &[
    "street", "st", "avenue", "ave", "road", "rd", "lane", "ln", "drive", "dr", "court", "ct",
    "boulevard", "blvd", "way", "place", "pl", "terrace", "highway", "hwy", "parkway", "pkwy",
    "circle", "cir",
];

/// US state and territory codes of `City, ST 12345`.
#[rustfmt::skip]
const STATES: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
    "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
    "WV", "WI", "WY", "PR", "GU", "VI", "AS", "MP",
];

fn lower_in(word: &str, list: &[&str]) -> bool {
    list.iter().any(|w| w.eq_ignore_ascii_case(word))
}

fn capitalised(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_uppercase)
}

/// Name-context findings and address lines, one line at a time (so memory
/// stays bounded by the longest line). A cue at the end of a line may find
/// its word at the start of the next.
fn scan_lines(s: &str) -> (u64, u64) {
    let (mut names, mut addresses) = (0, 0);
    let mut pending = false;
    for line in s.split('\n') {
        let toks = tokens(line);
        // Word starts counted on this line, so that a word is counted once.
        let mut counted = BTreeSet::new();
        pending = cue_names(line, &toks, pending, &mut counted);
        if let Some(start) = speaker_label(line, &toks) {
            counted.insert(start);
        }
        names += counted.len() as u64;
        if street_in(line, &toks) || city_state_zip_in(line, &toks) {
            addresses += 1;
        }
    }
    (names, addresses)
}

/// The next name after a cue: skips up to two of `.`, `:`, `,`, `-` from
/// `k`. `Ok(Some(start))` for a counted word, `Ok(None)` for none, `Err(())`
/// when the line ended first (the word may open the next line).
fn name_after(s: &str, toks: &[Tok], mut k: usize) -> Result<Option<usize>, ()> {
    let mut puncts = 0;
    while let Some(Tok::Punct('.' | ':' | ',' | '-')) = toks.get(k) {
        if puncts == 2 {
            return Ok(None);
        }
        puncts += 1;
        k += 1;
    }
    match toks.get(k) {
        None => Err(()),
        Some(Tok::Word(c, d)) => {
            let next = &s[*c..*d];
            // A cue after a cue (`Dear Dr. Lee`) is handled as its own cue.
            Ok(
                (capitalised(next) && !lower_in(next, NOT_NAMES) && !lower_in(next, NAME_CUES))
                    .then_some(*c),
            )
        }
        Some(_) => Ok(None),
    }
}

/// Counts capitalised words after name cues on one line into `counted`;
/// `pending` says the previous line ended right after a cue. Returns whether
/// this line does.
fn cue_names(s: &str, toks: &[Tok], pending: bool, counted: &mut BTreeSet<usize>) -> bool {
    if pending && let Ok(Some(start)) = name_after(s, toks, 0) {
        counted.insert(start);
    }
    let mut ends_in_cue = false;
    for (i, t) in toks.iter().enumerate() {
        let Tok::Word(a, b) = *t else { continue };
        let w = &s[a..b];
        let is_name_label =
            w.eq_ignore_ascii_case("name") && matches!(toks.get(i + 1), Some(Tok::Punct(':')));
        if !is_name_label && !lower_in(w, NAME_CUES) {
            continue;
        }
        match name_after(s, toks, i + 1) {
            Ok(Some(start)) => {
                counted.insert(start);
            }
            Ok(None) => {}
            Err(()) => ends_in_cue = true,
        }
    }
    ends_in_cue
}

/// A chat speaker label at the start of the line (`Maria:`, `Maria Lopez:`,
/// `[10:42] Maria:`) that is not a common label: the word's start.
fn speaker_label(s: &str, line: &[Tok]) -> Option<usize> {
    let mut k = 0;
    // `[10:42]`, `[10:42:07]`.
    if let [
        Tok::Punct('['),
        Tok::Num(..),
        Tok::Punct(':'),
        Tok::Num(..),
        rest @ ..,
    ] = line
    {
        let mut j = 4;
        if let [Tok::Punct(':'), Tok::Num(..), ..] = rest {
            j += 2;
        }
        if line.get(j) != Some(&Tok::Punct(']')) {
            return None;
        }
        k = j + 1;
    }
    let word = |t: Option<&Tok>| match t {
        Some(Tok::Word(a, b)) if capitalised(&s[*a..*b]) => Some((*a, &s[*a..*b])),
        _ => None,
    };
    let (start, first) = word(line.get(k))?;
    let colon_at = match (line.get(k + 1), word(line.get(k + 1))) {
        (Some(Tok::Punct(':')), _) => k + 1,
        (_, Some(_)) if line.get(k + 2) == Some(&Tok::Punct(':')) => k + 2,
        _ => return None,
    };
    // `Https://`-like: not a label.
    if line.get(colon_at + 1) == Some(&Tok::Punct('/')) {
        return None;
    }
    if first.chars().count() < 2 || lower_in(first, LABELS) || lower_in(first, NAME_CUES) {
        return None;
    }
    Some(start)
}

fn street_in(s: &str, line: &[Tok]) -> bool {
    for (i, t) in line.iter().enumerate() {
        let Tok::Num(a, b) = *t else { continue };
        if b - a > 6 {
            continue;
        }
        // One to three capitalised words, then a suffix.
        for words in 1..=3 {
            let names = line.get(i + 1..i + 1 + words);
            let suffix = line.get(i + 1 + words);
            let ok = names.is_some_and(|ws| {
                ws.iter()
                    .all(|w| matches!(w, Tok::Word(c, d) if capitalised(&s[*c..*d])))
            }) && matches!(suffix, Some(Tok::Word(c, d)) if lower_in(&s[*c..*d], STREET_SUFFIXES));
            if ok {
                return true;
            }
        }
    }
    false
}

fn city_state_zip_in(s: &str, line: &[Tok]) -> bool {
    line.windows(4).any(|w| match w {
        [
            Tok::Word(a, b),
            Tok::Punct(','),
            Tok::Word(c, d),
            Tok::Num(e, f),
        ] => capitalised(&s[*a..*b]) && STATES.contains(&&s[*c..*d]) && f - e == 5,
        _ => false,
    })
}

/// The sweep's totals for `mask/report.json`: counts only, never a value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidualReport {
    /// Records swept: those written to the masked splits.
    pub swept_records: u64,
    /// Findings per category over all fields.
    pub by_type: ResidualCounts,
    /// Findings per field name (`messages` counts every message) and category.
    pub by_field: BTreeMap<String, ResidualCounts>,
}

impl ResidualReport {
    /// Adds one written record's findings, per field.
    pub fn add(&mut self, per_field: &BTreeMap<String, ResidualCounts>) {
        self.swept_records += 1;
        for (field, counts) in per_field {
            let dst = self.by_field.entry(field.clone()).or_default();
            for (k, n) in counts {
                *dst.entry(*k).or_insert(0) += n;
                *self.by_type.entry(*k).or_insert(0) += n;
            }
        }
    }

    /// The `residual` object of `mask/report.json`: every category appears,
    /// zero included, in `by_type` and in each swept field.
    pub fn summary(&self) -> sealtune_contract::artifacts::mask::Residual {
        let full = |c: &ResidualCounts| -> BTreeMap<String, u64> {
            ResidualKind::ALL
                .iter()
                .map(|k| (k.as_str().to_owned(), c.get(k).copied().unwrap_or(0)))
                .collect()
        };
        sealtune_contract::artifacts::mask::Residual {
            swept_records: self.swept_records,
            by_type: full(&self.by_type),
            by_field: self
                .by_field
                .iter()
                .map(|(f, c)| (f.clone(), full(c)))
                .collect(),
            total: self.by_type.values().sum::<u64>(),
            note: NOTE.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> ResidualCounts {
        let mut c = ResidualCounts::new();
        sweep(text, &[], &mut c);
        c
    }

    fn n(c: &ResidualCounts, k: ResidualKind) -> u64 {
        c.get(&k).copied().unwrap_or(0)
    }

    use ResidualKind::{AddressLine, LongDigits, NameContext};

    #[test]
    fn names_after_cues_and_speaker_labels() {
        let c = run(
            "Seen by Dr. Okonkwo today. Her husband Tariq called.\nDear Mrs Ngata,\nname: Zofia",
        );
        assert_eq!(n(&c, NameContext), 4);
        // Lower case and function words after cues are not names.
        assert_eq!(
            n(
                &run("the patient was seen; hi there. Patient: The plan"),
                NameContext
            ),
            0
        );
        // Speaker labels.
        let chat = "Agent: how can I help?\nWiremu: my card\n[10:42] Anaïs: thanks\nCustomer: ok\nWiremu Tane: again\nNote: none";
        assert_eq!(n(&run(chat), NameContext), 3);
        // A cue after a cue: the name is counted once.
        assert_eq!(n(&run("Dear Dr. Lee,"), NameContext), 1);
        // Organisational phrases and form labels are not names.
        let form = "Call Member Services or Customer Care.\nSubscriber: Ana\nAdmitted: today\nPatient Name: Ana Ruiz";
        assert_eq!(n(&run(form), NameContext), 2);
        assert_eq!(n(&run("see https://x.org\nHttps://y"), NameContext), 0);
        // A cue at a line end finds its word on the next line, not further.
        assert_eq!(n(&run("Patient:\nZofia Nowak"), NameContext), 1);
        assert_eq!(n(&run("Patient:\n\nZofia Nowak"), NameContext), 0);
    }

    #[test]
    fn long_digit_runs() {
        assert_eq!(n(&run("call 617 555 0123 or 555-0199"), LongDigits), 2);
        assert_eq!(
            n(&run("acct 00482913, card 4111-1111-1111-1111"), LongDigits),
            2
        );
        assert_eq!(n(&run("room 123, 12 34 56, v1.2.3"), LongDigits), 0);
        // ISO dates and timestamps are not long numbers.
        assert_eq!(n(&run("at 2024-03-05 10:22, on 05-03-2024"), LongDigits), 0);
        // Double separators end a run.
        assert_eq!(n(&run("1234  5678"), LongDigits), 0);
        // UUIDs are skipped whole; digits glued to one are not.
        assert_eq!(
            n(
                &run("req 2015c95f-9891-40ca-ab02-68747580a577."),
                LongDigits
            ),
            0
        );
        assert_eq!(
            n(&run("req 12345678-9891-4012-8b02-123456789012"), LongDigits),
            0
        );
        assert_eq!(
            n(
                &run("x2015c95f-9891-40ca-ab02-68747580a577 12345678"),
                LongDigits
            ),
            2
        );
    }

    #[test]
    fn address_lines() {
        assert_eq!(n(&run("lives at 42 Wallaby Way, Sydney"), AddressLine), 1);
        assert_eq!(
            n(
                &run("1600 Pennsylvania Avenue\nWashington, DC 20500"),
                AddressLine
            ),
            2
        );
        assert_eq!(
            n(
                &run("12 North Oak St. and 14 Elm Rd on one line"),
                AddressLine
            ),
            1
        );
        assert_eq!(
            n(
                &run("took 2 tablets at noon; Boston, Massachusetts"),
                AddressLine
            ),
            0
        );
    }

    #[test]
    fn replacement_tokens_are_not_counted() {
        // Tags, redactions and hashes are not words.
        let masked = "Dr. <PERSON_1> at <PHONE_2>, <EMAIL:1234567890abcdef>, [STREET_ADDRESS]\nBoston, MA <ZIP_CODE_1>";
        assert_eq!(run(masked), ResidualCounts::new());
        // Pseudonyms and surrogate numbers look real: their ranges are opaque.
        let text = "Dr. Jane Smith, SSN 912-34-5678\n12 Harlow St\nHarlow: hi";
        let ranges = |needles: &[&str]| -> Vec<(usize, usize)> {
            let mut r: Vec<(usize, usize)> = needles
                .iter()
                .map(|x| {
                    let s = text.find(x).unwrap();
                    (s, s + x.len())
                })
                .collect();
            r.sort();
            r
        };
        let mut r = ranges(&["Jane Smith", "912-34-5678", "12 Harlow St"]);
        let label = text.rfind("Harlow").unwrap();
        r.push((label, label + "Harlow".len()));
        let mut all = ResidualCounts::new();
        sweep(text, &r, &mut all);
        assert_eq!(all, ResidualCounts::new());
        // Without the ranges the same text is counted.
        let c = run(text);
        assert_eq!(
            (n(&c, NameContext), n(&c, LongDigits), n(&c, AddressLine)),
            (2, 1, 1)
        );
    }

    #[test]
    fn report_holds_counts_and_field_names_only() {
        let pii = [
            "Okonkwo",
            "617 555 0123",
            "42 Wallaby Way",
            "Springfield",
            "Wiremu",
        ];
        let text = "Dr. Okonkwo, 617 555 0123\n42 Wallaby Way\nSpringfield, IL 62701\nWiremu: hi";
        let mut c = ResidualCounts::new();
        sweep(text, &[], &mut c);
        let mut rep = ResidualReport::default();
        rep.add(&[("text".to_string(), c)].into_iter().collect());
        rep.add(&BTreeMap::new());
        let j = serde_json::to_value(rep.summary()).unwrap();
        assert_eq!(j["swept_records"], 2);
        assert_eq!(j["by_type"]["name_context"], 2);
        assert_eq!(j["by_type"]["long_digits"], 1);
        assert_eq!(j["by_type"]["address_line"], 2);
        assert_eq!(j["by_field"]["text"]["address_line"], 2);
        assert_eq!(j["total"], 5);
        let s = serde_json::to_string(&j).unwrap();
        for v in pii.iter().chain(["62701", "IL"].iter()) {
            assert!(!s.contains(v), "the report holds a value");
        }
    }
}
