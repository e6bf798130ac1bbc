//! Canonical entity types and detected spans.

use serde::{Deserialize, Serialize};

macro_rules! entity_types {
    ($($(#[$m:meta])* $v:ident => $s:literal),* $(,)?) => {
        /// A canonical PII entity type. The serialised names are the canonical ones
        /// used in configs, reports and `--detect` output.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum EntityType {
            $($(#[$m])* #[serde(rename = $s)] $v,)*
        }

        impl EntityType {
            /// Every type, in canonical order.
            pub const ALL: &'static [EntityType] = &[$(EntityType::$v),*];

            /// The canonical name, e.g. `US_SSN`.
            pub fn as_str(self) -> &'static str {
                match self { $(EntityType::$v => $s,)* }
            }

            /// Parses a canonical name (exact, upper case).
            pub fn from_name(s: &str) -> Option<Self> {
                match s { $($s => Some(EntityType::$v),)* _ => None }
            }
        }
    };
}

entity_types! {
    /// A person's name.
    Person => "PERSON",
    /// An e-mail address.
    Email => "EMAIL",
    /// A telephone or fax number (NANP or E.164).
    Phone => "PHONE",
    /// A US Social Security number.
    UsSsn => "US_SSN",
    /// A payment card number (Luhn-valid, known IIN range).
    CreditCard => "CREDIT_CARD",
    /// An international bank account number (mod-97 valid).
    Iban => "IBAN",
    /// An IPv4 or IPv6 address.
    IpAddress => "IP_ADDRESS",
    /// A MAC (hardware) address.
    MacAddress => "MAC_ADDRESS",
    /// A web address.
    Url => "URL",
    /// A date of birth (a date with birth context).
    DateOfBirth => "DATE_OF_BIRTH",
    /// Any other date tied to a record (admission, visit, ...).
    Date => "DATE",
    /// An age of 90 or more.
    AgeOver89 => "AGE_OVER_89",
    /// A street address (number, street, unit, city, state, ZIP).
    StreetAddress => "STREET_ADDRESS",
    /// A US ZIP code standing alone.
    ZipCode => "ZIP_CODE",
    /// A medical record number.
    MedicalRecordNumber => "MEDICAL_RECORD_NUMBER",
    /// A health-plan / insurance member or policy id.
    InsuranceId => "INSURANCE_ID",
    /// A bank account number.
    UsBankAccount => "US_BANK_ACCOUNT",
    /// An ABA routing transit number.
    UsBankRouting => "US_BANK_ROUTING",
    /// A National Provider Identifier.
    Npi => "NPI",
    /// A DEA registration number.
    DeaNumber => "DEA_NUMBER",
    /// A driver licence number.
    DriverLicense => "DRIVER_LICENSE",
    /// A passport number.
    Passport => "PASSPORT",
    /// An API key, token, password or private key.
    Secret => "SECRET",
}

impl std::fmt::Display for EntityType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
