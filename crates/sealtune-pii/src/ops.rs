//! Masking operators: redact, tag, pseudonymize, mask, hash, date shift.

use crate::key::{MaskKey, mac};
use crate::names::Gazetteer;
use crate::types::EntityType;
use crate::validate as v;

/// Normalises an original value so that formatting differences do not change
/// its fingerprint: digits only for numeric identifiers, upper-case
/// alphanumerics for alphanumeric ids, lower case with single spaces for
/// names and addresses, ISO `yyyy-mm-dd` for parseable dates.
pub fn normalize(t: EntityType, value: &str) -> String {
    use EntityType as E;
    match t {
        E::Phone => {
            let d: String = value.chars().filter(char::is_ascii_digit).collect();
            if d.len() == 11 && d.starts_with('1') {
                d[1..].to_string()
            } else {
                d
            }
        }
        E::UsSsn | E::CreditCard | E::UsBankRouting | E::Npi | E::ZipCode | E::AgeOver89 => {
            value.chars().filter(char::is_ascii_digit).collect()
        }
        E::Iban
        | E::DeaNumber
        | E::MedicalRecordNumber
        | E::InsuranceId
        | E::UsBankAccount
        | E::DriverLicense
        | E::Passport
        | E::MacAddress => value
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        E::IpAddress => match value.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => value.trim().to_lowercase(),
        },
        E::Email | E::Url => value.trim().to_lowercase(),
        E::Date | E::DateOfBirth => match parse_date(value) {
            Some(d) if d.has_year => {
                let (y, m, dd) = (d.y, d.m, d.d);
                format!("{y:04}-{m:02}-{dd:02}")
            }
            _ => value.trim().to_lowercase(),
        },
        E::Secret => value.trim().to_string(),
        _ => value
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Keyed HMAC-SHA-256 fingerprint of a value's normal form (type-independent,
/// so the eval stage can fingerprint what a model emits without knowing the type).
pub fn fingerprint(key: &MaskKey, t: EntityType, value: &str) -> [u8; 32] {
    mac(
        key.fingerprint(),
        &[
            b"sealtune-pii-fingerprint-v1",
            normalize(t, value).as_bytes(),
        ],
    )
}

/// `[EMAIL]`.
pub fn redact(t: EntityType) -> String {
    format!("[{t}]")
}

/// `<PERSON_3>`.
pub fn tag(t: EntityType, index: usize) -> String {
    format!("<{t}_{index}>")
}

/// Keeps the last `keep` letters/digits, stars the others, keeps separators.
pub fn mask(value: &str, keep: usize) -> String {
    let total = value.chars().filter(|c| c.is_alphanumeric()).count();
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                seen += 1;
                if seen + keep > total { c } else { '*' }
            } else {
                c
            }
        })
        .collect()
}

/// `<EMAIL:0123456789abcdef>`: 64 bits of a keyed HMAC of the normal form.
pub fn hash(key: &MaskKey, t: EntityType, value: &str) -> String {
    let m = mac(
        key.hash(),
        &[t.as_str().as_bytes(), normalize(t, value).as_bytes()],
    );
    let hex: String = m[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("<{t}:{hex}>")
}

/// A deterministic byte stream from an HMAC seed (HMAC in counter mode).
struct Rng {
    seed: [u8; 32],
    buf: [u8; 32],
    pos: usize,
    ctr: u64,
}

impl Rng {
    fn new(key: &[u8], parts: &[&[u8]]) -> Self {
        Rng {
            seed: mac(key, parts),
            buf: [0; 32],
            pos: 32,
            ctr: 0,
        }
    }
    fn byte(&mut self) -> u8 {
        if self.pos == 32 {
            self.buf = mac(&self.seed, &[&self.ctr.to_le_bytes()]);
            self.ctr += 1;
            self.pos = 0;
        }
        self.pos += 1;
        self.buf[self.pos - 1]
    }
    fn below(&mut self, n: u32) -> u32 {
        let x = u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()]);
        ((u64::from(x) * u64::from(n)) >> 32) as u32
    }
    fn digit(&mut self) -> char {
        char::from(b'0' + self.below(10) as u8)
    }
}

/// Replaces every digit and ASCII letter with a random one of the same class and case.
fn same_shape(r: &mut Rng, value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                r.digit()
            } else if c.is_ascii_uppercase() {
                char::from(b'A' + r.below(26) as u8)
            } else if c.is_ascii_lowercase() {
                char::from(b'a' + r.below(26) as u8)
            } else if c.is_alphabetic() {
                'x'
            } else {
                c
            }
        })
        .collect()
}

/// Writes `digits` into the digit positions of `template`, keeping separators.
fn fill_digits(template: &str, digits: &[u8]) -> String {
    let mut it = digits.iter();
    template
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                it.next().map_or(c, |d| char::from(b'0' + d))
            } else {
                c
            }
        })
        .collect()
}

fn title_case(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

fn person(r: &mut Rng, value: &str) -> String {
    let g = Gazetteer::get();
    let firsts = g.first_names();
    let lasts = g.last_names();
    let mut pick = |list: &[&str]| {
        if list.is_empty() {
            "Alex".to_string()
        } else {
            title_case(list[r.below(list.len() as u32) as usize])
        }
    };
    let words: Vec<&str> = value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let out = if value.contains(',') {
        format!("{}, {}", pick(lasts), pick(firsts))
    } else if words.len() <= 1 {
        pick(firsts)
    } else {
        format!("{} {}", pick(firsts), pick(lasts))
    };
    if value.chars().any(char::is_lowercase) && !value.chars().any(char::is_uppercase) {
        out.to_lowercase()
    } else if !value.chars().any(char::is_lowercase) {
        out.to_uppercase()
    } else {
        out
    }
}

/// A keyed, deterministic, format-keeping surrogate. The same (key, type,
/// normal form) always gives the same surrogate. Dates are shifted by the
/// subject's offset instead (see [`shift_date`]).
pub fn pseudonymize(key: &MaskKey, t: EntityType, value: &str) -> String {
    use EntityType as E;
    let norm = normalize(t, value);
    let mut r = Rng::new(key.pseudo(), &[t.as_str().as_bytes(), norm.as_bytes()]);
    match t {
        E::Person => person(&mut r, value),
        E::Email => {
            let p = person(&mut r, "A B").to_lowercase().replace(' ', ".");
            let tld = ["com", "org", "net"][r.below(3) as usize];
            format!("{p}@example.{tld}")
        }
        E::Phone => {
            let d = v::digits(value);
            let nanp = d.len() == 10 || (d.len() == 11 && d[0] == 1);
            if nanp {
                // 555-0100..0199 is reserved for fiction in every NANP area code.
                let off = d.len() - 10;
                let mut out = d.clone();
                out[off] = 2 + r.below(8) as u8;
                out[off + 1] = r.below(10) as u8;
                out[off + 2] = if out[off + 1] == 1 {
                    0
                } else {
                    r.below(10) as u8
                };
                out[off + 3..off + 6].copy_from_slice(&[5, 5, 5]);
                out[off + 6..off + 8].copy_from_slice(&[0, 1]);
                out[off + 8] = r.below(10) as u8;
                out[off + 9] = r.below(10) as u8;
                fill_digits(value, &out)
            } else {
                // Keep the country code (first two digits), randomise the rest.
                let out: Vec<u8> = d
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| if i < 2 { x } else { r.below(10) as u8 })
                    .collect();
                fill_digits(value, &out)
            }
        }
        E::UsSsn => {
            // Area 900-999 with group 01-49 is neither an SSN nor an ITIN: never issued.
            let area = 900 + r.below(100);
            let group = 1 + r.below(49);
            let serial = 1 + r.below(9999);
            let s = format!("{area:03}{group:02}{serial:04}");
            fill_digits(value, &v::digits(&s))
        }
        E::CreditCard => {
            let d = v::digits(value);
            let keep = if d.first() == Some(&2) { 4 } else { 2 }.min(d.len());
            for _ in 0..64 {
                let mut out: Vec<u8> = d[..keep].to_vec();
                while out.len() + 1 < d.len() {
                    out.push(r.below(10) as u8);
                }
                out.push(v::luhn_check_digit(&out));
                if v::credit_card(&out) && out != d {
                    return fill_digits(value, &out);
                }
            }
            let mut out = vec![4u8];
            while out.len() + 1 < 16 {
                out.push(r.below(10) as u8);
            }
            out.push(v::luhn_check_digit(&out));
            out.iter().map(|&x| char::from(b'0' + x)).collect()
        }
        E::Iban => {
            let compact: Vec<u8> = value
                .bytes()
                .filter(u8::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_uppercase())
                .collect();
            if compact.len() < 5 {
                return same_shape(&mut r, value);
            }
            let mut out = compact.clone();
            for c in out[4..].iter_mut() {
                *c = if c.is_ascii_digit() {
                    b'0' + r.below(10) as u8
                } else {
                    b'A' + r.below(26) as u8
                };
            }
            out[2] = b'0';
            out[3] = b'0';
            let check = 98 - v::iban_mod97(&out);
            out[2] = b'0' + (check / 10) as u8;
            out[3] = b'0' + (check % 10) as u8;
            let mut it = out.into_iter();
            value
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        it.next().map_or(c, char::from)
                    } else {
                        c
                    }
                })
                .collect()
        }
        E::IpAddress => {
            if value.contains(':') {
                format!(
                    "2001:db8:{:x}:{:x}::{:x}",
                    r.below(65536),
                    r.below(65536),
                    1 + r.below(65535)
                )
            } else {
                // TEST-NET documentation ranges.
                let nets = ["192.0.2", "198.51.100", "203.0.113"];
                format!("{}.{}", nets[r.below(3) as usize], 1 + r.below(254))
            }
        }
        E::MacAddress => {
            let mut s = same_shape(
                &mut r,
                &value
                    .to_ascii_lowercase()
                    .replace(|c: char| c.is_ascii_hexdigit(), "0"),
            );
            s = s
                .chars()
                .map(|c| {
                    if c.is_ascii_digit() {
                        char::from_digit(r.below(16), 16).unwrap_or('0')
                    } else {
                        c
                    }
                })
                .collect();
            // Locally administered, unicast: second hex digit 2, 6, a or e.
            let mut chars: Vec<char> = s.chars().collect();
            if chars.len() > 1 {
                chars[1] = ['2', '6', 'a', 'e'][r.below(4) as usize];
            }
            chars.into_iter().collect()
        }
        E::Url => format!("https://example.org/r/{:08x}", r.below(u32::MAX)),
        E::AgeOver89 => "90".to_string(),
        E::ZipCode => {
            // 000xx ZIP codes are not assigned.
            let d = v::digits(value);
            let mut out = vec![0u8, 0, 0, r.below(10) as u8, r.below(10) as u8];
            out.extend((5..d.len()).map(|_| r.below(10) as u8));
            fill_digits(value, &out)
        }
        E::StreetAddress => {
            let lasts = Gazetteer::get().last_names();
            let street = if lasts.is_empty() {
                "Main".to_string()
            } else {
                title_case(lasts[r.below(lasts.len() as u32) as usize])
            };
            let first_line = value.split(',').next().unwrap_or(value);
            let suffix = first_line.split_whitespace().last().unwrap_or("St");
            let num = 1 + r.below(9899);
            match value.split_once(',') {
                Some((_, rest)) => format!("{num} {street} {suffix},{}", same_shape(&mut r, rest)),
                None => format!("{num} {street} {suffix}"),
            }
        }
        E::UsBankRouting => {
            for _ in 0..64 {
                let mut d: Vec<u8> = vec![0, 1 + r.below(2) as u8];
                d.extend((0..6).map(|_| r.below(10) as u8));
                let w = [3u32, 7, 1];
                let sum: u32 = d
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| w[i % 3] * u32::from(x))
                    .sum();
                d.push(((10 - sum % 10) % 10) as u8);
                if v::aba_routing(&d) {
                    return fill_digits(value, &d);
                }
            }
            same_shape(&mut r, value)
        }
        E::Npi => {
            let mut d: Vec<u8> = vec![1];
            d.extend((0..8).map(|_| r.below(10) as u8));
            let mut full = vec![8, 0, 8, 4, 0];
            full.extend_from_slice(&d);
            d.push(v::luhn_check_digit(&full));
            fill_digits(value, &d)
        }
        E::DeaNumber => {
            let b = value.as_bytes();
            let mut d: Vec<u32> = (0..6).map(|_| r.below(10)).collect();
            let sum = d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5]);
            d.push(sum % 10);
            let first = if b.len() == 9 { char::from(b[0]) } else { 'A' };
            let second = char::from(b'A' + r.below(26) as u8);
            format!(
                "{first}{second}{}",
                d.iter()
                    .map(|x| char::from(b'0' + *x as u8))
                    .collect::<String>()
            )
        }
        E::Date | E::DateOfBirth => same_shape(&mut r, value),
        _ => same_shape(&mut r, value),
    }
}

/// Maps 64 bits of a MAC to a day offset: never zero, within ±max_days.
fn offset_from_mac(m: &[u8; 32], max_days: u32) -> i64 {
    let x = u64::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]]);
    let span = u64::from(max_days.max(1));
    let mag = (x % span) as i64 + 1;
    if x >> 63 == 1 { -mag } else { mag }
}

/// The per-subject date offset in days (`[mask] subject_field`): keyed,
/// never zero, within ±max_days. Every record of the subject shares it.
pub fn date_offset(key: &MaskKey, subject: &str, max_days: u32) -> i64 {
    offset_from_mac(&mac(key.date(), &[subject.as_bytes()]), max_days)
}

/// Domain label of the per-record offset, so that no subject string can
/// collide with a record's identity.
const RECORD_OFFSET_LABEL: &[u8] = b"sealtune-date-shift-record-v1";

/// The per-record date offset in days, used when no subject is known:
/// keyed by the record's identity, a canonical encoding of the original
/// record's JSON (object keys sorted, so the order of keys in the file or in memory
/// does not matter). The same record gets the same offset in every run with
/// the same key; two different records get independent offsets, so one known
/// (original, shifted) pair reveals the offset of that record only.
pub fn record_date_offset(key: &MaskKey, record: &serde_json::Value, max_days: u32) -> i64 {
    let mut id = Vec::with_capacity(256);
    canonical(record, &mut id);
    offset_from_mac(&mac(key.date(), &[RECORD_OFFSET_LABEL, &id]), max_days)
}

/// Writes an unambiguous encoding of `v`, object keys in sorted order.
fn canonical(v: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, x)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                encode_str(k, out);
                out.push(b':');
                canonical(x, out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(x, out);
            }
            out.push(b']');
        }
        Value::String(s) => encode_str(s, out),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Null => out.extend_from_slice(b"null"),
    }
}

/// A string, length-prefixed so that no content can shift a boundary.
fn encode_str(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A parsed date and how it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedDate {
    /// Year (2000 when absent).
    pub y: i64,
    /// Month 1-12.
    pub m: u32,
    /// Day 1-31.
    pub d: u32,
    /// Whether the text had a year.
    pub has_year: bool,
    style: Style,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// m/d/y with separator, zero padding, year digits, and whether day comes first.
    Numeric {
        sep: char,
        pad: bool,
        year2: bool,
        day_first: bool,
        iso: bool,
    },
    /// "March 3, 1931" / "Mar 3 1931" / "3 March 1931" / "March 1931".
    Text {
        abbr: bool,
        day_first: bool,
        comma: bool,
        no_day: bool,
        lower: bool,
    },
}

const MONTHS: [&str; 12] = [
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
];

/// The month (1-12) an English month name or its usual abbreviation names, any
/// case, and whether it was abbreviated.
pub(crate) fn month_of(w: &str) -> Option<(u32, bool)> {
    let w = w.trim_end_matches('.').to_lowercase();
    if w.len() < 3 {
        return None;
    }
    for (i, m) in MONTHS.iter().enumerate() {
        if *m == w {
            return Some((i as u32 + 1, false));
        }
        if m.starts_with(&w) && (w.len() == 3 || w == "sept") {
            return Some((i as u32 + 1, true));
        }
    }
    None
}

/// Parses the date forms the detector finds.
pub fn parse_date(s: &str) -> Option<ParsedDate> {
    let s = s.trim();
    if s.bytes().next()?.is_ascii_digit()
        && s.bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'/' | b'-' | b'.'))
    {
        let sep = s.chars().find(|c| !c.is_ascii_digit())?;
        let parts: Vec<&str> = s.split(sep).collect();
        if parts.len() != 3 {
            return None;
        }
        let n: Vec<i64> = parts
            .iter()
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        let pad = parts.iter().any(|p| p.len() == 2 && p.starts_with('0'));
        if parts[0].len() == 4 {
            let (y, m, d) = (n[0], n[1] as u32, n[2] as u32);
            return valid(y, m, d).then_some(ParsedDate {
                y,
                m,
                d,
                has_year: true,
                style: Style::Numeric {
                    sep,
                    pad: true,
                    year2: false,
                    day_first: false,
                    iso: true,
                },
            });
        }
        let year2 = parts[2].len() == 2;
        let y = if year2 {
            if n[2] > 30 { 1900 + n[2] } else { 2000 + n[2] }
        } else {
            n[2]
        };
        let (m, d, day_first) = if n[0] > 12 {
            (n[1] as u32, n[0] as u32, true)
        } else {
            (n[0] as u32, n[1] as u32, false)
        };
        return valid(y, m, d).then_some(ParsedDate {
            y,
            m,
            d,
            has_year: true,
            style: Style::Numeric {
                sep,
                pad,
                year2,
                day_first,
                iso: false,
            },
        });
    }
    let words: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty() && *w != "of")
        .collect();
    let lower = s.chars().next()?.is_lowercase();
    let comma = s.contains(',');
    let num = |w: &str| {
        w.trim_end_matches(|c: char| c.is_alphabetic())
            .parse::<i64>()
            .ok()
    };
    match words.as_slice() {
        [a, b, c] => {
            if let Some((m, abbr)) = month_of(a) {
                let (d, y) = (num(b)? as u32, num(c)?);
                valid(y, m, d).then_some(ParsedDate {
                    y,
                    m,
                    d,
                    has_year: true,
                    style: Style::Text {
                        abbr,
                        day_first: false,
                        comma,
                        no_day: false,
                        lower,
                    },
                })
            } else {
                let (m, abbr) = month_of(b)?;
                let (d, y) = (num(a)? as u32, num(c)?);
                valid(y, m, d).then_some(ParsedDate {
                    y,
                    m,
                    d,
                    has_year: true,
                    style: Style::Text {
                        abbr,
                        day_first: true,
                        comma,
                        no_day: false,
                        lower,
                    },
                })
            }
        }
        [a, b] => {
            let (m, abbr) = month_of(a)?;
            let n = num(b)?;
            if b.len() == 4 && n >= 1000 {
                Some(ParsedDate {
                    y: n,
                    m,
                    d: 15,
                    has_year: true,
                    style: Style::Text {
                        abbr,
                        day_first: false,
                        comma,
                        no_day: true,
                        lower,
                    },
                })
            } else {
                let d = n as u32;
                valid(2000, m, d).then_some(ParsedDate {
                    y: 2000,
                    m,
                    d,
                    has_year: false,
                    style: Style::Text {
                        abbr,
                        day_first: false,
                        comma,
                        no_day: false,
                        lower,
                    },
                })
            }
        }
        _ => None,
    }
}

fn valid(y: i64, m: u32, d: u32) -> bool {
    (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (proleptic Gregorian).
fn to_days(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// Shifts a date by `days`, written the way the original was. `None` when
/// the text is not a date this module parses.
pub fn shift_date(value: &str, days: i64) -> Option<String> {
    let p = parse_date(value)?;
    let (y, m, d) = from_days(to_days(p.y, p.m, p.d) + days);
    Some(match p.style {
        Style::Numeric {
            sep,
            pad,
            year2,
            day_first,
            iso,
        } => {
            if iso {
                format!("{y:04}{sep}{m:02}{sep}{d:02}")
            } else {
                let (a, b) = if day_first { (d, m) } else { (m, d) };
                let yy = if year2 {
                    format!("{:02}", y.rem_euclid(100))
                } else {
                    format!("{y:04}")
                };
                if pad {
                    format!("{a:02}{sep}{b:02}{sep}{yy}")
                } else {
                    format!("{a}{sep}{b}{sep}{yy}")
                }
            }
        }
        Style::Text {
            abbr,
            day_first,
            comma,
            no_day,
            lower,
        } => {
            let full = MONTHS[(m - 1) as usize];
            let name = if abbr {
                title_case(&full[..3])
            } else {
                title_case(full)
            };
            let name = if lower { name.to_lowercase() } else { name };
            let c = if comma { "," } else { "" };
            if no_day {
                format!("{name}{c} {y}")
            } else if !p.has_year {
                format!("{name} {d}")
            } else if day_first {
                format!("{d} {name}{c} {y}")
            } else {
                format!("{name} {d}{c} {y}")
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn key() -> MaskKey {
        MaskKey::new(Zeroizing::new(vec![7u8; 32])).unwrap()
    }

    #[test]
    fn surrogates_keep_validity_and_are_deterministic() {
        let k = key();
        let card = pseudonymize(&k, EntityType::CreditCard, "5555 5555 5555 4444");
        assert!(v::credit_card(&v::digits(&card)), "{card}");
        assert_eq!(card.len(), "5555 5555 5555 4444".len());
        assert_eq!(
            v::digits(&card),
            v::digits(&pseudonymize(
                &k,
                EntityType::CreditCard,
                "5555555555554444"
            ))
        );
        let mc2 = pseudonymize(&k, EntityType::CreditCard, "2221000000000009");
        assert!(v::credit_card(&v::digits(&mc2)));
        let ssn = pseudonymize(&k, EntityType::UsSsn, "123-45-6789");
        let d = v::digits(&ssn);
        assert!(
            !v::ssn(&d) && d[0] == 9 && ssn.as_bytes()[3] == b'-',
            "{ssn}"
        );
        let iban = pseudonymize(&k, EntityType::Iban, "DE89 3704 0044 0532 0130 00");
        assert!(
            v::iban(&iban.bytes().filter(|c| *c != b' ').collect::<Vec<_>>()),
            "{iban}"
        );
        let npi = pseudonymize(&k, EntityType::Npi, "1234567893");
        assert!(v::npi(&v::digits(&npi)));
        let rt = pseudonymize(&k, EntityType::UsBankRouting, "021000021");
        assert!(v::aba_routing(&v::digits(&rt)));
        assert!(v::dea(&pseudonymize(
            &k,
            EntityType::DeaNumber,
            "AB1234563"
        )));
        let ph = pseudonymize(&k, EntityType::Phone, "(617) 555-0123");
        assert!(ph.starts_with('(') && ph.contains("555-01"), "{ph}");
        let p = pseudonymize(&k, EntityType::Person, "Maria Lopez");
        assert_eq!(p.split(' ').count(), 2);
        assert_eq!(
            p,
            pseudonymize(&k, EntityType::Person, "maria  LOPEZ")
                .split(' ')
                .map(title_case)
                .collect::<Vec<_>>()
                .join(" ")
        );
        let other = MaskKey::new(Zeroizing::new(vec![8u8; 32])).unwrap();
        assert_ne!(pseudonymize(&other, EntityType::UsSsn, "123-45-6789"), ssn);
    }

    #[test]
    fn mask_hash_fingerprint() {
        assert_eq!(mask("123-45-6789", 4), "***-**-6789");
        let k = key();
        assert_eq!(
            fingerprint(&k, EntityType::Phone, "(617) 555-0123"),
            fingerprint(&k, EntityType::Phone, "+1 617.555.0123")
        );
        assert!(hash(&k, EntityType::Email, "A@B.com").starts_with("<EMAIL:"));
        assert_eq!(
            hash(&k, EntityType::Email, "A@B.com"),
            hash(&k, EntityType::Email, "a@b.com")
        );
    }

    #[test]
    fn dates_shift_in_their_own_format() {
        assert_eq!(shift_date("03/14/2023", 1).as_deref(), Some("03/15/2023"));
        assert_eq!(shift_date("2020-02-28", 2).as_deref(), Some("2020-03-01"));
        assert_eq!(
            shift_date("March 3, 1931", -3).as_deref(),
            Some("February 28, 1931")
        );
        assert_eq!(shift_date("3 Mar 1931", 365).as_deref(), Some("2 Mar 1932"));
        assert_eq!(shift_date("1/2/1950", 30).as_deref(), Some("2/1/1950"));
        assert_eq!(shift_date("nonsense", 3), None);
        for days in [-100_000i64, -1, 0, 59, 12_345] {
            let (y, m, d) = from_days(days);
            assert_eq!(to_days(y, m, d), days);
        }
        let k = key();
        let o = date_offset(&k, "patient-1", 365);
        assert!(o != 0 && o.abs() <= 365);
        assert_eq!(o, date_offset(&k, "patient-1", 365));
    }
}
