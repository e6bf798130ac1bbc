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
/// Street-name endings of other countries, written before the house number
/// ("Lindenstraße 47", "Prinsengracht 721").
const FOREIGN_SUFFIXES: &[&str] = &[
    "straße", "strasse", "str.", "weg", "gracht", "laan", "plein", "platz", "allee", "gasse",
    "ring", "damm", "kade", "straat", "vej", "gatan", "gata", "veien", "utca", "ulica", "road",
    "street", "lane", "avenue",
];
/// Street types written before the name and before the house number
/// ("Calle de Fuencarral 112", "ul. Długa 17/4", "Bağdat Cad. No: 214").
const FOREIGN_PREFIXES: &[&str] = &[
    "calle",
    "carrer",
    "paseo",
    "avenida",
    "av.",
    "avda.",
    "rua",
    "via",
    "viale",
    "corso",
    "piazza",
    "rue",
    "ul.",
    "cad.",
    "sok.",
    "sokak",
    "camino",
    "carretera",
    "plaza",
    "praça",
];
/// Country names that may close an address.
const COUNTRIES: &[&str] = &[
    "united kingdom",
    "uk",
    "england",
    "scotland",
    "wales",
    "ireland",
    "germany",
    "deutschland",
    "france",
    "spain",
    "españa",
    "portugal",
    "italy",
    "italia",
    "netherlands",
    "nederland",
    "belgium",
    "poland",
    "polska",
    "türkiye",
    "turkey",
    "south africa",
    "canada",
    "mexico",
    "méxico",
    "australia",
    "new zealand",
    "india",
    "japan",
    "china",
    "brazil",
    "brasil",
    "austria",
    "österreich",
    "switzerland",
    "schweiz",
    "sweden",
    "sverige",
    "norway",
    "norge",
    "denmark",
    "danmark",
    "finland",
    "greece",
    "nigeria",
    "kenya",
    "ghana",
    "philippines",
    "usa",
    "united states",
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
    state_name: HashSet<&'static str>,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Tables {
            street: HashSet::new(),
            unit: HashSet::new(),
            state: HashSet::new(),
            state_name: HashSet::new(),
        };
        for line in DATA.lines() {
            match line.split_once('\t') {
                Some(("street", w)) => t.street.insert(w),
                Some(("unit", w)) => t.unit.insert(w),
                Some(("state", w)) => t.state.insert(w),
                Some(("statename", w)) => t.state_name.insert(w),
                _ => false,
            };
        }
        t
    })
}

/// Whether `w` (any case) is a street suffix of USPS Publication 28 ("Street", "Blvd",
/// "Circle", "Park").
pub(crate) fn street_word(w: &str) -> bool {
    w.len() <= 12 && tables().street.contains(w.to_ascii_lowercase().as_str())
}

/// Whether `w` (any case) names a unit ("apartment", "Apt", "suite", "unit").
pub(crate) fn unit_word(w: &str) -> bool {
    w.len() <= 12 && tables().unit.contains(w.to_ascii_lowercase().as_str())
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
    // Up to 8 bytes of blanks, or a line break and an indentation of up to 48
    // (a form's continuation line).
    let mut lines = 0;
    while j < b.len() && j - i < if lines > 0 { 56 } else { 8 } {
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
        // A state written out ("Decatur, Georgia 30033", "Albany, New York").
        if words > 0
            && capitalised(w)
            && let Some(end) = state_name(text, j)
        {
            return Some(zip_after(text, end));
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

/// A full state name (one to three words) at `i`; returns its end.
fn state_name(text: &str, i: usize) -> Option<usize> {
    let t = tables();
    let mut best = None;
    let mut j = i;
    let mut key = String::new();
    for _ in 0..3 {
        let w = word(text, j)?;
        let bare = w.trim_end_matches([',', '.']);
        if !capitalised(bare) {
            break;
        }
        if !key.is_empty() {
            key.push(' ');
        }
        key.push_str(&bare.to_lowercase());
        if t.state_name.contains(key.as_str()) {
            best = Some(j + bare.len());
        }
        j += bare.len();
        if text.as_bytes().get(j) != Some(&b' ') {
            break;
        }
        j += 1;
    }
    best
}

/// A ZIP code after `end` (one to three spaces), if any: returns the new end.
fn zip_after(text: &str, end: usize) -> usize {
    let b = text.as_bytes();
    let mut k = end;
    while k < b.len() && k - end < 3 && b[k] == b' ' {
        k += 1;
    }
    let digits = b[k..].iter().take_while(|c| c.is_ascii_digit()).count();
    if k > end && digits == 5 {
        let mut e = k + 5;
        if b.get(e) == Some(&b'-')
            && b[e + 1..].iter().take_while(|c| c.is_ascii_digit()).count() == 4
        {
            e += 5;
        }
        return e;
    }
    end
}

/// A postal code of another country at `i`: "80336", "31-147", "1017 JW",
/// "G12 9UX", "H2X 3J4". Returns its end.
fn postcode(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    let digits = |k: usize| {
        b[k.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let upper = |k: usize| {
        b[k.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_uppercase())
            .count()
    };
    let boundary = |k: usize| !b.get(k).is_some_and(u8::is_ascii_alphanumeric);
    let d = digits(i);
    if d == 2 && b.get(i + 2) == Some(&b'-') && digits(i + 3) == 3 && boundary(i + 6) {
        return Some(i + 6);
    }
    if d == 4 && b.get(i + 4) == Some(&b' ') && upper(i + 5) == 2 && boundary(i + 7) {
        return Some(i + 7);
    }
    if (4..=5).contains(&d) && boundary(i + d) {
        return Some(i + d);
    }
    // UK outward + inward code, or a Canadian code.
    let l = upper(i);
    if (1..=2).contains(&l) && d == 0 {
        let k = i + l;
        let dd = digits(k);
        if (1..=2).contains(&dd) {
            let mut k = k + dd;
            if b.get(k).is_some_and(u8::is_ascii_uppercase) && b.get(k + 1) == Some(&b' ') {
                k += 1;
            }
            if b.get(k) == Some(&b' ') && digits(k + 1) == 1 && upper(k + 2) == 2 && boundary(k + 4)
            {
                return Some(k + 4);
            }
        }
    }
    // An Irish Eircode: a routing key (a letter and two digits, or D6W) and four
    // letters and digits ("A67 F2K8", "N91 X2F6"), from the letters Eircodes use.
    let eir = |c: u8| b"ACDEFHKNPRTVWXY".contains(&c);
    let eir_or_digit = |k: usize| b.get(k).is_some_and(|&c| c.is_ascii_digit() || eir(c));
    if l == 1
        && eir(b[i])
        && b.get(i + 1).is_some_and(u8::is_ascii_digit)
        && (b.get(i + 2).is_some_and(u8::is_ascii_digit) || text[i..].starts_with("D6W"))
        && b.get(i + 3) == Some(&b' ')
        && (i + 4..i + 8).all(eir_or_digit)
        && b[i + 4..i + 8].iter().any(|c| !c.is_ascii_digit())
        && boundary(i + 8)
    {
        return Some(i + 8);
    }
    if l == 1
        && digits(i + 1) == 1
        && upper(i + 2) == 1
        && b.get(i + 3) == Some(&b' ')
        && digits(i + 4) == 1
        && upper(i + 5) == 1
        && digits(i + 6) == 1
        && boundary(i + 7)
    {
        return Some(i + 7);
    }
    None
}

/// One to three capitalised words (a city or district; "Kadıköy/İstanbul",
/// "Montréal (Québec)"); returns their end.
fn place_words(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut j = i;
    let mut n = 0;
    while n < 3 {
        let w = word(text, j)?;
        let bare = w.trim_end_matches([',', '.']);
        if !capitalised(bare) || bare.bytes().any(|c| c.is_ascii_digit()) {
            break;
        }
        j += bare.len();
        n += 1;
        if b.get(j) == Some(&b'/') && word(text, j + 1).is_some_and(capitalised) {
            j += 1;
            continue;
        }
        if text[j..].starts_with(" (") {
            let k = rest_of_line_until(text, j + 2, b')', 24).len();
            if b.get(j + 2 + k) == Some(&b')') {
                // The parenthesis closes the place ("Montréal (Québec)").
                j += 2 + k + 1;
                break;
            }
        }
        if b.get(j) == Some(&b' ')
            && word(text, j + 1)
                .is_some_and(|w| capitalised(w) && !w.bytes().any(|c| c.is_ascii_digit()))
        {
            j += 1;
            continue;
        }
        break;
    }
    (n > 0).then_some(j)
}

/// The rest of a foreign address after its street: up to three segments
/// joined by ", " or line breaks, each a postcode and a city (either order),
/// a district before them, or a country after them. Needs one postcode.
fn foreign_tail(text: &str, mut end: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut found = None;
    for _ in 0..3 {
        let Some(j) = separator(text, end, true) else {
            break;
        };
        let country = COUNTRIES.iter().find(|c| {
            text.get(j..j + c.len())
                .is_some_and(|t| t.eq_ignore_ascii_case(c))
                && !b.get(j + c.len()).is_some_and(u8::is_ascii_alphanumeric)
        });
        if found.is_some()
            && let Some(c) = country
        {
            found = Some(j + c.len());
            break;
        }
        if let Some(p) = postcode(text, j) {
            // "80336 München", "1017 JW Amsterdam", "34728 Kadıköy/İstanbul".
            let mut k = p;
            while k < b.len() && k - p < 3 && b[k] == b' ' {
                k += 1;
            }
            let e = if k > p {
                place_words(text, k).unwrap_or(p)
            } else {
                p
            };
            end = e;
            found = Some(e);
            continue;
        }
        let Some(pw) = place_words(text, j) else {
            break;
        };
        // "Glasgow G12 9UX", "Cape Town 8001", "Montréal (Québec)  H2X 3J4".
        let mut k = pw;
        while k < b.len() && k - pw < 3 && b[k] == b' ' {
            k += 1;
        }
        if k > pw
            && let Some(p) = postcode(text, k)
        {
            end = p;
            found = Some(p);
            continue;
        }
        // A district before the city line ("Tamboerskloof, Cape Town 8001").
        if found.is_none() && b.get(pw) == Some(&b',') {
            end = pw;
            continue;
        }
        break;
    }
    found
}

/// An address written street name first ("Lindenstraße 47, 2. OG\n30159
/// Hannover", "Calle de Fuencarral 112, 3º izq., 28010 Madrid"): `s` is the
/// house number. Needs a postal tail. Returns the start and end of the span.
pub(crate) fn street_name_first(text: &str, s: usize) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    // Words before the number on the same line, nearest first, at most five.
    // (A bounded look back: a one-line record of megabytes costs the same.)
    let mut from = s.saturating_sub(80);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let window = &text[from..s];
    let before = &window[window.rfind('\n').map_or(0, |k| k + 1)..];
    let line_start = s - before.len();
    let trimmed = before.trim_end();
    if trimmed.len() == before.len() {
        return None;
    }
    // "No: 214", "No. 12", "Nº 5".
    let trimmed = ["No:", "No.", "Nº", "nr.", "Nr."]
        .iter()
        .find_map(|p| trimmed.strip_suffix(p))
        .map_or(trimmed, str::trim_end);
    // A cheap test first, without allocating: most numbers have neither a
    // foreign street ending just before them nor a street type a few words back.
    let mut recent = trimmed.rsplit(' ').filter(|w| !w.is_empty()).take(5);
    let last = recent.next()?;
    let suffix_form = capitalised(last)
        && last.len() <= 40
        && FOREIGN_SUFFIXES.iter().any(|x| {
            last.len() >= x.len()
                && last.is_char_boundary(last.len() - x.len())
                && last[last.len() - x.len()..].eq_ignore_ascii_case(x)
        });
    let prefix_form = std::iter::once(last).chain(recent).any(|w| {
        (2..=9).contains(&w.len())
            && matches!(
                w.as_bytes()[0] | 0x20,
                b'a' | b'c' | b'p' | b'r' | b's' | b'u' | b'v'
            )
            && FOREIGN_PREFIXES.iter().any(|p| w.eq_ignore_ascii_case(p))
    });
    if !suffix_form && !prefix_form {
        return None;
    }
    let words: Vec<(usize, &str)> = trimmed
        .split(' ')
        .scan(0usize, |at, w| {
            let here = *at;
            *at += w.len() + 1;
            Some((here, w))
        })
        .filter(|(_, w)| !w.is_empty())
        .collect();
    let mut start = None;
    if suffix_form {
        // The street is the words back to the first capitalised run.
        let mut k = words.len() - 1;
        while k > 0
            && capitalised(words[k - 1].1)
            && words.len() - k < 4
            && !words[k - 1].1.ends_with(':')
        {
            k -= 1;
        }
        start = Some(words[k].0);
    } else {
        for k in (words.len().saturating_sub(5)..words.len()).rev() {
            if FOREIGN_PREFIXES
                .iter()
                .any(|p| words[k].1.eq_ignore_ascii_case(p))
            {
                start = Some(words[k].0);
                break;
            }
        }
    }
    let start = line_start + start?;
    // The number, then "/4", "-III", a letter.
    let mut e = s + b[s..].iter().take_while(|c| c.is_ascii_digit()).count();
    if b.get(e) == Some(&b'/') && b.get(e + 1).is_some_and(u8::is_ascii_digit) {
        e += 1 + b[e + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
    } else if b.get(e) == Some(&b'-') && b.get(e + 1).is_some_and(u8::is_ascii_uppercase) {
        e += 1 + b[e + 1..]
            .iter()
            .take_while(|c| c.is_ascii_uppercase())
            .count();
    } else if b.get(e).is_some_and(u8::is_ascii_alphabetic)
        && !b.get(e + 1).is_some_and(u8::is_ascii_alphanumeric)
    {
        e += 1;
    }
    // A floor or flat ("2. OG", "3º izq.", "7ºB", "D: 7", "app. 402"), short.
    let unit_end = {
        let j = separator(text, e, false).unwrap_or(e);
        let seg = rest_of_line_until(text, j, b',', 14);
        let looks = seg.contains('º')
            || seg.contains("OG")
            || seg.starts_with("D:")
            || seg.starts_with("app")
            || seg.starts_with("apt")
            || seg.starts_with("Apt")
            || seg.starts_with("piso")
            || seg.starts_with("Flat");
        if looks && j > e { j + seg.len() } else { e }
    };
    let end = foreign_tail(text, unit_end)
        .or_else(|| foreign_tail(text, e))
        .or_else(|| {
            let j = separator(text, unit_end, true)?;
            city_state_zip(text, j)
        })?;
    Some((start, end))
}

/// Up to `max` bytes from `i`, stopping before `stop` or a line break.
fn rest_of_line_until(text: &str, i: usize, stop: u8, max: usize) -> &str {
    let b = text.as_bytes();
    let mut j = i;
    while j < b.len() && j - i < max && b[j] != stop && b[j] != b'\n' {
        j += 1;
    }
    while !text.is_char_boundary(j) {
        j -= 1;
    }
    &text[i..j]
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
    if !t.unit.contains(&f[..])
        && !matches!(
            &f[..],
            "apartment" | "flr" | "no" | "app" | "appt" | "piso" | "flat"
        )
    {
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

/// After a street or box: units, then city, state and ZIP (or a foreign
/// postcode and city). Returns the end and whether a city line was found.
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
    if let Some(e) = foreign_tail(text, end) {
        return (e, true);
    }
    (end, false)
}

/// A street address written all in lower case, as in a chat ("2207 e 10th st apt 3
/// indianapolis in 46201"), from the first word after the house number at `j`:
/// street words ending in a street suffix, then up to eight words (a unit, a city,
/// a state) and a five-digit ZIP on the same line. Without the ZIP, "5 mg tab" and
/// "3 days ago" would read like streets. Returns the end of the ZIP.
fn lower_case(text: &str, mut j: usize) -> Option<usize> {
    let t = tables();
    let b = text.as_bytes();
    let lower = |w: &str| w.bytes().all(|c| c.is_ascii_lowercase());
    let mut suffix = false;
    for k in 0..5 {
        let w = word(text, j)?.trim_end_matches(',');
        let f = folded(w);
        if k > 0 && lower(f.trim_end_matches('.')) && t.street.contains(&f[..]) {
            j += w.len();
            suffix = true;
            break;
        }
        // Street-name words: not the small words of a sentence ("3 days ago on
        // main st").
        const PROSE: &[&str] = &[
            "a", "ago", "and", "at", "by", "day", "days", "for", "from", "in", "is", "it", "of",
            "on", "or", "the", "to", "was", "week", "weeks", "with", "year", "years",
        ];
        if !(lower(w) || is_ordinal(w)) || PROSE.contains(&w) || b.get(j + w.len()) != Some(&b' ') {
            return None;
        }
        j += w.len() + 1;
    }
    if !suffix {
        return None;
    }
    let mut e = j;
    for _ in 0..9 {
        while b.get(e).is_some_and(|&c| c == b' ' || c == b',') {
            e += 1;
        }
        let w = word(text, e)?.trim_end_matches(['.', ',']);
        let wb = w.as_bytes();
        let zip5 = |d: &[u8]| d.len() == 5 && d.iter().all(u8::is_ascii_digit);
        if zip5(wb)
            || (wb.len() == 10
                && zip5(&wb[..5])
                && wb[5] == b'-'
                && wb[6..].iter().all(u8::is_ascii_digit))
        {
            return Some(e + wb.len());
        }
        let unit_or_place = w
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'#' || c == b'-');
        if !unit_or_place {
            return None;
        }
        e += w.len();
    }
    None
}

/// A street address starting with the house number at `i`; returns its end and
/// whether it has a city line.
pub(crate) fn street(text: &str, i: usize) -> Option<(usize, bool)> {
    let t = tables();
    let b = text.as_bytes();
    let mut j = i;
    let digits = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
    // The minutes of a time ("7:30 AM at 1410 Harbor Blvd") are no house number.
    if digits == 0 || digits > 6 || (i > 0 && b[i - 1] == b':') {
        return None;
    }
    j += digits;
    if b.get(j) == Some(&b' ')
        && word(text, j + 1).is_some_and(|w| {
            matches!(
                w.trim_end_matches([',', '.']),
                "AM" | "PM" | "am" | "pm" | "A.M" | "P.M" | "a.m" | "p.m"
            )
        })
    {
        return None;
    }
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
    // Most numbers are followed by a lower-case word ("5 mg", "3 days"); an
    // address written all in lower case has to close with a ZIP code.
    if !b
        .get(j)
        .is_some_and(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c >= 0x80)
    {
        return lower_case(text, j).map(|e| (e, true));
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
        // "Calle Ocotillo", "rue Saint-Denis" (French types are written in lower case).
        if k == 0 && (cap || f.as_bytes() == b"rue") && PREFIX_TYPES.contains(&&f[..]) {
            // "Calle Ocotillo": the name follows the type.
            let mut e = j + w.len();
            let mut m = 0;
            let mut steps = 0;
            while m < 3 && steps < 6 && b.get(e) == Some(&b' ') {
                steps += 1;
                match word(text, e + 1) {
                    Some(n) if capitalised(n) => {
                        e += 1 + n.trim_end_matches([',', '.']).len();
                        m += 1;
                    }
                    // "Calle del Sol", "Rua das Flores": a particle inside the name.
                    Some(n)
                        if matches!(
                            n,
                            "de" | "del"
                                | "la"
                                | "las"
                                | "los"
                                | "el"
                                | "do"
                                | "da"
                                | "dos"
                                | "das"
                                | "di"
                                | "della"
                                | "des"
                                | "du"
                        ) && word(text, e + 2 + n.len()).is_some_and(capitalised) =>
                    {
                        e += 1 + n.len();
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
    for p in ["rr ", "hc ", "rural route ", "unit ", "psc ", "cmr "] {
        if starts_with_fold(text, i, p) {
            j += p.len();
            let n = text.as_bytes()[j..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if n == 0 || n > 5 || !starts_with_fold(text, j + n, " box ") {
                return None;
            }
            let e = after_box(j + n + 5)?;
            return Some(tail(text, e));
        }
    }
    None
}

/// Words that open an address line when no house number does ("Urb. Villa del
/// Carmen", "Calle 12 G-14", "Flat 3/2, 41 Hyndland Road").
const LINE_OPENERS: &[&str] = &[
    "urb.",
    "urb ",
    "urbanización",
    "urbanizacion",
    "calle",
    "c/",
    "avenida",
    "avda",
    "av.",
    "flat",
    "apt",
    "apartment",
    "unit",
    "suite",
    "ste ",
    "po box",
    "p.o. box",
    "p. o. box",
    "bldg",
    "building",
    "floor",
    "rue ",
    "via ",
    "carrer",
    "cond.",
    "condominio",
    "residencial",
    "barrio",
    "bo.",
    "sector",
    "camino",
    "carretera",
    "carr.",
    "lot ",
    "house ",
    "apto",
    "piso",
    "km ",
];

/// Where an address line's text starts, if `text[s..e]` is one: a house number or an
/// address word first. A short label before it
/// (`Domicilio: `) is skipped when `label_ok`.
fn address_line(text: &str, s: usize, e: usize, label_ok: bool) -> Option<usize> {
    let mut line = &text[s..e];
    let mut start = s;
    if label_ok
        && let Some(c) = line.find(": ")
        && line[..c].split_whitespace().count() <= 3
        && !line[..c].bytes().any(|b| b.is_ascii_digit())
    {
        start = s + c + 2;
        line = &text[start..e];
    }
    let lead = line.len() - line.trim_start().len();
    start += lead;
    let t = line.trim();
    if t.len() < 3 || t.len() > 70 || t.ends_with(':') || t.contains('@') || t.contains("://") {
        return None;
    }
    let tb = t.as_bytes();
    let opens = tb[0].is_ascii_digit()
        || LINE_OPENERS
            .iter()
            .any(|w| tb.len() >= w.len() && tb[..w.len()].eq_ignore_ascii_case(w.as_bytes()));
    opens.then_some(start)
}

/// The end of a postal line starting at `i` ("Ponce, PR 00716-2211", "Glasgow G12 9UX",
/// "Montréal (Québec)  H2X 3J4", "34728 Kadıköy/İstanbul"), if the line holds nothing
/// else; `line_end` is where the line ends.
fn postal_line(text: &str, i: usize, line_end: usize, country_next: bool) -> Option<usize> {
    let b = text.as_bytes();
    // A postcode of digits only ("34728", "8001") says little on its own.
    let strong =
        |p: usize, end: usize| country_next || b[p..end].iter().any(u8::is_ascii_uppercase);
    let rest_blank = |k: usize| text[k..line_end].trim().trim_end_matches('.').is_empty();
    if let Some(end) = city_state_zip(text, i)
        && end <= line_end
        && rest_blank(end)
        && b[i..end].iter().any(u8::is_ascii_digit)
    {
        return Some(end);
    }
    let skip = |mut k: usize| {
        while k < line_end && k - i < 64 && b[k] == b' ' {
            k += 1;
        }
        k
    };
    if let Some(pw) = place_words(text, i)
        && pw <= line_end
        && let Some(end) = postcode(text, skip(pw))
        && end <= line_end
        && rest_blank(end)
        && strong(skip(pw), end)
    {
        return Some(end);
    }
    // A line of its own for a postcode with letters ("A67 F2K8", "NG5 2BB").
    if let Some(end) = postcode(text, i)
        && end <= line_end
        && rest_blank(end)
        && b[i..end].iter().any(u8::is_ascii_uppercase)
    {
        return Some(end);
    }
    if let Some(p) = postcode(text, i)
        && p < line_end
        && b[p] == b' '
        && let Some(end) = place_words(text, skip(p))
        && end <= line_end
        && rest_blank(end)
        && strong(i, p)
    {
        return Some(end);
    }
    None
}

/// Lower-case words an address segment may hold besides capitalised words and numbers.
const SEGMENT_WORDS: &[&str] = &[
    "de",
    "del",
    "la",
    "le",
    "les",
    "du",
    "des",
    "da",
    "do",
    "dos",
    "das",
    "di",
    "van",
    "von",
    "der",
    "den",
    "of",
    "the",
    "y",
    "avenue",
    "rue",
    "calle",
    "chemin",
    "boulevard",
    "allée",
    "via",
    "street",
    "road",
    "lane",
    "apt",
    "flat",
    "unit",
];

/// Whether a word may stand in an address segment: capitalised, with a digit, or an
/// address word ("de", "avenue", "l'Esplanade").
fn segment_word(w: &str) -> bool {
    // A label ("From:", "Address:") is not part of what it introduces.
    if w.ends_with(':') {
        return false;
    }
    let w = w.trim_matches(|c: char| matches!(c, '(' | ')' | '.' | ';' | '"'));
    let lower = w.to_lowercase();
    w.is_empty()
        || w.chars().next().is_some_and(char::is_uppercase)
        || w.bytes().any(|c| c.is_ascii_digit())
        || SEGMENT_WORDS.contains(&lower.as_str())
        || lower.starts_with("l'")
        || lower.starts_with("d'")
}

/// Where the address part of `text[s..e]` starts: all of it when every word may stand in
/// an address, else its longest such tail that opens with a capital or a digit (`true`:
/// the segment was cut, so nothing before it belongs to the address).
fn segment_start(text: &str, s: usize, e: usize) -> Option<(usize, bool)> {
    let seg = &text[s..e];
    let words: Vec<(usize, &str)> = seg
        .split(' ')
        .scan(0usize, |at, w| {
            let here = *at;
            *at += w.len() + 1;
            Some((here, w))
        })
        .filter(|(_, w)| !w.is_empty())
        .collect();
    let first_bad = words.iter().rposition(|(_, w)| !segment_word(w));
    let Some(bad) = first_bad else {
        return (!words.is_empty()).then(|| (s + words[0].0, false));
    };
    words[bad + 1..]
        .iter()
        .find(|(_, w)| {
            w.chars()
                .next()
                .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
        })
        .map(|(at, _)| (s + at, true))
}

/// Addresses written on one line with commas and closed by a postcode with letters
/// ("…, Co. Westmeath, N91 X2F6", "…, Montréal QC H2T 2Y6"), or by a country after a
/// segment with a postcode ("…, 6200 Negros Oriental, Philippines", "…, Lagos 106104,
/// Nigeria"). The span runs back over up to five segments of capitalised words, numbers
/// and address words; the first may be the end of a sentence ("my address is Rose
/// Cottage"). It needs a segment before the closing one, and a house number or two such
/// segments. `emit(start, end)`.
pub(crate) fn inline(text: &str, mut emit: impl FnMut(usize, usize)) {
    let b = text.as_bytes();
    let mut pos = 0usize;
    let mut segs: Vec<(usize, usize)> = Vec::new();
    let cap_digit = |s: usize, e: usize| {
        b[s..e]
            .windows(2)
            .any(|w| w[0].is_ascii_uppercase() && w[1].is_ascii_digit())
    };
    for line in text.split_inclusive('\n') {
        let (ls, le) = (pos, pos + line.trim_end_matches(['\n', '\r']).len());
        pos += line.len();
        // Every closing form has a postcode: one with letters has a capital right before
        // a digit ("SW1A", "H2T", "N91"); one of digits only ("106104", "08817") has four
        // of them. The segments are separated by ", ".
        if !text[ls..le].contains(", ") {
            continue;
        }
        let digits = b[ls..le].iter().filter(|c| c.is_ascii_digit()).count();
        if digits == 0 || (digits < 4 && !cap_digit(ls, le)) {
            continue;
        }
        // Segment bounds: text between ", " separators, trimmed.
        segs.clear();
        let mut a = ls;
        for (k, _) in text[ls..le].match_indices(", ") {
            segs.push((a, ls + k));
            a = ls + k + 2;
        }
        segs.push((a, le));
        // A segment that opens with a country ("Nigeria per last known address").
        let is_country = |(s, e): (usize, usize)| {
            // Countries are written with a capital; most segments are compared with none.
            if !b
                .get(s)
                .is_some_and(|&c| c.is_ascii_uppercase() || c >= 0x80)
            {
                return None;
            }
            COUNTRIES.iter().find_map(|c| {
                let t = text.get(s..s + c.len())?;
                (s + c.len() <= e
                    && t.eq_ignore_ascii_case(c)
                    && !b
                        .get(s + c.len())
                        .is_some_and(|&x| x.is_ascii_alphanumeric() || x >= 0x80))
                .then_some(s + c.len())
            })
        };
        // A postcode and a place ("Lagos 106104", "6200 Negros Oriental", "NJ 08817").
        let has_code = |(s, e): (usize, usize)| {
            let words = || text[s..e].split(' ');
            words().any(|w| {
                let n = w.bytes().filter(u8::is_ascii_digit).count();
                (4..=6).contains(&n) && w.bytes().all(|c| c.is_ascii_digit() || c == b'-')
            }) && words().any(|w| w.chars().next().is_some_and(char::is_uppercase))
        };
        let mut k = 1;
        while k < segs.len() {
            let (s, e) = segs[k];
            // (a) a postcode with letters ends the address ("Montréal QC H2T 2Y6", "N91
            // X2F6. If I don't hear back").
            let mut code_at = None;
            let mut strict = false;
            // Only a segment with a capital before a digit can hold one.
            let with_letters = cap_digit(s, e);
            let starts = std::iter::once(0)
                .chain(text[s..e].match_indices(' ').map(|(i, _)| i + 1))
                .filter(|_| with_letters);
            for off in starts {
                // A postcode with letters opens with one.
                if !b.get(s + off).is_some_and(u8::is_ascii_uppercase) {
                    continue;
                }
                if let Some(end) = postcode(text, s + off)
                    && end <= e
                    && b[s + off..end].iter().any(u8::is_ascii_uppercase)
                {
                    code_at = Some((s + off, end));
                    break;
                }
            }
            let (last, mut end) = if let Some((c, end)) = code_at {
                let inner = if c > s {
                    segment_start(text, s, c - 1)
                } else {
                    Some((c, false))
                };
                match inner {
                    Some((_, true)) | None => {
                        k += 1;
                        continue;
                    }
                    Some(_) => (k, end),
                }
            } else if let Some(cend) = is_country(segs[k])
                && has_code(segs[k - 1])
            {
                (k - 1, cend)
            } else if code_first(text, segs[k])
                && (k + 1 == segs.len() || (k + 2 == segs.len() && region(text, segs[k + 1])))
            {
                // (c) a postcode before its place closes the line ("…, Caddebostan, 34728
                // Kadıköy/İstanbul", "…, 06000 Ciudad de México, CDMX"): it needs a house
                // number before it.
                strict = true;
                (k, segs[segs.len() - 1].1)
            } else {
                k += 1;
                continue;
            };
            if let Some((_, c)) = code_at
                && c == segs[k].1
                && let Some(c) = segs.get(k + 1).and_then(|&g| is_country(g))
            {
                end = c;
            }
            // Walk back over the segments before the closing one.
            let mut start = segs[last].0;
            let mut before = 0;
            let mut digits = false;
            for j in (last.saturating_sub(5)..last).rev() {
                let (gs, ge) = segs[j];
                let Some((at, cut)) = segment_start(text, gs, ge) else {
                    break;
                };
                start = at;
                before += 1;
                digits |= b[at..ge].iter().any(u8::is_ascii_digit);
                if cut {
                    break;
                }
            }
            if before >= 1 && (digits || (before >= 2 && !strict)) {
                emit(start, end);
            }
            k += 1;
        }
    }
}

/// Words that name a postal address in a field label, in the languages of the sets.
const ADDRESS_LABELS: &[&str] = &[
    "address",
    "addr",
    "adres",
    "adresi",
    "adresse",
    "adresa",
    "anschrift",
    "endereço",
    "endereco",
    "domicilio",
    "domicílio",
    "dirección",
    "direccion",
    "indirizzo",
    "woonadres",
    "residence",
    "alamat",
    "adressen",
    "adress",
    "morada",
    "adreset",
];

/// Label words that make an address something other than a postal one.
const NOT_POSTAL: &[&str] = &[
    "ip",
    "ipv4",
    "ipv6",
    "mac",
    "email",
    "e-mail",
    "web",
    "wallet",
    "server",
    "hardware",
    "bitcoin",
    "btc",
    "eth",
    "memory",
    "contract",
    "bluetooth",
    "wifi",
    "network",
];

/// Addresses given as the value of a labelled field: `Adres: Bağdat Caddesi No: 211
/// Daire: 8, …`, `Endereço de instalação: Rua …, 1450, apto. 72, …`, `Address: Blk 12
/// Lot 7, Phase 2, …`, `a domicilio: 6201 E Riverside Dr …`. The label is up to four
/// words before a colon, one of them an address word and none a word of another kind of
/// address (IP, e-mail, wallet). The value runs to the end of its line or to where a
/// field, a sentence or a quoted string ends, and over up to two lines after it that
/// close an address (a postal line, a place, a country). It must hold a digit and two
/// words. `emit(start, end)`.
pub(crate) fn labelled(text: &str, mut emit: impl FnMut(usize, usize)) {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(k) = next_colon(text, from) {
        from = k + 1;
        if !b.get(k + 1).is_some_and(|&c| c == b' ' || c == b'\t') {
            continue;
        }
        // The label: up to four words before the colon, in the 48 bytes before it and
        // on its line. Cheap first: every address word but one has a `d`.
        let mut ls = k.saturating_sub(48);
        while !text.is_char_boundary(ls) {
            ls += 1;
        }
        let label = &text[ls..k];
        let label = &label[label.rfind('\n').map_or(0, |n| n + 1)..];
        if !label.bytes().any(|c| c == b'd' || c == b'D')
            && !label.contains("nschrift")
            && !label.contains("lamat")
        {
            continue;
        }
        let mut tail = [""; 4];
        for (slot, w) in tail.iter_mut().zip(
            label
                .rsplit(|c: char| {
                    c.is_whitespace() || matches!(c, '"' | '(' | ')' | '[' | ']' | '/')
                })
                .filter(|w| !w.is_empty()),
        ) {
            *slot = w;
        }
        // An address word, in any ASCII case, with a plural or possessive ending.
        let address_word = |w: &&str| {
            ADDRESS_LABELS.iter().any(|l| {
                w.len() >= l.len()
                    && w.as_bytes()[..l.len()].eq_ignore_ascii_case(l.as_bytes())
                    && matches!(&w[l.len()..], "" | "s" | "es" | "'s" | "e")
            })
        };
        let other = |w: &&str| NOT_POSTAL.iter().any(|n| n.eq_ignore_ascii_case(w));
        if !tail.iter().any(address_word) || tail.iter().any(other) {
            continue;
        }
        let mut s = k + 1;
        while s < b.len() && (b[s] == b' ' || b[s] == b'\t') {
            s += 1;
        }
        // A value is at most 140 bytes: its line is looked at no further than 160 (a
        // long line of labels stays linear).
        let cap = text.floor_char_boundary(s + 160);
        let line_end = text[s..cap].find('\n').map_or(cap, |n| s + n);
        let (mut e, cut) = value_end(text, s, line_end);
        if !cut && line_end == cap && cap < b.len() {
            continue;
        }
        let value = &text[s..e];
        let letters = value.chars().filter(|c| c.is_alphabetic()).count();
        let worded = value
            .split_whitespace()
            .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2)
            .count();
        if value.len() < 6
            || value.len() > 140
            || !value.bytes().any(|c| c.is_ascii_digit())
            || letters < 4
            || worded < 2
            || value.contains('@')
            || value.contains("://")
        {
            continue;
        }
        // Lines after it that close the address: a postal line, a place, a country.
        if !cut {
            let mut next = line_end;
            for _ in 0..2 {
                if next >= b.len() {
                    break;
                }
                let ns = next + 1;
                let cap = text.floor_char_boundary(ns + 80);
                let ne = text[ns..cap].find('\n').map_or(cap, |n| ns + n);
                let t = text[ns..ne].trim_end_matches('\r');
                let lead = t.len() - t.trim_start().len();
                // A postal line may go on with a remark (`Phoenix, AZ 85016 (evicted …)`,
                // `Montréal (Québec) H2J 2L4. She moved …`): it closes the address there.
                let sentence = t.find(". ").map_or(ne, |n| ns + n);
                if let Some(end) = city_state_zip(text, ns + lead)
                    .or_else(|| postal_line(text, ns + lead, sentence, false))
                    .filter(|&end| end <= ne)
                {
                    e = end;
                    break;
                }
                let trimmed = t.trim().trim_end_matches('.');
                let closes = !trimmed.is_empty()
                    && trimmed.len() <= 60
                    && !trimmed.contains(':')
                    && !trimmed.contains('@')
                    && trimmed
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
                    && (COUNTRIES.iter().any(|c| c.eq_ignore_ascii_case(trimmed))
                        || locality_line(trimmed)
                        || (trimmed.bytes().any(|c| c.is_ascii_digit())
                            && trimmed.split_whitespace().count() <= 6
                            && trimmed.split_whitespace().all(|w| {
                                w.chars()
                                    .next()
                                    .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
                            })));
                if !closes {
                    break;
                }
                e = ns + lead + trimmed.len();
                next = ne;
            }
        }
        emit(s, e);
        from = e.max(from);
    }
}

/// Abbreviations after a house number that more of the address follows past their
/// period ("apto. 72", "Int. 3", "Col. Los Gavilanes"), folded.
const CONTINUING: &[&str] = &[
    "apto", "apt", "int", "col", "brgy", "no", "nr", "ste", "fl", "d", "dpto", "depto", "piso",
    "km", "mz", "lt", "blk", "bldg", "unit", "mah", "ul", "app", "appt", "bte", "esc", "gg", "jl",
    "kel", "kec", "blok", "bl", "sc", "et", "ap", "str", "bd", "sect",
];

/// The next colon at or after `from`.
fn next_colon(text: &str, from: usize) -> Option<usize> {
    text.get(from..)?.find(':').map(|n| from + n)
}

/// Where a labelled address value that starts at `s` ends, before `line_end`; `true` when
/// something other than the line's end closed it: a tab or a run of spaces (a form's next
/// column), ` · `, ` | `, `; `, a quote (a JSON string), a comma before another field
/// (`, Phone: …`), or the end of a sentence (a period after a number or a word of five
/// letters or more, before a space: `… TX 78741. Correo …`, but not `Blvd. Adolfo`).
fn value_end(text: &str, s: usize, line_end: usize) -> (usize, bool) {
    let b = text.as_bytes();
    let mut i = s;
    let mut end = (line_end, false);
    while i < line_end {
        let c = b[i];
        let stop = match c {
            b'\t' | b'"' | b'|' | b';' => true,
            b' ' => b.get(i + 1) == Some(&b' ') || text[i..line_end].starts_with(" · "),
            b',' => {
                // `, Phone: …`: a field after the address, its label of up to three
                // words without digits right after the comma.
                text[i + 1..line_end].find(": ").is_some_and(|c| {
                    let label = &text[i + 1..i + 1 + c];
                    label.split_whitespace().count() <= 3
                        && !label.bytes().any(|x| x.is_ascii_digit() || x == b',')
                })
            }
            b'.' => {
                b.get(i + 1).is_none_or(|&n| n == b' ') && i + 1 < line_end && {
                    let w = text[s..i].rsplit(' ').next().unwrap_or("");
                    // After the house number a period ends the sentence unless it closes
                    // an abbreviation that more of the address follows ("Int. 3", "Col.
                    // Los Gavilanes"); before it, only after a long word ("Blvd. Adolfo
                    // López Mateos 1904" goes on).
                    let lw = w.to_ascii_lowercase();
                    // A short abbreviation before a number or a single letter ("bl.
                    // C3", "sc. B", "et. 4") is a part of the address, whatever it is.
                    let next = text[i + 1..line_end]
                        .split_whitespace()
                        .next()
                        .unwrap_or("");
                    let short_before_part = (1..=3).contains(&w.len())
                        && w.bytes().all(|x| x.is_ascii_alphabetic())
                        && (next.bytes().any(|x| x.is_ascii_digit())
                            || (next.trim_end_matches(',').len() == 1
                                && next.starts_with(|c: char| c.is_ascii_uppercase())));
                    // "D.I. Yogyakarta", "N.S.W. 2000": an initialism.
                    let initialism = w.contains('.')
                        && w.split('.')
                            .all(|p| p.len() == 1 && p.bytes().all(|x| x.is_ascii_uppercase()));
                    !short_before_part
                        && !initialism
                        && (w.bytes().all(|x| x.is_ascii_digit())
                            || w.chars().filter(|c| c.is_alphabetic()).count() >= 5
                            || (b[s..i].iter().any(u8::is_ascii_digit)
                                && !CONTINUING.contains(&lw.as_str())))
                }
            }
            _ => false,
        };
        if stop {
            end = (i, true);
            break;
        }
        i += 1;
    }
    let v = text[s..end.0].trim_end_matches([' ', '.', ',', ')']);
    (s + v.len(), end.1)
}

/// A segment that opens with a postcode of four or five digits and goes on with a place
/// of capitalised words ("34728 Kadıköy/İstanbul", "06000 Ciudad de México").
fn code_first(text: &str, (s, e): (usize, usize)) -> bool {
    let seg = text[s..e].trim_end_matches(['.', ';']);
    let mut words = seg.split(' ');
    let code = words.next().unwrap_or("");
    let place: Vec<&str> = words.filter(|w| !w.is_empty()).collect();
    (4..=5).contains(&code.len())
        && code.bytes().all(|c| c.is_ascii_digit())
        && (1..=4).contains(&place.len())
        && place[0].chars().next().is_some_and(char::is_uppercase)
        && place.iter().all(|w| segment_word(w))
}

/// A region after a place: one to three words that open with a capital ("CDMX",
/// "Gto.", "Metro Manila").
fn region(text: &str, (s, e): (usize, usize)) -> bool {
    let words: Vec<&str> = text[s..e].split_whitespace().collect();
    (1..=3).contains(&words.len())
        && words.iter().all(|w| {
            w.chars().next().is_some_and(char::is_uppercase)
                && !w.bytes().any(|c| c.is_ascii_digit())
        })
}

/// A line naming a locality and nothing else: one to three capitalised words without
/// digits, an Irish county ("Co. Wicklow") included.
fn locality_line(line: &str) -> bool {
    let t = line.trim();
    let words: Vec<&str> = t.split_whitespace().collect();
    (1..=3).contains(&words.len())
        && t.len() <= 40
        && !t
            .bytes()
            .any(|c| c.is_ascii_digit() || matches!(c, b':' | b'@' | b','))
        && words
            .iter()
            .all(|w| w.chars().next().is_some_and(char::is_uppercase))
}

/// Address blocks anchored on their last line: a postal line ("City, ST ZIP", a city
/// and a foreign postcode) with one to three address lines above it and, after it, an
/// optional country line. Finds what the street rules miss: Puerto Rico urbanizations
/// (`Urb. Jardines de Caparra\nCalle 12 G-14\nBayamón, PR 00959`), a flat before the
/// street, French and Turkish street forms. `emit(start, end)`.
pub(crate) fn blocks(text: &str, mut emit: impl FnMut(usize, usize)) {
    let b = text.as_bytes();
    let mut lines: Vec<(usize, usize)> = Vec::new();
    let mut pos = 0usize;
    for l in text.split_inclusive('\n') {
        let body = l.trim_end_matches(['\n', '\r']);
        lines.push((pos, pos + body.len()));
        pos += l.len();
    }
    let indent = |s: usize, e: usize| s + (text[s..e].len() - text[s..e].trim_start().len());
    for n in 1..lines.len() {
        let (ls, le) = lines[n];
        let i = indent(ls, le);
        if i >= le || !b[i].is_ascii_alphanumeric() {
            continue;
        }
        // Cheap first: a postal line is short and has a digit (its code), and the line
        // above it must be an address line.
        if le - i > 80 || !b[i..le].iter().any(u8::is_ascii_digit) {
            continue;
        }
        // Up to two locality lines ("Sherwood", "Co. Wicklow") may stand between the
        // street and a postal line whose code has letters (British and Irish blocks).
        let mut above = n - 1;
        while above + 2 > n - 1
            && above > 0
            && address_line(text, lines[above].0, lines[above].1, true).is_none()
            && locality_line(&text[lines[above].0..lines[above].1])
        {
            above -= 1;
        }
        let (ps, pe) = lines[above];
        if address_line(text, ps, pe, true).is_none() {
            continue;
        }
        let country = |k: usize| {
            lines.get(k).and_then(|&(ns, ne)| {
                let t = text[ns..ne].trim().trim_end_matches('.');
                COUNTRIES
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(t))
                    .then(|| indent(ns, ne) + t.len())
            })
        };
        let Some(mut end) = postal_line(text, i, le, country(n + 1).is_some()) else {
            continue;
        };
        if above < n - 1 && !b[i..end].iter().any(u8::is_ascii_uppercase) {
            continue;
        }
        // Walk up over one to three address lines; a labelled one is the top.
        let mut top = None;
        for k in (above.saturating_sub(2)..=above).rev() {
            let (s, e) = lines[k];
            let Some(start) = address_line(text, s, e, true) else {
                break;
            };
            top = Some(start);
            if start > indent(s, e) {
                break;
            }
        }
        let Some(start) = top else { continue };
        if !b[start..end].iter().any(u8::is_ascii_digit) {
            continue;
        }
        if let Some(c) = country(n + 1) {
            end = c;
        }
        emit(start, end);
    }
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
        let candidate = (c.is_ascii_digit()
            || matches!(
                c,
                b'P' | b'p' | b'R' | b'H' | b'r' | b'U' | b'u' | b'C' | b'c'
            ))
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
            street(text, i).or_else(|| {
                let (start, end) = street_name_first(text, i)?;
                emit(start, end, 0.9);
                Some((end, true))
            })
        } else {
            box_address(text, i)
        };
        match hit {
            Some((end, city)) if end > i => {
                if c.is_ascii_digit() && street(text, i).is_none() {
                    // Emitted above, with its own start.
                } else {
                    emit(i, end, if city { 0.9 } else { 0.85 });
                }
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

    /// The spans a scan (`inline`, `blocks`) emits for `t`, as text.
    fn emitted<'t>(
        scan: impl Fn(&'t str, &mut dyn FnMut(usize, usize)),
        t: &'t str,
    ) -> Vec<&'t str> {
        let mut v = Vec::new();
        scan(t, &mut |s, e| v.push(&t[s..e]));
        v
    }

    #[test]
    fn addresses_given_as_a_labelled_value() {
        let got = |t: &'static str| emitted(|t, f| labelled(t, f), t);
        // Labels in other languages; the value runs to the end of its line.
        assert_eq!(
            got(
                "Adres: Bağdat Caddesi No: 211 Daire: 8, Caddebostan, 34728 Kadıköy/İstanbul\nCep Telefonu: 0532"
            ),
            ["Bağdat Caddesi No: 211 Daire: 8, Caddebostan, 34728 Kadıköy/İstanbul"]
        );
        assert_eq!(
            got(
                "Endereço de instalação: Rua Doutor Arnaldo, 1450, apto. 72, Sumaré, São Paulo - SP, 01255-000\n"
            ),
            ["Rua Doutor Arnaldo, 1450, apto. 72, Sumaré, São Paulo - SP, 01255-000"]
        );
        // A sentence, a quoted string or a field after it ends it; `Blvd.` does not.
        assert_eq!(
            got(
                r#""text":"Nueva tarjeta a domicilio: 6201 E Riverside Dr Apt 218, Austin TX 78741. Correo x.""#
            ),
            ["6201 E Riverside Dr Apt 218, Austin TX 78741"]
        );
        assert_eq!(
            got("Address: Blvd. Adolfo López Mateos 1904, León, Gto., Phone: 477 555 0101"),
            ["Blvd. Adolfo López Mateos 1904, León, Gto"]
        );
        // After the house number a period ends it, unless an abbreviation that more of
        // the address follows closes it; a field ends it where its label follows a comma.
        assert_eq!(
            got("Address: 10792 E 18th Rd. Tracking number 2624-3268-4858-6446."),
            ["10792 E 18th Rd"]
        );
        assert_eq!(
            got("Address: 10367 Knighten Street, Khavös, WA 08193. Phone: 555-0100"),
            ["10367 Knighten Street, Khavös, WA 08193"]
        );
        assert_eq!(
            got("mailing address: 4521, rue Saint-Denis, app. 3, Montréal, Phone: 514"),
            ["4521, rue Saint-Denis, app. 3, Montréal"]
        );
        // Lines after it that close it: a postal line with a remark, a country.
        assert_eq!(
            got(
                "Last permanent address: 1616 E Camelback Rd Apt 209\nPhoenix, AZ 85016 (evicted Sept 30)\n"
            ),
            ["1616 E Camelback Rd Apt 209\nPhoenix, AZ 85016"]
        );
        assert_eq!(
            got(
                "Foreign address: Flat 302, Sai Residency, Plot 14, Madhapur\nHyderabad, Telangana 500081\nIndia\nMobile: +1 408"
            ),
            ["Flat 302, Sai Residency, Plot 14, Madhapur\nHyderabad, Telangana 500081\nIndia"]
        );
        // Not postal addresses, or no address in the value.
        for t in [
            "IP address: 10.20.30.40 (VPN)",
            "Email address: ana.perez@example.com",
            "Wallet address: bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh",
            "Address: same as above",
            "Billing address: on file",
            "Address: 12",
        ] {
            assert!(got(t).is_empty(), "{t}: {:?}", got(t));
        }
    }

    #[test]
    fn one_line_addresses_closed_by_a_postcode_or_a_country() {
        let got = |t: &'static str| emitted(|t, f| inline(t, f), t);
        assert_eq!(
            got(
                "my address is Rose Cottage, Ballynacargy Road, Kilbeggan, Co. Westmeath, N91 X2F6. If I"
            ),
            ["Rose Cottage, Ballynacargy Road, Kilbeggan, Co. Westmeath, N91 X2F6"]
        );
        assert_eq!(
            got("She lives at 4521 avenue de l'Esplanade, Montréal QC H2T 2Y6 and prefers calls"),
            ["4521 avenue de l'Esplanade, Montréal QC H2T 2Y6"]
        );
        assert_eq!(
            got(
                "Her address is Purok 3, Barangay Daro, Dumaguete City, 6200 Negros Oriental, Philippines and"
            ),
            ["Purok 3, Barangay Daro, Dumaguete City, 6200 Negros Oriental, Philippines"]
        );
        assert_eq!(
            got(
                "sent to 2 Admiralty Way, Lekki Phase 1, Lagos 106104, Nigeria per last known address"
            ),
            ["2 Admiralty Way, Lekki Phase 1, Lagos 106104, Nigeria"]
        );
        for prose in [
            "We met in Dublin, Ireland, in 2019.",
            "Totals for Q3, 2024, Canada and Mexico",
            "Revenue grew 4%, 2025 figures, India",
            "Ask about NG5 2BB, the code on the form.",
        ] {
            assert!(got(prose).is_empty(), "{prose}");
        }
    }

    #[test]
    fn blocks_anchored_on_the_postal_line() {
        let got = |t: &'static str| emitted(|t, f| blocks(t, f), t);
        assert_eq!(
            got(
                "Dirección / Address:\nUrb. Jardines de Caparra\nCalle 12 G-14\nBayamón, PR 00959\nTel.: 555"
            ),
            ["Urb. Jardines de Caparra\nCalle 12 G-14\nBayamón, PR 00959"]
        );
        assert_eq!(
            got(
                "My address is now Flat 3/2, 41 Hyndland Road\nGlasgow G12 9UX\nUnited Kingdom. My"
            ),
            [] as [&str; 0],
            "prose before the flat is not a label"
        );
        assert_eq!(
            got(
                "Marie-Ève Tremblay-Gagnon\n1185 rue Saint-Denis, app. 402\nMontréal (Québec)  H2X 3J4\nCANADA\n\nDear"
            ),
            ["1185 rue Saint-Denis, app. 402\nMontréal (Québec)  H2X 3J4\nCANADA"]
        );
        assert_eq!(
            got("Domicilio: Urb. Villa del Carmen, Calle Sauco 2241\nPonce, PR 00716-2211\n"),
            ["Urb. Villa del Carmen, Calle Sauco 2241\nPonce, PR 00716-2211"]
        );
        assert!(got("Meeting notes\nBoston, MA 02110\n").is_empty());
        assert_eq!(
            got("Total due 42\nRef 7781\nSeattle, WA 98101\n"),
            [] as [&str; 0]
        );
        // British and Irish blocks: locality lines between the street and the postcode.
        assert_eq!(
            got("Re: Mr T W\nFlat 2, 41 Mansfield Road\nSherwood\nNottingham NG5 2BB\nNHS No."),
            ["Flat 2, 41 Mansfield Road\nSherwood\nNottingham NG5 2BB"]
        );
        assert_eq!(
            got("Mr P S\n4 Ashgrove Lawns\nRathnew\nCo. Wicklow\nA67 F2K8\n\nMember no. 1"),
            ["4 Ashgrove Lawns\nRathnew\nCo. Wicklow\nA67 F2K8"]
        );
        // A code of digits alone does not let a locality line in.
        assert!(got("Room 4 ready\nSherwood\nNottingham 4471\n").is_empty());
        assert_eq!(
            got("Beneficiary:\n12 Kloof St\nTamboerskloof 8001\nSouth Africa\n"),
            ["12 Kloof St\nTamboerskloof 8001\nSouth Africa"]
        );
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
            (
                "Anschrift: Hauptstraße 12, 3. OG\n10115 Berlin\nGermany\nTel",
                "Hauptstraße 12, 3. OG\n10115 Berlin\nGermany",
            ),
            (
                "mail to:\nUnit 4410 Box 21\nAPO AE 09012\n",
                "Unit 4410 Box 21\nAPO AE 09012",
            ),
            (
                "lives at 14 Magnolia Bend, Savannah, Georgia 31401 now",
                "14 Magnolia Bend, Savannah, Georgia 31401",
            ),
            (
                "staying at Via Roma 5, 00184 Roma, Italia until June",
                "Via Roma 5, 00184 Roma, Italia",
            ),
            (
                "flat: 7 Albion Road\nLeeds LS6 1AB\nUnited Kingdom\n",
                "7 Albion Road\nLeeds LS6 1AB\nUnited Kingdom",
            ),
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
