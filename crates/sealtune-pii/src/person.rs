//! Person names: gazetteer flags and cue words, looked up once per word in
//! one hash table, then a few rules over the word sequence.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use crate::names;

const FIRST: u16 = names::FIRST as u16;
const LAST: u16 = names::LAST as u16;
const WORD: u16 = names::WORD as u16;

/// Flag: a closed-class or domain word that never starts a name.
const STOP: u16 = 1 << 3;
/// Flag: a title ("Dr", "Mrs").
const TITLE: u16 = 1 << 4;
/// Flag: a label followed by ':' ("Patient:", "Name:").
const LABEL: u16 = 1 << 5;
/// Flag: a label that introduces a name without a colon ("patient Maria Lopez").
const BARE: u16 = 1 << 6;
/// Flag: a preposition or verb often followed by a full name.
const WEAK: u16 = 1 << 7;
/// Flag: a salutation or sign-off ("Dear", "Regards").
const SALUT: u16 = 1 << 8;
/// Flag: a surname particle ("de", "van").
const PARTICLE: u16 = 1 << 9;
/// Flag: the verb of a self-introduction ("is", "am").
const INTRO: u16 = 1 << 10;
/// Flag: the word before an introduction verb ("name", "this").
const INTRO_PREV: u16 = 1 << 11;

const TITLES: &[&str] = &[
    "dr",
    "mr",
    "mrs",
    "ms",
    "mx",
    "miss",
    "prof",
    "professor",
    "doctor",
    "nurse",
    "sra",
    "sr",
    "dra",
    "herr",
    "frau",
    "mme",
    "mlle",
    "señor",
    "señora",
    "sister",
    "rev",
];
const LABELS: &[&str] = &[
    "patient",
    "name",
    "pt",
    "member",
    "insured",
    "subscriber",
    "cardholder",
    "client",
    "customer",
    "caller",
    "guarantor",
    "contact",
    "physician",
    "provider",
    "attending",
    "surgeon",
    "signed",
    "by",
    "from",
    "to",
    "cc",
    "guardian",
    "mother",
    "father",
    "spouse",
    "wife",
    "husband",
    "son",
    "daughter",
    "referred",
    "author",
    "agent",
    "rep",
    "representative",
    "applicant",
    "beneficiary",
    "employee",
    "holder",
    "owner",
    "resident",
    "pcp",
    "seen",
    "accompanied",
    "witness",
    "requester",
    "user",
    "sender",
    "recipient",
    "payee",
    "nok",
];
const BARE_LABELS: &[&str] = &[
    "patient",
    "pt",
    "attending",
    "physician",
    "surgeon",
    "guarantor",
    "cardholder",
    "subscriber",
    "insured",
    "caller",
    "resident",
    "witness",
];
const WEAKS: &[&str] = &[
    "for",
    "with",
    "by",
    "from",
    "and",
    "regarding",
    "re",
    "about",
    "called",
    "named",
    "saw",
    "visited",
    "of",
    "per",
    "cc",
    "via",
];
const SALUTATIONS: &[&str] = &[
    "dear",
    "hi",
    "hello",
    "hey",
    "thanks",
    "thank",
    "regards",
    "sincerely",
    "cheers",
    "best",
    "yours",
    "cordially",
    "greetings",
    "bye",
    "welcome",
];
const STOPS: &[&str] = &[
    "dr",
    "mr",
    "mrs",
    "ms",
    "mx",
    "miss",
    "prof",
    "the",
    "a",
    "an",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "for",
    "with",
    "at",
    "is",
    "was",
    "has",
    "had",
    "our",
    "your",
    "my",
    "this",
    "that",
    "team",
    "customer",
    "sir",
    "madam",
    "all",
    "colleague",
    "patient",
    "doctor",
    "member",
    "user",
    "support",
    "department",
    "hospital",
    "clinic",
    "center",
    "centre",
    "bank",
    "service",
    "services",
    "medical",
    "md",
    "rn",
    "phd",
    "do",
    "np",
    "pa",
    "dds",
    "care",
    "review",
    "claim",
    "claims",
    "ticket",
    "new",
    "logged",
    "take",
    "questions",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "you",
    "we",
    "i",
    "he",
    "she",
    "they",
    "it",
    "no",
    "not",
    "yes",
    "there",
    "again",
    "everyone",
    "folks",
    "unit",
    "room",
    "ward",
    "street",
    "avenue",
    "road",
    "st",
    "ave",
    "rd",
    "mrn",
    "dob",
    "ssn",
    "id",
    "number",
    "account",
    "insurance",
    "policy",
    "date",
    "phone",
    "email",
    "address",
    "admitted",
    "discharged",
    "discharge",
    "diagnosis",
    "history",
    "note",
    "summary",
    "reason",
    "plan",
    "assessment",
    "follow",
    "pending",
    "app",
];
const PARTICLES: &[&str] = &[
    "de", "del", "della", "der", "den", "van", "von", "da", "das", "dos", "du", "di", "la", "le",
    "bin", "ibn", "al", "el", "ter", "ten", "y", "mac",
];
const INTROS: &[&str] = &["is", "am", "im", "me", "named", "called"];
const INTRO_PREVS: &[&str] = &["name", "this", "i", "call", "named", "called", "it"];

/// FxHash: a fast, non-cryptographic hash for short keys that are not attacker-chosen
/// in a way that matters here (a slow lookup, not a wrong one, is the worst case).
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl Fx {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.add(u64::from_le_bytes(b));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Lower-case words up to eight bytes are packed into a `u64` key (the common
/// case: one multiply to hash, one compare to match); longer ones use bytes.
#[derive(Debug)]
struct Map {
    /// One-hash Bloom filter over the short keys: most words are in no list,
    /// and a bit test is cheaper than a table probe.
    bloom: Vec<u64>,
    short: HashMap<u64, u16, BuildHasherDefault<Fx>>,
    long: HashMap<&'static [u8], u16, BuildHasherDefault<Fx>>,
}

const BLOOM_BITS: u32 = 18;

fn bloom_bit(k: u64) -> usize {
    (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BLOOM_BITS)) as usize
}

impl Map {
    fn new() -> Self {
        Map {
            bloom: vec![0; (1 << BLOOM_BITS) / 64],
            short: HashMap::default(),
            long: HashMap::default(),
        }
    }

    fn insert(&mut self, w: &'static str, flag: u16) {
        match pack(w.as_bytes()) {
            Some(k) => {
                let bit = bloom_bit(k);
                self.bloom[bit / 64] |= 1 << (bit % 64);
                *self.short.entry(k).or_insert(0) |= flag
            }
            None => *self.long.entry(w.as_bytes()).or_insert(0) |= flag,
        }
    }

    fn get(&self, w: &[u8]) -> u16 {
        match pack(w) {
            Some(k) => {
                let bit = bloom_bit(k);
                if self.bloom[bit / 64] & (1 << (bit % 64)) == 0 {
                    return 0;
                }
                self.short.get(&k).copied().unwrap_or(0)
            }
            None => self.long.get(w).copied().unwrap_or(0),
        }
    }
}

fn pack(w: &[u8]) -> Option<u64> {
    if w.is_empty() || w.len() > 8 {
        return None;
    }
    let mut b = [0u8; 8];
    b[..w.len()].copy_from_slice(w);
    Some(u64::from_le_bytes(b))
}

fn lexicon() -> &'static Map {
    static L: OnceLock<Map> = OnceLock::new();
    L.get_or_init(|| {
        let g = names::Gazetteer::get();
        let mut m = Map::new();
        for (name, f) in g.entries() {
            m.insert(name, u16::from(f));
        }
        for (list, flag) in [
            (TITLES, TITLE),
            (LABELS, LABEL),
            (BARE_LABELS, BARE),
            (WEAKS, WEAK),
            (SALUTATIONS, SALUT),
            (STOPS, STOP),
            (PARTICLES, PARTICLE),
            (INTROS, INTRO),
            (INTRO_PREVS, INTRO_PREV),
        ] {
            for w in list {
                m.insert(w, flag);
            }
        }
        m
    })
}

/// Flags for a word: folds case and Latin diacritics, then one table lookup.
fn lookup(map: &Map, w: &str) -> u16 {
    let bytes = w.as_bytes();
    // Fast path: short ASCII words are packed into the key in registers.
    if bytes.len() <= 8 && bytes.is_ascii() {
        let mut k = 0u64;
        let mut n = 0;
        for &c in bytes {
            if c != b'\'' && c != b'-' {
                k |= u64::from(c | 0x20) << (8 * n);
                n += 1;
            }
        }
        if n == 0 {
            return 0;
        }
        let bit = bloom_bit(k);
        if map.bloom[bit / 64] & (1 << (bit % 64)) == 0 {
            return 0;
        }
        return map.short.get(&k).copied().unwrap_or(0);
    }
    let mut buf = [0u8; 24];
    let mut n = 0;
    if bytes.is_ascii() {
        if bytes.len() > buf.len() {
            return 0;
        }
        for &c in bytes {
            if c != b'\'' && c != b'-' {
                buf[n] = c | 0x20;
                n += 1;
            }
        }
    } else {
        for c in w.chars() {
            let Some(f) = names::fold(c) else { return 0 };
            if f == 0 {
                continue;
            }
            if n == buf.len() {
                return 0;
            }
            buf[n] = f;
            n += 1;
        }
    }
    map.get(&buf[..n])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Cap,
    Upper,
    Lower,
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Word {
    start: usize,
    end: usize,
    case: Case,
    flags: u16,
}

fn is_word_char(c: char) -> bool {
    c.is_alphabetic() || c == '\'' || c == '’' || c == '-'
}

fn words(text: &str, map: &Map) -> Vec<Word> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(text.len() / 6);
    let mut i = 0;
    while i < b.len() {
        let c0 = b[i];
        if !(c0.is_ascii_alphabetic() || c0 >= 0x80) {
            i += 1;
            continue;
        }
        let start = i;
        let (mut upper, mut lower) = (0usize, 0usize);
        let mut first_upper = false;
        while i < b.len() {
            let c = b[i];
            let (ch, len) = if c < 0x80 {
                (c as char, 1)
            } else {
                match text[i..].chars().next() {
                    Some(ch) => (ch, ch.len_utf8()),
                    None => break,
                }
            };
            if !is_word_char(ch) || (i == start && !ch.is_alphabetic()) {
                break;
            }
            if ch.is_uppercase() {
                upper += 1;
                first_upper |= i == start;
            } else if ch.is_lowercase() {
                lower += 1;
            }
            i += len;
        }
        if i == start {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let mut end = i;
        while end > start && matches!(b[end - 1], b'\'' | b'-') {
            end -= 1;
        }
        let case = if first_upper && lower > 0 {
            Case::Cap
        } else if upper > 0 && lower == 0 {
            Case::Upper
        } else if upper == 0 && lower > 0 {
            Case::Lower
        } else {
            Case::Other
        };
        let flags = if case == Case::Other {
            0
        } else {
            lookup(map, &text[start..end])
        };
        out.push(Word {
            start,
            end,
            case,
            flags,
        });
    }
    out
}

/// Finds person names; calls `emit(start, end, score)` for each. Polls
/// `cancelled` every [`crate::detect::POLL`] words and returns false when it
/// said stop (the names emitted so far are then incomplete).
pub(crate) fn find(
    text: &str,
    cancelled: &dyn Fn() -> bool,
    mut emit: impl FnMut(usize, usize, f32),
) -> bool {
    let map = lexicon();
    let ws = words(text, map);
    if cancelled() {
        return false;
    }
    let b = text.as_bytes();
    let gap = |a: &Word, z: &Word| &text[a.end..z.start];
    let capish = |w: &Word| matches!(w.case, Case::Cap | Case::Upper);
    let namey = |w: &Word| capish(w) && w.flags & STOP == 0;
    let known = |w: &Word| w.flags & (FIRST | LAST) != 0;
    let plain = |w: &Word| w.flags & WORD == 0;
    let initial =
        |w: &Word| w.end - w.start == 1 && w.case == Case::Upper && b.get(w.end) == Some(&b'.');
    // Extends a name from word i over capitalised words, initials and particles.
    let extend = |i: usize, lower_ok: bool| -> usize {
        let mut j = i + 1;
        let mut last = i + 1;
        while j < ws.len() && j - i < 5 {
            let gp = gap(&ws[j - 1], &ws[j]);
            if !(gp == " " || (gp == ". " && ws[j - 1].end - ws[j - 1].start == 1)) {
                break;
            }
            let w = &ws[j];
            if initial(w) || namey(w) || (lower_ok && w.case == Case::Lower && known(w) && plain(w))
            {
                j += 1;
                last = j;
            } else if w.case == Case::Lower
                && w.flags & PARTICLE != 0
                && ws.get(j + 1).is_some_and(namey)
            {
                j += 1;
            } else {
                break;
            }
        }
        last
    };
    let mut i = 0;
    let mut next_poll = crate::detect::POLL;
    while i < ws.len() {
        if i >= next_poll {
            if cancelled() {
                return false;
            }
            next_poll = i + crate::detect::POLL;
        }
        let w = ws[i];
        let mut cue = 0.0f32;
        if i > 0 {
            let p = ws[i - 1];
            let pg = gap(&p, &w).trim_matches(' ');
            if p.flags & TITLE != 0 && (pg.is_empty() || pg == ".") {
                cue = 0.95;
            } else if p.flags & LABEL != 0 && matches!(pg, ":" | "-" | ":\t" | "=") {
                cue = 0.9;
            } else if p.flags & BARE != 0 && pg.is_empty() && capish(&w) {
                cue = 0.7;
            } else if p.flags & WEAK != 0
                && pg.is_empty()
                && capish(&w)
                && w.flags & STOP == 0
                && ws
                    .get(i + 1)
                    .is_some_and(|nx| gap(&w, nx) == " " && namey(nx))
            {
                cue = 0.6;
            } else if (p.flags & SALUT != 0 && !pg.contains("\n\n"))
                || (i >= 2
                    && pg.is_empty()
                    && p.flags & INTRO != 0
                    && ws[i - 2].flags & INTRO_PREV != 0)
                || (pg.is_empty() && text[p.start..p.end].eq_ignore_ascii_case("i'm"))
            {
                cue = 0.85;
            }
        }
        // A signature: "— First Last" (or "-- ", "– ") closing a line.
        if cue == 0.0 && namey(&w) {
            let before = text[..w.start].trim_end_matches(' ');
            let dash = before.ends_with('—') || before.ends_with('–') || before.ends_with("--");
            if dash
                && let Some(nx) = ws.get(i + 1)
                && gap(&w, nx) == " "
                && namey(nx)
            {
                let end = extend(i, false);
                let tail = text[ws[end - 1].end..].trim_start_matches([' ', '.', ',']);
                if tail.is_empty() || tail.starts_with('\n') {
                    cue = 0.8;
                }
            }
        }
        if cue > 0.0 {
            let next_is_surname = ws
                .get(i + 1)
                .is_some_and(|nx| gap(&w, nx) == " " && nx.flags & LAST != 0 && plain(nx));
            let first_then_surname = capish(&w) && w.flags & FIRST != 0 && next_is_surname;
            let ok = (cue >= 0.95 && capish(&w) && w.flags & TITLE == 0)
                || namey(&w)
                || first_then_surname
                || (w.case == Case::Lower && known(&w) && (plain(&w) || next_is_surname));
            if ok {
                let mut end = extend(i, w.case == Case::Lower);
                // "Patient: GARCIA, MARIA": a surname-first header after a label.
                if end == i + 1
                    && let Some(nx) = ws.get(i + 1)
                    && gap(&w, nx) == ", "
                    && namey(nx)
                    && (w.case == Case::Upper || w.flags & LAST != 0)
                    && (nx.case == w.case
                        || nx.flags & FIRST != 0
                        || (w.case == Case::Upper && nx.case == Case::Cap))
                {
                    end = extend(i + 1, false);
                }
                let mut score = cue;
                if w.case == Case::Lower {
                    score = score.min(0.8);
                }
                // Salutations pick up non-names too ("Hi Team"): demand a known name or a second word.
                if (0.84..0.86).contains(&cue) && end == i + 1 && !known(&w) {
                    score = 0.6;
                }
                emit(w.start, ws[end - 1].end, score);
                i = end;
                continue;
            }
        }
        // "LAST, FIRST" headers.
        if capish(&w)
            && w.flags & LAST != 0
            && w.flags & STOP == 0
            && let Some(nx) = ws.get(i + 1)
            && gap(&w, nx) == ", "
            && capish(nx)
            && nx.flags & FIRST != 0
            && nx.flags & STOP == 0
        {
            let end = extend(i + 1, false);
            let score = if (w.flags | nx.flags) & WORD != 0 {
                0.7
            } else {
                0.85
            };
            emit(w.start, ws[end - 1].end, score);
            i = end;
            continue;
        }
        // Gazetteer: a given name followed by another name-like word or an initial.
        if w.flags & FIRST != 0
            && let Some(nx) = ws.get(i + 1)
            && (w.flags & STOP == 0
                || (capish(nx) && nx.flags & LAST != 0 && plain(nx) && nx.flags & STOP == 0))
        {
            let gp = gap(&w, nx);
            let cap_pair = capish(&w) && namey(nx) && gp == " ";
            let with_initial = capish(&w) && gp == " " && initial(nx);
            if cap_pair || with_initial {
                let end = extend(i, false);
                let sur = if with_initial && end > i + 2 {
                    ws[end - 1].flags | LAST
                } else {
                    nx.flags
                };
                let mut score: f32 = if sur & LAST != 0 { 0.9 } else { 0.75 };
                if w.flags & WORD != 0 {
                    score -= 0.15;
                }
                if sur & WORD != 0 {
                    score -= 0.15;
                }
                if sur & (FIRST | LAST) == 0 && w.flags & WORD != 0 {
                    score = 0.45;
                }
                emit(w.start, ws[end - 1].end, score);
                i = end;
                continue;
            }
            let lower_pair = w.case == Case::Lower
                && nx.case == Case::Lower
                && gp == " "
                && plain(&w)
                && nx.flags & LAST != 0
                && plain(nx);
            if lower_pair {
                emit(w.start, nx.end, 0.7);
                i += 2;
                continue;
            }
        }
        i += 1;
    }
    true
}
