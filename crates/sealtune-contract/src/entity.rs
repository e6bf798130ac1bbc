//! The canonical PII entity types: the names used in `[mask] entities`, in
//! `mask/report.json`, in `--detect` output and on the model card.

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
