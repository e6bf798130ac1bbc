//! HL7 version 2 messages pasted into a record (`PID|1||E4410297^^^NWMC^MR||TAUFA^SIOSAIA^K||19720415|...`):
//! the segment and field say what a value is, where the text around it says
//! nothing. Each field that holds an identifier of the patient, a relative, a
//! guarantor, an insured person or a clinician is one span of its type: a
//! name's components (`FAMILY^GIVEN^MIDDLE`), an address's (`street^other^
//! city^state^zip`), a birth date or a timestamp, a phone, an SSN, a medical
//! record number, an insurance id. Field numbers follow the HL7 v2.x segment
//! definitions (PID, NK1, GT1, IN1, PV1, ORC, OBR, MSH, EVN).

use crate::types::EntityType;
use crate::validate as v;

/// How a field is read.
#[derive(Clone, Copy)]
enum Kind {
    /// XPN: family^given^middle^suffix: a person.
    Name,
    /// XCN: id^family^given^middle^suffix: a clinician (the id is checked as an NPI).
    Clinician,
    /// XAD: street^other^city^state^zip: one address.
    Address,
    /// TS/DTM: a date and time, of birth or of an event.
    Time(EntityType),
    /// XTN: a phone number.
    Phone,
    /// The first component, as this type when it has a digit.
    Id(EntityType),
}

use Kind::*;

/// (segment, field number, how it is read).
const FIELDS: &[(&str, usize, Kind)] = &[
    ("MSH", 7, Time(EntityType::Date)),
    ("EVN", 2, Time(EntityType::Date)),
    ("PID", 3, Id(EntityType::MedicalRecordNumber)),
    ("PID", 5, Name),
    ("PID", 6, Name),
    ("PID", 7, Time(EntityType::DateOfBirth)),
    ("PID", 9, Name),
    ("PID", 11, Address),
    ("PID", 13, Phone),
    ("PID", 14, Phone),
    ("PID", 19, Id(EntityType::UsSsn)),
    ("PID", 20, Id(EntityType::DriverLicense)),
    ("PID", 29, Time(EntityType::Date)),
    ("NK1", 2, Name),
    ("NK1", 4, Address),
    ("NK1", 5, Phone),
    ("NK1", 6, Phone),
    ("GT1", 3, Name),
    ("GT1", 5, Address),
    ("GT1", 6, Phone),
    ("GT1", 7, Phone),
    ("GT1", 8, Time(EntityType::DateOfBirth)),
    ("GT1", 12, Id(EntityType::UsSsn)),
    ("IN1", 16, Name),
    ("IN1", 18, Time(EntityType::DateOfBirth)),
    ("IN1", 19, Address),
    ("IN1", 36, Id(EntityType::InsuranceId)),
    ("PV1", 7, Clinician),
    ("PV1", 8, Clinician),
    ("PV1", 9, Clinician),
    ("PV1", 17, Clinician),
    ("PV1", 44, Time(EntityType::Date)),
    ("PV1", 45, Time(EntityType::Date)),
    ("ORC", 12, Clinician),
    ("OBR", 7, Time(EntityType::Date)),
    ("OBR", 16, Clinician),
];

/// Finds the identifying fields of the HL7 segments in `text`; calls
/// `emit(start, end, type, score)` for each. Costs one substring search when
/// the text holds no segment.
pub(crate) fn find(text: &str, mut emit: impl FnMut(usize, usize, EntityType, f32)) {
    if !(text.contains("PID|") || text.contains("MSH|")) {
        return;
    }
    let mut at = 0;
    for line in text.split(['\n', '\r']) {
        let start = at;
        at += line.len() + 1;
        let b = line.as_bytes();
        if b.len() < 5
            || b[3] != b'|'
            || !b[0].is_ascii_uppercase()
            || !b[1..3]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            continue;
        }
        let seg = &line[..3];
        // MSH-1 is the field separator itself, so MSH's fields are one place ahead.
        let shift = usize::from(seg == "MSH");
        let mut off = 0;
        for (n, field) in line.split('|').enumerate() {
            let fstart = start + off;
            off += field.len() + 1;
            let num = n + shift;
            let Some(&(_, _, kind)) = FIELDS.iter().find(|(s, f, _)| *s == seg && *f == num) else {
                continue;
            };
            let mut rep = fstart;
            for r in field.split('~') {
                read(r, rep, kind, &mut emit);
                rep += r.len() + 1;
            }
        }
    }
}

/// The components of a field with their offsets.
fn components(field: &str, start: usize) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut at = start;
    for c in field.split('^') {
        out.push((at, c));
        at += c.len() + 1;
    }
    out
}

/// The span from the first to the last non-empty component of `cs[range]`.
fn over(cs: &[(usize, &str)], range: std::ops::Range<usize>) -> Option<(usize, usize)> {
    let part = cs.get(range.start..range.end.min(cs.len()))?;
    let first = part.iter().find(|(_, c)| !c.trim().is_empty())?;
    let last = part.iter().rev().find(|(_, c)| !c.trim().is_empty())?;
    Some((first.0, last.0 + last.1.len()))
}

fn read(
    field: &str,
    start: usize,
    kind: Kind,
    emit: &mut impl FnMut(usize, usize, EntityType, f32),
) {
    let cs = components(field, start);
    let has_letter = |s: &str| s.chars().any(char::is_alphabetic);
    let digits = |s: &str| s.bytes().filter(u8::is_ascii_digit).count();
    match kind {
        Name => {
            if cs.iter().take(4).any(|(_, c)| has_letter(c))
                && let Some((s, e)) = over(&cs, 0..4)
            {
                emit(s, e, EntityType::Person, 0.96);
            }
        }
        Clinician => {
            let npi = |id: &str| {
                let d: Vec<u8> = id.bytes().map(|c| c.wrapping_sub(b'0')).collect();
                d.len() == 10 && d.iter().all(|&x| x < 10) && v::npi(&d)
            };
            if let Some(&(s, id)) = cs.first()
                && npi(id)
            {
                emit(s, s + id.len(), EntityType::Npi, 0.96);
            }
            if cs.iter().skip(1).take(3).any(|(_, c)| has_letter(c))
                && let Some((s, e)) = over(&cs, 1..5)
            {
                emit(s, e, EntityType::Person, 0.96);
            }
        }
        Address => {
            if cs
                .first()
                .is_some_and(|(_, c)| has_letter(c) || digits(c) > 0)
                && let Some((s, e)) = over(&cs, 0..5)
            {
                emit(s, e, EntityType::StreetAddress, 0.96);
            }
        }
        Time(t) => {
            let (s, c) = cs[0];
            let b = c.as_bytes();
            let ok = b.len() >= 8
                && b.iter().take_while(|c| c.is_ascii_digit()).count() >= 8
                && (1..=12).contains(&((b[4] - b'0') * 10 + (b[5] - b'0')))
                && (1..=31).contains(&((b[6] - b'0') * 10 + (b[7] - b'0')));
            if ok {
                emit(s, s + c.len(), t, 0.96);
            }
        }
        Phone => {
            let (s, c) = cs[0];
            if digits(c) >= 7 {
                emit(s, s + c.trim_end().len(), EntityType::Phone, 0.96);
            } else if let Some((s, e)) = over(&cs, 5..7)
                && digits(&field[s - start..e - start]) >= 7
            {
                emit(s, e, EntityType::Phone, 0.96);
            }
        }
        Id(t) => {
            let (s, c) = cs[0];
            let c = c.trim();
            // Senders miscount fields: a value written like an SSN is one
            // wherever it stands, and an SSN field holds nothing else.
            let b = c.as_bytes();
            let ssn_shape = b.len() == 11 && b[3] == b'-' && b[6] == b'-' && digits(c) == 9;
            let t = if ssn_shape { EntityType::UsSsn } else { t };
            let ok = match t {
                EntityType::UsSsn => digits(c) == 9 && c.len() <= 11,
                _ => digits(c) > 0 && c.len() <= 30,
            };
            if ok {
                emit(s, s + c.len(), t, 0.96);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(t: &str) -> Vec<(&str, EntityType)> {
        let mut out = Vec::new();
        find(t, |s, e, k, _| out.push((&t[s..e], k)));
        out
    }

    #[test]
    fn patient_clinician_and_times() {
        let t = "Order below.\nMSH|^~\\&|EPIC|NWMC|RIS|NWMC|20250214093215||ORM^O01|MSG1|P|2.3\r\
                 PID|1||E4410297^^^NWMC^MR||GUTIÉRREZ DE LA CRUZ^MARÍA^L||19581104|F|||3905 CALLE ORQUIDEA^^SAN DIEGO^CA^92117||(619)555-0124|||||||529-48-1173\n\
                 NK1|1|TAUFA^MELE^^^^|SPO|2931 W 3500 S APT 14^^WEST VALLEY CITY^UT^84119|^PRN^PH^^1^801^5550126\n\
                 PV1|1|O|RAD^^^NWMC||||1982045639^HALVORSEN^INGRID^M^^^^MD\n\
                 OBX|1|NM|2345-7^GLUCOSE^LN||212|mg/dL|70-99|H|||F\n";
        let got = spans(t);
        for want in [
            ("20250214093215", EntityType::Date),
            ("E4410297", EntityType::MedicalRecordNumber),
            ("GUTIÉRREZ DE LA CRUZ^MARÍA^L", EntityType::Person),
            ("19581104", EntityType::DateOfBirth),
            (
                "3905 CALLE ORQUIDEA^^SAN DIEGO^CA^92117",
                EntityType::StreetAddress,
            ),
            ("(619)555-0124", EntityType::Phone),
            ("529-48-1173", EntityType::UsSsn),
            ("TAUFA^MELE", EntityType::Person),
            (
                "2931 W 3500 S APT 14^^WEST VALLEY CITY^UT^84119",
                EntityType::StreetAddress,
            ),
            ("801^5550126", EntityType::Phone),
            ("1982045639", EntityType::Npi),
            ("HALVORSEN^INGRID^M", EntityType::Person),
        ] {
            assert!(got.contains(&want), "{want:?} not in {got:?}");
        }
        // Lab codes, units and results are not identifiers.
        assert!(
            !got.iter()
                .any(|(v, _)| v.contains("GLUCOSE") || *v == "212"),
            "{got:?}"
        );
    }

    #[test]
    fn text_without_segments_costs_nothing_and_finds_nothing() {
        assert!(spans("Patient: Maria Lopez | DOB 19581104 | PIDX|1").is_empty());
        // A line that looks like a segment but is cut short or malformed.
        assert!(spans("PID|\nPID|1||^^^\nPID|1|||||||1958|").is_empty());
    }
}
