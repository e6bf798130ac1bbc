//! A deterministic, labelled synthetic corpus and a scorer, for measuring
//! detection quality and speed.
//!
//! The generator writes clinical notes, discharge summaries, bank and
//! insurance messages, support tickets and chat turns from its own templates,
//! with PII in varied formats (separators, casing, names from many cultures,
//! including invented names that no gazetteer holds) and hard negatives that
//! look like PII but are not: order ids, UUIDs, times of day, version strings,
//! amounts, card-like numbers failing Luhn, ages under 90, vitals, doses.
//! Every PII value is labelled with its byte span and canonical type.

use std::collections::BTreeMap;

use crate::names::Gazetteer;
use crate::types::{EntityType, Span};
use crate::validate as v;

/// A labelled span in a generated document (byte offsets, end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gold {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the end.
    pub end: usize,
    /// The true type.
    pub entity: EntityType,
}

/// A generated document and its labels.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    /// The text.
    pub text: String,
    /// The PII in it.
    pub gold: Vec<Gold>,
}

impl Doc {
    fn s(&mut self, t: &str) -> &mut Self {
        self.text.push_str(t);
        self
    }
    fn p(&mut self, e: EntityType, t: &str) -> &mut Self {
        let start = self.text.len();
        self.text.push_str(t);
        self.gold.push(Gold {
            start,
            end: self.text.len(),
            entity: e,
        });
        self
    }
}

/// SplitMix64: small, fast, deterministic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

fn title(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| {
            f.to_uppercase()
                .chain(c.flat_map(char::to_lowercase))
                .collect()
        })
        .unwrap_or_default()
}

/// Invented names from syllables, with diacritics: not in any gazetteer.
fn invented(r: &mut Rng) -> String {
    const ONSET: &[&str] = &[
        "k", "t", "m", "n", "s", "r", "l", "b", "d", "g", "v", "z", "ch", "sh", "th", "kh", "ny",
        "zh", "h", "j", "p", "f", "w", "ł", "ś", "ž", "ç",
    ];
    const VOWEL: &[&str] = &[
        "a", "e", "i", "o", "u", "ai", "ei", "ou", "é", "á", "ø", "ü", "ö", "ã", "ő", "ă", "ı",
        "ê", "ñe",
    ];
    const CODA: &[&str] = &["", "", "", "n", "r", "s", "k", "m", "l", "t", "sz", "ng"];
    let n = 2 + r.below(2);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(r.pick(ONSET));
        s.push_str(r.pick(VOWEL));
    }
    s.push_str(r.pick(CODA));
    title(&s)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum NameCase {
    Upper,
    Lower,
}

struct Gen<'a> {
    r: Rng,
    firsts: &'a [&'static str],
    lasts: &'a [&'static str],
}

impl Gen<'_> {
    fn first(&mut self) -> String {
        if self.r.chance(0.7) {
            title(self.r.pick(self.firsts))
        } else {
            invented(&mut self.r)
        }
    }
    fn last(&mut self) -> String {
        let base = if self.r.chance(0.7) {
            title(self.r.pick(self.lasts))
        } else {
            invented(&mut self.r)
        };
        if self.r.chance(0.1) {
            format!("{base}-{}", title(self.r.pick(self.lasts)))
        } else {
            base
        }
    }
    /// A full name; gazetteer-only when `known` (for contexts with no cue).
    fn full(&mut self, known: bool) -> String {
        if known {
            format!(
                "{} {}",
                title(self.r.pick(self.firsts)),
                title(self.r.pick(self.lasts))
            )
        } else if self.r.chance(0.15) {
            format!(
                "{} {}. {}",
                self.first(),
                char::from(b'A' + self.r.below(26) as u8),
                self.last()
            )
        } else {
            format!("{} {}", self.first(), self.last())
        }
    }
    fn cased(&mut self, s: &str, c: NameCase) -> String {
        match c {
            NameCase::Upper => s.to_uppercase(),
            NameCase::Lower => s.to_lowercase(),
        }
    }
    fn phone(&mut self) -> String {
        let area =
            geographic(&format!("{}{}", self.r.range(2, 9), self.r.digits(2)).replace("11", "21"));
        let ex = format!("{}{}", self.r.range(2, 9), self.r.digits(2));
        let line = self.r.digits(4);
        match self.r.below(9) {
            0 => format!("({area}) {ex}-{line}"),
            1 => format!("{area}-{ex}-{line}"),
            2 => format!("{area}.{ex}.{line}"),
            3 => format!("+1 {area} {ex} {line}"),
            4 => format!("1-{area}-{ex}-{line}"),
            5 => format!("+44 20 {} {}", self.r.digits(4), self.r.digits(4)),
            6 => format!("+49 30 {}", self.r.digits(7)),
            7 => format!("+91 {} {}", self.r.range(70000, 99999), self.r.digits(5)),
            _ => format!("({area}){ex}-{line}"),
        }
    }
    fn ssn(&mut self) -> String {
        loop {
            let d = format!(
                "{:03}{:02}{:04}",
                self.r.range(1, 899),
                self.r.range(1, 99),
                self.r.range(1, 9999)
            );
            if !v::ssn(&v::digits(&d)) {
                continue;
            }
            return match self.r.below(5) {
                0 => format!("{} {} {}", &d[..3], &d[3..5], &d[5..]),
                _ => format!("{}-{}-{}", &d[..3], &d[3..5], &d[5..]),
            };
        }
    }
    fn card_digits(&mut self, valid: bool) -> Vec<u8> {
        let (prefix, len): (String, usize) = match self.r.below(6) {
            0 => ("4".into(), 16),
            1 => (format!("5{}", self.r.range(1, 5)), 16),
            2 => (self.r.range(2221, 2720).to_string(), 16),
            3 => (if self.r.chance(0.5) { "34" } else { "37" }.into(), 15),
            4 => ("6011".into(), 16),
            _ => (format!("35{}", self.r.range(28, 89)), 16),
        };
        let mut d = v::digits(&prefix);
        while d.len() + 1 < len {
            d.push(self.r.below(10) as u8);
        }
        let c = v::luhn_check_digit(&d);
        d.push(if valid {
            c
        } else {
            (c + 1 + self.r.below(9) as u8) % 10
        });
        d
    }
    fn card(&mut self, valid: bool) -> String {
        let d: String = self
            .card_digits(valid)
            .iter()
            .map(|x| char::from(b'0' + x))
            .collect();
        let sep = self.r.pick(&[" ", "-", "", " "]);
        if d.len() == 15 {
            format!("{}{sep}{}{sep}{}", &d[..4], &d[4..10], &d[10..])
        } else {
            format!(
                "{}{sep}{}{sep}{}{sep}{}",
                &d[..4],
                &d[4..8],
                &d[8..12],
                &d[12..]
            )
        }
    }
    fn iban(&mut self) -> String {
        let (cc, bban): (&str, String) = match self.r.below(6) {
            0 => ("DE", self.r.digits(18)),
            1 => (
                "GB",
                format!(
                    "{}{}",
                    ["NWBK", "BARC", "MIDL", "LOYD"][self.r.below(4)],
                    self.r.digits(14)
                ),
            ),
            2 => ("FR", format!("{}{}", self.r.digits(21), self.r.digits(2))),
            3 => ("ES", self.r.digits(20)),
            4 => (
                "NL",
                format!(
                    "{}{}",
                    ["ABNA", "INGB", "RABO"][self.r.below(3)],
                    self.r.digits(10)
                ),
            ),
            _ => ("CH", self.r.digits(17)),
        };
        let mut compact = format!("{cc}00{bban}").into_bytes();
        let check = 98 - v::iban_mod97(&compact);
        compact[2] = b'0' + (check / 10) as u8;
        compact[3] = b'0' + (check % 10) as u8;
        let s = String::from_utf8(compact).unwrap_or_default();
        if self.r.chance(0.6) {
            s.as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            s
        }
    }
    fn routing(&mut self) -> String {
        loop {
            let mut d: Vec<u8> = vec![0, self.r.range(1, 2) as u8];
            d.extend((0..6).map(|_| self.r.below(10) as u8));
            let w = [3u32, 7, 1];
            let sum: u32 = d
                .iter()
                .enumerate()
                .map(|(i, &x)| w[i % 3] * u32::from(x))
                .sum();
            d.push(((10 - sum % 10) % 10) as u8);
            if v::aba_routing(&d) {
                return d.iter().map(|x| char::from(b'0' + x)).collect();
            }
        }
    }
    fn npi(&mut self) -> String {
        let mut d: Vec<u8> = vec![1];
        d.extend((0..8).map(|_| self.r.below(10) as u8));
        let mut full = vec![8, 0, 8, 4, 0];
        full.extend_from_slice(&d);
        d.push(v::luhn_check_digit(&full));
        d.iter().map(|x| char::from(b'0' + x)).collect()
    }
    fn dea(&mut self) -> String {
        let d: Vec<u32> = (0..6).map(|_| self.r.below(10) as u32).collect();
        let c = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10;
        format!(
            "{}{}{}{c}",
            ["A", "B", "F", "M"][self.r.below(4)],
            char::from(b'A' + self.r.below(26) as u8),
            d.iter().map(|x| x.to_string()).collect::<String>()
        )
    }
    fn ipv4(&mut self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.r.range(11, 223),
            self.r.below(256),
            self.r.below(256),
            self.r.range(1, 254)
        )
    }
    fn ipv6(&mut self) -> String {
        let g: Vec<String> = (0..8)
            .map(|_| format!("{:x}", self.r.below(65536)))
            .collect();
        if self.r.chance(0.5) {
            format!("{}:{}:{}::{}:{}", g[0], g[1], g[2], g[6], g[7])
        } else {
            g.join(":")
        }
    }
    fn mac(&mut self) -> String {
        let sep = if self.r.chance(0.5) { ":" } else { "-" };
        (0..6)
            .map(|_| format!("{:02X}", self.r.below(256)))
            .collect::<Vec<_>>()
            .join(sep)
    }
    fn date(&mut self, lo: u64, hi: u64) -> String {
        const M: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        let y = self.r.range(lo, hi);
        let m = self.r.range(1, 12) as usize;
        let d = self.r.range(1, 28);
        match self.r.below(7) {
            0 => format!("{m:02}/{d:02}/{y}"),
            1 => format!("{m}/{d}/{y}"),
            2 => format!("{y}-{m:02}-{d:02}"),
            3 => format!("{} {d}, {y}", M[m - 1]),
            4 => format!("{d} {} {y}", M[m - 1]),
            5 => format!("{}. {d}, {y}", &M[m - 1][..3]),
            _ => format!("{m:02}-{d:02}-{y}"),
        }
    }
    fn address(&mut self) -> String {
        const SUF: &[&str] = &[
            "Street",
            "St",
            "St.",
            "Avenue",
            "Ave",
            "Ave.",
            "Road",
            "Rd",
            "Boulevard",
            "Blvd",
            "Lane",
            "Drive",
            "Dr",
            "Court",
            "Way",
            "Place",
            "Terrace",
            "Parkway",
            "street",
            "ave",
        ];
        const ST: &[&str] = &["MA", "NY", "CA", "TX", "IL", "WA", "FL", "OH", "GA", "PA"];
        let num = self.r.range(1, 19999);
        let dir = if self.r.chance(0.2) {
            self.r.pick(&["N ", "S ", "E ", "W ", "North "])
        } else {
            ""
        };
        let street = if self.r.chance(0.5) {
            title(self.r.pick(self.lasts))
        } else {
            invented(&mut self.r)
        };
        let ord = if self.r.chance(0.1) {
            format!("{}th", self.r.range(4, 99))
        } else {
            street
        };
        let mut s = format!("{num} {dir}{ord} {}", self.r.pick(SUF));
        if self.r.chance(0.3) {
            s.push_str(&format!(
                ", {} {}",
                self.r.pick(&["Apt", "Suite", "Unit", "Apt."]),
                self.r.range(1, 999)
            ));
        }
        if self.r.chance(0.6) {
            let city = if self.r.chance(0.5) {
                title(self.r.pick(self.lasts))
            } else {
                invented(&mut self.r)
            };
            s.push_str(&format!(
                ", {city}, {} {:05}",
                self.r.pick(ST),
                self.r.range(1001, 99950)
            ));
        }
        s
    }
    fn email(&mut self, first: &str, last: &str) -> String {
        let f: String = first
            .to_lowercase()
            .chars()
            .filter(char::is_ascii_alphabetic)
            .collect();
        let l: String = last
            .to_lowercase()
            .chars()
            .filter(char::is_ascii_alphabetic)
            .collect();
        let f = if f.is_empty() { "pat".to_string() } else { f };
        let dom = self.r.pick(&[
            "gmail.com",
            "outlook.com",
            "yahoo.co.uk",
            "mail.example.org",
            "hospital-group.net",
            "proton.me",
        ]);
        match self.r.below(4) {
            0 => format!("{f}.{l}@{dom}"),
            1 => format!("{}{l}{}@{dom}", &f[..1], self.r.below(100)),
            2 => format!("{f}_{l}@{dom}"),
            _ => format!("{f}{}@{dom}", self.r.range(1950, 2005)),
        }
    }
    fn secret(&mut self) -> String {
        let alnum = |r: &mut Rng, n: usize| -> String {
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            (0..n).map(|_| char::from(A[r.below(A.len())])).collect()
        };
        match self.r.below(4) {
            0 => format!("sk_live_{}", alnum(&mut self.r, 24)),
            1 => format!("ghp_{}", alnum(&mut self.r, 36)),
            2 => format!("AKIA{}", alnum(&mut self.r, 16).to_uppercase()),
            _ => alnum(&mut self.r, 20),
        }
    }

    /// Narrative sentences with no PII: most of a real note or message is prose.
    fn narrative(&mut self, d: &mut Doc, max: usize) {
        const SYMPTOM: &[&str] = &[
            "shortness of breath",
            "intermittent chest pain",
            "a productive cough",
            "low back pain",
            "dizziness on standing",
            "fatigue",
            "nausea after meals",
            "swelling of both ankles",
            "headaches",
            "poor sleep",
        ];
        const DRUG: &[&str] = &[
            "Lisinopril",
            "Metformin",
            "Atorvastatin",
            "Amoxicillin",
            "Furosemide",
            "Apixaban",
            "Levothyroxine",
            "Omeprazole",
            "Albuterol",
            "Sertraline",
        ];
        const UNIT: &[&str] = &[
            "Cardiology",
            "the Emergency Department",
            "Physical Therapy",
            "Internal Medicine",
            "the ICU",
            "Radiology",
            "Orthopedics",
            "the Wound Care Clinic",
        ];
        const TEST: &[&str] = &[
            "CBC",
            "BMP",
            "chest X-ray",
            "ECG",
            "HbA1c",
            "lipid panel",
            "CT of the abdomen",
            "urinalysis",
            "echocardiogram",
            "TSH",
        ];
        const BANK: &[&str] = &[
            "checking account",
            "savings account",
            "credit line",
            "mortgage escrow",
            "debit card",
            "online banking profile",
            "wire transfer",
            "overdraft protection",
            "mobile app",
            "statement",
        ];
        let n = 1 + self.r.below(max);
        for _ in 0..n {
            let sym = self.r.pick(SYMPTOM);
            let drug = self.r.pick(DRUG);
            let unit = self.r.pick(UNIT);
            let test = self.r.pick(TEST);
            let bank = self.r.pick(BANK);
            let s = match self.r.below(16) {
                0 => format!(
                    "Reports {sym} for the past {} weeks, worse with exertion. ",
                    self.r.range(1, 8)
                ),
                1 => {
                    format!("{drug} was started at a low dose and will be titrated as tolerated. ")
                }
                2 => format!("Referred to {unit} for further evaluation of {sym}. "),
                3 => format!(
                    "The {test} was unremarkable apart from a mild elevation noted last visit. "
                ),
                4 => "Denies fever, chills, or recent travel. Appetite is stable. ".to_string(),
                5 => format!(
                    "Plan: continue {drug}, repeat {test} in {} months, return sooner if {sym} worsens. ",
                    self.r.range(1, 6)
                ),
                6 => "Assessment: symptoms consistent with a viral illness; supportive care advised. ".to_string(),
                7 => {
                    "Vitals were within normal limits and the exam was otherwise benign. ".to_string()
                }
                8 => format!(
                    "The customer asked why the {bank} showed a pending hold after the deposit. "
                ),
                9 => format!(
                    "We reviewed the fee schedule for the {bank} and waived the most recent charge. "
                ),
                10 => format!(
                    "Please allow {} to {} business days for the change to take effect. ",
                    self.r.range(1, 3),
                    self.r.range(4, 10)
                ),
                11 => format!("Our records show the {bank} was updated online last week. "),
                12 => format!(
                    "Member Services can explain coverage for {test} and other outpatient tests. "
                ),
                13 => format!(
                    "Prior authorization is required before {unit} can schedule the procedure. "
                ),
                14 => format!("Discussed risks and benefits of {drug}; questions were answered. "),
                _ => "No acute distress. Lungs clear to auscultation, heart regular. ".to_string(),
            };
            d.s(&s);
        }
    }

    // Hard negatives.
    fn negative(&mut self, d: &mut Doc) {
        match self.r.below(14) {
            0 => d.s(&format!(
                "Order #{}-{} shipped. ",
                ["ORD", "A", "SO"][self.r.below(3)],
                self.r.digits(6)
            )),
            1 => d.s(&format!(
                "Request id {:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}. ",
                self.r.next() as u32,
                self.r.below(65536),
                self.r.below(4096),
                self.r.below(4096),
                self.r.next() >> 16
            )),
            2 => {
                // A log time stamp of the person's activity is a date, its time of day
                // included, as the independent sets label it.
                let (m, day) = (self.r.range(1, 12), self.r.range(1, 28));
                let (h, mi, sec) = (self.r.below(24), self.r.below(60), self.r.below(60));
                d.s("Logged at ")
                    .p(
                        EntityType::Date,
                        &format!("2024-{m:02}-{day:02}T{h:02}:{mi:02}:{sec:02}Z"),
                    )
                    .s(". ")
            }
            3 => d.s(&format!(
                "App version {}.{}.{} (build {}). ",
                self.r.below(20),
                self.r.below(30),
                self.r.below(100),
                self.r.digits(5)
            )),
            4 => d.s(&format!(
                "Amount due: ${},{}.{:02}. ",
                self.r.range(1, 99),
                self.r.digits(3),
                self.r.below(100)
            )),
            5 => {
                let c = self.card(false);
                d.s(&format!("Tracking number {c}. "))
            }
            6 => d.s(&format!(
                "A {}-year-old with a history of asthma. ",
                self.r.range(18, 89)
            )),
            7 => d.s(&format!(
                "BP {}/{}, HR {}, temp 98.{} F, weight {} kg. ",
                self.r.range(100, 160),
                self.r.range(60, 95),
                self.r.range(55, 110),
                self.r.below(10),
                self.r.range(45, 120)
            )),
            8 => d.s(&format!(
                "Take {} mg twice daily for {} days. ",
                [5, 10, 20, 250, 500][self.r.below(5)],
                self.r.range(3, 14)
            )),
            9 => d.s(&format!(
                "Ticket INC{} was escalated to tier {}. ",
                self.r.digits(7),
                self.r.range(1, 3)
            )),
            10 => d.s(&format!(
                "Transaction {} for USD {}.{:02} posted. ",
                self.r.digits(12),
                self.r.range(5, 9000),
                self.r.below(100)
            )),
            11 => d.s(&format!(
                "Updated firmware to {}.{}.{}.{}. ",
                self.r.below(9),
                self.r.below(20),
                self.r.range(1000, 30000),
                self.r.below(999)
            )),
            12 => d.s(&format!(
                "Room {} on floor {}, bed {}. ",
                self.r.range(100, 999),
                self.r.range(1, 12),
                self.r.range(1, 4)
            )),
            _ => d.s(&format!(
                "Invoice {} total {} items, ref {}. ",
                self.r.digits(9),
                self.r.range(1, 40),
                self.r.digits(10)
            )),
        };
    }
}

/// Generates `n` labelled documents from `seed`.
pub fn generate(seed: u64, n: usize) -> Vec<Doc> {
    let g = Gazetteer::get();
    let mut g2 = Gen {
        r: Rng::new(seed),
        firsts: g.first_names(),
        lasts: g.last_names(),
    };
    (0..n).map(|_| one(&mut g2)).collect()
}

/// Generates documents until their text totals at least `bytes`, for benchmarks.
pub fn generate_bytes(seed: u64, bytes: usize) -> Vec<Doc> {
    let g = Gazetteer::get();
    let mut g2 = Gen {
        r: Rng::new(seed),
        firsts: g.first_names(),
        lasts: g.last_names(),
    };
    let mut out = Vec::new();
    let mut total = 0;
    while total < bytes {
        let d = one(&mut g2);
        total += d.text.len();
        out.push(d);
    }
    out
}

/// Generates `n` documents from a second set of templates ("hold-out") that
/// were written after the detector and never used to adjust it: other
/// phrasings, terse forms, names mid-sentence, no-separator numbers.
pub fn generate_holdout(seed: u64, n: usize) -> Vec<Doc> {
    let g = Gazetteer::get();
    let mut g2 = Gen {
        r: Rng::new(seed ^ 0x5EA1_7000),
        firsts: g.first_names(),
        lasts: g.last_names(),
    };
    (0..n).map(|_| holdout_one(&mut g2)).collect()
}

fn holdout_one(g: &mut Gen<'_>) -> Doc {
    use EntityType as E;
    let mut d = Doc::default();
    let first = g.first();
    let last = g.last();
    match g.r.below(6) {
        0 => {
            // Terse triage line.
            d.s("pt name - ")
                .p(E::Person, &format!("{first} {last}"))
                .s(" / dob ");
            let dob = g.date(1935, 2010);
            d.p(E::DateOfBirth, &dob).s(" / ph: ");
            // A valid NANP number written without separators (area code not N11).
            let area =
                geographic(&format!("{}{}", g.r.range(2, 9), g.r.digits(2)).replace("11", "21"));
            let ph = format!("{area}{}{}", g.r.range(2, 9), g.r.digits(6));
            d.p(E::Phone, &ph).s(" / SSN#");
            let ssn = g.ssn().replace(['-', ' '], "");
            d.p(E::UsSsn, &ssn)
                .s("\nc/o abdominal pain x2 days, afebrile. ");
            g.narrative(&mut d, 3);
        }
        1 => {
            // Running prose with a name after a verb.
            d.s("I spoke with ")
                .p(E::Person, &format!("{first} {last}"))
                .s(" yesterday about the refill. ");
            g.narrative(&mut d, 3);
            d.s("She asked us to send the letter to ");
            let addr = g.address();
            d.p(E::StreetAddress, &addr).s(" and to copy ");
            let em = g.email(&first, &last);
            d.p(E::Email, &em).s(". ");
            g.negative(&mut d);
        }
        2 => {
            // Payment dispute, other phrasing.
            d.s("Cardholder ")
                .p(E::Person, &g.full(true))
                .s(" disputes a charge on card no. ");
            let c = g.card(true).replace(' ', "-");
            d.p(E::CreditCard, &c).s(" dated ");
            let dt = g.date(2021, 2025);
            d.p(E::Date, &dt).s(". Refund to IBAN: ");
            let ib = g.iban();
            d.p(E::Iban, &ib).s(" (ABA ");
            let rt = g.routing();
            d.p(E::UsBankRouting, &rt).s("). ");
            g.negative(&mut d);
            g.narrative(&mut d, 2);
        }
        3 => {
            // Chat, self-introduction, lower case, no punctuation.
            let who = g.full(true).to_lowercase();
            d.s("hey its ").p(E::Person, &who).s(" again my phone is ");
            let ph = g.phone();
            d.p(E::Phone, &ph).s(" and email ");
            let em = g.email(&first, &last);
            d.p(E::Email, &em).s(" pls call back\n");
            g.negative(&mut d);
        }
        4 => {
            // Server log line.
            d.s("WARN login failure user=");
            let em = g.email(&first, &last);
            d.p(E::Email, &em).s(" src=");
            let ip = g.ipv4();
            d.p(E::IpAddress, &ip).s(" dst=");
            let ip2 = g.ipv6();
            d.p(E::IpAddress, &ip2).s(" build 4.2.1 pid 31337\n");
            g.negative(&mut d);
        }
        _ => {
            // Insurance card read-back.
            d.s("Subscriber: ")
                .p(
                    E::Person,
                    &format!("{}, {}", last.to_uppercase(), first.to_uppercase()),
                )
                .s("\nGroup #: ");
            let grp = g.r.digits(6);
            d.p(E::InsuranceId, &grp).s("\nMember #: ");
            let mid = format!(
                "{}{}",
                char::from(b'A' + g.r.below(26) as u8),
                g.r.digits(10)
            );
            d.p(E::InsuranceId, &mid).s("\nEffective ");
            let eff = g.date(2020, 2025);
            d.p(E::Date, &eff).s(". Copay $25.\n");
            g.negative(&mut d);
        }
    }
    d
}

fn one(g: &mut Gen<'_>) -> Doc {
    use EntityType as E;
    let mut d = Doc::default();
    let first = g.first();
    let last = g.last();
    let name = format!("{first} {last}");
    let doctor = g.last();
    match g.r.below(8) {
        0 => {
            // Clinical note.
            let hdr = if g.r.chance(0.5) {
                format!(
                    "{}, {}",
                    g.cased(&last, NameCase::Upper),
                    g.cased(&first, NameCase::Upper)
                )
            } else {
                name.clone()
            };
            d.s("Patient: ").p(E::Person, &hdr).s("\nDOB: ");
            let dob = g.date(1930, 2005);
            d.p(E::DateOfBirth, &dob).s("   MRN: ");
            let mrn = if g.r.chance(0.7) {
                g.r.digits(8)
            } else {
                format!(
                    "{}{}",
                    char::from(b'A' + g.r.below(26) as u8),
                    g.r.digits(7)
                )
            };
            d.p(E::MedicalRecordNumber, &mrn).s("\nDate of service: ");
            let ds = g.date(2019, 2025);
            d.p(E::Date, &ds).s("\n\nHPI: ");
            if g.r.chance(0.3) {
                let age = g.r.range(90, 104).to_string();
                d.s("Pt is a ").p(E::AgeOver89, &age).s("-year-old ");
            } else {
                d.s("Pt is a ")
                    .s(&g.r.range(20, 89).to_string())
                    .s("-year-old ");
            }
            d.s("presenting with chest pain since yesterday. ");
            g.negative(&mut d);
            g.narrative(&mut d, 4);
            d.s("Seen by Dr. ").p(E::Person, &doctor).s(" (NPI ");
            let npi = g.npi();
            d.p(E::Npi, &npi).s("). ");
            g.negative(&mut d);
            g.narrative(&mut d, 4);
            d.s("Contact: ");
            let ph = g.phone();
            d.p(E::Phone, &ph).s(". Lives at ");
            let addr = g.address();
            d.p(E::StreetAddress, &addr).s(".\n");
        }
        1 => {
            // Discharge summary.
            d.s("DISCHARGE SUMMARY\nName: ")
                .p(E::Person, &name)
                .s("\nAdmitted: ");
            let a = g.date(2018, 2025);
            d.p(E::Date, &a).s("  Discharged: ");
            let b = g.date(2018, 2025);
            d.p(E::Date, &b).s("\nAttending: Dr. ");
            let att = g.full(false);
            d.p(E::Person, &att).s(", DEA ");
            let dea = g.dea();
            d.p(E::DeaNumber, &dea).s("\nInsurance member ID: ");
            let mid = format!(
                "{}{}",
                ["XJH", "W", "MBR", "ZQ"][g.r.below(4)],
                g.r.digits(9)
            );
            d.p(E::InsuranceId, &mid).s("\nCourse: uneventful. ");
            g.negative(&mut d);
            g.narrative(&mut d, 4);
            g.negative(&mut d);
            g.narrative(&mut d, 4);
            d.s("Follow up with ")
                .p(E::Person, &g.full(true))
                .s(" in two weeks. Email results to ");
            let em = g.email(&first, &last);
            d.p(E::Email, &em).s(".\n");
        }
        2 => {
            // Bank message.
            d.s("Dear ")
                .p(E::Person, &name)
                .s(",\n\nWe received your request to update direct deposit to account number ");
            let alen = g.r.range(8, 14) as usize;
            let acct = g.r.digits(alen);
            d.p(E::UsBankAccount, &acct).s(", routing number ");
            let rt = g.routing();
            d.p(E::UsBankRouting, &rt).s(". ");
            g.negative(&mut d);
            g.narrative(&mut d, 4);
            d.s("The card ending in your profile, ");
            let c = g.card(true);
            d.p(E::CreditCard, &c)
                .s(", was also verified. For wires use IBAN ");
            let ib = g.iban();
            d.p(E::Iban, &ib).s(".\n");
            g.negative(&mut d);
            g.narrative(&mut d, 4);
            d.s("Questions? Call us at ");
            let ph = g.phone();
            d.p(E::Phone, &ph)
                .s(".\n\nRegards,\n")
                .p(E::Person, &g.full(false))
                .s("\nCustomer Care\n");
        }
        3 => {
            // Insurance claim.
            d.s("Claim review for ").p(E::Person, &name).s(" (SSN ");
            let ssn = g.ssn();
            d.p(E::UsSsn, &ssn).s(", date of birth ");
            let dob = g.date(1930, 2000);
            d.p(E::DateOfBirth, &dob).s(").\nPolicy number: ");
            let pol = g.r.digits(10);
            d.p(E::InsuranceId, &pol).s(". Mailing address: ");
            let addr = g.address();
            d.p(E::StreetAddress, &addr).s(". ");
            g.negative(&mut d);
            g.narrative(&mut d, 4);
            d.s("Driver's license ");
            let dl = format!(
                "{}{}",
                char::from(b'A' + g.r.below(26) as u8),
                g.r.digits(7)
            );
            d.p(E::DriverLicense, &dl).s(" on file; passport number ");
            let pp = g.r.digits(9);
            d.p(E::Passport, &pp).s(". ");
            g.negative(&mut d);
            g.narrative(&mut d, 4);
            d.s("\n");
        }
        4 => {
            // Support ticket.
            d.s("Ticket from ").p(E::Person, &g.full(true)).s(" <");
            let em = g.email(&first, &last);
            d.p(E::Email, &em).s(">\nUser cannot log in from ");
            let ip = if g.r.chance(0.7) { g.ipv4() } else { g.ipv6() };
            d.p(E::IpAddress, &ip).s(" (device MAC ");
            let mac = g.mac();
            d.p(E::MacAddress, &mac).s("). ");
            g.negative(&mut d);
            g.narrative(&mut d, 4);
            g.negative(&mut d);
            g.narrative(&mut d, 4);
            d.s("They pasted their key by mistake: api_key=");
            let sec = g.secret();
            d.p(E::Secret, &sec).s(" - rotate it. Profile: ");
            let url = format!("https://portal.example-health.com/users/{}", g.r.digits(6));
            d.p(E::Url, &url).s("\n");
        }
        5 => {
            // Chat, lower case.
            let full = g.full(true);
            let lower_name = g.cased(&full, NameCase::Lower);
            d.s("user: hi this is ")
                .p(E::Person, &lower_name)
                .s(", my card ");
            let c = g.card(true);
            d.p(E::CreditCard, &c).s(" got declined again?? ");
            g.negative(&mut d);
            g.narrative(&mut d, 4);
            d.s("you can text me at ");
            let ph = g.phone();
            d.p(E::Phone, &ph).s("\nassistant: Sorry about that! ");
            g.negative(&mut d);
            g.narrative(&mut d, 4);
            d.s("I have sent a reset link to ");
            let em = g.email(&first, &last);
            d.p(E::Email, &em).s(".\n");
        }
        6 => {
            // Referral letter.
            d.s("Dear Dr. ")
                .p(E::Person, &doctor)
                .s(",\nI am referring ")
                .p(E::Person, &g.full(true))
                .s(", born ");
            let dob = g.date(1925, 1995);
            d.p(E::DateOfBirth, &dob).s(", to your clinic. ");
            if g.r.chance(0.5) {
                let age = g.r.range(90, 101).to_string();
                d.s("At age ")
                    .p(E::AgeOver89, &age)
                    .s(" she remains independent. ");
            }
            g.negative(&mut d);
            g.narrative(&mut d, 4);
            d.s("Her social security number is ");
            let ssn = g.ssn();
            d.p(E::UsSsn, &ssn).s(" and her ZIP code is ");
            let zip = format!("{:05}", g.r.range(1001, 99950));
            d.p(E::ZipCode, &zip)
                .s(".\nSincerely,\n")
                .p(E::Person, &g.full(false))
                .s(", MD\n");
        }
        _ => {
            // Short clinical chat with mixed content.
            d.s("Nurse note ");
            let dt = g.date(2020, 2025);
            d.p(E::Date, &dt)
                .s(": Mr. ")
                .p(E::Person, &last)
                .s(" called from ");
            let ph = g.phone();
            d.p(E::Phone, &ph).s(" asking about refills. ");
            g.negative(&mut d);
            g.narrative(&mut d, 4);
            g.negative(&mut d);
            g.narrative(&mut d, 4);
            d.s("Medical record number ");
            let mrn = g.r.digits(7);
            d.p(E::MedicalRecordNumber, &mrn).s(". ");
            g.negative(&mut d);
            g.narrative(&mut d, 4);
            d.s("\n");
        }
    }
    d
}

/// Precision/recall counts for one type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Gold spans found (recall numerator) and predictions that match a gold span.
    pub tp: u64,
    /// Predictions that match no gold span.
    pub fp: u64,
    /// Gold spans not found.
    pub fn_: u64,
}

impl Counts {
    /// tp / (tp + fp), 1.0 when nothing was predicted.
    pub fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
    /// tp / (tp + fn), 1.0 when nothing was to be found.
    pub fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

/// Span- and character-level quality figures.
#[derive(Debug, Clone, Default)]
pub struct Scores {
    /// Per-type span counts. A prediction matches a gold span of the same
    /// type when they overlap by at least half of each one's length.
    pub per_type: BTreeMap<EntityType, Counts>,
    /// Characters inside gold spans.
    pub pii_chars: u64,
    /// Gold characters covered by no prediction (of any type).
    pub pii_chars_unmasked: u64,
    /// Characters outside gold spans.
    pub non_pii_chars: u64,
    /// Non-gold characters covered by a prediction.
    pub non_pii_chars_masked: u64,
}

impl Scores {
    /// Adds one document's predictions.
    pub fn add(&mut self, text: &str, gold: &[Gold], pred: &[Span]) {
        let ov = |a: (usize, usize), b: (usize, usize)| a.1.min(b.1).saturating_sub(a.0.max(b.0));
        let matches = |g: &Gold, p: &Span| {
            let o = ov((g.start, g.end), (p.start, p.end));
            g.entity == p.entity && 2 * o >= g.end - g.start && 2 * o >= p.end - p.start
        };
        for g in gold {
            let c = self.per_type.entry(g.entity).or_default();
            if pred.iter().any(|p| matches(g, p)) {
                c.tp += 1;
            } else {
                c.fn_ += 1;
            }
        }
        for p in pred {
            if !gold.iter().any(|g| matches(g, p)) {
                self.per_type.entry(p.entity).or_default().fp += 1;
            }
        }
        let mut in_gold = vec![false; text.len()];
        let mut in_pred = vec![false; text.len()];
        for g in gold {
            in_gold[g.start..g.end].iter_mut().for_each(|x| *x = true);
        }
        for p in pred {
            in_pred[p.start..p.end].iter_mut().for_each(|x| *x = true);
        }
        for (i, &b) in text.as_bytes().iter().enumerate() {
            if b & 0xC0 == 0x80 {
                continue;
            }
            match (in_gold[i], in_pred[i]) {
                (true, false) => {
                    self.pii_chars += 1;
                    self.pii_chars_unmasked += 1;
                }
                (true, true) => self.pii_chars += 1,
                (false, true) => {
                    self.non_pii_chars += 1;
                    self.non_pii_chars_masked += 1;
                }
                (false, false) => self.non_pii_chars += 1,
            }
        }
    }

    /// Share of PII characters left unmasked.
    pub fn pii_unmasked_rate(&self) -> f64 {
        self.pii_chars_unmasked as f64 / self.pii_chars.max(1) as f64
    }

    /// Share of non-PII characters masked.
    pub fn non_pii_masked_rate(&self) -> f64 {
        self.non_pii_chars_masked as f64 / self.non_pii_chars.max(1) as f64
    }

    /// All types together.
    pub fn micro(&self) -> Counts {
        self.per_type
            .values()
            .fold(Counts::default(), |a, c| Counts {
                tp: a.tp + c.tp,
                fp: a.fp + c.fp,
                fn_: a.fn_ + c.fn_,
            })
    }

    /// A Markdown table of the figures.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from(
            "| type | precision | recall | F1 | tp | fp | fn |\n|---|---|---|---|---|---|---|\n",
        );
        for (t, c) in &self.per_type {
            s.push_str(&format!(
                "| {t} | {:.4} | {:.4} | {:.4} | {} | {} | {} |\n",
                c.precision(),
                c.recall(),
                c.f1(),
                c.tp,
                c.fp,
                c.fn_
            ));
        }
        let m = self.micro();
        s.push_str(&format!(
            "| all (micro) | {:.4} | {:.4} | {:.4} | {} | {} | {} |\n",
            m.precision(),
            m.recall(),
            m.f1(),
            m.tp,
            m.fp,
            m.fn_
        ));
        s.push_str(&format!(
            "\nPII characters left unmasked: {:.3}% of {}\nNon-PII characters masked: {:.3}% of {}\n",
            100.0 * self.pii_unmasked_rate(),
            self.pii_chars,
            100.0 * self.non_pii_masked_rate(),
            self.non_pii_chars
        ));
        s
    }
}

/// A hand-labelled document of an evaluation set (`tests/independent*/`).
#[derive(Debug, Clone)]
pub struct Labelled {
    /// The document's id.
    pub id: String,
    /// The text.
    pub text: String,
    /// Its spans, in byte offsets.
    pub gold: Vec<Gold>,
}

/// Reads an evaluation set's JSON lines (`{"id", "text", "spans": [{"start",
/// "end", "type"}]}`, offsets in code points, end exclusive) into byte offsets.
/// An error names the line.
pub fn read_labelled(jsonl: &str) -> Result<Vec<Labelled>, String> {
    #[derive(serde::Deserialize)]
    struct Line {
        id: String,
        text: String,
        spans: Vec<LineSpan>,
    }
    #[derive(serde::Deserialize)]
    struct LineSpan {
        start: usize,
        end: usize,
        #[serde(rename = "type")]
        kind: String,
    }
    let mut out = Vec::new();
    for (n, line) in jsonl.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let doc: Line = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        let mut byte_at: Vec<usize> = doc.text.char_indices().map(|(b, _)| b).collect();
        byte_at.push(doc.text.len());
        let mut gold = Vec::with_capacity(doc.spans.len());
        for s in &doc.spans {
            let entity = EntityType::from_name(&s.kind)
                .ok_or_else(|| format!("line {}: unknown type {}", n + 1, s.kind))?;
            let (Some(&start), Some(&end)) = (byte_at.get(s.start), byte_at.get(s.end)) else {
                return Err(format!(
                    "line {}: a span is past the end of the text",
                    n + 1
                ));
            };
            gold.push(Gold { start, end, entity });
        }
        out.push(Labelled {
            id: doc.id,
            text: doc.text,
            gold,
        });
    }
    Ok(out)
}
/// A person's line has a geographic area code: a toll-free one (800, 833, ... 888) is a
/// business's, so one drawn at random becomes the 7xx code with the same last digits (the
/// draws, and so the rest of the corpus, stay the same).
fn geographic(area: &str) -> String {
    let toll_free = area == "800" || matches!(area, "833" | "844" | "855" | "866" | "877" | "888");
    if toll_free {
        format!("7{}", &area[1..])
    } else {
        area.to_string()
    }
}
