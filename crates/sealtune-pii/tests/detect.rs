//! Detector behaviour: validators, context, hard negatives, config knobs.

use sealtune_contract::ExitStatus as _;
use sealtune_pii::{
    Detector, EntityType as E, MaskConfig, RecognizerConfig, Validator, to_code_points,
};

/// The texts of the spans of one type, in order.
fn of_type(got: &[(E, String)], t: E) -> Vec<&str> {
    got.iter()
        .filter(|(x, _)| *x == t)
        .map(|(_, s)| s.as_str())
        .collect()
}

fn found(det: &Detector, text: &str) -> Vec<(E, String)> {
    det.detect(text)
        .into_iter()
        .map(|s| (s.entity, text[s.start..s.end].to_string()))
        .collect()
}

fn default() -> Detector {
    Detector::new(&MaskConfig::default()).unwrap()
}

#[test]
fn structured_identifiers() {
    let d = default();
    let cases: &[(&str, E, &str)] = &[
        ("ssn 123-45-6789", E::UsSsn, "123-45-6789"),
        (
            "Card: 5555 5555 5555 4444.",
            E::CreditCard,
            "5555 5555 5555 4444",
        ),
        (
            "card 2223-0000-4841-0010",
            E::CreditCard,
            "2223-0000-4841-0010",
        ),
        ("amex 3782 822463 10005", E::CreditCard, "3782 822463 10005"),
        (
            "IBAN GB82 WEST 1234 5698 7654 32 thanks",
            E::Iban,
            "GB82 WEST 1234 5698 7654 32",
        ),
        (
            "iban DE89370400440532013000",
            E::Iban,
            "DE89370400440532013000",
        ),
        ("from 203.0.113.7 at", E::IpAddress, "203.0.113.7"),
        (
            "src 2001:db8::ff00:42:8329 ok",
            E::IpAddress,
            "2001:db8::ff00:42:8329",
        ),
        ("mac 3C-22-FB-0A-11-9E", E::MacAddress, "3C-22-FB-0A-11-9E"),
        ("call +44 20 7946 0958 now", E::Phone, "+44 20 7946 0958"),
        ("call 617.555.0123", E::Phone, "617.555.0123"),
        (
            "Contact Dr. Patel at 555-123-4567 ext 12",
            E::Phone,
            "555-123-4567 ext 12",
        ),
        ("routing number 021000021", E::UsBankRouting, "021000021"),
        ("NPI: 1234567893", E::Npi, "1234567893"),
        ("DEA AB1234563", E::DeaNumber, "AB1234563"),
        ("MRN: 00482913", E::MedicalRecordNumber, "00482913"),
        ("member ID XJH123456789", E::InsuranceId, "XJH123456789"),
        ("DOB 04/12/1948", E::DateOfBirth, "04/12/1948"),
        ("admitted on March 3, 2021", E::Date, "March 3, 2021"),
        ("a 94-year-old woman", E::AgeOver89, "94"),
        (
            "write to jane.doe+x@mail.example.org",
            E::Email,
            "jane.doe+x@mail.example.org",
        ),
        (
            "see https://example.com/a?b=1.",
            E::Url,
            "https://example.com/a?b=1",
        ),
        (
            "key AKIAIOSFODNN7EXAMPLE",
            E::Secret,
            "AKIAIOSFODNN7EXAMPLE",
        ),
        (
            "Lives at 12 Rue Street, Apt 4, Boston, MA 02110.",
            E::StreetAddress,
            "12 Rue Street, Apt 4, Boston, MA 02110",
        ),
        ("zip code 02139", E::ZipCode, "02139"),
        ("driver's license D1234567", E::DriverLicense, "D1234567"),
        ("passport number 123456789", E::Passport, "123456789"),
    ];
    for (text, t, want) in cases {
        let f = found(&d, text);
        assert!(f.contains(&(*t, want.to_string())), "{text}: {f:?}");
    }
}

#[test]
fn hard_negatives_are_left_alone() {
    let d = default();
    for text in [
        "Order #ORD-2023-88812 shipped",
        "request 550e8400-e29b-41d4-a716-446655440000 failed",
        "upgraded to version 10.0.19045.2965",
        "release v1.2.3.4 is out",
        "total $1,234.56 due",
        "tracking 4111 1111 1111 1112",
        "ssn 000-12-3456 is invalid",
        "a 67-year-old man",
        "BP 120/80, HR 72",
        "Ticket INC0012345 escalated",
        "invoice 123456789 total 12 items",
    ] {
        assert!(found(&d, text).is_empty(), "{text}: {:?}", found(&d, text));
    }
}

#[test]
fn context_decides_identifier_type() {
    let d = default();
    assert_eq!(
        found(&d, "account number 12345678"),
        vec![(E::UsBankAccount, "12345678".into())]
    );
    assert_eq!(
        found(&d, "MRN 12345678"),
        vec![(E::MedicalRecordNumber, "12345678".into())]
    );
    assert_eq!(
        found(&d, "policy number 12345678"),
        vec![(E::InsuranceId, "12345678".into())]
    );
    assert!(found(&d, "order number 12345678").is_empty());
    // Window: the cue must be within `context_window` words.
    let narrow = Detector::new(&MaskConfig {
        context_window: 1,
        ..MaskConfig::default()
    })
    .unwrap();
    assert!(found(&narrow, "MRN is listed as 12345678").is_empty());
    assert_eq!(found(&d, "MRN is listed as 12345678").len(), 1);
}

#[test]
fn person_names() {
    let d = default();
    let cases: &[(&str, &str)] = &[
        ("Patient: Maria Lopez", "Maria Lopez"),
        ("Seen by Dr. Øyvind Kristiansen today", "Øyvind Kristiansen"),
        ("GARCIA, MARIA was admitted", "GARCIA, MARIA"),
        ("Dear Nguyễn Thị Hoa,", "Nguyễn Thị Hoa"),
        ("Regards,\nPriya Raman\nSupport", "Priya Raman"),
        ("hi this is maria gonzalez, my card", "maria gonzalez"),
        ("John Q. Public called", "John Q. Public"),
        ("Name: José Álvarez-Núñez", "José Álvarez-Núñez"),
    ];
    for (text, want) in cases {
        let f = found(&d, text);
        assert!(f.contains(&(E::Person, want.to_string())), "{text}: {f:?}");
    }
    for text in [
        "The Emergency Department was busy",
        "Dear Customer,",
        "Customer Care",
    ] {
        assert!(
            !found(&d, text).iter().any(|(t, _)| *t == E::Person),
            "{text}: {:?}",
            found(&d, text)
        );
    }
}

#[test]
fn names_found_by_context_not_by_lists() {
    let d = default();
    let persons = |text: &str| -> Vec<String> {
        found(&d, text)
            .into_iter()
            .filter(|(t, _)| *t == E::Person)
            .map(|(_, v)| v)
            .collect()
    };
    let cases: &[(&str, &[&str])] = &[
        ("Lives with her nephew Obinna, who drives her.", &["Obinna"]),
        (
            "[09:12] Thandeka: is my card blocked?\n[09:13] Agent Luis: Checking now.\n[09:14] Thandeka: thanks",
            &["Thandeka", "Luis", "Thandeka"],
        ),
        ("Wound care reviewed with Ngozi Eze, RN\n", &["Ngozi Eze"]),
        (
            "Kind regards,\nTadeusz Wiśniewski\n",
            &["Tadeusz Wiśniewski"],
        ),
        (
            "Customer: Farida Haidari\nNotes: Farida asked for a new card.",
            &["Farida Haidari", "Farida"],
        ),
        ("Pt: MBEKI, Sipho K     MRN 4410", &["MBEKI, Sipho K"]),
        (
            "my mother, Rosa Elena de la Cruz, was seen",
            &["Rosa Elena de la Cruz"],
        ),
        ("S — Tran Van Minh, 71M, here with son", &["Tran Van Minh"]),
    ];
    for (text, want) in cases {
        assert_eq!(&persons(text), want, "{text:?}");
    }
    for text in [
        "Please come by. — Hope Valley Pharmacy\n",
        "Findings: Normal heart size.",
        "Agent: Thanks. Can you confirm the address?",
        "To the Patient Relations Office,",
        "Take 2 Tablets Daily",
    ] {
        assert!(persons(text).is_empty(), "{text:?}: {:?}", persons(text));
    }
}

#[test]
fn dates_without_a_year_and_with_a_time_of_day() {
    let d = default();
    let dates = |text: &str| -> Vec<String> {
        found(&d, text)
            .into_iter()
            .filter(|(t, _)| matches!(t, E::Date | E::DateOfBirth))
            .map(|(_, v)| v)
            .collect()
    };
    for (text, want) in [
        ("12/03 10:15 — Called pt back", "12/03 10:15"),
        ("EXAM DATE: 11/18/2026 09:42", "11/18/2026 09:42"),
        ("Received: Mon 11/09 4:52 PM", "Mon 11/09 4:52 PM"),
        (
            "Date: Mon, 23 Nov 2026 18:40:11 -0500",
            "Mon, 23 Nov 2026 18:40:11 -0500",
        ),
        ("DOB: 22-Feb-1979", "22-Feb-1979"),
        (
            "Fecha: lunes, 30 de noviembre de 2026",
            "lunes, 30 de noviembre de 2026",
        ),
        (
            "Signed this 3rd day of December, 2026.",
            "3rd day of December, 2026",
        ),
        ("Extended rental through Dec 19.", "Dec 19"),
        ("seen on 3/4 for follow-up", "3/4"),
        (
            "appointment on Friday, December 11th at 3:45 PM",
            "Friday, December 11th at 3:45 PM",
        ),
        ("Sent: 11/28/2026 10:44 PM", "11/28/2026 10:44 PM"),
    ] {
        assert_eq!(dates(text), vec![want.to_string()], "{text:?}");
    }
    for text in [
        "pain 7/10 at rest",
        "take 1/2 tab nightly",
        "APR 21.49% on purchases",
        "open 24/7",
        "took 12 1/2 tabs",
    ] {
        assert!(dates(text).is_empty(), "{text:?}: {:?}", dates(text));
    }
    // An ISO time stamp is masked whole, like a date with a time of day; a date word
    // right before a month and day outweighs a number word nearby; dates in
    // statement columns are dates; day and abbreviated month, European month names,
    // and a dotted date with a four-digit year away from a number word are dates.
    for (text, want) in [
        (
            "at 2024-03-05T10:22:33Z the job ran",
            vec!["2024-03-05T10:22:33Z"],
        ),
        (
            "2026-11-13T06:02:17.250-05:00 ACH transfer",
            vec!["2026-11-13T06:02:17.250-05:00"],
        ),
        ("scheduled Sun 11/29 at 4 pm to", vec!["Sun 11/29 at 4 pm"]),
        (
            "seen on 12 May, next huddle 8 Dec.",
            vec!["12 May", "8 Dec"],
        ),
        (
            "Heidelberg, 30. November 2026; Padova, 1° dicembre 2026; z 28 listopada 2026",
            vec!["30. November 2026", "1° dicembre 2026", "28 listopada 2026"],
        ),
        (
            "über 142,60 EUR konnte am 24.11.2026 nicht",
            vec!["24.11.2026"],
        ),
        ("Version 2.1.2026 and lot 12.05.2027", vec![]),
        ("intercepted an error on 11/22 for a patient", vec!["11/22"]),
        (
            "01/23  01/24  FLOWERS & GIFTS   86.40",
            vec!["01/23", "01/24"],
        ),
    ] {
        assert_eq!(dates(text), want, "{text:?}");
    }
}

#[test]
fn allow_deny_thresholds_entities() {
    let cfg = MaskConfig {
        allow: vec!["support@example.com".into()],
        deny: [(E::Person, vec!["Acme Jones".into()])]
            .into_iter()
            .collect(),
        thresholds: [(E::Phone, 0.99)].into_iter().collect(),
        entities: Some(vec![E::Email, E::Person, E::Phone]),
        ..MaskConfig::default()
    };
    let d = Detector::new(&cfg).unwrap();
    let f = found(
        &d,
        "mail support@example.com or bob@x.org, ask acme jones, call 617-555-0123, ssn 123-45-6789",
    );
    assert_eq!(
        f,
        vec![
            (E::Email, "bob@x.org".into()),
            (E::Person, "acme jones".into())
        ]
    );
}

#[test]
fn custom_recognizers() {
    let cfg = MaskConfig {
        recognizers: vec![
            RecognizerConfig {
                name: "employee".into(),
                entity: E::InsuranceId,
                pattern: r"\bEMP-\d{6}\b".into(),
                validator: None,
                context: vec!["employee".into()],
                score: 0.9,
            },
            RecognizerConfig {
                name: "luhn".into(),
                entity: E::MedicalRecordNumber,
                pattern: r"\bH\d{8}\b".into(),
                validator: Some(Validator::Luhn),
                context: vec![],
                score: 0.8,
            },
        ],
        ..MaskConfig::default()
    };
    let d = Detector::new(&cfg).unwrap();
    assert_eq!(
        found(&d, "employee EMP-123456"),
        vec![(E::InsuranceId, "EMP-123456".into())]
    );
    // Without a context word the score drops by 0.3 (0.9 -> 0.6), still above the 0.55 default.
    assert_eq!(found(&d, "badge EMP-123456").len(), 1);
    assert_eq!(found(&d, "code H00000000").len(), 1);
    assert!(found(&d, "code H00000001").is_empty());
    let bad = MaskConfig {
        recognizers: vec![RecognizerConfig {
            name: "x".into(),
            entity: E::Secret,
            pattern: "(Jane Roe|secret-marker-7731".into(),
            validator: None,
            context: vec![],
            score: 0.5,
        }],
        ..MaskConfig::default()
    };
    let e = Detector::new(&bad).unwrap_err();
    assert_eq!(e.exit().code(), 78);
    assert!(e.to_string().contains("recognizers[0]"), "{e}");
    // The pattern is a config value: not in the message, nor in the printed cause chain.
    let shown = sealtune_contract::with_causes(&e);
    assert!(
        !shown.contains("secret-marker") && !shown.contains("Jane"),
        "{shown}"
    );
}

#[test]
fn code_point_offsets() {
    let d = default();
    let text = "Ñandú José: email josé@example.com";
    let spans = d.detect(text);
    let cps = to_code_points(text, &spans);
    let chars: Vec<char> = text.chars().collect();
    for (s, c) in spans.iter().zip(&cps) {
        let sub: String = chars[c.start..c.end].iter().collect();
        assert_eq!(sub, &text[s.start..s.end]);
    }
    assert!(!cps.is_empty());
}

#[test]
fn arbitrary_input_does_not_panic() {
    let d = default();
    let mut x: u64 = 12345;
    for len in 0..400 {
        let mut s = String::new();
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let c = match x % 8 {
                0 => char::from_u32((x >> 8) as u32 % 0x3000).unwrap_or('?'),
                1 => ' ',
                2..=4 => char::from(b'0' + (x >> 9) as u8 % 10),
                5 => ['-', '.', '/', '(', ')', ':', '@', '+', ','][(x >> 9) as usize % 9],
                _ => char::from(b'A' + (x >> 9) as u8 % 58),
            };
            s.push(c);
        }
        for sp in d.detect(&s) {
            assert!(
                s.is_char_boundary(sp.start) && s.is_char_boundary(sp.end) && sp.start < sp.end
            );
        }
    }
}

/// Fragments the name, address and date rules react to, glued at random with
/// multi-byte letters and punctuation next to every boundary.
#[test]
fn arbitrary_fragments_do_not_panic() {
    const FRAGS: &[&str] = &[
        "Dr. ",
        "wife ",
        "Agent (",
        "): ",
        ":",
        "\n",
        "[16:44] ",
        "— ",
        ", RN",
        ", 67M",
        "Thanks,\n",
        "PO Box 12",
        "RR 1 Box 6",
        " Apt 2R",
        "Unit 7\n",
        ", NJ 08825",
        " St",
        " Crossing",
        "Calle ",
        "12/03 ",
        "Dec 19",
        "Mon ",
        "policy HO-NC-",
        "2209981",
        "password to ",
        "pw ",
        "Sofía",
        "Øyvind",
        "ÉÈ",
        "’s",
        "'s",
        "-",
        "é",
        "日本",
        "🙂",
        " (",
        ")",
        "#",
        "1/2 ",
        "9021 ",
        "Bolsa",
        "OKAFOR, ",
        "Amara",
        "de la ",
        "Cruz",
        ".",
        " ",
        "  ",
        "\t",
        "x",
        "RC-",
        "\r\n",
        "Jamal: ",
    ];
    let d = default();
    let mut x: u64 = 0x9E37_79B9;
    for len in 0..3000 {
        let mut s = String::new();
        for _ in 0..(len % 60) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push_str(FRAGS[(x % FRAGS.len() as u64) as usize]);
        }
        for sp in d.detect(&s) {
            assert!(
                s.is_char_boundary(sp.start) && s.is_char_boundary(sp.end) && sp.start < sp.end,
                "{s:?}"
            );
        }
    }
}

#[test]
fn taxpayer_numbers_in_the_itin_range_are_masked_when_called_ssn_or_tin() {
    let det = Detector::new(&MaskConfig::default()).unwrap();
    for text in [
        "My SSN is 933-45-5139 if you need it.",
        "ITIN: 912-70-1234",
        "SSN 912701234",
    ] {
        let spans = det.detect(text);
        assert!(
            spans.iter().any(|s| s.entity == E::UsSsn),
            "{text}: {spans:?}"
        );
    }
    // Without the cue, a 9xx number is not called an SSN.
    let spans = det.detect("Order 912-34-5678 shipped.");
    assert!(!spans.iter().any(|s| s.entity == E::UsSsn), "{spans:?}");
}

#[test]
fn surname_first_headers_and_dash_signatures() {
    let det = Detector::new(&MaskConfig::default()).unwrap();
    let text = "Patient: OKAFOR, Amara\nDOB: 04/12/1961";
    let spans = det.detect(text);
    let p = spans
        .iter()
        .find(|s| s.entity == E::Person)
        .expect("person");
    assert_eq!(&text[p.start..p.end], "OKAFOR, Amara");
    let text = "I moved. Phone (617) 555-0123. — Priya Rahman";
    let spans = det.detect(text);
    let p = spans
        .iter()
        .find(|s| s.entity == E::Person)
        .expect("person");
    assert_eq!(&text[p.start..p.end], "Priya Rahman");
    // A dash before ordinary capitalised words mid-sentence is not a signature.
    let spans = det.detect("Results -- Blood Pressure stable today.");
    assert!(!spans.iter().any(|s| s.entity == E::Person), "{spans:?}");
}

/// Forms added for text written apart from the detector: header-typed table cells, phone
/// extensions, spelled-out ages and names, chat handles, address blocks anchored on their
/// postal line, day-month dates. Written here in our own words, not copied from the
/// independent sets.
#[test]
fn tables_extensions_spelled_forms_and_blocks() {
    let d = default();
    let has = |text: &str, t: E, want: &str| {
        let f = found(&d, text);
        assert!(f.contains(&(t, want.to_string())), "{text}: {f:?}");
    };
    let csv = "row,surname,given_name,ssn,birth_date,plan\n1,Quintero-Baptiste,Odalys,219-09-9999,1962-02-30,GOLD\n";
    has(csv, E::Person, "Quintero-Baptiste");
    has(csv, E::Person, "Odalys");
    has(csv, E::DateOfBirth, "1962-02-30");
    let pipes = "Policy|Holder|Acct\nHX-11|Tamsin Achterberg|4410093\n";
    has(pipes, E::Person, "Tamsin Achterberg");
    has(pipes, E::UsBankAccount, "4410093");
    has(
        "reach her desk at 312-555-0199 x4471 after lunch",
        E::Phone,
        "312-555-0199 x4471",
    );
    has(
        "Resident, aged ninety-three, ambulates with a walker.",
        E::AgeOver89,
        "ninety-three",
    );
    has("Age at death: 104\n", E::AgeOver89, "104");
    has(
        "he is \"ninety-three and still beats everyone at tavli.\"",
        E::AgeOver89,
        "ninety-three",
    );
    has(
        "Wilhelmina Van der Merwe, ninety-five, of Grand Rapids, died",
        E::AgeOver89,
        "ninety-five",
    );
    // Drug names opening a sentence are no names.
    let f = found(
        &d,
        "Patient stable. Furosemide was held overnight; Apixaban resumed.",
    );
    assert!(of_type(&f, E::Person).is_empty(), "{f:?}");
    // A street's "Dr" is no title: the unit after it is no name.
    has(
        "Address: 6201 E Riverside Dr Apt 218, Austin, TX 78741",
        E::StreetAddress,
        "6201 E Riverside Dr Apt 218, Austin, TX 78741",
    );
    has(
        "She was Ninety-Four last spring.",
        E::AgeOver89,
        "Ninety-Four",
    );
    has(
        "turned one hundred and two in May",
        E::AgeOver89,
        "one hundred and two",
    );
    for text in [
        "see page 96",
        "the dose is 96 mg",
        "Age 45",
        "it was ninetyish",
        "back in nineteen, ninety-five dollars",
    ] {
        let f = found(&d, text);
        assert!(!f.iter().any(|(t, _)| *t == E::AgeOver89), "{text}: {f:?}");
    }
    has(
        "Caller gave her name as Dagny Sorensen, s-o-r-e-n-s-e-n, and asked",
        E::Person,
        "s-o-r-e-n-s-e-n",
    );
    has("[14:05] t.okafor: reset done\n", E::Person, "t.okafor");
    has(
        "Mailing address:\nApt 5C\n77 Orchard Row\nLeeds LS6 2QP\nUnited Kingdom\n",
        E::StreetAddress,
        "Apt 5C\n77 Orchard Row\nLeeds LS6 2QP\nUnited Kingdom",
    );
    has(
        "the hearing moved to 9 September at the branch",
        E::Date,
        "9 September",
    );
    let json = r#"{"event": "login", "user_name": "Okafor, Ngozi", "patient_mrn": "7740021"}"#;
    has(json, E::Person, "Okafor, Ngozi");
    has(json, E::MedicalRecordNumber, "7740021");
    has(
        "INSURED LAST NAME: Villeneuve          FIRST: Anouk\n",
        E::Person,
        "Anouk",
    );
    has(
        "2026-02-03 14:22  TKOWALSKI — called borrower back\n",
        E::Person,
        "TKOWALSKI",
    );
    // Prose with commas is not a table; a role column is not a name.
    let f = found(&d, "Status, notes, owner\nopen, waiting on docs, triage\n");
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn log_ins_made_from_a_name_in_the_same_text() {
    let det = default();
    let t = "Caller: Priyanka Raghavan (praghavan), Claims Operations.\n\
             2026-11-24 09:05 praghavan confirmed working; mail praghavan@example.com.\n\
             Reviewed by Lena Ortiz; lena.ortiz and ortizl were locked.";
    let got = found(&det, t);
    let n = |v: &str| {
        got.iter()
            .filter(|(e, s)| *e == E::Person && s == v)
            .count()
    };
    assert_eq!(n("praghavan"), 2, "{got:?}");
    assert_eq!(n("lena.ortiz"), 1, "{got:?}");
    assert!(
        got.contains(&(E::Email, "praghavan@example.com".into())),
        "{got:?}"
    );
    // An e-mail's local part made of words is the same person's log-in.
    let log = "LOGIN_FAIL user=hannah.nguyen src=10.0.0.7\n\
               PASSWORD_RESET_REQ user=hannah.nguyen to=hannah.nguyen@example.com";
    let spans = det.detect(log);
    for (at, _) in log.match_indices("hannah.nguyen").take(2) {
        let covered = |i: usize| {
            spans
                .iter()
                .any(|p| p.entity == E::Person && p.start <= i && i < p.end)
        };
        assert!(
            (at..at + "hannah.nguyen".len()).all(covered),
            "{at}: {spans:?}"
        );
    }
    // A shared mailbox names no one: its local part standing alone is not a person.
    let shared = "Replies go to customer.service@example.com; customer.service triages them.";
    let spans = det.detect(shared);
    assert!(!spans.iter().any(|p| p.entity == E::Person), "{spans:?}");
    // No name, no handle: an initial and a surname alone, in no place for a log-in, is
    // left alone; a given name, a dot and a surname is a log-in on its own
    // (log_ins_made_of_a_name).
    let alone = found(&det, "praghavan confirmed working; lena.ortiz logged off.");
    assert!(!alone.iter().any(|(_, s)| s == "praghavan"), "{alone:?}");
    assert!(
        alone.contains(&(E::Person, "lena.ortiz".to_string())),
        "{alone:?}"
    );
}

#[test]
fn hl7_segments_are_read_by_field() {
    let det = default();
    let t = "Result copied from the interface:\n\
             PID|1||VL7718204^^^VCL^MR||TAUFA^SIOSAIA^K||19720415|M|||2931 W 3500 S APT 14^^WEST VALLEY CITY^UT^84119||(801)555-0126\n\
             OBX|1|NM|2345-7^GLUCOSE^LN||212|mg/dL|70-99|H|||F\n";
    let got = found(&det, t);
    for want in [
        (E::MedicalRecordNumber, "VL7718204"),
        (E::Person, "TAUFA^SIOSAIA^K"),
        (E::DateOfBirth, "19720415"),
        (
            E::StreetAddress,
            "2931 W 3500 S APT 14^^WEST VALLEY CITY^UT^84119",
        ),
        (E::Phone, "(801)555-0126"),
    ] {
        assert!(
            got.contains(&(want.0, want.1.to_string())),
            "{want:?} not in {got:?}"
        );
    }
    assert!(!got.iter().any(|(_, v)| v.contains("GLUCOSE")), "{got:?}");
}

#[test]
fn lower_case_addresses_close_with_a_zip() {
    let det = default();
    let addr = |t: &str| -> Vec<String> {
        found(&det, t)
            .into_iter()
            .filter(|(e, _)| *e == E::StreetAddress)
            .map(|(_, s)| s)
            .collect()
    };
    assert_eq!(
        addr("mail went to my old place at 2207 e 10th st apt 3 indianapolis in 46201, pls fix"),
        ["2207 e 10th st apt 3 indianapolis in 46201"]
    );
    assert_eq!(
        addr("ship to 12 oak st #4, boise id 83702-1234 ok"),
        ["12 oak st #4, boise id 83702-1234"]
    );
    for t in [
        "take 5 mg tab daily at 10 am for 3 days",
        "it was 3 days ago on main st in 12345",
        "moved to 40 elm st last year",
    ] {
        assert!(addr(t).is_empty(), "{t}: {:?}", addr(t));
    }
}

#[test]
fn member_ids_after_plan_and_cardholder_words() {
    let det = default();
    for (t, want) in [
        (
            "Cardholder ID: ZQW88120457       Cardholder: self",
            "ZQW88120457",
        ),
        (
            "Primary: Aetherna PPO, ID W228410937. Secondary: none",
            "W228410937",
        ),
        ("Mbr  ID:W2289173604   Grp:  BN77102", "W2289173604"),
    ] {
        let got = found(&det, t);
        assert!(
            got.contains(&(E::InsuranceId, want.to_string())),
            "{t}: {got:?}"
        );
    }
    // A card number after "card" is still a card.
    let got = found(&det, "Visa card 4111 1111 1111 1111");
    assert!(
        got.contains(&(E::CreditCard, "4111 1111 1111 1111".to_string())),
        "{got:?}"
    );
}

/// OCR of a form typed in spaced capitals: each field is read closed up and masked where
/// it stands, spaces and all.
#[test]
fn letter_spaced_form_fields() {
    let det = default();
    let form = "5. PATIENT ADDRESS (No., Street)\n  \
                5 5 0   N   M A P L E   A V E   A P T   1 2\n  \
                S P R I N G F I E L D ,   I L   6 2 7 0 4          ( 2 1 7 )  5 5 5 - 0 1 9 8\n\
                24J. NPI 1 2 4 5 3 1 9 5 9 9\n";
    let spans = det.detect(form);
    let covered = |needle: &str| {
        let at = form.find(needle).unwrap();
        (at..at + needle.len())
            .filter(|&i| form.as_bytes()[i] != b' ')
            .all(|i| spans.iter().any(|p| p.start <= i && i < p.end))
    };
    for field in [
        "5 5 0   N   M A P L E   A V E   A P T   1 2",
        "S P R I N G F I E L D ,   I L   6 2 7 0 4",
        "( 2 1 7 )  5 5 5 - 0 1 9 8",
        "1 2 4 5 3 1 9 5 9 9",
    ] {
        assert!(covered(field), "{field}: {spans:?}");
    }
    assert!(
        spans
            .iter()
            .any(|p| p.entity == E::Npi && &form[p.start..p.end] == "1 2 4 5 3 1 9 5 9 9"),
        "{spans:?}"
    );
    // The form's printed labels stay.
    assert!(!covered("PATIENT ADDRESS"), "{spans:?}");
}

/// National phone forms: a British mobile anywhere, a number after a phone word in
/// another language, and a "port" that is a number transfer, not a network port.
#[test]
fn national_phone_forms() {
    let det = default();
    for (text, want) in [
        (
            "happy to be rung on 07700 900 418 after six",
            "07700 900 418",
        ),
        ("Telefon: 512 880 417, bitte abends.", "512 880 417"),
        (
            "Which number do you want to port?\nCustomer: 313 555 0148",
            "313 555 0148",
        ),
    ] {
        let got = found(&det, text);
        assert!(
            got.contains(&(E::Phone, want.to_string())),
            "{text}: {got:?}"
        );
    }
}

/// Log-ins made of a name: an initial and a surname where a log-in stands, and every
/// later mention; a given name, a dot and a surname or an initial anywhere.
#[test]
fn log_ins_made_of_a_name() {
    let det = default();
    let text = "Escalated by dkowalski at 09:14. Reviewer: jabernathy\n\
                dkowalski closed it; hannah.k reopened it.";
    let got = found(&det, text);
    let people: Vec<&str> = got
        .iter()
        .filter(|(t, _)| *t == E::Person)
        .map(|(_, s)| s.as_str())
        .collect();
    assert_eq!(
        people,
        ["dkowalski", "jabernathy", "dkowalski", "hannah.k"],
        "{got:?}"
    );
    // Without a place for a log-in, and inside addresses, paths and file names: nothing.
    for text in [
        "a dkowalski variant of the form",
        "see config.yaml and notes/dkowalski.txt",
    ] {
        let got = found(&det, text);
        assert!(!got.iter().any(|(t, _)| *t == E::Person), "{text}: {got:?}");
    }
}

/// A name given in answer to a question for it, lower case included; a log-in with an
/// underscore ("hannah_k").
#[test]
fn names_given_in_answer_and_underscore_log_ins() {
    let det = default();
    let text = "Agent Rhea: Can I get the name on the account?\nCustomer: deshawn rivers\n\
                hannah_k: hi i want to cancel";
    let got = found(&det, text);
    let people = of_type(&got, E::Person);
    assert!(people.contains(&"deshawn rivers"), "{got:?}");
    assert!(people.contains(&"hannah_k"), "{got:?}");
    // An answer that is not a name, and a snake_case word.
    let text = "Agent: What name is on the card?\nCustomer: its the one i use\n\
                see tenancy_agreement.pdf";
    let got = found(&det, text);
    assert!(!got.iter().any(|(t, _)| *t == E::Person), "{got:?}");
}

/// Toll-free lines are a business's unless a person's word stands before them; E.164
/// numbers without separators are phones; a role mailbox is an organisation's.
#[test]
fn toll_free_lines_e164_and_role_mailboxes() {
    let det = default();
    let got = found(
        &det,
        "Questions? Call us at 1-800-555-0183. Her cell is 1-888-555-0199. ani=+14145550142",
    );
    assert_eq!(
        of_type(&got, E::Phone),
        ["1-888-555-0199", "+14145550142"],
        "{got:?}"
    );
    let got = found(
        &det,
        "Write to api-support@paystream.example or no-reply@x.example; cc ingrid.lund@fjord.example",
    );
    assert_eq!(
        of_type(&got, E::Email),
        ["ingrid.lund@fjord.example"],
        "{got:?}"
    );
}

/// An age over 89 after "he's" / "she's".
#[test]
fn ages_after_contractions() {
    let got = found(&default(), "He's ninety-one and he was seen in February.");
    assert!(
        got.contains(&(E::AgeOver89, "ninety-one".into())),
        "{got:?}"
    );
}

/// A megabyte on one line of each form the labelled-address, read-aloud and date-time
/// rules react to, matching or nearly matching many times: a rule that rescanned its
/// line for each match would take hours here; all of them take seconds.
#[test]
fn long_lines_of_repeated_forms_finish() {
    let d = default();
    for unit in [
        "Address: 12 Oak St, Springfield ",
        "Adres: aaaa bbbb cccc dddd eeee ffff gggg ",
        "Address: x ",
        "a dot b at c dot d ",
        "x at ",
        "twenty-two Oak Park, ",
        "twenty-two Oak Park, aaaa bbbb cccc ",
        "on 12/03/2026 at 10:30 AM ",
        "7:30 AM at 1410 Harbor Blvd ",
        "<Surname>Baek</Surname><a>b<Name>x ",
        "by r.achebe by jasmine_okafor by ",
        "Nov 14–15, 2026, 3:15 p.m. MST – ",
        "Policy HOM 882 041 7735-AB ",
        "TRACE   RDFI RTN   ACCOUNT   NAME   ",
    ] {
        let text = unit.repeat(1_000_000 / unit.len());
        let spans = d.detect(&text);
        assert!(spans.iter().all(|s| s.end <= text.len()), "{unit}");
    }
}

/// Each case: the text, then the spans (type and text) it must give.
fn expect_all(cases: &[(&str, &[(E, &str)])]) {
    let d = default();
    for (text, want) in cases {
        let got = found(&d, text);
        for (t, v) in *want {
            assert!(got.contains(&(*t, v.to_string())), "{text}: {got:?}");
        }
    }
}

/// A fixed-width table of many rows and a markdown table of many rows finish, and their
/// cells are found to the last row.
#[test]
fn long_tables_finish() {
    let d = default();
    let mut text = String::from("TRACE            RDFI RTN     ACCOUNT          NAME\n");
    let mut md = String::from("| Chair | Patient   | MRN      |\n|---|---|---|\n");
    for k in 0..20_000 {
        text.push_str(&format!(
            "0710001300{k:05}  121000358    88300{k:05}       QUILL GIDEON\n"
        ));
        md.push_str(&format!("| {k} | Quill, Gideon | RB-{k:05} |\n"));
    }
    for t in [&text, &md] {
        let got = d.detect(t);
        assert!(got.len() >= 20_000, "{}", got.len());
        assert!(got.last().is_some_and(|s| s.end + 40 >= t.len()));
    }
}

/// Tables in other layouts: a fixed-width report with columns split by runs of spaces,
/// a markdown table (pipes at both ends, padded header, a comma inside a column name),
/// and XML elements whose tag names the value.
#[test]
fn fixed_width_markdown_and_xml_tables() {
    expect_all(&[
        (
            "TRACE            RDFI RTN     ACCOUNT          NAME                  AMOUNT   CODE\n\
             071000130004471  121000358    8830041172       GONZALEZ GUERRERO, A   184.22   R01\n\
             071000130004488  261074972    000447190228     NAKAMURA HARUKI         92.10   R03\n",
            &[
                (E::UsBankRouting, "121000358"),
                (E::UsBankAccount, "000447190228"),
                (E::Person, "GONZALEZ GUERRERO, A"),
                (E::Person, "NAKAMURA HARUKI"),
            ],
        ),
        (
            "| Chair | Patient (Last, First)   | MRN       | Notes        |\n\
             |-------|-------------------------|-----------|--------------|\n\
             | 1     | Quill, Gideon           | RB-30018  | heparin      |\n\
             | 2     | Oyelaran, Temi          | RB-30442  | cath         |\n",
            &[
                (E::Person, "Quill, Gideon"),
                (E::MedicalRecordNumber, "RB-30442"),
            ],
        ),
        (
            "<Insured>\n  <GivenName>Soo-ah</GivenName>\n  <Surname>Baek</Surname>\n  \
             <BirthDate>1970-04-28</BirthDate>\n</Insured>",
            &[
                (E::Person, "Soo-ah"),
                (E::Person, "Baek"),
                (E::DateOfBirth, "1970-04-28"),
            ],
        ),
    ]);
    // Prose with double spaces is no table.
    let d = default();
    let got = found(
        &d,
        "Patient was seen  today by  Dr. Osei\nthen went  home  after lunch",
    );
    assert!(
        of_type(&got, E::Person).iter().all(|p| *p == "Osei"),
        "{got:?}"
    );
}

/// Policy and member numbers with letters: a prefix that spells a cue word elsewhere,
/// letters after the digits, letters before digit groups, labels in other languages.
#[test]
fn identifiers_with_letter_prefixes_and_suffixes() {
    expect_all(&[
        (
            "Member ID PH-2211094. Please call",
            &[(E::InsuranceId, "PH-2211094")],
        ),
        (
            "policy number is RNT-04-88172-OZ. I was",
            &[(E::InsuranceId, "RNT-04-88172-OZ")],
        ),
        (
            "Policy HOM 882 041 7735\nLoss",
            &[(E::InsuranceId, "HOM 882 041 7735")],
        ),
        (
            "Relatienummer: DZ 441 902 771",
            &[(E::InsuranceId, "DZ 441 902 771")],
        ),
        (
            "OHIP 4417-882-913-KT\n",
            &[(E::InsuranceId, "4417-882-913-KT")],
        ),
        (
            "Polizza RCA n. PD 0774 19283 — Offerta",
            &[(E::InsuranceId, "PD 0774 19283")],
        ),
        (
            "Poliçe No: KSK-0088-441-7720",
            &[(E::InsuranceId, "KSK-0088-441-7720")],
        ),
        (
            "Versichertennr.: K291034567   Pflegegrad 3",
            &[(E::InsuranceId, "K291034567")],
        ),
        (
            "Journal-ID: NRM-0044127\n",
            &[(E::MedicalRecordNumber, "NRM-0044127")],
        ),
    ]);
}

/// What closes a date: a.m./p.m. with periods, a zone after AM, a time range, a range of
/// days, a 24-hour time without a colon, a weekday and time after the date, months and
/// weekdays of more languages, a month and day before a time in a table column.
#[test]
fn date_ranges_zones_and_more_languages() {
    expect_all(&[
        (
            "victims, Nov 14–15, 2026, Station",
            &[(E::Date, "Nov 14–15, 2026")],
        ),
        (
            "Date/time: November 21, 2026, 3:15 p.m.   Location",
            &[(E::Date, "November 21, 2026, 3:15 p.m.")],
        ),
        (
            "Date/time: December 3, 2026, 15:00–16:10\n",
            &[(E::Date, "December 3, 2026, 15:00–16:10")],
        ),
        (
            "When: Friday, December 4, 2026 at 9:40 AM MST\n",
            &[(E::Date, "Friday, December 4, 2026 at 9:40 AM MST")],
        ),
        (
            "Date/time: 12/03/2026 0412\n",
            &[(E::Date, "12/03/2026 0412")],
        ),
        (
            "randevu 2 Aralık 2026 Çarşamba 14:00\n",
            &[(E::Date, "2 Aralık 2026 Çarşamba 14:00")],
        ),
        (
            "Tanggal: Senin, 30 November 2026 pukul 09.12 WIB\n",
            &[(E::Date, "Senin, 30 November 2026 pukul 09.12 WIB")],
        ),
        (
            "din data de 24 noiembrie 2026 pentru",
            &[(E::Date, "24 noiembrie 2026")],
        ),
        (
            "desde o dia 10 de setembro. Já",
            &[(E::Date, "10 de setembro")],
        ),
        (
            "25 mg     daily       10/14 08:00\n",
            &[(E::Date, "10/14 08:00")],
        ),
    ]);
    // Log stamps keep their seconds; a page range is no date.
    let d = default();
    let got = found(&d, "page 3-4 of the Jan 12 letter");
    assert_eq!(of_type(&got, E::Date), ["Jan 12"], "{got:?}");
}

/// Phones in national forms with their trunk prefix and no word before them, and phone
/// and age labels of other languages.
#[test]
fn trunk_prefixed_phones_and_age_labels_of_other_languages() {
    expect_all(&[
        ("Kontakt via 070-418 22 93.", &[(E::Phone, "070-418 22 93")]),
        (
            "Cep Telefonu: 0532 418 77 09\n",
            &[(E::Phone, "0532 418 77 09")],
        ),
        ("No. HP : 0812-2744-9031\n", &[(E::Phone, "0812-2744-9031")]),
        (
            "la numărul 0745 218 930\npentru",
            &[(E::Phone, "0745 218 930")],
        ),
        ("geb. 03.02.1933  (Alter: 93)\n", &[(E::AgeOver89, "93")]),
        (
            "Age at review: 90        Elimination",
            &[(E::AgeOver89, "90")],
        ),
    ]);
}

/// Names after titles and salutations of other languages, log-ins after "by", and a
/// Spanish street type with a particle in a US address.
#[test]
fn titles_of_other_languages_by_log_ins_and_street_particles() {
    expect_all(&[
        (
            "Am vorbit cu doamnă Constantinescu ieri.",
            &[(E::Person, "Constantinescu")],
        ),
        ("Estimada Sra. Quiroga:", &[(E::Person, "Quiroga")]),
        (
            "review by jasmine_okafor  — Nov 24",
            &[(E::Person, "jasmine_okafor")],
        ),
        (
            "Submitted 2026-11-28 by agent r.achebe\n",
            &[(E::Person, "r.achebe")],
        ),
        (
            "Home: 1207 Calle del Sol SW, Albuquerque, NM 87105.",
            &[(
                E::StreetAddress,
                "1207 Calle del Sol SW, Albuquerque, NM 87105",
            )],
        ),
    ]);
    expect_all(&[
        (
            "Alamat         : Jl. Kaliurang Km 5,6 Gg. Pandega Marta No. 12, Sleman, D.I. Yogyakarta 55281\n",
            &[(
                E::StreetAddress,
                "Jl. Kaliurang Km 5,6 Gg. Pandega Marta No. 12, Sleman, D.I. Yogyakarta 55281",
            )],
        ),
        (
            "Adresa: Str. Republicii nr. 44, bl. C3, sc. B, et. 4, ap. 17, 550184 Sibiu",
            &[(
                E::StreetAddress,
                "Str. Republicii nr. 44, bl. C3, sc. B, et. 4, ap. 17, 550184 Sibiu",
            )],
        ),
        // A sentence after the address still ends it.
        (
            "Address: 14 Elm St. Then we drove",
            &[(E::StreetAddress, "14 Elm St")],
        ),
    ]);
    expect_all(&[
        (
            " 2. Nikolaos \"Niko\" Papadopoulos  Relationship: son",
            &[(E::Person, "Nikolaos \"Niko\" Papadopoulos")],
        ),
        (
            "nasabah baru menyadari setelah anaknya, Rizky,\nmelihat",
            &[(E::Person, "Rizky")],
        ),
        (
            "Elle vit avec sa fille Amandine depuis mars.",
            &[(E::Person, "Amandine")],
        ),
    ]);
    let d = default();
    let got = found(&d, "configured by settings.json and by default.yaml");
    assert!(of_type(&got, E::Person).is_empty(), "{got:?}");
}
