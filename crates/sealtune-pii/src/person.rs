//! Person names: gazetteer flags and cue words, looked up once per word in
//! one hash table, then a few rules over the word sequence.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use crate::names;

pub(crate) const FIRST: u16 = names::FIRST as u16;
pub(crate) const LAST: u16 = names::LAST as u16;
pub(crate) const WORD: u16 = names::WORD as u16;

/// Flag: a closed-class or domain word that never starts a name.
pub(crate) const STOP: u16 = 1 << 3;
/// Flag: a title ("Dr", "Mrs").
pub(crate) const TITLE: u16 = 1 << 4;
/// Flag: a label followed by ':' ("Patient:", "Name:").
pub(crate) const LABEL: u16 = 1 << 5;
/// Flag: a label that introduces a name without a colon ("patient Maria Lopez").
const BARE: u16 = 1 << 6;
/// Flag: a preposition or verb often followed by a full name.
const WEAK: u16 = 1 << 7;
/// Flag: a salutation or sign-off ("Dear", "Regards").
pub(crate) const SALUT: u16 = 1 << 8;
/// Flag: a surname particle ("de", "van").
const PARTICLE: u16 = 1 << 9;
/// Flag: the verb of a self-introduction ("is", "am").
const INTRO: u16 = 1 << 10;
/// Flag: the word before an introduction verb ("name", "this").
const INTRO_PREV: u16 = 1 << 11;
/// Flag: a kin or personal-relation word ("wife", "niece"): a capitalised word
/// right after it is a name even when it is also an ordinary word ("wife Grace").
const KIN: u16 = 1 << 12;
/// Flag: a credential written after a name ("RN", "MD").
pub(crate) const CRED: u16 = 1 << 13;
/// Flag: a word that ends or follows an organisation's name ("Pharmacy", "Mutual").
pub(crate) const ORG: u16 = 1 << 14;

const TITLES: &[&str] = &[
    "dr",
    "mr",
    "mrs",
    "ms",
    "mx",
    "miss",
    "prof",
    "professor",
    "doctor",
    "nurse",
    "sra",
    "sr",
    "dra",
    "herr",
    "frau",
    "mme",
    "mlle",
    "señor",
    "señora",
    "sister",
    "rev",
    "doamnă",
    "doamna",
    "domnul",
    "domnule",
    "dna",
    "bapak",
    "bpk",
    "ibu",
    "pak",
    "sdr",
    "sdri",
    "ông",
    "bà",
    "pani",
    "signor",
    "signora",
    "sig",
    "dott",
    "mevrouw",
    "meneer",
    "dhr",
    "mevr",
    "heer",
    "doña",
    "srta",
    "señorita",
    "monsieur",
    "madame",
];
const LABELS: &[&str] = &[
    "patient",
    "name",
    "pt",
    "member",
    "insured",
    "subscriber",
    "cardholder",
    "client",
    "customer",
    "caller",
    "guarantor",
    "contact",
    "physician",
    "provider",
    "attending",
    "surgeon",
    "signed",
    "by",
    "from",
    "to",
    "cc",
    "guardian",
    "mother",
    "father",
    "spouse",
    "wife",
    "husband",
    "son",
    "daughter",
    "referred",
    "author",
    "agent",
    "rep",
    "representative",
    "applicant",
    "beneficiary",
    "employee",
    "holder",
    "owner",
    "resident",
    "pcp",
    "seen",
    "accompanied",
    "witness",
    "requester",
    "user",
    "sender",
    "recipient",
    "payee",
    "nok",
    "crew",
    "obligor",
    "obligee",
    "signature",
    "paciente",
    "nombre",
    "cliente",
    "titular",
    "asegurado",
    "asegurada",
    "claimant",
    "borrower",
    "borrowers",
    "coborrower",
    "primary",
    "contingent",
    "dependent",
    "dependents",
    "ordering",
    "referring",
    "reading",
    "candidate",
    "policyholder",
    "prescriber",
    "banker",
    "insd",
    "parent",
    "parents",
    "emergency",
];
const BARE_LABELS: &[&str] = &[
    "patient",
    "pt",
    "attending",
    "physician",
    "surgeon",
    "guarantor",
    "cardholder",
    "subscriber",
    "insured",
    "caller",
    "resident",
    "witness",
    "customer",
    "client",
    "member",
    "claimant",
    "candidate",
    "borrower",
    "borrowers",
    "coborrower",
    "banker",
    "applicant",
    "beneficiary",
    "policyholder",
    "prescriber",
    "dependent",
    "employee",
    "tenant",
    "insd",
    "agent",
    "rep",
    "officer",
    "adjuster",
    "driver",
    "victim",
    "manager",
    "supervisor",
    "teller",
    "advisor",
    "adviser",
    "pharmacist",
    "therapist",
    "staff",
    "names",
    "student",
    "technician",
    "tech",
];
const KINS: &[&str] = &[
    "husband",
    "wife",
    "son",
    "daughter",
    "mother",
    "father",
    "mom",
    "mum",
    "mommy",
    "mama",
    "dad",
    "daddy",
    "papa",
    "brother",
    "sister",
    "niece",
    "nephew",
    "aunt",
    "auntie",
    "uncle",
    "grandson",
    "granddaughter",
    "grandmother",
    "grandfather",
    "grandma",
    "grandpa",
    "granny",
    "grandchild",
    "partner",
    "fiance",
    "fiancee",
    "boyfriend",
    "girlfriend",
    "spouse",
    "hubby",
    "cousin",
    "stepson",
    "stepdaughter",
    "stepmother",
    "stepfather",
    "stepmom",
    "stepdad",
    "caregiver",
    "friend",
    "neighbor",
    "neighbour",
    "sibling",
    "roommate",
    "child",
    "kid",
    "baby",
    "relative",
    "twin",
    "motherinlaw",
    "fatherinlaw",
    "sisterinlaw",
    "brotherinlaw",
    "soninlaw",
    "daughterinlaw",
    "godmother",
    "godfather",
    "ex",
    "hija",
    "hijo",
    "esposo",
    "esposa",
    "nieto",
    "nieta",
    "hermana",
    "hermano",
    "madre",
    "padre",
    "abuela",
    "abuelo",
    "tia",
    "tio",
    "sobrina",
    "sobrino",
    "prima",
    "primo",
    "novio",
    "novia",
    // Kin words of more of the sets' languages (Portuguese, French, German, Italian,
    // Dutch, Polish, Turkish, Indonesian, Romanian, Vietnamese).
    "marido",
    "mulher",
    "filho",
    "filha",
    "mãe",
    "pai",
    "irmão",
    "irmã",
    "neto",
    "neta",
    "épouse",
    "fils",
    "fille",
    "mère",
    "père",
    "frère",
    "sœur",
    "ehefrau",
    "ehemann",
    "sohn",
    "tochter",
    "mutter",
    "vater",
    "bruder",
    "schwester",
    "enkel",
    "enkelin",
    "moglie",
    "marito",
    "figlio",
    "figlia",
    "fratello",
    "sorella",
    "echtgenote",
    "echtgenoot",
    "zoon",
    "dochter",
    "żona",
    "mąż",
    "córka",
    "syn",
    "eşim",
    "eşi",
    "oğlum",
    "oğlu",
    "kızım",
    "kızı",
    "annem",
    "babam",
    "istri",
    "istrinya",
    "suami",
    "suaminya",
    "anak",
    "anaknya",
    "soția",
    "soțul",
    "fiul",
    "fiica",
    "vợ",
    "chồng",
];
const CREDS: &[&str] = &[
    "md", "do", "rn", "np", "lpn", "lvn", "pa", "pac", "phd", "dds", "dmd", "pharmd", "rph", "cnm",
    "crna", "msw", "lcsw", "dnp", "aprn", "fnp", "cna", "emt", "od", "dpm", "mph", "bsn", "msn",
    "facp", "facs", "esq", "cpa", "mls", "rrt", "psyd", "lmft", "lpc", "mbbs", "frcp", "rd",
];
pub(crate) const ORGS: &[&str] = &[
    "pharmacy",
    "clinic",
    "hospital",
    "bank",
    "mutual",
    "insurance",
    "health",
    "healthcare",
    "group",
    "inc",
    "llc",
    "ltd",
    "corp",
    "company",
    "associates",
    "university",
    "college",
    "school",
    "church",
    "foundation",
    "trust",
    "credit",
    "union",
    "labs",
    "laboratory",
    "laboratories",
    "imaging",
    "dental",
    "pediatrics",
    "partners",
    "services",
    "solutions",
    "systems",
    "financial",
    "capital",
    "federal",
    "national",
    "savings",
    "assurance",
    "medical",
    "center",
    "centre",
    "office",
    "department",
    "institute",
    "agency",
    "realty",
    "motors",
    "logistics",
    "airlines",
    "airways",
    "travel",
    "library",
    "county",
    "city",
    "valley",
    "gmbh",
    "plc",
    "sarl",
    "srl",
    "sigorta",
    "sigortası",
    "bankası",
    "banco",
    "banca",
    "banque",
    "asigurări",
    "asigurari",
    "seguros",
    "assurances",
    "versicherung",
    "physio",
    "physiotherapy",
    "ortho",
    "orthopedics",
    "pavilion",
    "tower",
    "café",
    "cafe",
    "pflegedienst",
    "klinik",
    "klinikum",
    "praxis",
    "apotheke",
    "farmacia",
    "clínica",
    "sjukhus",
    "vårdcentralen",
    "ziekenhuis",
    "szpital",
    "hastanesi",
];
/// Abbreviations and chat words that are not in the dictionary but are never names.
pub(crate) const EXTRA_COMMON: &[&str] = &[
    "hgb",
    "dx",
    "hx",
    "tx",
    "sx",
    "rx",
    "fx",
    "meds",
    "dispo",
    "abx",
    "ok",
    "okay",
    "ive",
    "im",
    "hr",
    "ed",
    "icu",
    "er",
    "mrn",
    "dob",
    "ssn",
    "npi",
    "bp",
    "rr",
    "vs",
    "pcp",
    "ros",
    "hpi",
    "cc",
    "poa",
    "fyi",
    "asap",
    "thx",
    "pls",
    "plz",
    "btw",
    "lol",
    "yep",
    "yeah",
    "hmm",
    "umm",
    "mychart",
    "sms",
    "acct",
    "appt",
    "approx",
    "amt",
    "bal",
    "ded",
    "ach",
    "atm",
    "pin",
    "otp",
    "mfa",
    "hwy",
    "pkwy",
    "blvd",
    "ln",
    "ct",
    "aly",
    "ter",
    "cir",
    "ste",
    "apt",
    "fl",
    "rm",
    "po",
    "usa",
    "us",
    "uk",
    "eu",
    "pm",
    "am",
    "est",
    "pst",
    "cst",
    "mst",
    "utc",
    "fnol",
    "rcv",
    "acv",
    "pdmp",
    "prn",
    "bid",
    "tid",
    "qid",
    "qd",
    "po",
    "iv",
    "im",
    "sq",
    "npo",
    "wbc",
    "rbc",
    "plt",
    "inr",
    "bmp",
    "cmp",
    "cbc",
    "ekg",
    "ecg",
    "ct",
    "mri",
    "cxr",
    "copd",
    "chf",
    "afib",
    "htn",
    "dm",
    "ckd",
    "uti",
    "sob",
    "nkda",
    "wnl",
    "rtc",
    "fu",
    "vm",
    "lvm",
    "dos",
    "id",
    "ids",
    "faq",
    "url",
    "app",
    "ios",
    "otc",
    "hmo",
    "ppo",
    "hsa",
    "fsa",
    "eob",
    "cob",
    // Greetings and replies that open a chat message in other languages ("Agente Ximena:
    // Hola, soy Ximena").
    // Speaker labels of chats in other languages ("Klient:", "Konsultant Agnieszka:").
    "klient",
    "konsultant",
    "konsultantka",
    "kunde",
    "kundin",
    "berater",
    "beraterin",
    "müşteri",
    "temsilci",
    "nasabah",
    "petugas",
    "pelanggan",
    "asesor",
    "asesora",
    "atendente",
    "operador",
    "operadora",
    "medewerker",
    "klant",
    "kund",
    "handläggare",
    "hola",
    "gracias",
    "claro",
    "listo",
    "quiero",
    "nueva",
    "nuevo",
    "buenos",
    "buenas",
    "obrigado",
    "obrigada",
    "perfeito",
    "perfecto",
    "merci",
    "bonjour",
    "bonsoir",
    "danke",
    "hallo",
    "grazie",
    "ciao",
    "congrats",
    // Form labels and headings in other languages ("Doğum Tarihi:", "Fecha de alta:",
    // "Afdeling Zorgadvies").
    "tarihi",
    "telefonu",
    "yeri",
    "anlatımı",
    "saati",
    "adresi",
    "kaza",
    "doğum",
    "cep",
    "ehliyet",
    "poliçe",
    "kimlik",
    "sigortalı",
    "hasar",
    "fecha",
    "alta",
    "nacimiento",
    "informe",
    "siniestro",
    "asegurado",
    "expediente",
    "póliza",
    "seguro",
    "hogar",
    "tratamiento",
    "diagnóstico",
    "nascimento",
    "endereço",
    "celular",
    "atendimento",
    "protocolo",
    "afdeling",
    "geboortedatum",
    "relatienummer",
    "zorgverzekeraar",
    "fysiotherapie",
    "geburtsdatum",
    "anschrift",
    "versicherung",
    "befund",
    // Common generic drug names, which open sentences in notes ("Furosemide was held")
    // and are no one's name.
    "furosemide",
    "omeprazole",
    "apixaban",
    "albuterol",
    "atorvastatin",
    "lisinopril",
    "amoxicillin",
    "metformin",
    "levothyroxine",
    "amlodipine",
    "metoprolol",
    "losartan",
    "simvastatin",
    "gabapentin",
    "hydrochlorothiazide",
    "sertraline",
    "prednisone",
    "montelukast",
    "rosuvastatin",
    "escitalopram",
    "pantoprazole",
    "tamsulosin",
    "warfarin",
    "insulin",
    "carvedilol",
    "clopidogrel",
    "trazodone",
    "fluoxetine",
    "citalopram",
    "bupropion",
    "duloxetine",
    "meloxicam",
    "tramadol",
    "ibuprofen",
    "acetaminophen",
    "aspirin",
    "heparin",
    "enoxaparin",
    "rivaroxaban",
    "spironolactone",
    "doxycycline",
    "azithromycin",
    "ciprofloxacin",
    "cephalexin",
    "ceftriaxone",
    "vancomycin",
    "ondansetron",
    "famotidine",
    "oxycodone",
    "hydrocodone",
    "morphine",
    "lorazepam",
    "alprazolam",
    "clonazepam",
    "quetiapine",
    "olanzapine",
    "risperidone",
    "aripiprazole",
    "venlafaxine",
    "mirtazapine",
    "levetiracetam",
    "lamotrigine",
    "topiramate",
    "donepezil",
    "memantine",
    "sitagliptin",
    "glipizide",
    "empagliflozin",
    "semaglutide",
    "dapagliflozin",
    "pravastatin",
    "propranolol",
    "diltiazem",
    "verapamil",
    "digoxin",
    "amiodarone",
    "hydralazine",
    "nitroglycerin",
    "allopurinol",
    "colchicine",
    "methotrexate",
    "hydroxychloroquine",
    "budesonide",
    "fluticasone",
    "tiotropium",
    "cetirizine",
    "loratadine",
    "diphenhydramine",
    "naloxone",
    "buprenorphine",
    "methadone",
    "x-ray",
];
const WEAKS: &[&str] = &[
    "for",
    "with",
    "by",
    "from",
    "and",
    "regarding",
    "re",
    "about",
    "called",
    "named",
    "saw",
    "visited",
    "of",
    "per",
    "cc",
    "via",
];
const SALUTATIONS: &[&str] = &[
    "dear",
    "hi",
    "hello",
    "hey",
    "thanks",
    "thank",
    "regards",
    "sincerely",
    "cheers",
    "best",
    "yours",
    "cordially",
    "greetings",
    "bye",
    "welcome",
    "thx",
    "respectfully",
    "warmly",
    "morning",
    "afternoon",
    "evening",
    "estimado",
    "estimada",
    "prezado",
    "prezada",
    "gentile",
    "geachte",
    "liebe",
    "lieber",
    "chère",
    "cher",
    "bonjour",
    "hola",
    "olá",
    "halo",
    "kepada",
    "yth",
    "szanowny",
    "szanowna",
    "sayın",
    "stimată",
    "stimate",
    "stimata",
    "kính",
    "chào",
];
const STOPS: &[&str] = &[
    "dr",
    "mr",
    "mrs",
    "ms",
    "mx",
    "miss",
    "prof",
    "the",
    "a",
    "an",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "for",
    "with",
    "at",
    "is",
    "was",
    "has",
    "had",
    "our",
    "your",
    "my",
    "this",
    "that",
    "team",
    "customer",
    "sir",
    "madam",
    "all",
    "colleague",
    "patient",
    "doctor",
    "member",
    "user",
    "support",
    "department",
    "hospital",
    "clinic",
    "center",
    "centre",
    "bank",
    "service",
    "services",
    "medical",
    "md",
    "rn",
    "phd",
    "do",
    "np",
    "pa",
    "dds",
    "care",
    "review",
    "claim",
    "claims",
    "ticket",
    "new",
    "logged",
    "take",
    "questions",
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
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "you",
    "we",
    "i",
    "he",
    "she",
    "they",
    "it",
    "no",
    "not",
    "yes",
    "there",
    "again",
    "everyone",
    "folks",
    "unit",
    "room",
    "ward",
    "street",
    "avenue",
    "road",
    "st",
    "ave",
    "rd",
    "mrn",
    "dob",
    "ssn",
    "id",
    "number",
    "account",
    "insurance",
    "policy",
    "date",
    "phone",
    "email",
    "address",
    "admitted",
    "discharged",
    "discharge",
    "diagnosis",
    "history",
    "note",
    "summary",
    "reason",
    "plan",
    "assessment",
    "follow",
    "pending",
    "app",
];
const PARTICLES: &[&str] = &[
    "de", "del", "della", "der", "den", "van", "von", "da", "das", "dos", "du", "di", "la", "le",
    "bin", "ibn", "al", "el", "ter", "ten", "y", "mac",
];
const INTROS: &[&str] = &["is", "am", "im", "me", "named", "called"];
const INTRO_PREVS: &[&str] = &["name", "this", "i", "call", "named", "called", "it"];

/// FxHash: a fast, non-cryptographic hash for short keys that are not attacker-chosen
/// in a way that matters here (a slow lookup, not a wrong one, is the worst case).
#[derive(Default, Clone, Copy)]
pub(crate) struct Fx(u64);

/// Hash sets and maps keyed by short words taken from one text.
pub(crate) type FxBuild = BuildHasherDefault<Fx>;

impl Fx {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.add(u64::from_le_bytes(b));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Lower-case words up to eight bytes are packed into a `u64` key (the common
/// case: one multiply to hash, one compare to match); longer ones use bytes.
#[derive(Debug)]
pub(crate) struct Map {
    /// One-hash Bloom filter over the short keys: most words are in no list,
    /// and a bit test is cheaper than a table probe.
    bloom: Vec<u64>,
    /// 64 minus the filter's bit count.
    shift: u32,
    short: HashMap<u64, u16, BuildHasherDefault<Fx>>,
    long: HashMap<&'static [u8], u16, BuildHasherDefault<Fx>>,
}

/// Bloom filter size of the name and cue table: 2^18 bits, 32 KiB, small enough
/// to stay in the L1 data cache (every word of the text probes it).
const BLOOM_BITS: u32 = 18;
/// Bloom filter size of the common-word table (62,000 words; probed rarely).
const COMMON_BLOOM_BITS: u32 = 20;

impl Map {
    fn new(bits: u32) -> Self {
        Map {
            bloom: vec![0; (1 << bits) / 64],
            shift: 64 - bits,
            short: HashMap::default(),
            long: HashMap::default(),
        }
    }

    fn bit(&self, k: u64) -> usize {
        (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    fn insert(&mut self, w: &'static str, flag: u16) {
        match pack(w.as_bytes()) {
            Some(k) => {
                let bit = self.bit(k);
                self.bloom[bit / 64] |= 1 << (bit % 64);
                *self.short.entry(k).or_insert(0) |= flag
            }
            None => *self.long.entry(w.as_bytes()).or_insert(0) |= flag,
        }
    }

    fn get(&self, w: &[u8]) -> u16 {
        match pack(w) {
            Some(k) => {
                let bit = self.bit(k);
                if self.bloom[bit / 64] & (1 << (bit % 64)) == 0 {
                    return 0;
                }
                self.short.get(&k).copied().unwrap_or(0)
            }
            None => self.long.get(w).copied().unwrap_or(0),
        }
    }
}

fn pack(w: &[u8]) -> Option<u64> {
    if w.is_empty() || w.len() > 8 {
        return None;
    }
    let mut b = [0u8; 8];
    b[..w.len()].copy_from_slice(w);
    Some(u64::from_le_bytes(b))
}

pub(crate) fn lexicon() -> &'static Map {
    static L: OnceLock<Map> = OnceLock::new();
    L.get_or_init(|| {
        let g = names::Gazetteer::get();
        let mut m = Map::new(BLOOM_BITS);
        for (name, f) in g.entries() {
            m.insert(name, u16::from(f));
        }
        for (list, flag) in [
            (TITLES, TITLE),
            (LABELS, LABEL),
            (BARE_LABELS, BARE),
            (WEAKS, WEAK),
            (SALUTATIONS, SALUT),
            (STOPS, STOP),
            (PARTICLES, PARTICLE),
            (INTROS, INTRO),
            (INTRO_PREVS, INTRO_PREV),
            (KINS, KIN),
            (CREDS, CRED),
            (ORGS, ORG),
        ] {
            for w in list {
                insert_folded(&mut m, w, flag);
            }
        }
        m
    })
}

/// The common-word safe list ([`names::COMMON_WORDS`] and [`EXTRA_COMMON`]), in
/// its own table: it is consulted only for the few words in a name context, so
/// the per-word lookup stays one Bloom-filter test for most words.
pub(crate) fn common_words() -> &'static Map {
    static C: OnceLock<Map> = OnceLock::new();
    C.get_or_init(|| {
        let mut m = Map::new(COMMON_BLOOM_BITS);
        for w in names::COMMON_WORDS
            .lines()
            .chain(EXTRA_COMMON.iter().copied())
        {
            insert_folded(&mut m, w, WORD);
        }
        m
    })
}

/// Enters `w` in `m`, and its folded form when it has accents: [`lookup`] folds a word
/// ("doamnă" → "doamna", "Doğum" → "dogum") before it looks it up. The folded forms are
/// made once per process.
fn insert_folded(m: &mut Map, w: &'static str, flag: u16) {
    m.insert(w, flag);
    if w.is_ascii() {
        return;
    }
    let folded: Option<Vec<u8>> = w
        .chars()
        .map(names::fold)
        .filter(|f| *f != Some(0))
        .collect();
    if let Some(f) = folded
        && let Ok(f) = String::from_utf8(f)
    {
        m.insert(Box::leak(f.into_boxed_str()), flag);
    }
}

/// A 64-bit hash of a word folded to ASCII lower case, without a trailing
/// possessive "'s": later mentions of a name are matched on it.
fn fold_hash(w: &str) -> u64 {
    let w = w
        .strip_suffix("'s")
        .or_else(|| w.strip_suffix("’s"))
        .unwrap_or(w);
    let mut h = Fx::default();
    for c in w.bytes() {
        h.add(u64::from(c.to_ascii_lowercase()));
    }
    h.0
}

/// Flags for a word: folds case and Latin diacritics, then one table lookup.
pub(crate) fn lookup(map: &Map, w: &str) -> u16 {
    let bytes = w.as_bytes();
    // Fast path: short ASCII words are packed into the key in registers.
    if bytes.len() <= 8 && bytes.is_ascii() {
        let mut k = 0u64;
        let mut n = 0;
        for &c in bytes {
            if c != b'\'' && c != b'-' {
                k |= u64::from(c | 0x20) << (8 * n);
                n += 1;
            }
        }
        if n == 0 {
            return 0;
        }
        let bit = map.bit(k);
        if map.bloom[bit / 64] & (1 << (bit % 64)) == 0 {
            return 0;
        }
        return map.short.get(&k).copied().unwrap_or(0);
    }
    let mut buf = [0u8; 24];
    let mut n = 0;
    if bytes.is_ascii() {
        if bytes.len() > buf.len() {
            return 0;
        }
        for &c in bytes {
            if c != b'\'' && c != b'-' {
                buf[n] = c | 0x20;
                n += 1;
            }
        }
    } else {
        for c in w.chars() {
            let Some(f) = names::fold(c) else { return 0 };
            if f == 0 {
                continue;
            }
            if n == buf.len() {
                return 0;
            }
            buf[n] = f;
            n += 1;
        }
    }
    map.get(&buf[..n])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    Cap,
    Upper,
    Lower,
    Other,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Word {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) case: Case,
    pub(crate) flags: u16,
}

fn is_word_char(c: char) -> bool {
    c.is_alphabetic() || c == '\'' || c == '’' || c == '-'
}

/// Whether the title-like word at `text[s..e]` ("Dr", "St") ends a street name instead:
/// a house number and one to three capitalised words stand before it on its line
/// (`6201 E Riverside Dr Apt 218`, `40 Quay St`).
fn street_suffix(text: &str, s: usize, e: usize) -> bool {
    if !matches!(&text[s..e], "Dr" | "DR" | "St" | "ST") {
        return false;
    }
    let mut a = s.saturating_sub(48);
    while !text.is_char_boundary(a) {
        a += 1;
    }
    let before = &text[a..s];
    let before = &before[before.rfind('\n').map_or(0, |n| n + 1)..];
    let toks: Vec<&str> = before.split_whitespace().collect();
    (2..=4).any(|n| {
        toks.len() >= n && {
            let (num, name) = (toks[toks.len() - n], &toks[toks.len() - n + 1..]);
            num.bytes().next().is_some_and(|c| c.is_ascii_digit())
                && num.bytes().filter(u8::is_ascii_digit).count() <= 6
                && num.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                && name
                    .iter()
                    .all(|w| w.chars().next().is_some_and(char::is_uppercase))
        }
    })
}

pub(crate) fn words(text: &str, map: &Map) -> Vec<Word> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(text.len() / 6);
    let mut i = 0;
    while i < b.len() {
        let c0 = b[i];
        if !(c0.is_ascii_alphabetic() || c0 >= 0x80) {
            i += 1;
            continue;
        }
        let start = i;
        let (mut upper, mut lower) = (0usize, 0usize);
        let mut first_upper = false;
        while i < b.len() {
            let c = b[i];
            let (ch, len) = if c < 0x80 {
                (c as char, 1)
            } else {
                match text[i..].chars().next() {
                    Some(ch) => (ch, ch.len_utf8()),
                    None => break,
                }
            };
            if !is_word_char(ch) || (i == start && !ch.is_alphabetic()) {
                break;
            }
            if ch.is_uppercase() {
                upper += 1;
                first_upper |= i == start;
            } else if ch.is_lowercase() {
                lower += 1;
            }
            i += len;
        }
        if i == start {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let mut end = i;
        while end > start && matches!(b[end - 1], b'\'' | b'-') {
            end -= 1;
        }
        let case = if first_upper && lower > 0 {
            Case::Cap
        } else if upper > 0 && lower == 0 {
            Case::Upper
        } else if upper == 0 && lower > 0 {
            Case::Lower
        } else {
            Case::Other
        };
        let flags = if case == Case::Other {
            0
        } else {
            lookup(map, &text[start..end])
        };
        out.push(Word {
            start,
            end,
            case,
            flags,
        });
    }
    out
}

/// Whether what precedes word `start` on its line is nothing (`Some(false)`) or a
/// chat time stamp such as "[16:44] " or "08:55 " (`Some(true)`); `None` when
/// something else precedes it. Looks back a bounded distance, so it costs the
/// same on a one-line record of many megabytes.
fn line_opening(text: &str, start: usize) -> Option<bool> {
    let mut from = start.saturating_sub(24);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let window = &text[from..start];
    let pre = match window.rfind('\n') {
        Some(k) => &window[k + 1..],
        None if from == 0 => window,
        None => return None,
    };
    let pre = pre.trim_end_matches([' ', '\t']);
    if pre.is_empty() {
        return Some(false);
    }
    let stamp = |t: &str| {
        !t.is_empty()
            && t.contains(':')
            && t.bytes()
                .all(|c| c.is_ascii_digit() || b":/-. apmAPM".contains(&c))
    };
    if let Some(inner) = pre.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return stamp(inner).then_some(true);
    }
    stamp(pre).then_some(true)
}

/// True when the rest of the line after `pos` holds only bytes from `allowed`;
/// stops at the first other byte.
fn rest_only(text: &str, pos: usize, allowed: &[u8]) -> bool {
    text.as_bytes()[pos..]
        .iter()
        .take_while(|&&c| c != b'\n')
        .all(|c| allowed.contains(c))
}

/// The rest of the line after `pos`, up to `max` bytes (cut back to a character
/// boundary).
fn rest_of_line(text: &str, pos: usize, max: usize) -> &str {
    let mut end = (pos + max).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let t = &text[pos..end];
    &t[..t.find('\n').unwrap_or(t.len())]
}

/// The non-blank line before the line holding `pos`, if any.
fn previous_line(text: &str, pos: usize) -> Option<&str> {
    let ls = text[..pos].rfind('\n')?;
    text[..ls]
        .split('\n')
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
}

/// Finds person names; calls `emit(start, end, score)` for each. Polls
/// `cancelled` every [`crate::detect::POLL`] words and returns false when it
/// said stop (the names emitted so far are then incomplete).
///
/// Three passes over the words: context rules (titles, labels, relations,
/// speaker labels, salutations, sign-offs, credentials) and gazetteer pairs
/// propose names; a capitalised word in a name context counts as a name unless
/// it is on the common-word safe list; then every later mention of a word of a
/// confidently found name in the same text is a name too.
///
/// `ws` is `words(text, lexicon())`, shared with the learned tagger.
pub(crate) fn find(
    text: &str,
    ws: &[Word],
    cancelled: &dyn Fn() -> bool,
    mut emit: impl FnMut(usize, usize, f32),
) -> bool {
    let map = lexicon();
    let cw = common_words();
    if cancelled() {
        return false;
    }
    let b = text.as_bytes();
    let gap = |a: &Word, z: &Word| &text[a.end..z.start];
    let capish = |w: &Word| matches!(w.case, Case::Cap | Case::Upper);
    let namey = |w: &Word| capish(w) && w.flags & STOP == 0;
    let known = |w: &Word| w.flags & (FIRST | LAST) != 0;
    let plain = |w: &Word| w.flags & WORD == 0;
    let common = |w: &Word| {
        w.flags & WORD != 0 || (w.case != Case::Other && lookup(cw, &text[w.start..w.end]) != 0)
    };
    let len = |w: &Word| text[w.start..w.end].chars().count();
    let initial =
        |w: &Word| w.end - w.start == 1 && w.case == Case::Upper && b.get(w.end) == Some(&b'.');
    // "BABATUNDE A": a capital letter on its own closing an all-capitals name.
    let bare_initial = |w: &Word| {
        w.end - w.start == 1
            && w.case == Case::Upper
            && !b.get(w.end).is_some_and(u8::is_ascii_alphanumeric)
            && b.get(w.end) != Some(&b'.')
    };
    // A word that is evidence of a name: not on the safe list, not a short
    // all-capitals abbreviation, not a list word.
    let telling = |w: &Word| {
        !common(w)
            && len(w) >= 2
            && !(w.case == Case::Upper && len(w) <= 3 && !known(w))
            && w.flags & (STOP | TITLE | CRED | LABEL) == 0
    };
    // Words [i, end) look like a name and not like capitalised ordinary words.
    let evidence = |i: usize, end: usize| {
        ws[i..end].iter().any(telling)
            || (end - i >= 2 && ws[i].flags & FIRST != 0 && ws[end - 1].flags & LAST != 0)
    };
    // Extends a name from word i over capitalised words, initials and particles.
    let extend = |i: usize, lower_ok: bool| -> usize {
        let mut j = i + 1;
        let mut last = i + 1;
        while j < ws.len() && j - i < 6 {
            let gp = gap(&ws[j - 1], &ws[j]);
            // A nickname inside the name: `Guadalupe "Lupita" Cárdenas`, `Sung-min (Sunny) Cho`.
            if matches!(gp, " \"" | " (" | " “")
                && capish(&ws[j])
                && let Some(nx) = ws.get(j + 1)
                && matches!(gap(&ws[j], nx), "\" " | ") " | "” ")
                && (namey(nx) || initial(nx))
            {
                j += 2;
                last = j;
                continue;
            }
            if !(gp == " " || (gp == ". " && ws[j - 1].end - ws[j - 1].start == 1)) {
                break;
            }
            let w = &ws[j];
            let lower_name = lower_ok
                && w.case == Case::Lower
                && ((known(w) && plain(w)) || (!common(w) && len(w) >= 3));
            if initial(w)
                || namey(w)
                || lower_name
                || (bare_initial(w) && ws[j - 1].case == Case::Upper)
            {
                j += 1;
                last = j;
            } else if w.case == Case::Lower && w.flags & PARTICLE != 0 {
                // "de la Cruz": particles, then a capitalised word.
                let mut k = j + 1;
                while k < ws.len()
                    && k - j < 3
                    && gap(&ws[k - 1], &ws[k]) == " "
                    && ws[k].case == Case::Lower
                    && ws[k].flags & PARTICLE != 0
                {
                    k += 1;
                }
                if k < ws.len() && gap(&ws[k - 1], &ws[k]) == " " && namey(&ws[k]) {
                    j = k;
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        last
    };
    // Chat speaker labels: a word opening a line (after an optional time stamp)
    // and followed by ':' or ' (Role):'. Counted per word so a transcript's
    // speakers, who speak more than once, are told from one-off headers.
    let speaker_at = |i: usize| -> Option<bool> {
        let w = &ws[i];
        let after = &text[w.end..];
        let colon =
            after.starts_with(':') && !after[1..].starts_with(|c: char| c.is_ascii_alphanumeric());
        let role = !colon
            && after.starts_with(" (")
            && rest_of_line(after, 2, 24)
                .find(')')
                .is_some_and(|k| after[2 + k + 1..].starts_with(':'));
        if !(colon || role) {
            return None;
        }
        line_opening(text, w.start)
    };
    let key = |w: &Word| {
        let t = &text[w.start..w.end];
        let t = t
            .strip_suffix("'s")
            .or_else(|| t.strip_suffix("’s"))
            .unwrap_or(t);
        t.to_lowercase()
    };
    // Speaker candidates are found from the colons: the word ending right before
    // a ':' (or before " (Role):"), looked up by position.
    let mut speakers: HashMap<String, (usize, bool)> = HashMap::new();
    let word_ending_at = |pos: usize| {
        ws.binary_search_by(|w| w.end.cmp(&pos))
            .ok()
            .filter(|&k| ws[k].case != Case::Other)
    };
    for (c, _) in text.match_indices(':') {
        let cand = word_ending_at(c).or_else(|| {
            let mut from = c.saturating_sub(26);
            while !text.is_char_boundary(from) {
                from += 1;
            }
            let before = &text[from..c];
            let close = before.strip_suffix(')')?;
            let open = close.rfind(" (")?;
            word_ending_at(c - before.len() + open)
        });
        if let Some(k) = cand
            && let Some(stamped) = speaker_at(k)
        {
            let e = speakers.entry(key(&ws[k])).or_insert((0, false));
            e.0 += 1;
            e.1 |= stamped;
        }
    }
    let is_speaker = |i: usize| {
        let w = &ws[i];
        !speakers.is_empty()
            && w.flags & (BARE | KIN | SALUT) == 0
            && speaker_at(i).is_some()
            && speakers
                .get(&key(w))
                .is_some_and(|&(n, stamped)| n >= 2 || stamped)
            && telling(w)
    };
    // The name words [i, end) are followed by a credential or an age and sex:
    // "K. Osei, RN", "Noor, RN", "Pham Van Duc, 67M".
    let tail_cue = |end: usize| {
        let last = &ws[end - 1];
        let tail = text[last.end..]
            .strip_prefix('.')
            .unwrap_or(&text[last.end..]);
        let tail = tail.strip_prefix(',').unwrap_or(tail);
        let Some(tail) = tail.strip_prefix(' ') else {
            return false;
        };
        if let Some(nx) = ws.get(end)
            && text[last.end..nx.start]
                .trim_start_matches(['.', ',', ' '])
                .is_empty()
            && nx.flags & CRED != 0
            && matches!(nx.case, Case::Upper | Case::Cap)
            && !b.get(nx.end).is_some_and(u8::is_ascii_alphanumeric)
        {
            return true;
        }
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        if (1..=3).contains(&digits) {
            let r = tail[digits..].trim_start_matches(' ');
            let sex = r.starts_with(['M', 'F'])
                && !r[1..].starts_with(|c: char| c.is_ascii_alphanumeric());
            return sex
                || r.starts_with("yo")
                || r.starts_with("y/o")
                || r.starts_with("y.o.")
                || r.starts_with("-year");
        }
        false
    };
    // A line holding only the name words [i, end) (and punctuation).
    let name_line = |i: usize, end: usize| {
        line_opening(text, ws[i].start) == Some(false)
            && rest_only(text, ws[end - 1].end, b" .,!-\r")
    };
    let salut_line = |l: &str| {
        l.ends_with([',', '.', '!'])
            && l.split(|c: char| !c.is_alphabetic())
                .any(|w| !w.is_empty() && lookup(map, w) & SALUT != 0)
    };

    let mut found: Vec<(usize, usize, f32)> = Vec::new();
    let mut i = 0;
    let mut next_poll = crate::detect::POLL;
    while i < ws.len() {
        if i >= next_poll {
            if cancelled() {
                return false;
            }
            next_poll = i + crate::detect::POLL;
        }
        let w = ws[i];
        let mut cue = 0.0f32;
        // Cues strong enough that an ordinary word after them is a name ("wife Grace").
        let mut relaxed = false;
        if i > 0 {
            let p = ws[i - 1];
            let pg = gap(&p, &w).trim_matches(' ');
            if p.flags & TITLE != 0
                && (pg.is_empty() || pg == ".")
                && !street_suffix(text, p.start, p.end)
            {
                cue = 0.95;
                relaxed = true;
            } else if p.flags & LABEL != 0
                && matches!(pg, ":" | "-" | ":\t" | "=" | ": _" | ":_" | ": \"" | ":\"")
            {
                cue = 0.9;
            } else if p.flags & KIN != 0
                && (pg.is_empty() || pg == ",")
                && (namey(&w) || (capish(&w) && w.flags & FIRST != 0))
            {
                cue = 0.8;
                relaxed = pg.is_empty();
            } else if p.flags & BARE != 0 && pg.is_empty() && capish(&w) {
                cue = 0.7;
            } else if p.flags & (LABEL | BARE | KIN) != 0
                && pg == "("
                && namey(&w)
                && text[ws[extend(i, false) - 1].end..].starts_with(')')
            {
                cue = 0.85;
                relaxed = p.flags & KIN != 0;
            } else if p.flags & WEAK != 0
                && pg.is_empty()
                && capish(&w)
                && w.flags & STOP == 0
                && ws
                    .get(i + 1)
                    .is_some_and(|nx| gap(&w, nx) == " " && namey(nx))
            {
                cue = 0.6;
            } else if (p.flags & SALUT != 0
                && !pg.contains("\n\n")
                && pg.bytes().all(|c| b",\r\n\t".contains(&c)))
                || (i >= 2
                    && pg.is_empty()
                    && p.flags & INTRO != 0
                    && ws[i - 2].flags & INTRO_PREV != 0)
                || (pg.is_empty() && text[p.start..p.end].eq_ignore_ascii_case("i'm"))
            {
                cue = 0.85;
            }
        }
        // "Support (Devon):" — a name in parentheses closing a speaker label.
        if cue == 0.0
            && i > 0
            && gap(&ws[i - 1], &w) == " ("
            && namey(&w)
            && text[ws[extend(i, false) - 1].end..].starts_with("):")
        {
            cue = 0.85;
        }
        if cue == 0.0 && is_speaker(i) {
            cue = 0.85;
        }
        // A signature: "— First Last" (or "-- ", "– ") closing a line.
        if cue == 0.0 && namey(&w) {
            let before = text[..w.start].trim_end_matches(' ');
            let dash = before.ends_with('—') || before.ends_with('–') || before.ends_with("--");
            if dash
                && let Some(nx) = ws.get(i + 1)
                && gap(&w, nx) == " "
                && namey(nx)
            {
                let end = extend(i, false);
                let tail = text[ws[end - 1].end..].trim_start_matches([' ', '.', ',']);
                if tail.is_empty() || tail.starts_with('\n') {
                    cue = 0.8;
                }
            }
        }
        // Credentials or age and sex after the name; a name alone on a line after
        // a closing ("Thanks so much,\nAoife") or over an address; a name
        // closing a line after a closing ("Thank you. Hadiza").
        if cue == 0.0 && (namey(&w) || initial(&w)) {
            let end = extend(i, false);
            let at_line_end = || rest_only(text, ws[end - 1].end, b" .,!-\r");
            let tail = tail_cue(end);
            if tail || at_line_end() {
                if tail {
                    if evidence(i, end) {
                        cue = 0.85;
                    }
                } else if name_line(i, end) && evidence(i, end) {
                    let next = text[ws[end - 1].end..]
                        .split('\n')
                        .nth(1)
                        .map(str::trim_start);
                    let over_address = next.is_some_and(|l| {
                        l.starts_with(|c: char| c.is_ascii_digit())
                            || l.starts_with("PO Box")
                            || l.starts_with("P.O. Box")
                            || l.starts_with("RR ")
                    });
                    let greeting = rest_of_line(text, ws[end - 1].end, 16).contains(['-', ','])
                        && next.is_some_and(str::is_empty);
                    if over_address
                        || greeting
                        || previous_line(text, w.start).is_some_and(salut_line)
                    {
                        cue = 0.8;
                    }
                } else if evidence(i, end) {
                    let mut from = w.start.saturating_sub(40);
                    while !text.is_char_boundary(from) {
                        from -= 1;
                    }
                    let pre = &text[from..w.start];
                    let pre = &pre[pre.rfind('\n').map_or(0, |k| k + 1)..];
                    if (pre.ends_with(". ") || pre.ends_with(", ") || pre.ends_with("! "))
                        && salut_line(pre.trim_end())
                    {
                        cue = 0.8;
                    }
                }
            }
        }
        if cue > 0.0 {
            let next_is_surname = ws
                .get(i + 1)
                .is_some_and(|nx| gap(&w, nx) == " " && nx.flags & LAST != 0 && plain(nx));
            let first_then_surname = capish(&w) && w.flags & FIRST != 0 && next_is_surname;
            let ok = (cue >= 0.95 && capish(&w) && w.flags & TITLE == 0)
                || namey(&w)
                || (relaxed && capish(&w) && w.flags & FIRST != 0)
                || initial(&w)
                || first_then_surname
                || (w.case == Case::Lower && known(&w) && (plain(&w) || next_is_surname))
                || (w.case == Case::Lower && cue >= 0.85 && !common(&w) && len(&w) >= 3);
            if ok {
                let mut end = extend(i, w.case == Case::Lower);
                // "Patient: GARCIA, MARIA": a surname-first header after a label.
                if end == i + 1
                    && let Some(nx) = ws.get(i + 1)
                    && gap(&w, nx) == ", "
                    && namey(nx)
                    && ((w.case == Case::Upper || w.flags & LAST != 0)
                        && (nx.case == w.case
                            || nx.flags & FIRST != 0
                            || (w.case == Case::Upper && nx.case == Case::Cap))
                        || (telling(&w) && telling(nx)))
                {
                    end = extend(i + 1, false);
                }
                // "Hi Sunny,": a given name alone between a salutation and a comma.
                let greeted = (0.84..0.86).contains(&cue)
                    && end == i + 1
                    && capish(&w)
                    && w.flags & FIRST != 0
                    && text[w.end..].starts_with([',', '!']);
                if relaxed || greeted || evidence(i, end) {
                    let mut score = cue;
                    if w.case == Case::Lower {
                        score = score.min(0.8);
                    }
                    // Salutations pick up non-names too ("Hi Team"): demand a known name or a second word.
                    if (0.84..0.86).contains(&cue) && end == i + 1 && !known(&w) {
                        score = 0.6;
                    }
                    found.push((i, end, score));
                    i = end;
                    continue;
                }
            }
        }
        // "LAST, FIRST" headers; an all-capitals surname before any name-like
        // word needs no gazetteer ("ADEBAYO-SMITH, Temitope").
        if capish(&w)
            && w.flags & STOP == 0
            && let Some(nx) = ws.get(i + 1)
            && (gap(&w, nx) == ", "
                || (gap(&w, nx) == "," && w.case == Case::Upper && nx.case == Case::Upper))
            && capish(nx)
            && (nx.flags & STOP == 0 || nx.flags & FIRST != 0)
            && ((w.flags & LAST != 0 && nx.flags & FIRST != 0)
                || (w.case == Case::Upper
                    && len(&w) >= 3
                    && telling(&w)
                    && (telling(nx) || nx.flags & FIRST != 0)))
        {
            let end = extend(i + 1, false);
            let score = if (w.flags | nx.flags) & WORD != 0 {
                0.7
            } else {
                0.85
            };
            found.push((i, end, score));
            i = end;
            continue;
        }
        // Gazetteer: a given name followed by another name-like word or an initial.
        if w.flags & FIRST != 0
            && let Some(nx) = ws.get(i + 1)
            && (w.flags & STOP == 0
                || (capish(nx) && nx.flags & LAST != 0 && plain(nx) && nx.flags & STOP == 0))
        {
            let gp = gap(&w, nx);
            let cap_pair = capish(&w) && namey(nx) && gp == " ";
            let with_initial = capish(&w) && gp == " " && initial(nx);
            if cap_pair || with_initial {
                let end = extend(i, false);
                let sur = if with_initial && end > i + 2 {
                    ws[end - 1].flags | LAST
                } else {
                    nx.flags
                };
                let mut score: f32 = if sur & LAST != 0 { 0.9 } else { 0.75 };
                if w.flags & WORD != 0 {
                    score -= 0.15;
                }
                if sur & WORD != 0 {
                    score -= 0.15;
                }
                if sur & (FIRST | LAST) == 0 && w.flags & WORD != 0 && !telling(nx) {
                    score = 0.45;
                }
                found.push((i, end, score));
                i = end;
                continue;
            }
            let lower_pair = w.case == Case::Lower
                && nx.case == Case::Lower
                && gp == " "
                && plain(&w)
                && nx.flags & LAST != 0
                && plain(nx);
            if lower_pair {
                found.push((i, i + 2, 0.7));
                i += 2;
                continue;
            }
        }
        // Two capitalised words off every list ("Tolulope Abiodun").
        if w.case == Case::Cap
            && let Some(nx) = ws.get(i + 1)
            && nx.case == Case::Cap
            && gap(&w, nx) == " "
            && telling(&w)
            && telling(nx)
        {
            let end = extend(i, false);
            found.push((i, end, 0.6));
            i = end;
            continue;
        }
        i += 1;
    }
    if cancelled() {
        return false;
    }
    // Later mentions: a word of a confidently found name, elsewhere in the same
    // text ("Agent: Jamal" ... "Jamal: Sure!"). A word that is also an ordinary
    // word only counts when capitalised.
    let mut taken = vec![false; ws.len()];
    let mut names: std::collections::HashSet<u64, BuildHasherDefault<Fx>> = Default::default();
    for &(s, e, score) in &found {
        for k in s..e {
            taken[k] = true;
            let w = &ws[k];
            if score >= 0.7
                && len(w) >= 2
                && !initial(w)
                && w.flags & (STOP | TITLE | PARTICLE | CRED | LABEL | KIN) == 0
            {
                names.insert(fold_hash(&text[w.start..w.end]));
            }
        }
    }
    if !names.is_empty() {
        // A cheap filter before hashing: the lengths and first letters of the
        // names' words (without a possessive "'s").
        let stem_len = |w: &Word| {
            let t = &text[w.start..w.end];
            let n = t
                .strip_suffix("'s")
                .or_else(|| t.strip_suffix("’s"))
                .unwrap_or(t)
                .len();
            (n * 7 + usize::from(b[w.start] | 0x20)) % 64
        };
        let mut lens = 0u64;
        for &(s, e, score) in &found {
            if score >= 0.7 {
                for w in &ws[s..e] {
                    lens |= 1 << stem_len(w);
                }
            }
        }
        for (k, w) in ws.iter().enumerate() {
            if lens & (1 << stem_len(w)) != 0
                && !taken[k]
                && w.case != Case::Other
                && names.contains(&fold_hash(&text[w.start..w.end]))
                && (capish(w) || !common(w))
            {
                found.push((k, k + 1, 0.75));
            }
        }
    }
    for (s, e, score) in found {
        // "Hope Valley Pharmacy", "Hudson Valley Mutual": an organisation.
        let org = ws[s..e].iter().any(|w| w.flags & ORG != 0)
            || ws
                .get(e)
                .is_some_and(|nx| gap(&ws[e - 1], nx) == " " && nx.flags & ORG != 0 && capish(nx));
        // A quoted name is a merchant or a product ("Kwik Kash").
        let quoted = text[..ws[s].start].ends_with('"') && text[ws[e - 1].end..].starts_with('"');
        if (org && score < 0.95) || (quoted && score < 0.7) {
            continue;
        }
        // "Tamika R.": the period of a closing initial belongs to the name.
        let mut end = ws[e - 1].end;
        if initial(&ws[e - 1]) {
            end += 1;
        }
        emit(ws[s].start, end, score);
    }
    true
}
