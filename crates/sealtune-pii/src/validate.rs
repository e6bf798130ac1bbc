//! Checksums and structural rules that tell real identifiers from look-alikes.
//!
//! Every function takes the candidate text with or without separators unless
//! said otherwise; they never allocate on the success path of short inputs.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The ASCII digits of `s`, in order, as values 0..=9.
pub fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// Luhn (mod 10) check over digit values.
pub fn luhn(d: &[u8]) -> bool {
    if d.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut v = u32::from(x);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// The Luhn check digit that completes `body` (the digits without the check digit).
pub fn luhn_check_digit(body: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, &x) in body.iter().rev().enumerate() {
        let mut v = u32::from(x);
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    ((10 - sum % 10) % 10) as u8
}

fn prefix_num(d: &[u8], n: usize) -> u32 {
    d.iter().take(n).fold(0u32, |a, &x| a * 10 + u32::from(x))
}

/// True when the digits start with an issuer identification number of a
/// major card network and have a length that network issues.
pub fn card_iin(d: &[u8]) -> bool {
    let n = d.len();
    let p1 = prefix_num(d, 1);
    let p2 = prefix_num(d, 2);
    let p3 = prefix_num(d, 3);
    let p4 = prefix_num(d, 4);
    let p6 = prefix_num(d, 6);
    match p1 {
        // Visa: 13, 16, 19 digits.
        4 => matches!(n, 13 | 16 | 19),
        // Mastercard 51-55 and the 2-series 2221-2720; Mir 2200-2204.
        5 => {
            (51..=55).contains(&p2) && n == 16
                || (p2 == 50 || (56..=58).contains(&p2)) && (12..=19).contains(&n)
        }
        2 => {
            ((2221..=2720).contains(&p4) && n == 16)
                || ((2200..=2204).contains(&p4) && (16..=19).contains(&n))
        }
        // Amex 34/37 (15); Diners 36, 38, 300-305 (14-19); JCB 3528-3589 (16-19).
        3 => {
            ((p2 == 34 || p2 == 37) && n == 15)
                || ((p2 == 36 || p2 == 38 || (300..=305).contains(&p3) || p2 == 39 || p3 == 309)
                    && (14..=19).contains(&n))
                || ((3528..=3589).contains(&p4) && (16..=19).contains(&n))
        }
        // Discover 6011, 644-649, 65, 622126-622925; UnionPay 62; RuPay 60/65/81/82.
        6 => {
            (p4 == 6011
                || (644..=649).contains(&p3)
                || p2 == 65
                || (622_126..=622_925).contains(&p6)
                || p2 == 62
                || p2 == 60
                || p2 == 63
                || p2 == 67)
                && (12..=19).contains(&n)
        }
        8 => (p2 == 81 || p2 == 82) && n == 16,
        1 => p1 == 1 && n == 15 && p2 == 18, // UATP 1800 (15)
        _ => false,
    }
}

/// A payment card number: known IIN, valid length, Luhn.
pub fn credit_card(d: &[u8]) -> bool {
    (12..=19).contains(&d.len()) && card_iin(d) && luhn(d)
}

/// US SSN rules over exactly nine digits: area not 000, 666 or 900-999,
/// group not 00, serial not 0000.
pub fn ssn(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let area = prefix_num(d, 3);
    let group = prefix_num(&d[3..], 2);
    let serial = prefix_num(&d[5..], 4);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
        // Advertised sample numbers that are never issued.
        && !(area == 78 && group == 5 && serial == 1120)
        && !(area == 219 && group == 9 && serial == 9999)
}

/// ABA routing transit number: nine digits, 3-7-1 weighted checksum, and a
/// Federal Reserve prefix (00-12, 21-32, 61-72, 80).
pub fn aba_routing(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let p = prefix_num(d, 2);
    if !(p <= 12 || (21..=32).contains(&p) || (61..=72).contains(&p) || p == 80) {
        return false;
    }
    let w = [3u32, 7, 1];
    let sum: u32 = d
        .iter()
        .enumerate()
        .map(|(i, &x)| w[i % 3] * u32::from(x))
        .sum();
    sum.is_multiple_of(10) && d.iter().any(|&x| x != 0)
}

/// National Provider Identifier: ten digits starting with 1 or 2, Luhn-valid
/// once the `80840` card-issuer prefix is put in front.
pub fn npi(d: &[u8]) -> bool {
    if d.len() != 10 || !(d[0] == 1 || d[0] == 2) {
        return false;
    }
    let mut full = vec![8, 0, 8, 4, 0];
    full.extend_from_slice(d);
    luhn(&full)
}

/// DEA registration number: two letters and seven digits where
/// (d1+d3+d5) + 2*(d2+d4+d6) ends in d7. The first letter is a registrant type.
pub fn dea(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 9 {
        return false;
    }
    let t = b[0].to_ascii_uppercase();
    if !b"ABCDEFGHJKLMPRSTUX".contains(&t) || !b[1].is_ascii_alphabetic() && b[1] != b'9' {
        return false;
    }
    if !b[2..].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let d: Vec<u32> = b[2..].iter().map(|&c| u32::from(c - b'0')).collect();
    let sum = d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5]);
    sum % 10 == d[6]
}

/// IBAN length per country (SWIFT registry); `None` for unknown countries.
pub fn iban_length(country: &[u8]) -> Option<usize> {
    let c = [
        country.first()?.to_ascii_uppercase(),
        country.get(1)?.to_ascii_uppercase(),
    ];
    let n = match &c {
        b"NO" => 15,
        b"BE" => 16,
        b"DK" | b"FI" | b"FO" | b"GL" | b"NL" | b"SD" => 18,
        b"MK" | b"SI" => 19,
        b"AT" | b"BA" | b"EE" | b"KZ" | b"LT" | b"LU" | b"XK" => 20,
        b"CH" | b"CR" | b"HR" | b"LI" | b"LV" => 21,
        b"BG" | b"BH" | b"DE" | b"GB" | b"GE" | b"IE" | b"ME" | b"RS" | b"VA" => 22,
        b"AE" | b"GI" | b"IL" | b"IQ" | b"TL" => 23,
        b"AD" | b"CZ" | b"ES" | b"MD" | b"PK" | b"RO" | b"SA" | b"SE" | b"SK" | b"TN" | b"VG" => 24,
        b"LY" | b"PT" | b"ST" => 25,
        b"IS" | b"TR" => 26,
        b"FR" | b"GR" | b"IT" | b"MC" | b"MR" | b"SM" => 27,
        b"AL" | b"AZ" | b"BY" | b"CY" | b"DO" | b"GT" | b"HU" | b"LB" | b"PL" | b"SV" => 28,
        b"BR" | b"EG" | b"PS" | b"QA" | b"UA" => 29,
        b"JO" | b"KW" | b"MU" => 30,
        b"MT" | b"SC" => 31,
        b"LC" => 32,
        b"RU" => 33,
        _ => return None,
    };
    Some(n)
}

/// IBAN mod-97 check over the compact form (no spaces), with the per-country length.
pub fn iban(compact: &[u8]) -> bool {
    let Some(len) = iban_length(compact) else {
        return false;
    };
    if compact.len() != len || !compact[2..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    if !compact.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    iban_mod97(compact) == 1
}

/// The mod-97 remainder of an IBAN in compact form (country and check digits moved to the end).
pub fn iban_mod97(compact: &[u8]) -> u32 {
    let mut rem = 0u32;
    let rotated = compact[4..].iter().chain(compact[..4].iter());
    for &c in rotated {
        let c = c.to_ascii_uppercase();
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else {
            let v = u32::from(c - b'A') + 10;
            rem = (rem * 100 + v) % 97;
        }
    }
    rem
}

/// Parses a dotted-quad IPv4 address (no leading zeros beyond one digit).
pub fn ipv4(s: &str) -> bool {
    s.parse::<Ipv4Addr>().is_ok()
}

/// Parses an IPv6 address, including `::` compression and an embedded IPv4 tail.
pub fn ipv6(s: &str) -> bool {
    s.parse::<Ipv6Addr>().is_ok()
}

/// North American Numbering Plan: ten digits, area and exchange codes start 2-9,
/// area code not N11, not 555-01xx fiction numbers excluded (they are still phone-shaped).
pub fn nanp(d: &[u8]) -> bool {
    let d = if d.len() == 11 && d[0] == 1 {
        &d[1..]
    } else {
        d
    };
    d.len() == 10 && d[0] >= 2 && d[3] >= 2 && !(d[1] == 1 && d[2] == 1)
}

/// A North American toll-free number (area code 800, 833, 844, 855, 866, 877 or 888): a
/// business line, never a person's.
pub fn nanp_toll_free(d: &[u8]) -> bool {
    let d = if d.len() == 11 && d[0] == 1 {
        &d[1..]
    } else {
        d
    };
    d.len() == 10 && d[0] == 8 && ((d[1] == d[2] && (3..=8).contains(&d[1])) || d[1..3] == [0, 0])
}

/// E.164: a country code and subscriber number, 8 to 15 digits in all, not starting with 0.
pub fn e164(d: &[u8]) -> bool {
    (8..=15).contains(&d.len()) && d[0] != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toll_free_numbers() {
        for d in ["8005550183", "18775550140", "18555550133", "8885551234"] {
            let d: Vec<u8> = d.bytes().map(|c| c - b'0').collect();
            assert!(nanp_toll_free(&d), "{d:?}");
        }
        for d in [
            "8125550183",
            "2065550100",
            "8225551234",
            "18105550133",
            "880555123",
        ] {
            let d: Vec<u8> = d.bytes().map(|c| c - b'0').collect();
            assert!(!nanp_toll_free(&d), "{d:?}");
        }
    }

    #[test]
    fn luhn_cards() {
        for c in [
            "4111111111111111",
            "5555555555554444",
            "2221000000000009",
            "2720999999999996",
            "378282246310005",
            "6011111111111117",
            "3530111333300000",
            "36227206271667",
        ] {
            assert!(credit_card(&digits(c)), "{c}");
        }
        assert!(!credit_card(&digits("4111111111111112")));
        assert!(!credit_card(&digits("2720999999999995")));
        // Luhn-valid but outside the 2-series range.
        let mut body = digits("272100000000000");
        body.push(luhn_check_digit(&body));
        assert!(luhn(&body) && !credit_card(&body));
    }

    #[test]
    fn ssn_rules() {
        assert!(ssn(&digits("123-45-6789")));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-34-5678",
            "123-00-4567",
            "123-45-0000",
            "078-05-1120",
        ] {
            assert!(!ssn(&digits(bad)), "{bad}");
        }
    }

    #[test]
    fn routing_npi_dea() {
        assert!(aba_routing(&digits("011000015")));
        assert!(aba_routing(&digits("121000358")));
        assert!(!aba_routing(&digits("121000359")));
        assert!(!aba_routing(&digits("991000354")));
        assert!(npi(&digits("1234567893")));
        assert!(!npi(&digits("1234567890")));
        assert!(dea("AB1234563"));
        assert!(!dea("AB1234564"));
    }

    #[test]
    fn iban_checks() {
        assert!(iban(b"GB82WEST12345698765432"));
        assert!(iban(b"DE89370400440532013000"));
        assert!(!iban(b"DE89370400440532013001"));
        assert!(!iban(b"DE8937040044053201300"));
        assert!(!iban(b"QQ89370400440532013000"));
    }

    #[test]
    fn ip_and_phone() {
        assert!(ipv4("192.168.1.20") && !ipv4("300.1.1.1") && !ipv4("1.2.3"));
        assert!(ipv6("2001:db8::8a2e:370:7334") && !ipv6("12:30:45"));
        assert!(nanp(&digits("(617) 555-0123")) && !nanp(&digits("(117) 555-0123")));
        assert!(e164(&digits("+44 20 7946 0958")));
    }
}
