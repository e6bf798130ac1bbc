//! Delimited tables with a header row: a CSV, pipe- or tab-separated export pasted into a
//! note, a ticket or an e-mail. The header says what each column holds, so a cell under
//! `last_name`, `SSN`, `routing` or `DOB` is that type whatever it looks like: names with
//! no cue around them, a date with an impossible month, an account number of any length.
//!
//! A header is a line of at least two short column names split by `|` or a tab, or at
//! least three split by `,` or `;`, at least one of which names a PII type. Every
//! following line with the same number of cells is a row; the table ends at the first
//! line that is not. Each non-empty cell of a typed column is one span, trimmed, if its
//! shape fits the type (a name column's cell has letters and no digits, a number
//! column's cell has digits).

use crate::types::EntityType;

/// Column and label words that name one person (`last_name`, `Subscriber`).
const PERSON_ONE: &[&str] = &[
    "name",
    "first",
    "last",
    "surname",
    "given",
    "middle",
    "fname",
    "lname",
    "firstname",
    "lastname",
    "fullname",
    "patient",
    "insured",
    "subscriber",
    "beneficiary",
    "claimant",
    "obligor",
    "policyholder",
    "guarantor",
    "spouse",
    "dependent",
    "borrower",
    "coborrower",
    "cardholder",
    "payee",
    "employee",
];

/// Column words for a person in a role (`author`, `agent`, `provider`). A column's
/// cells under them are people; a form's `Contact:` or `Provider:` is as often a desk or a
/// clinic, so form fields use only [`PERSON_ONE`].
const PERSON_ROLE: &[&str] = &[
    "payer",
    "emp",
    "customer",
    "client",
    "holder",
    "contact",
    "member",
    "participant",
    "caller",
    "agent",
    "rep",
    "nurse",
    "physician",
    "provider",
    "author",
    "adjuster",
    "reviewer",
    "assignee",
    "handler",
    "examiner",
    "signer",
    "witness",
    "attorney",
    "atty",
    "prescriber",
    "referrer",
    "therapist",
    "teller",
    "banker",
    "clerk",
    "caseworker",
    "user",
    "username",
];

/// What a column's name says it holds, if it names a PII type.
fn column_type(name: &str) -> Option<EntityType> {
    // Labels repeat ("Patient", "DOB", "MRN" in every record): remember the answers.
    thread_local! {
        static SEEN: std::cell::RefCell<std::collections::HashMap<String, Option<EntityType>>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    if let Some(t) = SEEN.with(|m| m.borrow().get(name).copied()) {
        return t;
    }
    let t = column_type_uncached(name);
    SEEN.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= 4096 {
            m.clear();
        }
        m.insert(name.to_owned(), t);
    });
    t
}

fn column_type_uncached(name: &str) -> Option<EntityType> {
    let lower = name.to_ascii_lowercase();
    let tokens: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    let has = |w: &str| tokens.contains(&w);
    let any = |ws: &[&str]| ws.iter().any(|w| has(w));
    if tokens.is_empty() {
        return None;
    }
    // Columns about something other than a person or an identifier.
    const NOT: &[&str] = &[
        "type",
        "status",
        "kind",
        "code",
        "file",
        "filename",
        "host",
        "hostname",
        "company",
        "employer",
        "business",
        "bank",
        "plan",
        "product",
        "drug",
        "med",
        "medication",
        "test",
        "device",
        "server",
        "app",
        "org",
        "organization",
        "facility",
        "dept",
        "department",
        "group",
        "grp",
        "count",
        "amount",
        "amt",
        "total",
        "balance",
        "error",
        "reason",
        "note",
        "notes",
        "comment",
        "flag",
        "relationship",
        "rel",
        "role",
        "title",
        "city",
        "state",
        "country",
        "county",
        "branch",
        "carrier",
    ];
    if any(NOT) {
        return None;
    }
    let joined: String = tokens.concat();
    let is = |ws: &[&str]| ws.contains(&joined.as_str());
    if is(&[
        "ssn",
        "socialsecurity",
        "socialsecuritynumber",
        "ssnum",
        "ssno",
    ]) || has("ssn")
    {
        return Some(EntityType::UsSsn);
    }
    if is(&[
        "dob",
        "birthdate",
        "dateofbirth",
        "birthday",
        "bdate",
        "birthdt",
    ]) || (has("dob"))
        || (has("birth") && !has("place"))
    {
        return Some(EntityType::DateOfBirth);
    }
    if any(&["routing", "aba", "rtn"]) {
        return Some(EntityType::UsBankRouting);
    }
    if any(&["acct", "account", "acctno", "acctnum", "accountnumber"]) && !has("name") {
        return Some(EntityType::UsBankAccount);
    }
    if any(&["mrn", "chart"]) || is(&["medicalrecord", "medicalrecordnumber", "recordnumber"]) {
        return Some(EntityType::MedicalRecordNumber);
    }
    if any(&["phone", "tel", "telephone", "mobile", "cell", "fax"]) {
        return Some(EntityType::Phone);
    }
    if any(&["email", "mail"]) {
        return Some(EntityType::Email);
    }
    if any(&["zip", "zipcode", "postal", "postcode"]) {
        return Some(EntityType::ZipCode);
    }
    if any(&["address", "addr", "street"]) {
        return Some(EntityType::StreetAddress);
    }
    if any(&["policy", "memberid", "subscriberid", "insuranceid"])
        || (has("member") && any(&["id", "no", "number", "num"]))
        || (has("subscriber") && any(&["id", "no", "number", "num"]))
    {
        return Some(EntityType::InsuranceId);
    }
    if any(&["card", "pan"]) && !has("name") {
        return Some(EntityType::CreditCard);
    }
    if is(&["ip", "ipaddress", "ipaddr"]) {
        return Some(EntityType::IpAddress);
    }
    if is(&["passport", "passportno", "passportnumber"]) {
        return Some(EntityType::Passport);
    }
    if is(&["npi"]) {
        return Some(EntityType::Npi);
    }
    if is(&["dl", "dlno", "driverslicense", "driverlicense", "licenseno"]) {
        return Some(EntityType::DriverLicense);
    }
    // `emp_id`, `patient_no`: an identifier of a kind this table does not say.
    if any(&["id", "no", "num", "number", "nbr"]) {
        return None;
    }
    if any(PERSON_ONE)
        || any(PERSON_ROLE)
        || PERSON_ONE.contains(&joined.as_str())
        || PERSON_ROLE.contains(&joined.as_str())
    {
        return Some(EntityType::Person);
    }
    None
}

/// Cells that say "nobody" or "nothing" rather than hold a value.
fn placeholder(cell: &str) -> bool {
    const P: &[&str] = &[
        "-", "—", "–", "n/a", "na", "none", "null", "nil", "unknown", "tbd", "self", "estate",
        "trust", "same", "x", "xx", "?", "redacted", "system", "auto", "batch", "signed",
        "on file",
    ];
    P.contains(&cell.to_lowercase().as_str())
}

/// Whether `cell` has the shape of a value of `t`.
fn fits(t: EntityType, cell: &str) -> bool {
    let digits = cell.bytes().filter(u8::is_ascii_digit).count();
    let letters = cell.chars().filter(|c| c.is_alphabetic()).count();
    match t {
        EntityType::Person => {
            cell.starts_with(|c: char| c.is_alphabetic())
                && letters >= 2
                && digits == 0
                && !cell.contains('@')
                && cell.split_whitespace().count() <= 6
                && !cell
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|w| crate::person::ORGS.contains(&w.to_lowercase().as_str()))
        }
        EntityType::Email => cell.contains('@'),
        EntityType::StreetAddress => letters >= 2 && digits >= 1,
        _ => digits >= 2,
    }
}

/// The "delimiter" of a fixed-width report (a bank's returns file, a pharmacy log
/// printed in columns): its columns are split by runs of two or more spaces.
const GAP: u8 = 0;

/// Splits a line into trimmed cells with their byte ranges (relative to the line).
/// Commas and semicolons honour double quotes; `|` and tabs do not need to. With [`GAP`],
/// a cell ends at two or more spaces (or a tab); a single space stays inside it.
fn cells(line: &str, delim: u8) -> Vec<(usize, usize)> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    if delim == GAP {
        let mut i = 0usize;
        while i < b.len() {
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            if i == b.len() {
                break;
            }
            let start = i;
            while i < b.len()
                && b[i] != b'\t'
                && !(b[i] == b' ' && b.get(i + 1).is_some_and(|&c| c == b' ' || c == b'\t'))
            {
                i += 1;
            }
            out.push((start, i));
        }
        return out
            .into_iter()
            .map(|(s, e)| (s, s + line[s..e].trim_end().len()))
            .collect();
    }
    let mut start = 0usize;
    let mut end = b.len();
    // A markdown table's row opens and closes with a pipe: no cell before or after.
    if delim == b'|' {
        let lead = b.iter().take_while(|&&c| c == b' ').count();
        if b.get(lead) == Some(&b'|') {
            start = lead + 1;
            let trail = b.iter().rev().take_while(|&&c| c == b' ').count();
            if end - trail > start && b[end - trail - 1] == b'|' {
                end -= trail + 1;
            }
        }
    }
    let mut quoted = false;
    let quotes = delim == b',' || delim == b';';
    for (i, &c) in b.iter().enumerate().take(end).skip(start) {
        if quotes && c == b'"' {
            quoted = !quoted;
        } else if c == delim && !quoted {
            out.push((start, i));
            start = i + 1;
        }
    }
    out.push((start, end));
    out.into_iter()
        .map(|(s, e)| {
            let cell = &line[s..e];
            let lead = cell.len() - cell.trim_start().len();
            let inner = cell.trim();
            let (mut s, mut e) = (s + lead, s + lead + inner.len());
            if quotes && e - s >= 2 && b[s] == b'"' && b[e - 1] == b'"' {
                s += 1;
                e -= 1;
            }
            (s, e)
        })
        .collect()
}

/// The delimiter and typed columns of a header line, if it is one.
fn header(line: &str) -> Option<(u8, Vec<Option<EntityType>>)> {
    if line.len() > 400 {
        return None;
    }
    // One pass: delimiter counts and spaces. Column names have at most three words, so a
    // line with more spaces than that is prose.
    // Spaces between two words of a cell (not the padding around a delimiter) are
    // counted as `word_gaps`; runs of two spaces as `gaps`.
    let sep = |c: u8| matches!(c, b' ' | b'|' | b'\t' | b',' | b';');
    let (mut pipes, mut tabs, mut commas, mut semis, mut gaps) = (0, 0, 0, 0, 0);
    let mut word_gaps = 0usize;
    let (mut prev2, mut prev) = (b' ', b' ');
    for c in line.bytes() {
        match c {
            b'|' => pipes += 1,
            b'\t' => tabs += 1,
            b',' => commas += 1,
            b';' => semis += 1,
            b' ' => gaps += usize::from(prev == b' '),
            _ => {}
        }
        word_gaps += usize::from(prev == b' ' && !sep(prev2) && !sep(c));
        prev2 = prev;
        prev = c;
    }
    let (mut delim, n) = [(b'|', pipes), (b'\t', tabs), (b',', commas), (b';', semis)]
        .into_iter()
        .max_by_key(|&(_, n)| n)?;
    let min = if delim == b'|' || delim == b'\t' {
        1
    } else {
        2
    };
    let mut words = if delim == b',' || delim == b';' { 2 } else { 3 };
    if n < min || word_gaps > (n + 1) * words {
        // A fixed-width report's header: at least three column names of at most three
        // words, split by runs of spaces.
        if n > 0 || gaps < 2 {
            return None;
        }
        delim = GAP;
        words = 3;
    }
    let cs = cells(line, delim);
    if delim == GAP && cs.len() < 3 {
        return None;
    }
    let mut types = Vec::with_capacity(cs.len());
    for &(s, e) in &cs {
        let name = &line[s..e];
        let ok = !name.is_empty()
            && name.len() <= 40
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.split_whitespace().count() <= words
            && !name.ends_with('.')
            && name.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || " _#./()-".contains(c)
                    || (c == ',' && matches!(delim, b'|' | b'\t'))
            });
        if !ok {
            return None;
        }
        types.push(column_type(name));
    }
    types.iter().any(Option::is_some).then_some((delim, types))
}

/// Finds the typed cells of every table in `text`; `emit(start, end, type, score)` gets
/// byte offsets into `text`. Returns false when `cancelled` said stop.
pub(crate) fn find(
    text: &str,
    cancelled: &dyn Fn() -> bool,
    mut emit: impl FnMut(usize, usize, EntityType, f32),
) -> bool {
    // Cheap test first: no delimiter that a table needs, no table.
    if !text
        .bytes()
        .any(|c| matches!(c, b'|' | b'\t' | b',' | b';'))
        && !text.contains("   ")
    {
        return true;
    }
    let mut lines = text
        .split_inclusive('\n')
        .scan(0usize, |pos, l| {
            let off = *pos;
            *pos += l.len();
            Some((off, l.trim_end_matches(['\n', '\r'])))
        })
        .peekable();
    let mut n = 0usize;
    while let Some((_, line)) = lines.next() {
        n += 1;
        if n.is_multiple_of(4096) && cancelled() {
            return false;
        }
        let Some((delim, types)) = header(line) else {
            continue;
        };
        // A rule under the header (`-------  -----`, `|---|---|`) is not a row.
        if lines.peek().is_some_and(|&(_, row)| {
            !row.trim().is_empty() && row.bytes().all(|c| b" \t-=+|:_".contains(&c))
        }) {
            lines.next();
        }
        while let Some(&(off, row)) = lines.peek() {
            if row.trim().is_empty() || header(row).is_some() {
                break;
            }
            let cs = cells(row, delim);
            if cs.len() != types.len() {
                break;
            }
            for (&(s, e), t) in cs.iter().zip(&types) {
                let Some(t) = *t else { continue };
                let cell = &row[s..e];
                if cell.is_empty() || placeholder(cell) || !fits(t, cell) {
                    continue;
                }
                emit(off + s, off + e, t, 0.96);
            }
            lines.next();
        }
    }
    true
}

/// `"key": "value"` pairs of JSON pasted into a ticket or a log (`"last_name":
/// "Haddad-Rivers"`, `"ssn": "219-09-9999"`, `"acct": 2094417730`): the key says what the
/// value is, as a table's header does. `emit(start, end, type, score)` gets the value's
/// byte range (inside its quotes).
pub(crate) fn json_pairs(
    text: &str,
    cancelled: &dyn Fn() -> bool,
    mut emit: impl FnMut(usize, usize, EntityType, f32),
) -> bool {
    let b = text.as_bytes();
    // The end of a JSON string whose opening quote is at `q`, within `max` bytes.
    let string_end = |q: usize, max: usize| {
        let mut k = q + 1;
        while k < b.len() && k - q <= max {
            match b[k] {
                b'\\' => k += 2,
                b'"' => return Some(k),
                b'\n' => return None,
                _ => k += 1,
            }
        }
        None
    };
    let mut from = 0usize;
    let mut n = 0usize;
    while let Some(q) = text[from..].find('"').map(|i| from + i) {
        n += 1;
        if n.is_multiple_of(4096) && cancelled() {
            return false;
        }
        let Some(kend) = string_end(q, 40) else {
            from = q + 1;
            continue;
        };
        from = kend + 1;
        let mut k = kend + 1;
        while k < b.len() && b[k] == b' ' {
            k += 1;
        }
        if b.get(k) != Some(&b':') {
            continue;
        }
        k += 1;
        while k < b.len() && b[k] == b' ' {
            k += 1;
        }
        let key = &text[q + 1..kend];
        let Some(t) = column_type(key) else { continue };
        let (vs, ve) = if b.get(k) == Some(&b'"') {
            match string_end(k, 200) {
                Some(e) => {
                    // Past the value's closing quote, so it is not taken for an opening one.
                    from = e + 1;
                    (k + 1, e)
                }
                None => continue,
            }
        } else {
            let d = b[k..].iter().take_while(|c| c.is_ascii_digit()).count();
            from = k + d;
            (k, k + d)
        };
        let value = &text[vs..ve];
        if !value.is_empty() && !placeholder(value) && fits(t, value) {
            emit(vs, ve, t, 0.96);
        }
    }
    true
}

/// `<Tag>value</Tag>` elements of XML pasted into a ticket or a claim (`<Surname>Baek</Surname>`,
/// `<BirthDate>1970-04-28</BirthDate>`): the tag says what the value is, as a table's
/// header does. A tag in camel case reads as words (`GivenName`: "given name"); a namespace
/// prefix is dropped. `emit(start, end, type, score)` gets the value's byte range.
pub(crate) fn xml_elements(
    text: &str,
    cancelled: &dyn Fn() -> bool,
    mut emit: impl FnMut(usize, usize, EntityType, f32),
) -> bool {
    let b = text.as_bytes();
    let mut from = 0usize;
    let mut n = 0usize;
    while let Some(lt) = text[from..].find('<').map(|i| from + i) {
        n += 1;
        if n.is_multiple_of(4096) && cancelled() {
            return false;
        }
        from = lt + 1;
        let ns = lt + 1;
        let ne = ns
            + b[ns..]
                .iter()
                .take(41)
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b':' | b'-'))
                .count();
        if ne == ns || ne - ns > 40 || b.get(ne) != Some(&b'>') || !b[ns].is_ascii_alphabetic() {
            continue;
        }
        let vs = ne + 1;
        let Some(rel) = b[vs..b.len().min(vs + 200)]
            .iter()
            .position(|&c| c == b'<' || c == b'\n')
        else {
            continue;
        };
        let ve = vs + rel;
        let tag = &text[ns..ne];
        if !(text[ve..].starts_with("</")
            && text[ve + 2..].starts_with(tag)
            && b.get(ve + 2 + tag.len()) == Some(&b'>'))
        {
            continue;
        }
        from = ve;
        let local = tag.rsplit(':').next().unwrap_or(tag);
        let mut name = String::with_capacity(local.len() + 4);
        let mut prev_lower = false;
        for c in local.chars() {
            if c.is_ascii_uppercase() && prev_lower {
                name.push('_');
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            name.push(c);
        }
        let Some(t) = column_type(&name) else {
            continue;
        };
        let raw = &text[vs..ve];
        let value = raw.trim();
        let s0 = vs + (raw.len() - raw.trim_start().len());
        if !value.is_empty() && !placeholder(value) && fits(t, value) {
            emit(s0, s0 + value.len(), t, 0.95);
        }
    }
    true
}

/// Logins made of a name after "by" (`by jasmine_okafor`, `by agent r.achebe`,
/// `by mohammed.alharbi`): two parts of letters joined by a dot or an underscore, the
/// second of at least three letters and no file or domain ending. `emit(start, end)`.
pub(crate) fn by_handles(text: &str, mut emit: impl FnMut(usize, usize)) {
    const NOT_SECOND: &[&str] = &[
        "com", "org", "net", "gov", "edu", "txt", "log", "csv", "pdf", "json", "yaml", "yml",
        "xml", "html", "htm", "docx", "xlsx", "png", "jpg", "jpeg", "zip", "exe", "sh", "py", "rs",
        "js", "ts", "md", "cfg", "conf", "ini", "toml", "sql", "bak", "tmp", "dat", "info", "io",
        "app", "dev", "local", "internal", "service", "system", "admin", "bot", "svc", "batch",
        "job", "auto", "daemon", "test",
    ];
    let b = text.as_bytes();
    let mut from = 0usize;
    while let Some(k) = text[from..].find("by ").map(|i| from + i) {
        from = k + 3;
        if k > 0 && b[k - 1].is_ascii_alphanumeric() {
            continue;
        }
        let mut s = k + 3;
        for role in ["agent ", "user ", "rep ", "analyst ", "staff "] {
            if text[s..].starts_with(role) {
                s += role.len();
                break;
            }
        }
        let len = b[s..]
            .iter()
            .take(41)
            .take_while(|c| c.is_ascii_alphabetic() || matches!(c, b'.' | b'_'))
            .count();
        let mut tok = &text[s..s + len];
        tok = tok.trim_end_matches('.');
        let e = s + tok.len();
        if tok.len() < 5
            || tok.len() > 40
            || b.get(e).is_some_and(|c| {
                c.is_ascii_alphanumeric() || matches!(c, b'@' | b'-' | b'(' | b'/')
            })
        {
            continue;
        }
        let parts: Vec<&str> = tok.split(['.', '_']).collect();
        if parts.len() != 2
            || parts[0].is_empty()
            || parts[1].len() < 3
            || NOT_SECOND.contains(&parts[1].to_ascii_lowercase().as_str())
            || NOT_SECOND.contains(&parts[0].to_ascii_lowercase().as_str())
        {
            continue;
        }
        emit(s, e);
        from = e;
    }
}

/// Labels that name one person in a form (`Subscriber: BRANDT,LUKAS`, `FIRST: Kenji`).
/// Narrower than a column's: a form's `Contact:` or `Provider:` is as often a desk or a
/// clinic.
fn form_person_label(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let tokens: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    tokens.iter().any(|t| PERSON_ONE.contains(t))
}

/// Form fields, `LABEL: value`, where the label opens a line or follows a run of spaces
/// and names a type (`LAST NAME: Nakamura    FIRST: Kenji`, `Policy #: PR-HO-0441827`).
/// The value runs to two spaces, a tab or the end of the line. Not for addresses,
/// phones, e-mails and ZIP codes, whose own detectors see further.
pub(crate) fn form_fields(
    text: &str,
    cancelled: &dyn Fn() -> bool,
    mut emit: impl FnMut(usize, usize, EntityType, f32),
) -> bool {
    let b = text.as_bytes();
    let mut from = 0usize;
    let mut n = 0usize;
    while let Some(c) = text[from..].find(':').map(|i| from + i) {
        n += 1;
        if n.is_multiple_of(4096) && cancelled() {
            return false;
        }
        from = c + 1;
        if b.get(c + 1) != Some(&b' ') {
            continue;
        }
        from = c + 2;
        // The label: back to the line start or to two spaces / a tab.
        let mut ls = c;
        while ls > 0 && c - ls <= 30 && text.is_char_boundary(ls - 1) {
            let p = b[ls - 1];
            if p == b'\n' || p == b'\t' || (p == b' ' && ls >= 2 && b[ls - 2] == b' ') {
                break;
            }
            ls -= 1;
        }
        let opens = ls == 0 || matches!(b[ls - 1], b'\n' | b'\t' | b' ');
        if !opens || c - ls > 30 || c == ls {
            continue;
        }
        let label = text[ls..c].trim();
        if label.split_whitespace().count() > 3
            || !label.starts_with(|ch: char| ch.is_ascii_alphabetic())
            || !label
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || " _#./()-".contains(ch))
        {
            continue;
        }
        let Some(t) = column_type(label) else {
            continue;
        };
        // Addresses, phones, e-mails and ZIP codes have their own detectors, which see
        // past a line break; a field's value would cut them short.
        let own_detector = matches!(
            t,
            EntityType::StreetAddress | EntityType::ZipCode | EntityType::Phone | EntityType::Email
        );
        if own_detector || (t == EntityType::Person && !form_person_label(label)) {
            continue;
        }
        // The value.
        let mut vs = c + 2;
        while vs < b.len() && b[vs] == b' ' {
            vs += 1;
        }
        let mut ve = vs;
        while ve < b.len()
            && b[ve] != b'\n'
            && b[ve] != b'\t'
            && !(b[ve] == b' ' && b.get(ve + 1) == Some(&b' '))
            && ve - vs < 60
        {
            ve += 1;
        }
        while !text.is_char_boundary(ve) {
            ve -= 1;
        }
        let mut value = text[vs..ve].trim_end_matches([' ', ',', ';']);
        if t == EntityType::Person {
            // A trailing period ends a sentence unless it ends an initial ("Astrid L.").
            let last = value.rsplit(' ').next().unwrap_or("");
            if value.ends_with('.') && last.chars().filter(|c| c.is_alphabetic()).count() > 1 {
                value = &value[..value.len() - 1];
            }
        } else {
            // An identifier is its first tokens with a digit ("4410293 (billing)", "XAZ 6620
            // 8817 4"); a word without one ends it.
            let mut end = 0usize;
            for (k, tok) in value.split(' ').scan(0usize, |off, tok| {
                let at = *off;
                *off += tok.len() + 1;
                Some((at, tok))
            }) {
                let short_caps = tok.len() <= 4 && tok.bytes().all(|c| c.is_ascii_uppercase());
                // A date's month name is part of it ("DOB: 10 October 1953").
                let month = matches!(t, EntityType::Date | EntityType::DateOfBirth)
                    && crate::ops::month_of(tok.trim_end_matches(['.', ','])).is_some();
                if tok.bytes().any(|c| c.is_ascii_digit()) || (short_caps && k == 0) || month {
                    end = k + tok.len();
                } else {
                    break;
                }
            }
            value = value[..end].trim_end_matches(['.', ',']);
        }
        let ve = vs + value.len();
        if !value.is_empty() && !placeholder(value) && fits(t, value) {
            emit(vs, ve, t, 0.93);
        }
    }
    true
}

/// Speaker handles of a timestamped chat or work log (`[09:59] rahim.k: hi`, `10:02 jdoe:
/// ok`, `2025-01-13 09:05  ARIVERA — Hardship form`, `07/09 08:15 A. Castañeda: swap`):
/// the handle names a person even when it is a login rather than a name. Role words
/// (`agent`, `system`, `bot`, ...) are not handles. `emit(start, end)` gets byte offsets.
pub(crate) fn chat_handles(text: &str, mut emit: impl FnMut(usize, usize)) {
    const ROLES: &[&str] = &[
        "agent",
        "system",
        "bot",
        "user",
        "customer",
        "client",
        "rep",
        "support",
        "me",
        "you",
        "admin",
        "operator",
        "caller",
        "host",
        "guest",
        "moderator",
        "assistant",
        "nurse",
        "doctor",
        "patient",
        "member",
        "auto",
        "note",
        "info",
        "warn",
        "error",
        "debug",
        "batch",
        "job",
        "sys",
        "api",
        "svc",
        "service",
    ];
    let digits = |b: &[u8], i: usize| {
        b[i.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let mut pos = 0usize;
    for l in text.split_inclusive('\n') {
        let line_start = pos;
        pos += l.len();
        let b = l.as_bytes();
        let mut i = 0usize;
        let bracket = b.first() == Some(&b'[');
        if bracket {
            i = 1;
        }
        // An optional date first: 2025-01-13, 07/09, 07/09/2025.
        let d0 = digits(b, i);
        if (1..=4).contains(&d0) && matches!(b.get(i + d0), Some(b'-' | b'/')) {
            let mut k = i + d0 + 1;
            let d1 = digits(b, k);
            if (1..=2).contains(&d1) {
                k += d1;
                if matches!(b.get(k), Some(b'-' | b'/')) && (2..=4).contains(&digits(b, k + 1)) {
                    k += 1 + digits(b, k + 1);
                }
                let sp = b[k..]
                    .iter()
                    .take_while(|c| **c == b' ' || **c == b'T')
                    .count();
                if sp > 0 {
                    i = k + sp;
                }
            }
        }
        // hh:mm or hh:mm:ss, optionally with am/pm.
        let d1 = digits(b, i);
        if !(1..=2).contains(&d1) || b.get(i + d1) != Some(&b':') {
            continue;
        }
        i += d1 + 1;
        let d2 = b[i..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || **c == b':')
            .count();
        if d2 < 2 {
            continue;
        }
        i += d2;
        let lower = l[i..].to_ascii_lowercase();
        for ampm in [" am", " pm", "am", "pm"] {
            if lower.starts_with(ampm) {
                i += ampm.len();
                break;
            }
        }
        if bracket {
            if b.get(i) != Some(&b']') {
                continue;
            }
            i += 1;
        }
        let sp = b[i..]
            .iter()
            .take_while(|c| **c == b' ' || **c == b'\t')
            .count();
        if sp == 0 {
            continue;
        }
        i += sp;
        // The handle: a login (`rahim.k`, `JHOLM`) or an initial and a surname
        // (`A. Castañeda`).
        let login = b[i..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
            .count();
        let mut h = login;
        if login == 2
            && b[i].is_ascii_uppercase()
            && b[i + 1] == b'.'
            && b.get(i + 2) == Some(&b' ')
        {
            let surname = l[i + 3..]
                .chars()
                .take_while(|c| c.is_alphabetic() || *c == '-' || *c == '\'')
                .map(char::len_utf8)
                .sum::<usize>();
            if surname >= 2 && l[i + 3..].starts_with(|c: char| c.is_uppercase()) {
                h = 3 + surname;
            }
        }
        if !(2..=32).contains(&h) || !b[i].is_ascii_alphabetic() {
            continue;
        }
        let after = &l[i + h..];
        let ends = after.starts_with(':')
            || after.starts_with(" — ")
            || after.starts_with("  — ")
            || after.starts_with(" - ");
        if !ends {
            continue;
        }
        let handle = &l[i..i + h];
        if ROLES.contains(&handle.to_ascii_lowercase().as_str()) {
            continue;
        }
        // A login (`rahim.k`, `j_doe`, `mfarouk`, `ARIVERA`) or an initial and a surname;
        // a capitalised word (`Agency`, `Devon`) is left to the name rules.
        let hb = handle.as_bytes();
        let login_like = h > login
            || hb.iter().any(|c| matches!(c, b'.' | b'_' | b'0'..=b'9'))
            || (hb.len() >= 3 && hb.iter().all(u8::is_ascii_lowercase))
            || (hb.len() >= 4 && hb.iter().all(u8::is_ascii_uppercase));
        if !login_like {
            continue;
        }
        emit(line_start + i, line_start + i + h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str) -> Vec<(String, EntityType)> {
        let mut v = Vec::new();
        find(text, &|| false, |s, e, t, _| {
            v.push((text[s..e].to_owned(), t))
        });
        v
    }

    #[test]
    fn columns_name_their_types() {
        for (name, t) in [
            ("last_name", Some(EntityType::Person)),
            ("First", Some(EntityType::Person)),
            ("EMPLOYEE_NAME", Some(EntityType::Person)),
            ("SSN", Some(EntityType::UsSsn)),
            ("DOB", Some(EntityType::DateOfBirth)),
            ("routing", Some(EntityType::UsBankRouting)),
            ("acct", Some(EntityType::UsBankAccount)),
            ("acct_type", None),
            ("Member ID", Some(EntityType::InsuranceId)),
            ("drug_name", None),
            ("error", None),
            ("emp_id", None),
            ("COVERAGE", None),
        ] {
            assert_eq!(column_type(name), t, "{name}");
        }
    }

    #[test]
    fn csv_and_pipe_rows() {
        let t = "Import log\nemp_id,last,first,routing,acct,acct_type,error\n20931,OYELOWO,ADEWALE,073000228,0093821144,C,OK\n20944,van der Berg,Pieter,261073313,551902837,S,\"acct len\"\n\nResolution: done, thanks, bye";
        let got = spans(t);
        let names: Vec<&str> = got.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "OYELOWO",
                "ADEWALE",
                "073000228",
                "0093821144",
                "van der Berg",
                "Pieter",
                "261073313",
                "551902837"
            ]
        );
        let p = "NAME|SSN|DOB|COVERAGE|BENEFICIARY|REL\nKaufusi, Sione|530-71-8842|1979-13-02|2X|ESTATE|SPOUSE\n";
        let got = spans(p);
        assert_eq!(
            got,
            [
                ("Kaufusi, Sione".to_owned(), EntityType::Person),
                ("530-71-8842".to_owned(), EntityType::UsSsn),
                ("1979-13-02".to_owned(), EntityType::DateOfBirth),
            ]
        );
    }

    #[test]
    fn chat_log_handles() {
        let t = "[09:59] rahim.k: hi jessie\n[10:00] Agent: hello\n10:02 pm j_doe: ok\nat 10:03 bob: no\n2025-01-13 09:05  ARIVERA — form rec'd\n07/09 08:15 A. Castañeda: swap\n2025-01-06 08:03 SYSTEM — letter\n";
        let mut got = Vec::new();
        chat_handles(t, |s, e| got.push(&t[s..e]));
        assert_eq!(got, ["rahim.k", "j_doe", "ARIVERA", "A. Castañeda"]);
    }

    #[test]
    fn json_values_and_form_fields() {
        let j = r#"{"first_name": "Noor", "last_name":"Haddad-Rivers", "member_id": "THP55120843", "acct": 2094417730, "plan": "Gold", "user_name": "tomasz.wrobel", "user": "u48812"}"#;
        let mut got = Vec::new();
        json_pairs(j, &|| false, |s, e, t, _| got.push((&j[s..e], t)));
        assert_eq!(
            got,
            [
                ("Noor", EntityType::Person),
                ("Haddad-Rivers", EntityType::Person),
                ("THP55120843", EntityType::InsuranceId),
                ("2094417730", EntityType::UsBankAccount),
                ("tomasz.wrobel", EntityType::Person),
            ]
        );
        let f = "PATIENT LAST NAME: Nakamura            FIRST: Kenji            MI: T\nProvider: Bayou Clinic\nSubscriber: BRANDT,LUKAS    Rel: spouse\nNote: call back\n";
        let mut got = Vec::new();
        form_fields(f, &|| false, |s, e, t, _| got.push((&f[s..e], t)));
        assert_eq!(
            got,
            [
                ("Nakamura", EntityType::Person),
                ("Kenji", EntityType::Person),
                ("BRANDT,LUKAS", EntityType::Person),
            ]
        );
    }

    #[test]
    fn a_date_field_keeps_its_month_name() {
        let f = "DOB: 10 October 1953   MRN: 55120843\nDate of birth: Sept. 4, 1961\nDOB: 12 May\n";
        let mut got = Vec::new();
        form_fields(f, &|| false, |s, e, t, _| got.push((&f[s..e], t)));
        assert!(
            got.contains(&("10 October 1953", EntityType::DateOfBirth)),
            "{got:?}"
        );
        assert!(
            got.contains(&("Sept. 4, 1961", EntityType::DateOfBirth)),
            "{got:?}"
        );
        assert!(!got.iter().any(|(v, _)| *v == "10"), "{got:?}");
    }

    #[test]
    fn prose_with_commas_is_not_a_table() {
        assert!(
            spans("Name, date, and reason were given, but nothing else.\nIt was fine, ok, yes")
                .is_empty()
        );
        assert!(spans("Mary, John, Paul\nA, B, C").is_empty());
    }
}
