//! Postal addresses, one span each: a house number, a street name and a USPS
//! street suffix (every Publication 28 suffix and variant, generated into
//! `data/usps.tsv` by `scripts/build-usps-tables.py`), then any unit
//! designators, then a city, state and ZIP on the same line or the next ones.
//! PO boxes and rural routes take the same city line.
//!
//! Candidates start only at a digit run or a box keyword at a word start (the
//! detector's automaton finds those), and the parser looks ahead a bounded
//! number of words, so the cost is linear in the text.

use std::collections::HashSet;
use std::sync::OnceLock;

const DATA: &str = include_str!("../data/usps.tsv");

/// Street types written before the name ("2207 Calle Ocotillo").
const PREFIX_TYPES: &[&str] = &[
    "calle",
    "avenida",
    "camino",
    "paseo",
    "carretera",
    "rue",
    "chemin",
    "via",
];
const DIRECTIONS: &[&str] = &[
    "n",
    "s",
    "e",
    "w",
    "ne",
    "nw",
    "se",
    "sw",
    "north",
    "south",
    "east",
    "west",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
];
/// Words that follow a count, not a house number ("10 Minute Walk").
const NOT_STREET_NAMES: &[&str] = &[
    "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks", "month", "months",
    "year", "years", "mile", "miles", "point", "points", "star", "stars", "step", "steps", "time",
    "times", "tablet", "tablets", "pill", "pills", "unit", "units", "dose", "doses", "count",
    "people", "person", "page", "pages",
];
/// Unit designators that need no number after them ("Rear", "Upper").
const UNIT_ALONE: &[&str] = &[
    "rear",
    "front",
    "frnt",
    "upper",
    "uppr",
    "lower",
    "lowr",
    "bsmt",
    "basement",
    "lobby",
    "lbby",
    "ph",
    "penthouse",
    "side",
];

struct Tables {
    street: HashSet<&'static str>,
    unit: HashSet<&'static str>,
    state: HashSet<&'static str>,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Tables {
            street: HashSet::new(),
            unit: HashSet::new(),
            state: HashSet::new(),
        };
        for line in DATA.lines() {
            match line.split_once('\t') {
                Some(("street", w)) => t.street.insert(w),
                Some(("unit", w)) => t.unit.insert(w),
                Some(("state", w)) => t.state.insert(w),
                _ => false,
            };
        }
        t
    })
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c >= 0x80 || matches!(c, b'\'' | b'.' | b'-' | b'#')
}

/// The word starting at `i`: letters, digits, apostrophes, periods, hyphens.
fn word(text: &str, i: usize) -> Option<&str> {
    let b = text.as_bytes();
    let mut j = i;
    while j < b.len() && j - i < 40 && is_word_byte(b[j]) {
        j += 1;
    }
    while j > i && !text.is_char_boundary(j) {
        j -= 1;
    }
    (j > i).then(|| &text[i..j])
}

/// Lower-case ASCII form without a closing period, for table lookups, in a
/// stack buffer (empty for words that cannot be in a table).
struct Folded {
    buf: [u8; 24],
    len: usize,
}

impl std::ops::Deref for Folded {
    type Target = str;
    fn deref(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

fn folded(w: &str) -> Folded {
    let w = w.trim_end_matches('.');
    let mut f = Folded {
        buf: [0; 24],
        len: 0,
    };
    if w.len() <= f.buf.len() && w.is_ascii() {
        for (d, c) in f.buf.iter_mut().zip(w.bytes()) {
            *d = c.to_ascii_lowercase();
        }
        f.len = w.len();
    }
    f
}

/// `text[i..]` starts with `p` (lower-case ASCII), ignoring ASCII case.
fn starts_with_fold(text: &str, i: usize, p: &str) -> bool {
    text.as_bytes()
        .get(i..i + p.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(p.as_bytes()))
}

fn capitalised(w: &str) -> bool {
    w.chars().next().is_some_and(char::is_uppercase)
}

fn is_ordinal(w: &str) -> bool {
    let d = w.bytes().take_while(u8::is_ascii_digit).count();
    d > 0 && d <= 3 && matches!(&w[d..].to_ascii_lowercase()[..], "st" | "nd" | "rd" | "th")
}

/// A separator between address parts: ", ", " ", a line break (with optional
/// spaces and a comma before it). Returns the index after it.
fn separator(text: &str, i: usize, newline_ok: bool) -> Option<usize> {
    let b = text.as_bytes();
    let mut j = i;
    if b.get(j) == Some(&b',') {
        j += 1;
    }
    let mut lines = 0;
    while j < b.len() && j - i < 8 {
        match b[j] {
            b' ' | b'\t' | b'\r' => j += 1,
            b'\n' if newline_ok && lines == 0 => {
                lines += 1;
                j += 1;
            }
            _ => break,
        }
    }
    (j > i && j < b.len()).then_some(j)
}

/// Parses "City, ST 12345" (or "City ST", "City, ST") at `i`; returns its end.
fn city_state_zip(text: &str, i: usize) -> Option<usize> {
    let t = tables();
    let b = text.as_bytes();
    let mut j = i;
    let mut words = 0;
    loop {
        let w = word(text, j)?;
        let bare = w.trim_end_matches([',', '.']);
        // The state: two capitals from the table, after at least one city word.
        if words > 0
            && bare.len() == 2
            && bare.bytes().all(|c| c.is_ascii_uppercase())
            && t.state.contains(&bare.to_ascii_lowercase()[..])
        {
            let mut end = j + 2;
            let mut k = end;
            while k < b.len() && k - end < 3 && b[k] == b' ' {
                k += 1;
            }
            let digits = b[k..].iter().take_while(|c| c.is_ascii_digit()).count();
            if k > end && digits == 5 {
                end = k + 5;
                if b.get(end) == Some(&b'-')
                    && b[end + 1..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit())
                        .count()
                        == 4
                {
                    end += 5;
                }
            }
            if b.get(end).is_some_and(|&c| c.is_ascii_alphanumeric()) {
                return None;
            }
            return Some(end);
        }
        if words == 3 || !capitalised(w) || w.bytes().any(|c| c.is_ascii_digit()) {
            return None;
        }
        words += 1;
        j += w.len();
        // City words are joined by one space; a comma or spaces precede the state.
        let gap = b[j..]
            .iter()
            .take_while(|&&c| c == b' ' || c == b',')
            .count();
        if gap == 0 || gap > 3 || (w.ends_with(',') && gap > 2) {
            return None;
        }
        j += gap;
    }
}

/// Unit designators after a street ("Apt 2R", "Unit 7", "#B", "2nd Fl", "Lot 9").
fn unit(text: &str, i: usize) -> Option<usize> {
    let t = tables();
    let w = word(text, i)?;
    if let Some(id) = w.strip_prefix('#') {
        let id = id.trim_end_matches(['.', ',']);
        return (!id.is_empty() && id.len() <= 6).then_some(i + 1 + id.len());
    }
    if is_ordinal(w) {
        let rest = i + w.len();
        let f = word(text, rest + 1)?;
        return (text.as_bytes()[rest] == b' ' && matches!(&folded(f)[..], "fl" | "floor" | "flr"))
            .then(|| rest + 1 + f.trim_end_matches([',', '.']).len());
    }
    let f = folded(w.trim_end_matches(','));
    if !t.unit.contains(&f[..]) && !matches!(&f[..], "apartment" | "flr" | "no") {
        return None;
    }
    if UNIT_ALONE.contains(&&f[..]) {
        return Some(i + w.trim_end_matches(',').len());
    }
    // The designator, then an optional '#', then an identifier with a digit or a
    // short letter code ("Apt B").
    let mut j = i + w.trim_end_matches(',').len();
    let b = text.as_bytes();
    if w.ends_with(',') {
        return None;
    }
    while j < b.len() && b[j] == b' ' && j - i < 16 {
        j += 1;
    }
    if b.get(j) == Some(&b'#') {
        j += 1;
    }
    let id = word(text, j)?.trim_end_matches(['.', ',']);
    let ok = !id.is_empty()
        && id.len() <= 6
        && id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        && (id.bytes().any(|c| c.is_ascii_digit())
            || (id.len() <= 2 && id.bytes().all(|c| c.is_ascii_uppercase())));
    ok.then_some(j + id.len())
}

/// After a street or box: units, then city, state and ZIP. Returns the end and
/// whether a city line was found.
fn tail(text: &str, mut end: usize) -> (usize, bool) {
    for _ in 0..2 {
        let Some(j) = separator(text, end, true) else {
            break;
        };
        match unit(text, j) {
            Some(e) => end = e,
            None => break,
        }
    }
    if let Some(j) = separator(text, end, true)
        && let Some(e) = city_state_zip(text, j)
    {
        return (e, true);
    }
    (end, false)
}

/// A street address starting with the house number at `i`; returns its end and
/// whether it has a city line.
pub(crate) fn street(text: &str, i: usize) -> Option<(usize, bool)> {
    let t = tables();
    let b = text.as_bytes();
    let mut j = i;
    let digits = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 6 {
        return None;
    }
    j += digits;
    // "62A", "12-14", " 1/2".
    if b.get(j).is_some_and(u8::is_ascii_alphabetic)
        && !b.get(j + 1).is_some_and(u8::is_ascii_alphanumeric)
    {
        j += 1;
    } else if b.get(j) == Some(&b'-') && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
        j += 1 + b[j + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
    }
    if b.get(j) != Some(&b' ') {
        return None;
    }
    j += 1;
    if text[j..].starts_with("1/2 ") {
        j += 4;
    }
    // Most numbers are followed by a lower-case word ("5 mg", "3 days").
    if !b
        .get(j)
        .is_some_and(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c >= 0x80)
    {
        return None;
    }
    let mut street_end = None;
    // k: the street-name words read so far.
    for k in 0..7 {
        let Some(w) = word(text, j) else { break };
        let w = w.trim_end_matches(',');
        let f = folded(w);
        let cap = capitalised(w)
            || (w.starts_with(|c: char| c.is_alphabetic())
                && w.bytes().all(|c| !c.is_ascii_lowercase()));
        if k == 0 && cap && PREFIX_TYPES.contains(&&f[..]) {
            // "Calle Ocotillo": the name follows the type.
            let mut e = j + w.len();
            let mut m = 0;
            while m < 3 && b.get(e) == Some(&b' ') {
                match word(text, e + 1) {
                    Some(n) if capitalised(n) => {
                        e += 1 + n.trim_end_matches([',', '.']).len();
                        m += 1;
                    }
                    _ => break,
                }
                if text[..e].ends_with(',') {
                    break;
                }
            }
            if m == 0 {
                return None;
            }
            street_end = Some(e);
            break;
        }
        if k > 0 && cap && t.street.contains(&f[..]) {
            let mut e = j + w.trim_end_matches('.').len();
            if w.ends_with('.') && (f.len() <= 4) {
                e += 1;
            }
            street_end = Some(e);
            // "Windy Hill Crossing": a later suffix word wins; then a
            // post-directional ("NW") or a route number ("Hwy 9").
            if b.get(j + w.len()) == Some(&b' ')
                && let Some(nx) = word(text, j + w.len() + 1)
            {
                let nxf = folded(nx.trim_end_matches(','));
                let nxc = capitalised(nx) || nx.bytes().all(|c| !c.is_ascii_lowercase());
                if nxc && (DIRECTIONS.contains(&&nxf[..]) || t.street.contains(&nxf[..])) {
                    street_end = Some(j + w.len() + 1 + nx.trim_end_matches([',', '.']).len());
                } else if nx.bytes().all(|c| c.is_ascii_digit())
                    && matches!(&f[..], "route" | "rte" | "hwy" | "highway" | "road" | "rd")
                {
                    street_end = Some(j + w.len() + 1 + nx.len());
                }
            }
            break;
        }
        let name_word = (cap && !w.bytes().any(|c| c.is_ascii_digit()))
            || is_ordinal(w)
            || DIRECTIONS.contains(&&f[..]);
        if !name_word || NOT_STREET_NAMES.contains(&&f[..]) {
            return None;
        }
        j += w.len();
        if b.get(j) != Some(&b' ') {
            return None;
        }
        j += 1;
    }
    let end = street_end?;
    Some(tail(text, end))
}

/// "PO Box 224", "P.O. Box 12", "RR 1 Box 62A", "HC 3 Box 9": returns the end of
/// the box and whether a city line follows.
pub(crate) fn box_address(text: &str, i: usize) -> Option<(usize, bool)> {
    let mut j = i;
    let after_box = |k: usize| -> Option<usize> {
        let b = text.as_bytes();
        let id = word(text, k)?.trim_end_matches([',', '.']);
        (id.bytes().any(|c| c.is_ascii_digit()) && id.len() <= 8 && b.get(k) != Some(&b'-'))
            .then_some(k + id.len())
    };
    for p in [
        "po box ",
        "p.o. box ",
        "p. o. box ",
        "p o box ",
        "post office box ",
    ] {
        if starts_with_fold(text, i, p) {
            j += p.len();
            let e = after_box(j)?;
            return Some(tail(text, e));
        }
    }
    for p in ["rr ", "hc ", "rural route "] {
        if starts_with_fold(text, i, p) {
            j += p.len();
            let n = text.as_bytes()[j..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if n == 0 || n > 3 || !starts_with_fold(text, j + n, " box ") {
                return None;
            }
            let e = after_box(j + n + 5)?;
            return Some(tail(text, e));
        }
    }
    None
}

/// Finds postal addresses in a whole text; calls `emit(start, end, score)` for
/// each. The detector does not scan for itself: it tries [`street`] and
/// [`box_address`] where its candidate automaton already stopped (a digit run,
/// a box keyword), which costs nothing extra. This scan is for the tests.
#[cfg(test)]
fn find(text: &str, cancelled: &dyn Fn() -> bool, mut emit: impl FnMut(usize, usize, f32)) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    let mut polls = 0usize;
    while i < b.len() {
        let c = b[i];
        if !is_word_byte(c) {
            i += 1;
            continue;
        }
        // `i` starts a word: only a digit run or a box keyword can start an address.
        let candidate = (c.is_ascii_digit() || matches!(c, b'P' | b'p' | b'R' | b'H' | b'r'))
            && (i == 0 || !matches!(b[i - 1], b'/' | b'$' | b':'));
        if !candidate {
            while i < b.len() && is_word_byte(b[i]) {
                i += 1;
            }
            continue;
        }
        polls += 1;
        if polls.is_multiple_of(crate::detect::POLL) && cancelled() {
            return false;
        }
        let hit = if c.is_ascii_digit() {
            street(text, i)
        } else {
            box_address(text, i)
        };
        match hit {
            Some((end, city)) if end > i => {
                emit(i, end, if city { 0.9 } else { 0.85 });
                i = end;
            }
            _ => {
                while i < b.len() && is_word_byte(b[i]) {
                    i += 1;
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find(text, &|| false, |s, e, _| out.push(&text[s..e]));
        out
    }

    #[test]
    fn whole_addresses_over_lines_with_units() {
        for (text, want) in [
            (
                "Discharge address: 9021 Bolsa Ave, Unit 14\nWestminster, CA 92683\n",
                "9021 Bolsa Ave, Unit 14\nWestminster, CA 92683",
            ),
            (
                "is:\n\n38 Foxglove Terrace\nUnit 7\nDoylestown, PA 18901\n\nI'd",
                "38 Foxglove Terrace\nUnit 7\nDoylestown, PA 18901",
            ),
            (
                "Home address: 4 Birch Aly, Apt 2R, Frenchtown, NJ 08825\nHome",
                "4 Birch Aly, Apt 2R, Frenchtown, NJ 08825",
            ),
            (
                "same address 2100 Ocean Pkwy Apt 6F Brooklyn NY 11223. we",
                "2100 Ocean Pkwy Apt 6F Brooklyn NY 11223",
            ),
            (
                "at home (1520 W Cermak Rd, 2nd Fl, Chicago, IL 60608). Wound",
                "1520 W Cermak Rd, 2nd Fl, Chicago, IL 60608",
            ),
            (
                "Villarreal\n2207 Calle Ocotillo\nMission, TX 78572\n",
                "2207 Calle Ocotillo\nMission, TX 78572",
            ),
            (
                "Kozlowski\nRR 1 Box 62A\nTionesta, PA 16353\n814",
                "RR 1 Box 62A\nTionesta, PA 16353",
            ),
            (
                "Akana\nPO Box 224\nHana, HI 96713\nDay",
                "PO Box 224\nHana, HI 96713",
            ),
            (
                "on the deck at 12 Windy Hill Crossing, Cary, NC 27519. Oil",
                "12 Windy Hill Crossing, Cary, NC 27519",
            ),
            ("ship to 77 Elm St. today", "77 Elm St."),
        ] {
            assert_eq!(spans(text), vec![want], "{text:?}");
        }
    }

    #[test]
    fn numbers_that_are_not_addresses() {
        for text in [
            "Take 2 Tablets by mouth daily",
            "Loan #0050-77213. The late fee of $87.45",
            "BP 120/80, HR 72, 3 days of cough",
            "1-888-301-4400 (available 24/7)",
            "we have 3 kids and 2 dogs",
            "10 Minute Walk test completed",
            "Dispute #FR-2026-33107 is open",
            "12/03 10:40 — Pt returned call",
        ] {
            assert!(spans(text).is_empty(), "{text:?}: {:?}", spans(text));
        }
    }

    #[test]
    fn tables_hold_publication_28() {
        let t = tables();
        assert!(t.street.len() > 500, "{}", t.street.len());
        for w in [
            "aly", "crossing", "pkwy", "terrace", "ter", "hwy", "trl", "xing",
        ] {
            assert!(t.street.contains(w), "{w}");
        }
        for w in ["apt", "ste", "unit", "lot", "trlr", "bldg"] {
            assert!(t.unit.contains(w), "{w}");
        }
        assert!(t.state.contains("nj") && t.state.contains("pr") && t.state.len() == 59);
    }
}
