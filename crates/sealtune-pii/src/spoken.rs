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
        b"nine" => 9,
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
        if ts.len() < 2
            || !light(text, ts[0].end, ts[1].start)
            || !(opener(ts[1].w()) || matches!(ts[1].w(), b"the" | b"of"))
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
                let (s, e) = (ts[a].start, ts[z].end);
                let entity = match cue_before(text, s, 4) {
                    Some(Cue::Phone) => Some(EntityType::Phone),
                    Some(Cue::Account) => Some(EntityType::UsBankAccount),
                    Some(Cue::Routing) => Some(EntityType::UsBankRouting),
                    Some(Cue::Ssn) => Some(EntityType::UsSsn),
                    Some(Cue::Card) => Some(EntityType::CreditCard),
                    Some(Cue::Insurance) => Some(EntityType::InsuranceId),
                    Some(Cue::Mrn) => Some(EntityType::MedicalRecordNumber),
                    Some(Cue::Negative) => None,
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
    }
    None
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
        ] {
            assert!(opener(w.as_bytes()), "{w}");
        }
        // A day never opens with forty to ninety; those are years, read after a month.
        assert!(!opener(b"forty") && !opener(b"the"));
    }

    #[test]
    fn numbers_without_a_date_word_are_not_dates() {
        assert!(found("she has nine, twelve, seventy-four units left").is_empty());
        assert!(found("It may one day work").is_empty());
    }
}
