//! Context words: the words around a candidate that say what a number is.

/// What a nearby word suggests about a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    /// Social security number.
    Ssn,
    /// Payment card.
    Card,
    /// Telephone or fax.
    Phone,
    /// Bank routing number.
    Routing,
    /// Bank account.
    Account,
    /// Medical record number.
    Mrn,
    /// Insurance member / policy / group id.
    Insurance,
    /// National provider identifier.
    Npi,
    /// DEA registration.
    Dea,
    /// Driver licence.
    License,
    /// Passport.
    Passport,
    /// Date of birth.
    Dob,
    /// Postal code.
    Zip,
    /// Age.
    Age,
    /// A word that marks a non-identifying number: order, invoice, version, amount...
    Negative,
}

/// The cue a lower-case word carries, if any.
pub fn cue_of(word: &str) -> Option<Cue> {
    Some(match word {
        "ssn" | "ss" | "social" | "ssns" | "itin" | "tin" | "taxpayer" => Cue::Ssn,
        "card" | "cards" | "cardholder" | "visa" | "mastercard" | "amex" | "cc" | "credit"
        | "debit" | "discover" | "jcb" | "maestro" | "unionpay" | "pan" => Cue::Card,
        "phone" | "tel" | "telephone" | "cell" | "mobile" | "fax" | "call" | "text" | "ph"
        | "reach" | "pager" | "contact" | "contacted" | "whatsapp" | "callback" | "cellphone"
        | "telefon" | "telefone" | "telefono" | "teléfono" | "téléphone" | "tél" | "handy"
        | "móvil" | "movil" | "cellulare" | "erreichbar" | "telefonu" | "telefonul" | "numărul"
        | "numarul" | "hp" | "tlf" | "tfn" | "telefoon" | "mobil" | "mobiel" | "cep" | "nomor"
        | "kontakt" | "celular" | "portable" => Cue::Phone,
        "routing" | "aba" | "rtn" | "transit" => Cue::Routing,
        "account" | "acct" | "acc" | "checking" | "savings" | "deposit" | "iban" => Cue::Account,
        "mrn" | "medical" | "record" | "chart" | "mr" | "hospital" | "patient" | "pt" | "emr"
        | "ehr" | "journal" | "journalnummer" | "patientnummer" => Cue::Mrn,
        "member"
        | "subscriber"
        | "policy"
        | "insurance"
        | "insured"
        | "plan"
        | "group"
        | "medicaid"
        | "medicare"
        | "beneficiary"
        | "mbi"
        | "hicn"
        | "claim"
        | "coverage"
        | "payer"
        | "mbr"
        | "ppo"
        | "hmo"
        | "epo"
        | "vision"
        | "poliza"
        | "póliza"
        | "ins"
        | "polița"
        | "polita"
        | "polis"
        | "polisa"
        | "polisy"
        | "certificate"
        | "versichertennr"
        | "versicherungsnr"
        | "kvnr"
        | "polizza"
        | "poliçe"
        | "apólice"
        | "apolice"
        | "polisnummer"
        | "relatienummer"
        | "versichertennummer"
        | "versicherungsnummer"
        | "mitgliedsnummer"
        | "certificado"
        | "ohip"
        | "ramq"
        | "msp"
        | "ahcccs"
        | "medi"
        | "tricare"
        | "afiliado" => Cue::Insurance,
        "npi" | "provider" => Cue::Npi,
        "dea" => Cue::Dea,
        "license" | "licence" | "dl" | "driver" | "drivers" | "driving" | "lic" => Cue::License,
        "passport" => Cue::Passport,
        "dob" | "birth" | "born" | "birthdate" | "birthday" | "bday" => Cue::Dob,
        "zip" | "zipcode" | "postal" | "postcode" => Cue::Zip,
        "age" | "aged" | "alter" | "edad" | "âge" | "età" | "idade" | "yaş" | "wiek"
        | "leeftijd" | "ålder" | "umur" | "vârsta" | "varsta" => Cue::Age,
        "order" | "invoice" | "tracking" | "ticket" | "ref" | "reference" | "confirmation"
        | "version" | "v" | "build" | "release" | "sku" | "item" | "transaction" | "txn"
        | "amount" | "total" | "usd" | "eur" | "balance" | "price" | "paid" | "qty"
        | "quantity" | "page" | "serial" | "model" | "part" | "batch" | "lot" | "room" | "bed"
        | "ext" | "extension" | "case" | "incident" | "shipment" | "package" | "sn"
        | "firmware" | "step" | "dose" | "mg" | "ml" | "kg" | "units" | "rev" | "issue" | "pr"
        | "commit" | "job" | "request" | "session" | "error" | "pid" | "ts" | "timestamp"
        | "epoch" | "uuid" | "guid" | "hash" => Cue::Negative,
        _ => return None,
    })
}

/// Word bytes for context scanning: ASCII alphanumerics and any non-ASCII byte,
/// so that "Vávain" is one word, not "V" and "vain".
fn is_w(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c >= 0x80
}

/// Scans up to `window` words before byte `pos` and returns the nearest cue.
pub fn cue_before(text: &str, pos: usize, window: usize) -> Option<Cue> {
    let b = text.as_bytes();
    let mut i = pos.min(b.len());
    let mut seen = 0;
    let mut buf = [0u8; 24];
    while seen < window && i > 0 {
        // Skip non-word bytes; a newline paragraph break ends the context.
        let mut newlines = 0;
        while i > 0 && !is_w(b[i - 1]) {
            if b[i - 1] == b'\n' {
                newlines += 1;
                if newlines > 1 {
                    return None;
                }
            }
            i -= 1;
        }
        let end = i;
        while i > 0 && is_w(b[i - 1]) {
            i -= 1;
        }
        if end == i {
            break;
        }
        seen += 1;
        let w = &b[i..end];
        if w.len() > buf.len() || w.iter().all(u8::is_ascii_digit) {
            continue;
        }
        for (d, s) in buf.iter_mut().zip(w) {
            *d = s.to_ascii_lowercase();
        }
        if let Ok(s) = std::str::from_utf8(&buf[..w.len()])
            && let Some(c) = cue_of(s)
        {
            return Some(c);
        }
    }
    None
}

/// Scans up to `window` words after byte `pos` and returns the nearest cue.
pub fn cue_after(text: &str, pos: usize, window: usize) -> Option<Cue> {
    let b = text.as_bytes();
    let mut i = pos;
    let mut seen = 0;
    let mut buf = [0u8; 24];
    while seen < window && i < b.len() {
        while i < b.len() && !is_w(b[i]) {
            if b[i] == b'\n' {
                return None;
            }
            i += 1;
        }
        let start = i;
        while i < b.len() && is_w(b[i]) {
            i += 1;
        }
        if start == i {
            break;
        }
        seen += 1;
        let w = &b[start..i];
        if w.len() > buf.len() {
            continue;
        }
        for (d, s) in buf.iter_mut().zip(w) {
            *d = s.to_ascii_lowercase();
        }
        if let Ok(s) = std::str::from_utf8(&buf[..w.len()])
            && let Some(c) = cue_of(s)
        {
            return Some(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_cue_wins() {
        let t = "Order 5521 for account no. 12345678";
        assert_eq!(cue_before(t, t.len() - 8, 4), Some(Cue::Account));
        assert_eq!(cue_before(t, 6, 4), Some(Cue::Negative));
        assert_eq!(cue_before("DOB: 01/02/1960", 5, 3), Some(Cue::Dob));
        assert_eq!(cue_before("a b c d e ssn 1", 15, 2), Some(Cue::Ssn));
        assert_eq!(cue_before("ssn a b c d 1", 12, 2), None);
    }
}
