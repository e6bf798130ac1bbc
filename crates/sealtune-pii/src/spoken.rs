//! Numbers and dates read aloud, as call transcripts and voicemail write them down:
//! "eight oh six, five five five, zero one six four", "four-oh-four, five-five-five,
//! oh-one-nine-two", a date of birth as "nine, twelve, forty-seven" or "June ninth,
//! nineteen ninety-three".
//!
//! Seven or more digit words in a row (only spaces, commas and hyphens between them) are a
//! number: its type comes from the cue before it (phone, account, routing, social, card,
//! member), and without one a run of 7, 10 or 11 digits is a phone number. A date is a
//! month, a day and a year in words after a date word ("date of birth? Nine, twelve,
//! seventy-four"), or a month name and a day in words ("June ninth"), with a year in
//! words after it or not ("February the eleventh", "Fourteenth of June"). Either is a date
//! of birth when "birth", "born" or "DOB" stands in the 80 bytes before it. Five digit
//! words after "ZIP" or "postcode" are a ZIP code.

use crate::context::{Cue, cue_before};
use crate::types::EntityType;

/// A word of the text: bytes `start..end`, folded to lower case in `low` (words longer
/// than 12 bytes are never number words and keep an empty `low`).
#[derive(Clone, Copy)]
struct Tok {
    start: usize,
    end: usize,
    low: [u8; 12],
    len: u8,
}

impl Tok {
    fn w(&self) -> &[u8] {
        &self.low[..usize::from(self.len)]
    }
}

/// The value of a digit word read singly ("oh" and "o" are zero).
fn digit(w: &[u8]) -> Option<u32> {
    Some(match w {
        b"zero" | b"oh" | b"o" => 0,
        b"one" => 1,
        b"two" => 2,
        b"three" => 3,
        b"four" => 4,
        b"five" => 5,
        b"six" => 6,
        b"seven" => 7,
        b"eight" => 8,
        b"nine" | b"niner" => 9,
        _ => return None,
    })
}

/// A number word below a hundred that stands alone: a unit, a teen or a ten, cardinal
/// or ordinal. Returns the value, whether it is a ten (it may take a unit after it), and
/// whether it is an ordinal.
fn word_value(w: &[u8]) -> Option<(u32, bool, bool)> {
    if let Some(d) = digit(w)
        && w != b"o"
        && w != b"oh"
    {
        return Some((d, false, false));
    }
    let cardinal = [
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    if let Some(k) = cardinal.iter().position(|c| c.as_bytes() == w) {
        return Some((10 + k as u32, false, false));
    }
    let tens = [
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    if let Some(k) = tens.iter().position(|c| c.as_bytes() == w) {
        return Some((20 + 10 * k as u32, true, false));
    }
    let ordinal = [
        "first",
        "second",
        "third",
        "fourth",
        "fifth",
        "sixth",
        "seventh",
        "eighth",
        "ninth",
        "tenth",
        "eleventh",
        "twelfth",
        "thirteenth",
        "fourteenth",
        "fifteenth",
        "sixteenth",
        "seventeenth",
        "eighteenth",
        "nineteenth",
        "twentieth",
    ];
    if let Some(k) = ordinal.iter().position(|c| c.as_bytes() == w) {
        return Some((1 + k as u32, false, true));
    }
    match w {
        b"thirtieth" => Some((30, false, true)),
        _ => None,
    }
}

fn month(w: &[u8]) -> bool {
    matches!(
        w,
        b"january"
            | b"february"
            | b"march"
            | b"april"
            | b"may"
            | b"june"
            | b"july"
            | b"august"
            | b"september"
            | b"october"
            | b"november"
            | b"december"
    )
}

/// Up to `max` words of `text` from byte `from`: runs of ASCII letters.
fn tokens(text: &str, from: usize, max: usize, out: &mut Vec<Tok>) {
    let b = text.as_bytes();
    let mut i = from;
    while i < b.len() && out.len() < max {
        if !b[i].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        // A letter run inside a larger token ("x7kq", "ab12") is no number word.
        let glued = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_digit() || *c >= 0x80);
        let mut low = [0u8; 12];
        let n = i - start;
        let len = if n <= low.len() && !glued(b.get(i)) && !(start > 0 && glued(b.get(start - 1))) {
            for (d, c) in low.iter_mut().zip(&b[start..i]) {
                *d = c.to_ascii_lowercase();
            }
            n as u8
        } else {
            0
        };
        out.push(Tok {
            start,
            end: i,
            low,
            len,
        });
    }
}

/// Whether the bytes between two words may stand inside a number read aloud: spaces,
/// commas and hyphens only, at most four of them.
fn light(text: &str, a: usize, b: usize) -> bool {
    b >= a
        && b - a <= 4
        && text.as_bytes()[a..b]
            .iter()
            .all(|&c| matches!(c, b' ' | b',' | b'-'))
}

/// A number below a hundred in words at `ts[i]` ("seventy-four", "nine", "ninth",
/// "twenty first"): its value, whether it is an ordinal, and the index after it.
fn below_hundred(text: &str, ts: &[Tok], i: usize) -> Option<(u32, bool, usize)> {
    let (v, ten, ord) = word_value(ts.get(i)?.w())?;
    if ten
        && let Some(n) = ts.get(i + 1)
        && light(text, ts[i].end, n.start)
        && let Some((u, false, o)) = word_value(n.w())
        && (1..=9).contains(&u)
    {
        return Some((v + u, o, i + 2));
    }
    Some((v, ord, i + 1))
}

/// A year in words at `ts[i]`: "nineteen ninety-three", "twenty twenty-four", "two
/// thousand (and) five", "oh five", or two digits ("seventy-four"). Returns the index
/// after it.
fn year(text: &str, ts: &[Tok], i: usize) -> Option<usize> {
    let t = ts.get(i)?;
    let next_light = |k: usize| ts.get(k + 1).filter(|n| light(text, ts[k].end, n.start));
    if t.w() == b"two"
        && let Some(n) = next_light(i)
        && n.w() == b"thousand"
    {
        let mut k = i + 2;
        if let Some(a) = next_light(i + 1)
            && a.w() == b"and"
        {
            k += 1;
        }
        return match ts.get(k) {
            Some(u) if light(text, ts[k - 1].end, u.start) => below_hundred(text, ts, k)
                .filter(|&(_, o, _)| !o)
                .map(|(_, _, e)| e)
                .or(Some(i + 2)),
            _ => Some(i + 2),
        };
    }
    if matches!(t.w(), b"oh" | b"o")
        && let Some(n) = next_light(i)
        && digit(n.w()).is_some_and(|d| d > 0)
    {
        return Some(i + 2);
    }
    let (v, ord, e) = below_hundred(text, ts, i)?;
    if ord || v < 10 {
        return None;
    }
    // "nineteen ninety-three", "twenty twenty-four", "nineteen oh five".
    if (v == 19 || v == 20)
        && let Some(n) = ts.get(e)
        && light(text, ts[e - 1].end, n.start)
    {
        if let Some((w, false, e2)) = below_hundred(text, ts, e)
            && w >= 10
        {
            return Some(e2);
        }
        if matches!(n.w(), b"oh" | b"o")
            && let Some(d) = ts.get(e + 1)
            && light(text, n.end, d.start)
            && digit(d.w()).is_some_and(|d| d > 0)
        {
            return Some(e + 2);
        }
    }
    Some(e)
}

/// Whether "birth", "born" or "dob" stands in the 80 bytes before `pos`.
fn birth_before(text: &str, pos: usize) -> bool {
    let mut a = pos.saturating_sub(80);
    while !text.is_char_boundary(a) {
        a += 1;
    }
    let before = text[a..pos].to_ascii_lowercase();
    before.contains("birth") || before.contains("born") || before.contains("dob")
}

/// Whether a date word ("date", "birth", "born", "dob") stands in the 60 bytes
/// before `pos`: a month and day read as numbers needs one.
fn date_before(text: &str, pos: usize) -> bool {
    let mut a = pos.saturating_sub(60);
    while !text.is_char_boundary(a) {
        a += 1;
    }
    let before = text[a..pos].to_ascii_lowercase();
    ["date", "birth", "born", "dob"]
        .iter()
        .any(|w| before.contains(w))
}

/// Whether a word (folded) can open a number or a date read aloud: one match, as this
/// runs for every word of the text.
fn opener(w: &[u8]) -> bool {
    matches!(
        w,
        b"zero"
            | b"oh"
            | b"o"
            | b"one"
            | b"two"
            | b"three"
            | b"four"
            | b"five"
            | b"six"
            | b"seven"
            | b"eight"
            | b"nine"
            | b"niner"
            | b"ten"
            | b"eleven"
            | b"twelve"
            | b"thirteen"
            | b"fourteen"
            | b"fifteen"
            | b"sixteen"
            | b"seventeen"
            | b"eighteen"
            | b"nineteen"
            | b"twenty"
            | b"thirty"
            | b"forty"
            | b"fifty"
            | b"sixty"
            | b"seventy"
            | b"eighty"
            | b"ninety"
            | b"first"
            | b"second"
            | b"third"
            | b"fourth"
            | b"fifth"
            | b"sixth"
            | b"seventh"
            | b"eighth"
            | b"ninth"
            | b"tenth"
            | b"eleventh"
            | b"twelfth"
            | b"thirteenth"
            | b"fourteenth"
            | b"fifteenth"
            | b"sixteenth"
            | b"seventeenth"
            | b"eighteenth"
            | b"nineteenth"
            | b"twentieth"
            | b"thirtieth"
            | b"double"
            | b"triple"
    ) || month(w)
}

/// The most words a number or a date read aloud is looked for in.
const WINDOW: usize = 32;

/// Finds numbers and dates read aloud; `emit(start, end, type, score)`. Only a word that
/// can open one (a number word, "double", a month) has the words after it read.
pub(crate) fn find(text: &str, mut emit: impl FnMut(usize, usize, EntityType, f32)) {
    let b = text.as_bytes();
    let mut ts = Vec::with_capacity(WINDOW);
    let mut pos = 0;
    while pos < b.len() {
        if !b[pos].is_ascii_alphabetic() {
            pos += 1;
            continue;
        }
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let mut low = [0u8; 12];
        let n = pos - start;
        if n > low.len() {
            continue;
        }
        for (d, c) in low.iter_mut().zip(&b[start..pos]) {
            *d = c.to_ascii_lowercase();
        }
        if !opener(&low[..n]) {
            continue;
        }
        // Every form has a number word, "the" or "of" right after its first word: the
        // common "one" and "may" stop here.
        ts.clear();
        tokens(text, start, 2, &mut ts);
        // A house number read aloud may be one word before a street name ("twelve Oak
        // Street").
        if ts.len() < 2
            || !light(text, ts[0].end, ts[1].start)
            || !(opener(ts[1].w())
                || matches!(ts[1].w(), b"the" | b"of")
                || (b[ts[1].start].is_ascii_uppercase() && &b[ts[0].end..ts[1].start] == b" "))
        {
            continue;
        }
        ts.clear();
        tokens(text, start, WINDOW, &mut ts);
        if let Some(end) = at(text, &ts, &mut emit) {
            pos = pos.max(end);
        }
    }
}

/// Reads a number or a date at the first of `ts`; returns the byte where it ends.
fn at(
    text: &str,
    ts: &[Tok],
    emit: &mut impl FnMut(usize, usize, EntityType, f32),
) -> Option<usize> {
    let i = 0;
    {
        let t = &ts[i];
        if t.len == 0 {
            return None;
        }
        // (a) Seven or more digit words in a row.
        if digit(t.w()).is_some() || matches!(t.w(), b"double" | b"triple") {
            let mut n = 0usize;
            let mut k = i;
            let mut last = i;
            while let Some(c) = ts.get(k) {
                if k > i && !light(text, ts[k - 1].end, c.start) {
                    break;
                }
                let rep = match c.w() {
                    b"double" => 2,
                    b"triple" => 3,
                    _ => 1,
                };
                if rep > 1 {
                    match ts.get(k + 1) {
                        Some(d) if light(text, c.end, d.start) && digit(d.w()).is_some() => {
                            n += rep;
                            last = k + 1;
                            k += 2;
                            continue;
                        }
                        _ => break,
                    }
                }
                if digit(c.w()).is_none() {
                    break;
                }
                n += 1;
                last = k;
                k += 1;
            }
            let (a, z) = (i, last);
            if n >= 7 {
                let (s, e) = (spelled_before(text, ts[a].start), ts[z].end);
                // Letters before the digits make it an identifier, not a phone number: its
                // cue may be a question on the line before ("policy number please?").
                let letters = s < ts[a].start;
                let entity = match cue_before(text, s, if letters { 12 } else { 4 }) {
                    Some(Cue::Phone) => Some(EntityType::Phone),
                    Some(Cue::Account) => Some(EntityType::UsBankAccount),
                    Some(Cue::Routing) => Some(EntityType::UsBankRouting),
                    Some(Cue::Ssn) => Some(EntityType::UsSsn),
                    Some(Cue::Card) => Some(EntityType::CreditCard),
                    Some(Cue::Insurance) => Some(EntityType::InsuranceId),
                    Some(Cue::Mrn) => Some(EntityType::MedicalRecordNumber),
                    Some(Cue::Negative) => None,
                    _ if letters => Some(EntityType::InsuranceId),
                    _ if matches!(n, 7 | 10 | 11) => Some(EntityType::Phone),
                    _ => None,
                };
                if let Some(entity) = entity {
                    emit(s, e, entity, 0.85);
                }
                return Some(ts[last].end);
            }
            // Five after "ZIP" or "postcode" ("ZIP nine oh two one oh").
            if n == 5 && zip_before(text, ts[a].start) {
                emit(ts[a].start, ts[z].end, EntityType::ZipCode, 0.8);
                return Some(ts[last].end);
            }
        }
        // (b) A month name and a day in words ("June ninth", "February the eleventh"), a
        // year in words after it or not.
        let the = usize::from(
            ts.get(i + 1)
                .is_some_and(|n| n.w() == b"the" && light(text, t.end, n.start)),
        );
        if month(t.w())
            && let Some(d) = ts.get(i + 1 + the)
            && light(text, ts[i + the].end, d.start)
            && let Some((day, ordinal, e)) = below_hundred(text, ts, i + 1 + the)
            && (ordinal || the == 0)
            && (1..=31).contains(&day)
            && let year_end = ts
                .get(e)
                .filter(|y| light(text, ts[e - 1].end, y.start))
                .and_then(|_| year(text, ts, e))
            // "June ninth", "June nine, nineteen ninety"; not "may one day".
            && (ordinal || year_end.is_some())
        {
            let end = year_end.unwrap_or(e);
            return Some(date(text, t.start, ts[end - 1].end, emit));
        }
        // (d) A day and a month ("Fourteenth of June, nineteen seventy-two").
        if let Some((day, true, e1)) = below_hundred(text, ts, i)
            && (1..=31).contains(&day)
            && let Some(of) = ts.get(e1)
            && of.w() == b"of"
            && light(text, ts[e1 - 1].end, of.start)
            && let Some(m) = ts.get(e1 + 1)
            && month(m.w())
            && light(text, of.end, m.start)
        {
            let mut end = e1 + 2;
            if let Some(y) = ts.get(end)
                && light(text, m.end, y.start)
                && let Some(ye) = year(text, ts, end)
            {
                end = ye;
            }
            return Some(date(text, t.start, ts[end - 1].end, emit));
        }
        // (c) Month, day and year as numbers in words, after a date word.
        if let Some((m, false, e1)) = below_hundred(text, ts, i)
            && (1..=12).contains(&m)
            && let Some(d) = ts.get(e1)
            && light(text, ts[e1 - 1].end, d.start)
            && let Some((day, _, e2)) = below_hundred(text, ts, e1)
            && (1..=31).contains(&day)
            && let Some(y) = ts.get(e2)
            && light(text, ts[e2 - 1].end, y.start)
            && let Some(e3) = year(text, ts, e2)
            && date_before(text, t.start)
        {
            return Some(date(text, t.start, ts[e3 - 1].end, emit));
        }
        // (e) A street address with its house number read aloud ("twenty-two Glenageary
        // Park, Dún Laoghaire, County Dublin, A96 X2E4", "eighty-one forty Sunset
        // Boulevard, apartment two-oh-six, Los Angeles, nine zero zero four six"), or a
        // box ("P O Box four eighteen, Crownpoint, New Mexico, …").
        if let Some(k) = house_number(text, ts, i) {
            let street_end = (k < ts.len()).then(|| street_name(text, ts, k)).flatten();
            let boxed = box_before(text, t.start);
            if street_end.is_some() || boxed.is_some() {
                let s = boxed.unwrap_or(t.start);
                let z = street_end.unwrap_or(ts[k - 1].end);
                let tail = address_tail(text, z);
                // A one-word number before a name ("one Big Park") needs a place after it.
                if tail > z || boxed.is_some() || k - i >= 2 {
                    emit(s, tail, EntityType::StreetAddress, 0.9);
                    return Some(tail);
                }
            }
        }
    }
    None
}

/// Domain endings an e-mail address read aloud may close with.
const TLDS: &[&str] = &[
    "com", "net", "org", "edu", "gov", "mil", "co", "uk", "ie", "io", "ca", "us", "info", "biz",
    "me", "de", "fr", "es", "mx", "in", "au", "nz", "br", "nl", "za", "ng", "ke", "ph", "jp", "it",
    "pt", "pl", "tr",
];

/// E-mail addresses read aloud: "nizhoni dot begaye at gmail dot com", "dermot dot fitz
/// at eircom dot net". A local part of words joined by "dot", "underscore", "dash" or
/// "hyphen", then "at", then a domain of two or more words joined by "dot" that ends in a
/// known ending. `emit(start, end)`.
pub(crate) fn emails(text: &str, mut emit: impl FnMut(usize, usize)) {
    let b = text.as_bytes();
    // A word of letters and digits ending at `e`, its start.
    let word_back = |e: usize| {
        let s = b[..e]
            .iter()
            .rposition(|c| !c.is_ascii_alphanumeric())
            .map_or(0, |k| k + 1);
        (s < e).then_some(s)
    };
    let word_fwd = |s: usize| {
        let e = b[s..]
            .iter()
            .position(|c| !c.is_ascii_alphanumeric())
            .map_or(b.len(), |k| s + k);
        (e > s).then_some(e)
    };
    let joiner_back = |e: usize| {
        [" dot ", " underscore ", " dash ", " hyphen "]
            .iter()
            .find(|j| e >= j.len() && b[e - j.len()..e].eq_ignore_ascii_case(j.as_bytes()))
            .map(|j| e - j.len())
    };
    let mut from = 0;
    while let Some(k) = text[from..].find(" at ").map(|k| from + k) {
        from = k + 4;
        // The domain: word (dot word)+.
        let mut e = k + 4;
        let mut parts = 0;
        let mut last = (0, 0);
        while parts < 8
            && let Some(we) = word_fwd(e)
        {
            last = (e, we);
            parts += 1;
            e = we;
            if b.len() >= e + 5 && b[e..e + 5].eq_ignore_ascii_case(b" dot ") {
                e += 5;
            } else {
                break;
            }
        }
        let tld = &text[last.0..last.1];
        if parts < 2 || !TLDS.iter().any(|t| t.eq_ignore_ascii_case(tld)) {
            continue;
        }
        // The local part: words back from "at", joined.
        let Some(mut s) = word_back(k) else { continue };
        let mut joined = false;
        for _ in 0..8 {
            let Some(j) = joiner_back(s) else { break };
            let Some(ws) = word_back(j) else { break };
            s = ws;
            joined = true;
        }
        // One plain word ("meet at home dot com") needs a digit in it or a mail word
        // before it.
        let mut cue = s.saturating_sub(40);
        while !text.is_char_boundary(cue) {
            cue += 1;
        }
        if !joined
            && !b[s..k].iter().any(u8::is_ascii_digit)
            && !text[cue..s].to_ascii_lowercase().contains("mail")
        {
            continue;
        }
        emit(s, last.1);
        from = last.1;
    }
}

/// Where letters spelled out before a number read aloud start ("H-A-L, seven seven two,
/// …": an ID that opens with letters): two to four capitals joined by hyphens or spaces,
/// then ", " or " ", right before `pos`. `pos` when there are none.
fn spelled_before(text: &str, pos: usize) -> usize {
    let b = text.as_bytes();
    let mut k = pos;
    if k >= 2 && &b[k - 2..k] == b", " {
        k -= 2;
    } else if k >= 1 && b[k - 1] == b' ' {
        k -= 1;
    } else {
        return pos;
    }
    let mut letters = 0;
    let mut start = pos;
    while k >= 1 && b[k - 1].is_ascii_uppercase() && !(k >= 2 && b[k - 2].is_ascii_alphanumeric()) {
        letters += 1;
        start = k - 1;
        if k >= 2 && matches!(b[k - 2], b'-' | b' ') {
            k -= 2;
        } else {
            break;
        }
    }
    if (2..=4).contains(&letters) {
        start
    } else {
        pos
    }
}

/// A house number in words at `ts[i]`: one to three numbers below a hundred ("twenty-two",
/// "eighty-one forty", "four eighteen"), a "hundred" after one of them allowed. Returns
/// the index after it.
fn house_number(text: &str, ts: &[Tok], i: usize) -> Option<usize> {
    let mut k = i;
    for g in 0..3 {
        if g > 0
            && !ts
                .get(k)
                .is_some_and(|n| light(text, ts[k - 1].end, n.start))
        {
            break;
        }
        let Some((_, false, e)) = below_hundred(text, ts, k) else {
            break;
        };
        k = e;
        if ts
            .get(k)
            .is_some_and(|n| n.w() == b"hundred" && light(text, ts[k - 1].end, n.start))
        {
            k += 1;
        }
    }
    (k > i).then_some(k)
}

/// One to three capitalised words and a street suffix at `ts[k]`, a space between each
/// ("Glenageary Park", "Sunset Boulevard", "Autumn Leaf Circle"). Returns the byte after
/// the suffix.
fn street_name(text: &str, ts: &[Tok], k: usize) -> Option<usize> {
    let b = text.as_bytes();
    for n in 1..=3 {
        let suffix = ts.get(k + n)?;
        let words = &ts[k..=k + n];
        let spaced = words.windows(2).all(|w| &b[w[0].end..w[1].start] == b" ")
            && b[ts[k - 1].end..ts[k].start] == *b" ";
        if !spaced || !words.iter().all(|w| b[w.start].is_ascii_uppercase()) {
            return None;
        }
        if crate::address::street_word(&text[suffix.start..suffix.end]) {
            return Some(suffix.end);
        }
    }
    None
}

/// Where "P O Box", "PO Box" or "P.O. Box" ends right before `pos` (one space between),
/// its start.
fn box_before(text: &str, pos: usize) -> Option<usize> {
    let head = text.get(pos.saturating_sub(12)..pos.checked_sub(1)?)?;
    if !text[..pos].ends_with(' ') {
        return None;
    }
    ["P O Box", "PO Box", "P.O. Box", "P. O. Box"]
        .iter()
        .find(|p| head.len() >= p.len() && head[head.len() - p.len()..].eq_ignore_ascii_case(p))
        .map(|p| pos - 1 - p.len())
}

/// The rest of an address read aloud after `z`: up to five segments after ", ", each a
/// unit ("apartment two-oh-six", "Apt 4"), a place of one to three capitalised words
/// ("Los Angeles", "County Dublin"), or a postcode that closes it (five digit words, or
/// a code with digits: "A96 X2E4", "90046"). Returns where it ends.
fn address_tail(text: &str, mut z: usize) -> usize {
    for _ in 0..5 {
        let Some(rest) = text.get(z..).and_then(|r| r.strip_prefix(", ")) else {
            break;
        };
        // A segment is a few words: it is looked for in the next 80 bytes only.
        let rest = &rest[..rest.floor_char_boundary(80)];
        let seg_len = rest
            .find([',', '.', '\n', '?', '!', ';'])
            .unwrap_or(rest.len());
        let seg = &rest[..seg_len];
        let words: Vec<&str> = seg.split(' ').collect();
        let s0 = z + 2;
        if words.is_empty() || words.iter().any(|w| w.is_empty()) || words.len() > 5 {
            break;
        }
        // Digit words, five of them: a ZIP code; it closes the address.
        let digit_words = words
            .iter()
            .flat_map(|w| w.split('-'))
            .all(|w| digit(w.to_ascii_lowercase().as_bytes()).is_some());
        if digit_words {
            if words.iter().flat_map(|w| w.split('-')).count() == 5 {
                z = s0 + seg_len;
            }
            break;
        }
        // A unit: its word, then a number in digits or in words.
        if crate::address::unit_word(words[0].trim_end_matches('.')) && words.len() <= 4 {
            z = s0 + seg_len;
            continue;
        }
        // A postcode with digits and capitals ("A96 X2E4", "90046", "H2J 2L4").
        let code = words.len() <= 2
            && words.iter().all(|w| {
                w.bytes()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            })
            && seg.bytes().any(|c| c.is_ascii_digit());
        if code {
            z = s0 + seg_len;
            break;
        }
        let place = words.len() <= 3
            && words.iter().all(|w| {
                w.chars().next().is_some_and(char::is_uppercase)
                    && !w.bytes().any(|c| c.is_ascii_digit())
            });
        if !place {
            break;
        }
        z = s0 + seg_len;
    }
    z
}

/// Emits the date read aloud at `s..z`, a date of birth after a birth word; returns `z`.
fn date(
    text: &str,
    s: usize,
    z: usize,
    emit: &mut impl FnMut(usize, usize, EntityType, f32),
) -> usize {
    let entity = if birth_before(text, s) {
        EntityType::DateOfBirth
    } else {
        EntityType::Date
    };
    emit(s, z, entity, 0.8);
    z
}

/// Whether "ZIP", "postcode" or "code" stands right before `pos` (spaces and a colon
/// between).
fn zip_before(text: &str, pos: usize) -> bool {
    let mut a = pos.saturating_sub(16);
    while !text.is_char_boundary(a) {
        a += 1;
    }
    let head = text[a..pos].trim_end_matches([' ', ':']);
    let word = &head[head
        .rfind(|c: char| !c.is_ascii_alphabetic())
        .map_or(0, |k| k + 1)..];
    ["zip", "postcode", "code"]
        .iter()
        .any(|z| z.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(&str, EntityType)> {
        let mut out = Vec::new();
        find(text, |s, e, t, _| out.push((&text[s..e], t)));
        out
    }

    #[test]
    fn street_addresses_read_aloud() {
        assert_eq!(
            found(
                "my house, twenty-two Glenageary Park, Dún Laoghaire, County Dublin, A96 X2E4, and a van"
            ),
            [(
                "twenty-two Glenageary Park, Dún Laoghaire, County Dublin, A96 X2E4",
                EntityType::StreetAddress
            )]
        );
        assert_eq!(
            found(
                "A: eighty-one forty Sunset Boulevard, apartment two-oh-six, Los Angeles, nine zero zero four six.\n"
            ),
            [(
                "eighty-one forty Sunset Boulevard, apartment two-oh-six, Los Angeles, nine zero zero four six",
                EntityType::StreetAddress
            )]
        );
        assert_eq!(
            found(
                "mail it to P O Box four eighteen, Crownpoint, New Mexico, eight seven three one three. Thanks"
            ),
            [(
                "P O Box four eighteen, Crownpoint, New Mexico, eight seven three one three",
                EntityType::StreetAddress
            )]
        );
        assert_eq!(
            found("I live at forty-two Autumn Leaf Circle."),
            [("forty-two Autumn Leaf Circle", EntityType::StreetAddress)]
        );
        // A one-word number before a name needs a place after it; no suffix, no address.
        assert!(found("two Great Danes and one Big Park visit").is_empty());
        assert!(found("twenty-two Great Danes, Dublin").is_empty());
    }

    #[test]
    fn identifiers_spelled_then_read_aloud() {
        assert_eq!(
            found(
                "AGENT: policy number please?\nCALLER: Yeah, it's H-A-L, seven seven two, zero four one, niner.\n"
            ),
            [(
                "H-A-L, seven seven two, zero four one, niner",
                EntityType::InsuranceId
            )]
        );
        // A word before the number is no spelled letter.
        assert_eq!(
            found("Yeah, it's five five five, oh one four two."),
            [("five five five, oh one four two", EntityType::Phone)]
        );
        assert_eq!(
            found("Yeah, IT five five five, oh one four two."),
            [("five five five, oh one four two", EntityType::Phone)]
        );
    }

    #[test]
    fn e_mail_addresses_read_aloud() {
        let got = |t: &'static str| {
            let mut v = Vec::new();
            emails(t, |s, e| v.push(&t[s..e]));
            v
        };
        assert_eq!(
            got("you can also email me at nizhoni dot begaye at gmail dot com. ok"),
            ["nizhoni dot begaye at gmail dot com"]
        );
        assert_eq!(
            got("CALLER: dermot dot fitz at eircom dot net."),
            ["dermot dot fitz at eircom dot net"]
        );
        assert_eq!(
            got("e-mail is jo83 at mail dot co dot uk"),
            ["jo83 at mail dot co dot uk"]
        );
        // One plain word needs a mail word before it; the ending must be a domain's.
        assert_eq!(got("E-mail: jo at gmail dot com"), ["jo at gmail dot com"]);
        assert!(got("meet at home dot com").is_empty());
        assert!(got("sara dot lee at the dot office").is_empty());
    }

    #[test]
    fn phone_numbers_read_aloud() {
        assert_eq!(
            found("My cell is eight oh six, five five five, zero one six four if you need me."),
            [(
                "eight oh six, five five five, zero one six four",
                EntityType::Phone
            )]
        );
        assert_eq!(
            found("reach me on four-oh-four, five-five-five, oh-one-nine-two, or"),
            [(
                "four-oh-four, five-five-five, oh-one-nine-two",
                EntityType::Phone
            )]
        );
        assert_eq!(
            found("call back on oh seven seven double nine, one two three four five six"),
            [(
                "oh seven seven double nine, one two three four five six",
                EntityType::Phone
            )]
        );
    }

    #[test]
    fn account_numbers_take_their_cue() {
        assert_eq!(
            found("account four four seven zero, one one nine, two eight eight."),
            [(
                "four four seven zero, one one nine, two eight eight",
                EntityType::UsBankAccount
            )]
        );
    }

    #[test]
    fn short_runs_and_prose_are_not_numbers() {
        assert!(found("one or two of the five nurses saw six patients").is_empty());
        assert!(
            found("one two three four five six").is_empty(),
            "six digits"
        );
        assert!(found("Version 2 of the form, one of nine.").is_empty());
    }

    #[test]
    fn dates_read_aloud() {
        assert_eq!(
            found("Q: And your date of birth?\nA: Nine, twelve, seventy-four."),
            [("Nine, twelve, seventy-four", EntityType::DateOfBirth)]
        );
        assert_eq!(
            found("date of birth nine, twelve, forty-seven. We changed"),
            [("nine, twelve, forty-seven", EntityType::DateOfBirth)]
        );
        assert_eq!(
            found("Your date of birth?\nA: June ninth, nineteen ninety-three.\n"),
            [("June ninth, nineteen ninety-three", EntityType::DateOfBirth)]
        );
        assert_eq!(
            found("the hearing moved to March third, two thousand and five"),
            [("March third, two thousand and five", EntityType::Date)]
        );
        assert_eq!(
            found("Date of birth?\nCALLER: Fourteenth of June, nineteen seventy-two.\n"),
            [(
                "Fourteenth of June, nineteen seventy-two",
                EntityType::DateOfBirth
            )]
        );
        assert_eq!(
            found("he was seen on, uh, February the eleventh, and the statement"),
            [("February the eleventh", EntityType::Date)]
        );
        assert_eq!(
            found("and ZIP nine oh two one oh. Agent read back"),
            [("nine oh two one oh", EntityType::ZipCode)]
        );
        assert!(found("the first of many").is_empty());
        assert_eq!(
            found("seen on May twenty first"),
            [("May twenty first", EntityType::Date)]
        );
    }

    #[test]
    fn every_number_word_opens() {
        for w in [
            "zero",
            "oh",
            "nine",
            "nineteen",
            "twenty",
            "thirty",
            "ninth",
            "thirtieth",
            "double",
            "june",
            // Forty to ninety open no day, but a house number ("forty-two Autumn Leaf
            // Circle").
            "forty",
            "ninety",
        ] {
            assert!(opener(w.as_bytes()), "{w}");
        }
        assert!(!opener(b"the") && !opener(b"hundred"));
        assert!(found("on forty-two, nineteen ninety").is_empty());
    }

    #[test]
    fn numbers_without_a_date_word_are_not_dates() {
        assert!(found("she has nine, twelve, seventy-four units left").is_empty());
        assert!(found("It may one day work").is_empty());
    }
}
