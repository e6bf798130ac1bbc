//! The detector: one multi-pattern automaton pass for structured identifiers,
//! validators and context words to classify each candidate, a word pass for
//! person names, then deny/allow lists, custom recognizers, thresholds and
//! overlap resolution.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex_automata::meta;

use crate::config::{MaskConfig, Validator};
use crate::context::{Cue, cue_after, cue_before, cue_of};
use crate::error::PiiError;
use crate::types::{EntityType, Span};
use crate::validate as v;

const P_PEM: usize = 0;
const P_TOKEN: usize = 1;
const P_KV_SECRET: usize = 2;
const P_URL: usize = 3;
const P_EMAIL: usize = 4;
const P_MAC: usize = 5;
const P_IPV6: usize = 6;
const P_AGE: usize = 7;
const P_TEXTDATE: usize = 8;
const P_ADDRESS: usize = 9;
const MAX_GROUPS: usize = 24;
const P_ALNUM: usize = 10;
const P_NUMERIC: usize = 11;
const P_PASSWORD: usize = 12;
const P_AGE_CUED: usize = 13;

/// How many matches, words or candidates detection handles between two polls
/// of its cancellation check: small enough that a poll comes every few
/// milliseconds, large enough that polling costs nothing measurable.
pub(crate) const POLL: usize = 1024;

/// The built-in candidate patterns, in priority order (for benchmarks and tools).
pub fn pattern_strings() -> Vec<String> {
    patterns()
}

pub(crate) fn patterns() -> Vec<String> {
    // ASCII digit and space classes and a Latin letter class keep the lazy DFA
    // small; Unicode-wide classes make it thrash on mixed-script text.
    let month = r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";
    let full_month =
        r"(?:January|February|March|April|June|July|August|September|October|November|December)";
    let ord = r"(?:st|nd|rd|th)?";
    // Abbreviated months with a day and no year ("Dec 19", "sept 30"); not "may"
    // or a lower-case "mar", which are words.
    let short_month = r"(?:(?i:jan|feb|apr|jun|jul|aug|sept?|oct|nov|dec)|Mar)";
    let es_month = r"(?i:enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre)";
    let pt_month =
        r"(?i:janeiro|fevereiro|março|marco|maio|junho|julho|setembro|outubro|novembro|dezembro)";
    // Day, month and year in other European languages ("24. März 2026", "9 ottobre
    // 2026", "1er décembre 2026", "28 listopada 2026", "3 de março de 2026", "21 Ekim
    // 2026").
    let eu_month = r"(?i:januar|februar|märz|maerz|mai|juni|juli|oktober|dezember|janvier|février|fevrier|mars|avril|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre|gennaio|febbraio|marzo|aprile|maggio|giugno|luglio|agosto|settembre|ottobre|dicembre|janeiro|fevereiro|março|abril|maio|junho|julho|setembro|outubro|novembro|dezembro|stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|września|października|listopada|grudnia|januari|februari|maart|mei|augustus|ocak|şubat|subat|mart|nisan|mayıs|mayis|haziran|temmuz|ağustos|agustos|eylül|eylul|ekim|kasım|kasim|aralık|aralik|ianuarie|februarie|martie|aprilie|iunie|iulie|septembrie|octombrie|noiembrie|decembrie|maret|agustus|desember|enero|febrero|mayo|junio|julio|septiembre|setiembre|octubre|noviembre|diciembre|january|february|march|april|june|july|august|september|october|november|december)";
    let weekday = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|Mon|Tues?|Wed|Thu(?:rs?)?|Fri|Sat|Sun)";
    let suffix = r"(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|ter|circle|cir|parkway|pkwy|highway|hwy|square|sq|trail|trl|alley|crescent|close|plaza|loop|pike)";
    let l = "A-Za-zÀ-ÖØ-öø-ɏ";
    let lu = "A-ZÀ-ÖØ-ÞĀ-ɏ";
    vec![
        r"-----BEGIN[A-Z ]*PRIVATE KEY-----[A-Za-z0-9+/= \t\r\n]*-----END[A-Z ]*PRIVATE KEY-----".to_string(),
        r"(?-u:\b)(?:(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|gh[pousr]_[A-Za-z0-9]{20,}|xox[baprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})".to_string(),
        r#"(?i:api[_-]?key|secret|token|password|passwd|pwd|access[_-]?key|client[_-]?secret)["']?[ \t]*(?:[:=]|is)[ \t]*["']?[^ \t\r\n"',;]{8,}"#.to_string(),
        r#"(?i:https?://|www\.)[^ \t\r\n<>"'\]\)]+"#.to_string(),
        format!(r"[{l}0-9._%+-]+@[{l}0-9-]+(?:\.[{l}0-9-]+)*\.[A-Za-z]{{2,}}"),
        r"(?-u:\b)(?:[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}|[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4})(?-u:\b)".to_string(),
        r"(?:(?-u:\b)[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{0,4}){2,7}|::(?:[0-9A-Fa-f]{1,4}:?){1,7})(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3})?".to_string(),
        r"(?-u:\b)(?:9[0-9]|1[0-2][0-9])(?:[ -](?i:years?|yrs?)(?:[ -](?i:old))?|[ -]?(?i:yo|y/o|y\.o\.)(?-u:\b))".to_string(),
        format!(
            r"(?-u:\b)(?:{weekday}\.?,? )?(?:{month}\.? [0-9]{{1,2}}{ord},? [0-9]{{4}}|[0-9]{{1,2}}{ord}(?: of)? {month}\.?,? [0-9]{{4}}|{month}\.?,? [0-9]{{4}}|{full_month} [0-9]{{1,2}}{ord}|[0-9]{{1,2}}{ord} {full_month}|{short_month}\.? [0-9]{{1,2}}{ord}|[0-9]{{1,2}}(?:st|nd|rd|th) (?:day )?of {full_month}(?:,? [0-9]{{4}})?|[0-9]{{1,2}}-{month}-(?:[0-9]{{4}}|[0-9]{{2}})|[0-9]{{1,2}} de (?:{es_month}|{pt_month})(?: de(?:l)? [0-9]{{4}})?|[0-9]{{1,2}}(?:\.|°|º|er)? (?:de )?{eu_month}(?: de)? [0-9]{{4}}|[0-9]{{1,2}}{ord} (?:May|{short_month}))(?-u:\b)"
        ),
        format!(
            r"(?-u:\b)(?:[0-9]{{1,6}}(?:-?[A-Za-z])? (?:[{lu}][{l}0-9'’.-]*|[0-9]{{1,3}}(?i:st|nd|rd|th)) (?:[{l}0-9][{l}0-9'’.-]* ){{0,3}}{suffix}(?-u:\b)\.?(?:,? (?i:apt|apartment|suite|ste|unit|fl|floor|rm|room)\.? ?#?[A-Za-z0-9-]+|,? #[A-Za-z0-9-]+)?(?:, ?[{lu}][{l}'.-]*(?: [{lu}][{l}'.-]*){{0,2}},? [A-Z]{{2}}(?: [0-9]{{5}}(?:-[0-9]{{4}})?)?)?|(?i:p\.? ?o\.? ?box) [0-9]+|(?i:rr|hc|rural route|unit|psc|cmr) [0-9]{{1,5}} (?i:box) [0-9A-Za-z]+)"
        ),
        r"(?-u:\b)[A-Za-z0-9]*(?:[A-Za-z][0-9]|[0-9][A-Za-z])[A-Za-z0-9]*(?:-[A-Za-z0-9]+)*(?-u:\b)".to_string(),
        r"(?:\+[0-9]{1,3}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?|\([0-9]{2,4}\)[ .-]?|(?-u:\b))[0-9]+(?:[ ./-][0-9]+)*".to_string(),
        // "password to Sunflower#2026!", "pw kitale2019": a password word, then a
        // value with a digit or a symbol (checked in code).
        r#"(?-u:\b)(?i:password|passwd|passcode|pwd|pw)(?-u:\b)[ \t]+(?:(?i:is|was|to|as|now)[ \t]+)?[^ \t\r\n"',;]{6,}"#.to_string(),
        // An age of 90 or more after an age cue: a number after an age label ("Age: 96",
        // "age at death 101"), or in words after a cue ("was ninety-four", "aged one
        // hundred and two", "is \"ninety-three"), or between commas after a name ("Billie
        // Van der Merwe, ninety-five, of Grand Rapids").
        format!(
            r#"(?-u:\b)(?:(?i:age(?:d| at [a-z]{{2,12}})?|alter|edad|âge|età|idade|yaş|wiek|leeftijd|ålder|umur|vârsta):?[ \t]{{0,3}}(?:9[0-9]|1[01][0-9])|,[ ](?i:ninety[- ]{unit})|(?i:age|aged|was|is|turned|turns|turning|he['’]s|she['’]s|i['’]m):?[ \t]{{1,3}}"?(?i:ninety(?:[- ]{unit})?|one hundred(?: and)?(?: (?:{unit}|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen))?))(?-u:\b)"#,
            unit = "(?:one|two|three|four|five|six|seven|eight|nine)"
        ),
    ]
}

struct Custom {
    entity: EntityType,
    re: regex::Regex,
    validator: Option<Validator>,
    context: Vec<String>,
    score: f32,
}

/// Finds PII spans in text. Build once, share across threads.
pub struct Detector {
    re: meta::Regex,
    window: usize,
    thresholds: [f32; 32],
    enabled: [bool; 32],
    allow: HashSet<String>,
    deny: Option<(AhoCorasick, Vec<EntityType>)>,
    custom: Vec<Custom>,
    /// The learned name tagger ([`crate::tagger`]); `None` runs the rules alone.
    person_model: Option<Arc<crate::tagger::Model>>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("window", &self.window)
            .field("custom", &self.custom.len())
            .finish_non_exhaustive()
    }
}

fn idx(t: EntityType) -> usize {
    EntityType::ALL.iter().position(|&x| x == t).unwrap_or(0)
}

impl Detector {
    /// Builds a detector from the `[mask]` policy (defaults: `MaskConfig::default()`).
    pub fn new(cfg: &MaskConfig) -> Result<Self, PiiError> {
        cfg.validate()?;
        let pats = patterns();
        let re = meta::Regex::builder()
            .configure(
                meta::Config::new()
                    .hybrid_cache_capacity(16 << 20)
                    .which_captures(regex_automata::nfa::thompson::WhichCaptures::Implicit)
                    .nfa_size_limit(Some(64 << 20)),
            )
            .build_many(&pats)
            .map_err(|e| PiiError::Config {
                key: "built-in patterns".into(),
                message: format!("internal pattern error: {e}"),
            })?;
        let mut thresholds = [1.0f32; 32];
        let mut enabled = [false; 32];
        for &t in EntityType::ALL {
            thresholds[idx(t)] = cfg.threshold(t);
            enabled[idx(t)] = cfg.entities.as_ref().is_none_or(|e| e.contains(&t));
        }
        let allow = cfg.allow.iter().map(|a| a.trim().to_lowercase()).collect();
        let mut terms = Vec::new();
        let mut kinds = Vec::new();
        for (t, vals) in &cfg.deny {
            for val in vals {
                terms.push(val.trim().to_string());
                kinds.push(*t);
            }
        }
        let deny = if terms.is_empty() {
            None
        } else {
            let ac = AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(&terms)
                .map_err(|e| PiiError::Config {
                    key: "deny".into(),
                    message: format!("cannot build the deny list: {e}"),
                })?;
            Some((ac, kinds))
        };
        let mut custom = Vec::new();
        for (i, r) in cfg.recognizers.iter().enumerate() {
            let re = regex::Regex::new(&r.pattern)
                .map_err(|compile| PiiError::Regex { index: i, compile })?;
            custom.push(Custom {
                entity: r.entity,
                re,
                validator: r.validator,
                context: r.context.iter().map(|c| c.to_lowercase()).collect(),
                score: r.score,
            });
        }
        Ok(Detector {
            re,
            window: cfg.context_window,
            thresholds,
            enabled,
            allow,
            deny,
            custom,
            person_model: Some(crate::tagger::builtin()),
        })
    }

    /// The same detector with another name tagger, or with none (`None`: the
    /// name rules alone). Used to train and evaluate taggers.
    pub fn with_person_model(mut self, model: Option<Arc<crate::tagger::Model>>) -> Self {
        self.person_model = model;
        self
    }

    /// Detects spans in `text`: byte offsets, sorted by start, not overlapping,
    /// each at or above its type's threshold.
    pub fn detect(&self, text: &str) -> Vec<Span> {
        self.detect_cancellable(text, &|| false).unwrap_or_default()
    }

    /// [`Detector::detect`] that polls `cancelled` between its passes and
    /// every [`POLL`] matches or words within each, so that even a huge,
    /// PII-dense text stops soon after a signal. Returns `None` when
    /// `cancelled` said stop.
    pub fn detect_cancellable(
        &self,
        text: &str,
        cancelled: &dyn Fn() -> bool,
    ) -> Option<Vec<Span>> {
        let mut spans = self.detect_pass(text, cancelled)?;
        // Letter-spaced runs (OCR of spaced capitals) are read again, closed up; a span
        // found there that touches a run joins what it overlaps.
        if let Some(view) = crate::spaced::collapse(text) {
            let more: Vec<Span> = self
                .detect_pass(&view.text, cancelled)?
                .into_iter()
                .filter(|p| view.touches_run(p.start, p.end))
                .map(|p| {
                    let (start, end) = view.original(p.start, p.end);
                    Span { start, end, ..p }
                })
                .collect();
            if !more.is_empty() {
                // Overlapping spans become one, of the type of the longer.
                spans.extend(more);
                spans.sort_by_key(|p| (p.start, std::cmp::Reverse(p.end)));
                let mut out: Vec<Span> = Vec::with_capacity(spans.len());
                for p in spans {
                    match out.last_mut() {
                        Some(q) if p.start < q.end => {
                            if p.end - p.start > q.end - q.start {
                                q.entity = p.entity;
                                q.score = p.score;
                            }
                            q.end = q.end.max(p.end);
                        }
                        _ => out.push(p),
                    }
                }
                spans = out;
            }
        }
        Some(spans)
    }

    /// One detection pass over `text` (see [`Detector::detect_cancellable`]).
    fn detect_pass(&self, text: &str, cancelled: &dyn Fn() -> bool) -> Option<Vec<Span>> {
        let mut cands: Vec<Span> = Vec::new();
        let mut tagged: Vec<Span> = Vec::new();
        let go = |ok: bool| if ok && !cancelled() { Some(()) } else { None };
        go(true)?;
        go(self.structured(text, &mut cands, cancelled))?;
        crate::hl7::find(text, |s, e, t, score| self.push(&mut cands, s, e, t, score));
        go(crate::table::find(text, cancelled, |s, e, t, score| {
            self.push(&mut cands, s, e, t, score)
        }))?;
        go(crate::table::json_pairs(
            text,
            cancelled,
            |s, e, t, score| self.push(&mut cands, s, e, t, score),
        ))?;
        go(crate::table::xml_elements(
            text,
            cancelled,
            |s, e, t, score| self.push(&mut cands, s, e, t, score),
        ))?;
        crate::table::by_handles(text, |s, e| {
            self.push(&mut cands, s, e, EntityType::Person, 0.85)
        });
        go(crate::table::form_fields(
            text,
            cancelled,
            |s, e, t, score| self.push(&mut cands, s, e, t, score),
        ))?;
        if self.enabled[idx(EntityType::StreetAddress)] {
            crate::address::blocks(text, |s, e| {
                self.push(&mut cands, s, e, EntityType::StreetAddress, 0.95)
            });
            crate::address::inline(text, |s, e| {
                self.push(&mut cands, s, e, EntityType::StreetAddress, 0.9)
            });
            crate::address::labelled(text, |s, e| {
                self.push(&mut cands, s, e, EntityType::StreetAddress, 0.92)
            });
        }
        crate::spoken::find(text, |s, e, t, score| self.push(&mut cands, s, e, t, score));
        crate::spoken::emails(text, |s, e| {
            self.push(&mut cands, s, e, EntityType::Email, 0.85)
        });
        crate::table::chat_handles(text, |s, e| {
            self.push(&mut cands, s, e, EntityType::Person, 0.9)
        });
        if self.enabled[idx(EntityType::Person)] {
            let ws = crate::person::words(text, crate::person::lexicon());
            go(crate::person::find(text, &ws, cancelled, |s, e, score| {
                self.push(&mut cands, s, e, EntityType::Person, score)
            }))?;
            if let Some(m) = &self.person_model {
                // A tagged name scores from the default threshold (at the model's
                // own threshold) to 0.85 (certain). It only fills gaps: it is
                // added after overlap resolution where no other span is.
                let t = m.threshold();
                go(m.find_in(text, &ws, cancelled, |s, e, p| {
                    let score = 0.55 + 0.3 * (p - t) / (1.0 - t).max(1e-6);
                    self.push(&mut tagged, s, e, EntityType::Person, score)
                }))?;
            }
        }
        go(self.deny_list(text, &mut cands, cancelled))?;
        go(self.custom(text, &mut cands, cancelled))?;
        let mut spans = self.resolve(text, cands, cancelled)?;
        tagged.retain(|c| c.score >= self.thresholds[idx(c.entity)]);
        fill_gaps(&mut spans, tagged);
        extend_phone_extensions(text, &mut spans);
        extend_date_times(text, &mut spans);
        nicknames(text, &mut spans);
        spelled_names(text, &mut spans);
        name_handles(text, &mut spans);
        login_names(text, &mut spans);
        named_answers(text, &mut spans);
        Some(spans)
    }

    fn push(&self, out: &mut Vec<Span>, start: usize, end: usize, entity: EntityType, score: f32) {
        if end > start && self.enabled[idx(entity)] {
            out.push(Span {
                start,
                end,
                entity,
                score: score.clamp(0.0, 1.0),
            });
        }
    }

    fn structured(&self, text: &str, out: &mut Vec<Span>, cancelled: &dyn Fn() -> bool) -> bool {
        let mut consumed = 0usize;
        for (n, m) in self.re.find_iter(text).enumerate() {
            if n % POLL == POLL - 1 && cancelled() {
                return false;
            }
            if m.start() < consumed {
                continue;
            }
            let (s, e) = (m.start(), m.end());
            let end = match m.pattern().as_usize() {
                P_PEM | P_TOKEN => {
                    self.push(out, s, e, EntityType::Secret, 0.95);
                    e
                }
                P_KV_SECRET => {
                    let hit = &text[s..e];
                    let vstart = hit
                        .char_indices()
                        .skip_while(|&(_, c)| c != ':' && c != '=' && c != 's')
                        .skip(1)
                        .find(|&(_, c)| {
                            !c.is_whitespace() && c != '"' && c != '\'' && c != ':' && c != '='
                        })
                        .map_or(e, |(i, _)| s + i);
                    if e - vstart >= 8 {
                        self.push(out, vstart, e, EntityType::Secret, 0.85);
                    }
                    e
                }
                P_URL => {
                    let t = text[s..e].trim_end_matches(['.', ',', ';', ':', '!', '?']);
                    self.push(out, s, s + t.len(), EntityType::Url, 0.9);
                    e
                }
                P_EMAIL => {
                    // A role mailbox ("api-support@", "no-reply@") is an organisation's: it
                    // scores under the default threshold, so a lower threshold still masks it.
                    let local = text[s..e].split('@').next().unwrap_or("");
                    let score = if role_mailbox(local) { 0.4 } else { 0.95 };
                    self.push(out, s, e, EntityType::Email, score);
                    e
                }
                P_MAC => {
                    self.push(out, s, e, EntityType::MacAddress, 0.9);
                    e
                }
                P_IPV6 => {
                    let mut t = &text[s..e];
                    while t.ends_with(':') && !t.ends_with("::") {
                        t = &t[..t.len() - 1];
                    }
                    if v::ipv6(t) {
                        let neg = cue_before(text, s, 2) == Some(Cue::Negative);
                        self.push(
                            out,
                            s,
                            s + t.len(),
                            EntityType::IpAddress,
                            if neg { 0.4 } else { 0.9 },
                        );
                    }
                    e
                }
                P_AGE_CUED => {
                    // The number starts at its first digit, or at "ninety" / "one".
                    let hit = &text[s..e];
                    let lower = hit.to_ascii_lowercase();
                    let at = hit
                        .find(|c: char| c.is_ascii_digit())
                        .or_else(|| lower.find("ninety"))
                        .or_else(|| lower.find("one hundred"))
                        .unwrap_or(0);
                    // Between commas, or it is no age ("in nineteen, ninety-five").
                    if !hit.starts_with(',') || text[e..].starts_with(',') {
                        self.push(out, s + at, e, EntityType::AgeOver89, 0.9);
                    }
                    e
                }
                P_AGE => {
                    let n = text[s..e].bytes().take_while(u8::is_ascii_digit).count();
                    self.push(out, s, s + n, EntityType::AgeOver89, 0.9);
                    e
                }
                P_TEXTDATE => {
                    // "APR 21.49%", "Dec 19:30" is not a day of the month.
                    let rest = &text.as_bytes()[e..];
                    if rest.first().is_some_and(|&c| c == b'%')
                        || (rest.len() >= 2
                            && matches!(rest[0], b'.' | b':' | b',')
                            && rest[1].is_ascii_digit())
                    {
                        consumed = e;
                        continue;
                    }
                    let dob = matches!(cue_before(text, s, self.window), Some(Cue::Dob));
                    let t = if dob {
                        EntityType::DateOfBirth
                    } else {
                        EntityType::Date
                    };
                    let (ds, de) = date_extent(text, s, e);
                    self.push(out, ds, de, t, 0.85);
                    de
                }
                P_ADDRESS => {
                    if let Some(end) = self.whole_address(text, s, out) {
                        consumed = end.max(e);
                        continue;
                    }
                    let hit = &text[s..e];
                    // The minutes of a time ("7:30 AM at 1410 Harbor Blvd"): the address,
                    // if any, starts at the next number.
                    let b = text.as_bytes();
                    let time = s > 0 && b[s - 1] == b':'
                        || hit.split(' ').nth(1).is_some_and(|w| {
                            matches!(w.trim_end_matches('.'), "AM" | "PM" | "am" | "pm")
                        });
                    if time {
                        let next = hit
                            .char_indices()
                            .skip_while(|(_, c)| c.is_ascii_digit())
                            .find(|&(k, c)| c.is_ascii_digit() && b[s + k - 1] == b' ')
                            .map(|(k, _)| s + k);
                        if let Some(n) = next
                            && let Some(end) = self.whole_address(text, n, out)
                        {
                            consumed = end.max(e);
                        }
                        continue;
                    }
                    let mut end = e;
                    // A sentence period after a unit-less address is not part of it.
                    if let Some(p) = hit.find(". ")
                        && !hit[p + 2..].starts_with(|c: char| c.is_ascii_digit())
                        && hit[..p].rsplit(' ').next().is_some_and(|w| w.len() >= 4)
                    {
                        end = s + p;
                    } else if hit.ends_with('.')
                        && hit[..hit.len() - 1]
                            .rsplit(' ')
                            .next()
                            .is_some_and(|w| w.len() >= 4)
                    {
                        end = e - 1;
                    }
                    self.push(out, s, end, EntityType::StreetAddress, 0.85);
                    end
                }
                P_NUMERIC | P_ALNUM
                    if b_at_word_start(text, s) && text.as_bytes()[s].is_ascii_digit() =>
                {
                    match self.whole_address(text, s, out) {
                        Some(end) => end,
                        None if m.pattern().as_usize() == P_NUMERIC => {
                            self.numeric(text, s, e, out)
                        }
                        None => self.alnum(text, s, e, out),
                    }
                }
                P_NUMERIC => self.numeric(text, s, e, out),
                P_PASSWORD => {
                    let hit = &text[s..e];
                    let v0 = hit.rfind([' ', '\t']).map_or(e, |k| s + k + 1);
                    let value = text[v0..e].trim_end_matches('.');
                    let mixed = value
                        .bytes()
                        .any(|c| c.is_ascii_digit() || b"!#$%&*@?^~".contains(&c))
                        && value.bytes().any(|c| c.is_ascii_alphabetic());
                    if mixed && value.len() >= 6 {
                        self.push(out, v0, v0 + value.len(), EntityType::Secret, 0.8);
                    }
                    e
                }
                P_ALNUM => self.alnum(text, s, e, out),
                _ => e,
            };
            consumed = end.max(e);
        }
        true
    }

    /// A whole postal address starting at `s` (a house number or a box keyword),
    /// pushed as one span; returns its end.
    fn whole_address(&self, text: &str, s: usize, out: &mut Vec<Span>) -> Option<usize> {
        if !self.enabled[idx(EntityType::StreetAddress)] {
            return None;
        }
        let score = |city: bool| if city { 0.9 } else { 0.85 };
        let (start, end, score) = if !text.as_bytes()[s].is_ascii_digit() {
            let (end, city) = crate::address::box_address(text, s)?;
            (s, end, score(city))
        } else if let Some((end, city)) = crate::address::street(text, s) {
            (s, end, score(city))
        } else {
            // Street name first: the span starts before the number.
            let (start, end) = crate::address::street_name_first(text, s)?;
            (start, end, 0.9)
        };
        self.push(out, start, end, EntityType::StreetAddress, score);
        Some(end)
    }

    /// Splits a digit-group run into groups and classifies the longest valid
    /// sub-runs, left to right.
    fn numeric(&self, text: &str, s: usize, e: usize, out: &mut Vec<Span>) -> usize {
        let b = text.as_bytes();
        // Fast path: a lone short number (a dose, a count, a vital sign) is only
        // ever an age of 90 or more.
        if e - s <= 4 && b[s..e].iter().all(u8::is_ascii_digit) {
            if e - s >= 2 && matches!(b[s], b'9' | b'1') && cue_before(text, s, 2) == Some(Cue::Age)
            {
                let age: u32 = text[s..e].parse().unwrap_or(0);
                if (90..=130).contains(&age) {
                    self.push(out, s, e, EntityType::AgeOver89, 0.9);
                }
            }
            return e;
        }
        // Groups: (start, end) of each digit run; the match may begin with '+' or '('.
        let mut groups = [(0usize, 0usize); MAX_GROUPS];
        let mut ng = 0;
        let mut i = s;
        while i < e && ng < MAX_GROUPS {
            if b[i].is_ascii_digit() {
                let st = i;
                while i < e && b[i].is_ascii_digit() {
                    i += 1;
                }
                groups[ng] = (st, i);
                ng += 1;
            } else {
                i += 1;
            }
        }
        let groups = &groups[..ng];
        let mut gi = 0;
        let mut last_end = e;
        while gi < groups.len() {
            // A leading '+' or '(' belongs to the run only when it starts at the first group.
            let mut st = groups[gi].0;
            if gi == 0 {
                st = s;
            } else if st > 0 && b[st - 1] == b'(' {
                st -= 1;
            }
            // "RC-0048213", "HO-NC-2209981", "HVM 7702 1183 0": a letter prefix is
            // part of the identifier, and the context is read before it.
            let pre = id_prefix(text, st);
            let cue = cue_before(text, pre, self.window);
            // Letters and digit groups after an insurance label ("Policy HOM 882 041
            // 7735") are the policy's number, whatever shape the digits have alone.
            if pre < st && cue == Some(Cue::Insurance) {
                let mut gj = gi + 1;
                while gj < groups.len()
                    && gj < gi + 6
                    && groups[gj].0 == groups[gj - 1].1 + 1
                    && matches!(b[groups[gj - 1].1], b' ' | b'-')
                {
                    gj += 1;
                }
                let digits: usize = groups[gi..gj].iter().map(|&(a, z)| z - a).sum();
                if (5..=20).contains(&digits) {
                    let en = id_suffix(text, groups[gj - 1].1);
                    self.push(out, pre, en, EntityType::InsuranceId, 0.85);
                    last_end = en.max(last_end);
                    gi = gj;
                    continue;
                }
            }
            let mut found = false;
            // No identifier has more than six digit groups.
            for gj in (gi + 1..=groups.len().min(gi + 6)).rev() {
                let en = groups[gj - 1].1;
                if let Some(c) = self.classify_numeric(text, st, en, &groups[gi..gj], cue) {
                    if let Some((t, score)) = c {
                        let id = matches!(
                            t,
                            EntityType::MedicalRecordNumber
                                | EntityType::InsuranceId
                                | EntityType::UsBankAccount
                                | EntityType::DriverLicense
                                | EntityType::Passport
                        );
                        let from = if id { pre } else { st };
                        let (from, en) = if matches!(t, EntityType::Date | EntityType::DateOfBirth)
                        {
                            date_extent(text, from, en)
                        } else if id {
                            (from, id_suffix(text, en))
                        } else {
                            (from, en)
                        };
                        self.push(out, from, en, t, score);
                    }
                    gi = gj;
                    found = true;
                    last_end = en.max(last_end);
                    break;
                }
            }
            if !found {
                gi += 1;
            }
        }
        last_end
    }

    /// `None`: not recognised. `Some(None)`: recognised as a non-PII number
    /// (timestamp, version) and consumed. `Some(Some(..))`: an entity.
    #[allow(clippy::option_option)]
    fn classify_numeric(
        &self,
        text: &str,
        s: usize,
        e: usize,
        groups: &[(usize, usize)],
        cue: Option<Cue>,
    ) -> Option<Option<(EntityType, f32)>> {
        let b = text.as_bytes();
        let raw = &text[s..e];
        let mut dbuf = [0u8; 64];
        let mut n = 0;
        for &c in raw.as_bytes() {
            if c.is_ascii_digit() && n < dbuf.len() {
                dbuf[n] = c - b'0';
                n += 1;
            }
        }
        let d = &dbuf[..n];
        let g = groups.len();
        let mut glen_buf = [0usize; MAX_GROUPS];
        let mut sep_buf = [0u8; MAX_GROUPS];
        for (k, &(a, z)) in groups.iter().enumerate() {
            glen_buf[k] = z - a;
            if k + 1 < g {
                sep_buf[k] = b[z];
            }
        }
        let glen = &glen_buf[..g];
        let seps = &sep_buf[..g.saturating_sub(1)];
        let same_sep = seps.windows(2).all(|w| w[0] == w[1]);
        let sep = seps.first().copied();
        let plus = b[s] == b'+';
        let paren = raw.contains('(');
        let neg = cue == Some(Cue::Negative);
        // Month and day without a year ("12/1", "11/28"): a date when either part
        // has two digits, or after a date word ("on 3/4"); "5/10" with no date word
        // is a pain score, "1/2" a fraction.
        if g == 2 && sep == Some(b'/') && glen[0] <= 2 && glen[1] <= 2 {
            let (m, dd): (u32, u32) = (
                text[groups[0].0..groups[0].1].parse().unwrap_or(0),
                text[groups[1].0..groups[1].1].parse().unwrap_or(0),
            );
            let before = text[..s].trim_end_matches(' ');
            let after = &b[e..];
            // "12 1/2" is a number and a fraction; "01/23  01/24" (columns two or
            // more spaces apart, as on a statement) are two dates.
            let columns = s - before.len() >= 2;
            let glued = (!columns
                && before.ends_with(|c: char| c.is_ascii_digit() || c == '/' || c == '.'))
                || after
                    .first()
                    .is_some_and(|&c| c == b'/' || c == b'%' || c.is_ascii_alphanumeric());
            let date_word = {
                let w = before
                    .rsplit(|c: char| !c.is_ascii_alphabetic())
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                matches!(
                    w.as_str(),
                    "on" | "since"
                        | "from"
                        | "until"
                        | "till"
                        | "through"
                        | "thru"
                        | "by"
                        | "due"
                        | "dated"
                        | "of"
                        | "effective"
                        | "starting"
                        | "before"
                        | "after"
                        | "date"
                        | "dos"
                        | "seen"
                        | "visit"
                        | "msg"
                        | "sent"
                        | "called"
                        | "admitted"
                        | "discharged"
                        | "drawn"
                        | "collected"
                        | "appointment"
                        | "appt"
                        | "session"
                        | "period"
                        | "today"
                        | "tomorrow"
                        | "yesterday"
                        | "tonight"
                        | "mon"
                        | "monday"
                        | "tue"
                        | "tues"
                        | "tuesday"
                        | "wed"
                        | "wednesday"
                        | "thu"
                        | "thur"
                        | "thurs"
                        | "thursday"
                        | "fri"
                        | "friday"
                        | "sat"
                        | "saturday"
                        | "sun"
                        | "sunday"
                )
            };
            // A time after it ("12/2 at 4 PM"), or the date columns of a statement line
            // ("01/23  01/24  MERCHANT"), is a date whatever number word is near.
            let hh_mm = |r: &[u8]| {
                let h = r.iter().take_while(|c| c.is_ascii_digit()).count();
                (1..=2).contains(&h)
                    && r.get(h) == Some(&b':')
                    && r.get(h + 1..h + 3)
                        .is_some_and(|m| m.iter().all(u8::is_ascii_digit))
            };
            let time_after = after.starts_with(b" at ")
                && after.get(4).is_some_and(u8::is_ascii_digit)
                || after.starts_with(b" @ ")
                || (after.first() == Some(&b' ') && hh_mm(&after[1..]));
            let statement = (line_opens(text, s) && after.starts_with(b"  "))
                || (columns && before.ends_with(|c: char| c.is_ascii_digit()));
            let date_word = date_word || time_after || statement;
            // A date word right before it outweighs a number word nearby ("error
            // on 11/22").
            if (1..=12).contains(&m) && (1..=31).contains(&dd) && !glued && (!neg || date_word) {
                let two = glen[0] == 2 || glen[1] == 2;
                if date_word || (two && dd != 10) || (two && line_opens(text, s)) {
                    let dob = cue == Some(Cue::Dob);
                    return Some(Some((
                        if dob {
                            EntityType::DateOfBirth
                        } else {
                            EntityType::Date
                        },
                        if date_word { 0.85 } else { 0.7 },
                    )));
                }
            }
        }
        // A date in spaced fields, as a form prints it ("06 11 1964", closed up from
        // OCR's "0 6   1 1   1 9 6 4"), where a date word is near.
        if g == 3 && same_sep && sep == Some(b' ') && glen == [2, 2, 4] {
            let num = |k: usize| text[groups[k].0..groups[k].1].parse::<u32>().unwrap_or(0);
            let lo = (0..=s.saturating_sub(40))
                .rev()
                .find(|&k| text.is_char_boundary(k))
                .unwrap_or(0);
            let near = text[lo..s].to_ascii_lowercase();
            if (1..=12).contains(&num(0))
                && (1..=31).contains(&num(1))
                && (1900..=2100).contains(&num(2))
                && (cue == Some(Cue::Dob) || near.contains("date") || near.contains("dob"))
            {
                let t = if cue == Some(Cue::Dob) || near.contains("birth") || near.contains("dob") {
                    EntityType::DateOfBirth
                } else {
                    EntityType::Date
                };
                return Some(Some((t, 0.8)));
            }
        }
        // Multi-group runs joined by spaces must be spaced uniformly to count as one number.
        if g > 1 && seps.contains(&b'/') && !(g == 3 && same_sep) {
            return None;
        }

        // IPv4.
        if g == 4 && same_sep && sep == Some(b'.') && glen.iter().all(|&l| l <= 3) {
            if v::ipv4(raw) {
                let after_v = s > 0 && (b[s - 1] == b'v' || b[s - 1] == b'V');
                let score = if neg || after_v { 0.3 } else { 0.9 };
                return Some(Some((EntityType::IpAddress, score)));
            }
            return Some(None);
        }
        // Numeric dates.
        if g == 3 && same_sep && matches!(sep, Some(b'/' | b'-' | b'.')) {
            let nums: Vec<u32> = groups
                .iter()
                .map(|&(a, z)| text[a..z].parse().unwrap_or(0))
                .collect();
            let ymd = glen[0] == 4
                && glen[1] <= 2
                && glen[2] <= 2
                && (1..=12).contains(&nums[1])
                && (1..=31).contains(&nums[2]);
            let mdy = glen[0] <= 2
                && glen[1] <= 2
                && (glen[2] == 4 || glen[2] == 2)
                && ((1..=12).contains(&nums[0]) && (1..=31).contains(&nums[1])
                    || (1..=12).contains(&nums[1]) && (1..=31).contains(&nums[0]));
            let year_ok = |y: u32, l: usize| l == 2 || (1900..=2099).contains(&y);
            if (ymd && year_ok(nums[0], 4)) || (mdy && year_ok(nums[2], glen[2])) {
                let dob = cue == Some(Cue::Dob);
                let rest = &b[e..];
                // The date of an ISO timestamp ("2024-03-05T10:22:33Z") is a date
                // like any other (a log line of a person's activity); as with a date
                // written with a time of day ("EXAM DATE: 11/18/2026 09:42"), the
                // date is masked and the time of day left.
                let timestamp = rest.len() >= 2
                    && (rest[0] == b'T' || rest[0] == b't')
                    && rest[1].is_ascii_digit();
                if dob {
                    return Some(Some((EntityType::DateOfBirth, 0.95)));
                }
                // "Version 2.1.2026" or "lot 12.05.2027" is not a date; a day, month and
                // four-digit year further from the word ("142,60 EUR konnte am
                // 24.11.2026") is.
                let year4 = glen[0] == 4 || glen[2] == 4;
                if !timestamp
                    && neg
                    && sep == Some(b'.')
                    && (!year4 || cue_before(text, s, 1) == Some(Cue::Negative))
                {
                    return Some(None);
                }
                return Some(Some((EntityType::Date, 0.85)));
            }
            if sep == Some(b'.') && glen.iter().all(|&l| l <= 3) {
                // Version-like "2.14.1".
                return Some(None);
            }
        }
        // SSN.
        if n == 9 {
            let formatted =
                g == 3 && glen == [3, 2, 4] && same_sep && matches!(sep, Some(b'-' | b' '));
            // Area 9xx is never issued as an SSN but is the ITIN range, and a
            // number someone calls their SSN or TIN is a taxpayer identifier
            // either way: mask it when the context says so.
            let taxpayer_shaped = d[0] == 9 && d[3..5] != [0, 0] && d[5..] != [0, 0, 0, 0];
            if (formatted || g == 1) && taxpayer_shaped && cue == Some(Cue::Ssn) {
                return Some(Some((EntityType::UsSsn, 0.9)));
            }
            if (formatted || g == 1) && v::ssn(d) {
                match (formatted, cue) {
                    (_, Some(Cue::Ssn)) => return Some(Some((EntityType::UsSsn, 0.95))),
                    (true, Some(Cue::Negative)) => return Some(Some((EntityType::UsSsn, 0.5))),
                    (
                        true,
                        Some(Cue::Phone | Cue::Routing | Cue::Account | Cue::Mrn | Cue::Insurance),
                    ) => {}
                    (true, _) => return Some(Some((EntityType::UsSsn, 0.85))),
                    _ => {}
                }
            }
        }
        // Payment card. In a card context ("card", "Visa", "ending"...) any
        // Luhn-valid run of 13-19 digits is a card whatever its issuer prefix:
        // test ranges and new issuers are still card numbers to the person.
        let card_shape = (12..=19).contains(&n)
            && (g == 1
                || (same_sep
                    && glen[0] == 4
                    && glen.iter().all(|&l| (4..=6).contains(&l) || l == 3)));
        if card_shape && cue == Some(Cue::Card) && n >= 13 && v::luhn(d) {
            return Some(Some((EntityType::CreditCard, 0.95)));
        }
        if card_shape && v::credit_card(d) {
            let score = match cue {
                Some(Cue::Card) => Some(0.98),
                Some(Cue::Negative) => Some(0.45),
                // Another identifier's context: let the cue rules below decide.
                Some(
                    Cue::Account
                    | Cue::Mrn
                    | Cue::Insurance
                    | Cue::Npi
                    | Cue::Phone
                    | Cue::License
                    | Cue::Passport,
                ) => None,
                _ => Some(0.9),
            };
            if let Some(score) = score {
                return Some(Some((EntityType::CreditCard, score)));
            }
        }
        // Phones.
        let phone_cue =
            cue == Some(Cue::Phone) || (cue.is_none() && cue_after(text, e, 2) == Some(Cue::Phone));
        let nanp_shape = (g == 3 && glen == [3, 3, 4])
            || (g == 4 && glen == [1, 3, 3, 4] && d[0] == 1)
            || (paren && g >= 3 && glen[glen.len() - 1] == 4);
        // A toll-free line ("call us at 1-800-555-0183", "+18555550133") is a business's,
        // unless the words before give it to a person ("my", "contact", "cell").
        if (nanp_shape || (plus && d[0] == 1 && n == 11) || (g == 1 && n == 10 && phone_cue))
            && v::nanp_toll_free(d)
            && !personal_before(text, s)
        {
            return Some(None);
        }
        if plus && g >= 2 && v::e164(d) {
            return Some(Some((EntityType::Phone, if neg { 0.4 } else { 0.9 })));
        }
        // E.164 without separators ("+14145550142"), as logs and APIs write it.
        if plus && g == 1 && n >= 10 && v::e164(d) {
            return Some(Some((EntityType::Phone, if neg { 0.4 } else { 0.85 })));
        }
        if nanp_shape && v::nanp(d) {
            let score = if phone_cue {
                0.95
            } else if neg {
                0.4
            } else {
                0.85
            };
            return Some(Some((EntityType::Phone, score)));
        }
        // Phone-shaped but not a dialable NANP number (e.g. exchange 123 in
        // made-up numbers): still a phone number as written, masked whole.
        if nanp_shape && d.len() >= 10 && !neg {
            return Some(Some((EntityType::Phone, if phone_cue { 0.9 } else { 0.7 })));
        }
        if g == 1 && n == 10 && phone_cue && v::nanp(d) {
            return Some(Some((EntityType::Phone, 0.85)));
        }
        if g == 2 && glen == [3, 4] && phone_cue {
            return Some(Some((EntityType::Phone, 0.75)));
        }
        if cue == Some(Cue::Phone)
            && !plus
            && g >= 2
            && sep != Some(b'.')
            && (8..=15).contains(&n)
            && (b[s] == b'0'
                || (n >= 9 && same_sep && g <= 4 && glen[0] >= 3 && glen.iter().all(|&l| l >= 2)))
        {
            // National forms after a phone word: with a trunk prefix ("020 7946 0958",
            // "06221 500-4418") or without one ("telefon: 601 448 209").
            return Some(Some((EntityType::Phone, 0.8)));
        }
        // A British mobile number in its written groups ("07700 914 362"), anywhere.
        if !neg
            && g >= 2
            && n == 11
            && d[..2] == [0, 7]
            && sep != Some(b'.')
            && matches!(glen, [5, 6] | [5, 3, 3] | [4, 3, 4] | [3, 4, 4])
        {
            return Some(Some((EntityType::Phone, 0.75)));
        }
        // A national number with its trunk prefix in three or more groups, as most
        // countries write a mobile or a landline ("0532 418 77 09", "070-418 22 93",
        // "0812-2744-9031", "0745 218 930"), with no word before it.
        if cue.is_none()
            && !neg
            && g >= 3
            && (9..=11).contains(&n)
            && d[0] == 0
            && d[1] != 0
            && seps.iter().all(|&c| c == b' ' || c == b'-')
            && (3..=4).contains(&glen[0])
            && glen[1..].iter().all(|&l| (2..=4).contains(&l))
        {
            return Some(Some((EntityType::Phone, 0.7)));
        }
        // Routing, NPI.
        if g == 1 && n == 9 && v::aba_routing(d) {
            match cue {
                Some(Cue::Routing) => return Some(Some((EntityType::UsBankRouting, 0.95))),
                None => return Some(Some((EntityType::UsBankRouting, 0.3))),
                _ => {}
            }
        }
        if g == 1 && n == 10 && v::npi(d) && cue == Some(Cue::Npi) {
            return Some(Some((EntityType::Npi, 0.95)));
        }
        // A ten-digit number that carries an NPI's check digit (one in ten of those that
        // start with 1 or 2) is taken for one with no word before it: a claim form's
        // rendering-provider column, a CSV column of prescribers.
        if g == 1 && n == 10 && cue.is_none() && !neg && v::npi(d) {
            return Some(Some((EntityType::Npi, 0.6)));
        }
        // ZIP codes.
        if (g == 1 && n == 5) || (g == 2 && glen == [5, 4] && sep == Some(b'-')) {
            let state_before = s >= 3
                && b[s - 1] == b' '
                && b[s - 2].is_ascii_uppercase()
                && b[s - 3].is_ascii_uppercase()
                && (s < 4 || !b[s - 4].is_ascii_alphabetic());
            if cue == Some(Cue::Zip) || state_before {
                return Some(Some((EntityType::ZipCode, 0.85)));
            }
        }
        // Ages of 90 and over.
        if g == 1 && (2..=3).contains(&n) && cue_before(text, s, 2) == Some(Cue::Age) {
            let age: u32 = raw.parse().unwrap_or(0);
            if (90..=130).contains(&age) {
                return Some(Some((EntityType::AgeOver89, 0.9)));
            }
            return Some(None);
        }
        // Identifiers told apart by context alone.
        let joined = g == 1 || (same_sep && matches!(sep, Some(b'-' | b' ')));
        if joined {
            let t = match cue {
                Some(Cue::Mrn) if (5..=12).contains(&n) => Some(EntityType::MedicalRecordNumber),
                Some(Cue::Insurance) if (6..=15).contains(&n) => Some(EntityType::InsuranceId),
                Some(Cue::Account) if (6..=17).contains(&n) => Some(EntityType::UsBankAccount),
                Some(Cue::License) if (5..=13).contains(&n) => Some(EntityType::DriverLicense),
                Some(Cue::Passport) if (8..=9).contains(&n) => Some(EntityType::Passport),
                Some(Cue::Ssn) if n == 9 && v::ssn(d) => Some(EntityType::UsSsn),
                Some(Cue::Npi) if n == 10 => Some(EntityType::Npi),
                _ => None,
            };
            if let Some(t) = t {
                return Some(Some((t, 0.85)));
            }
        }
        None
    }

    fn alnum(&self, text: &str, s: usize, e: usize, out: &mut Vec<Span>) -> usize {
        let b = text.as_bytes();
        let tok = &text[s..e];
        // UUIDs are never PII by themselves.
        let parts: Vec<usize> = tok.split('-').map(str::len).collect();
        if parts == [8, 4, 4, 4, 12] && tok.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-') {
            return e;
        }
        // IBAN, possibly printed in groups of four.
        if tok.len() >= 4
            && b[s].is_ascii_uppercase()
            && b[s + 1].is_ascii_uppercase()
            && b[s + 2].is_ascii_digit()
            && b[s + 3].is_ascii_digit()
            && let Some(len) = v::iban_length(&b[s..s + 2])
        {
            let mut compact: Vec<u8> = tok.bytes().filter(|c| *c != b'-').collect();
            let mut end = e;
            let mut j = e;
            while compact.len() < len && j < b.len() && b[j] == b' ' {
                let st = j + 1;
                let mut k = st;
                while k < b.len() && k - st < 4 && b[k].is_ascii_alphanumeric() {
                    k += 1;
                }
                if k == st || (k < b.len() && b[k].is_ascii_alphanumeric()) {
                    break;
                }
                compact.extend(b[st..k].iter().map(u8::to_ascii_uppercase));
                end = k;
                j = k;
            }
            if compact.len() == len && v::iban(&compact) {
                self.push(out, s, end, EntityType::Iban, 0.95);
                return end;
            }
        }
        let cue = cue_before(text, s, self.window);
        if v::dea(tok) {
            let score = match cue {
                Some(Cue::Dea) => 0.95,
                Some(Cue::Negative) => 0.3,
                None => 0.7,
                _ => 0.5,
            };
            self.push(out, s, e, EntityType::DeaNumber, score);
            return e;
        }
        let n = tok.len();
        let t = match cue {
            Some(Cue::Mrn) if (5..=15).contains(&n) => Some(EntityType::MedicalRecordNumber),
            Some(Cue::Insurance) if (6..=20).contains(&n) => Some(EntityType::InsuranceId),
            // A card number is digits; letters and digits after "cardholder ID" are
            // a pharmacy benefit's member id.
            Some(Cue::Card)
                if (6..=20).contains(&n) && tok.bytes().any(|c| c.is_ascii_alphabetic()) =>
            {
                Some(EntityType::InsuranceId)
            }
            Some(Cue::Account) if (6..=20).contains(&n) => Some(EntityType::UsBankAccount),
            Some(Cue::License) if (5..=15).contains(&n) => Some(EntityType::DriverLicense),
            Some(Cue::Passport) if (6..=10).contains(&n) => Some(EntityType::Passport),
            _ => None,
        };
        if let Some(t) = t {
            self.push(out, s, e, t, 0.85);
        }
        e
    }

    fn deny_list(&self, text: &str, out: &mut Vec<Span>, cancelled: &dyn Fn() -> bool) -> bool {
        let Some((ac, kinds)) = &self.deny else {
            return true;
        };
        let b = text.as_bytes();
        for (n, m) in ac.find_iter(text).enumerate() {
            if n % POLL == POLL - 1 && cancelled() {
                return false;
            }
            let before_ok = m.start() == 0 || !b[m.start() - 1].is_ascii_alphanumeric();
            let after_ok = m.end() == b.len() || !b[m.end()].is_ascii_alphanumeric();
            if before_ok && after_ok {
                self.push(out, m.start(), m.end(), kinds[m.pattern().as_usize()], 1.0);
            }
        }
        true
    }

    fn custom(&self, text: &str, out: &mut Vec<Span>, cancelled: &dyn Fn() -> bool) -> bool {
        for c in &self.custom {
            for (n, m) in c.re.find_iter(text).enumerate() {
                if n % POLL == POLL - 1 && cancelled() {
                    return false;
                }
                let hit = m.as_str();
                let ok = match c.validator {
                    None => true,
                    Some(Validator::Luhn) => v::luhn(&v::digits(hit)),
                    Some(Validator::Iban) => v::iban(
                        &hit.bytes()
                            .filter(|b| !b.is_ascii_whitespace())
                            .collect::<Vec<_>>(),
                    ),
                    Some(Validator::Aba) => v::aba_routing(&v::digits(hit)),
                    Some(Validator::Npi) => v::npi(&v::digits(hit)),
                    Some(Validator::Ssn) => v::ssn(&v::digits(hit)),
                    Some(Validator::Dea) => v::dea(hit),
                };
                if !ok {
                    continue;
                }
                let score = if c.context.is_empty()
                    || has_context_word(text, m.start(), m.end(), self.window, &c.context)
                {
                    c.score
                } else {
                    c.score - 0.3
                };
                self.push(out, m.start(), m.end(), c.entity, score);
            }
        }
        true
    }

    fn resolve(
        &self,
        text: &str,
        mut cands: Vec<Span>,
        cancelled: &dyn Fn() -> bool,
    ) -> Option<Vec<Span>> {
        cands.retain(|c| c.score >= self.thresholds[idx(c.entity)]);
        if !self.allow.is_empty() {
            cands.retain(|c| {
                !self
                    .allow
                    .contains(&text[c.start..c.end].trim().to_lowercase())
            });
        }
        if cands.len() <= 1 {
            return Some(cands);
        }
        if cancelled() {
            return None;
        }
        // Highest score first, then the longer span; keep what does not overlap.
        cands.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.len().cmp(&a.len()))
                .then(a.start.cmp(&b.start))
        });
        // Kept spans never overlap, so among those starting before `c.end`
        // only the last one can reach into `c`: O(log n) per candidate (a
        // scan of all kept spans made PII-dense records quadratic).
        let mut kept: BTreeMap<usize, Span> = BTreeMap::new();
        for (n, c) in cands.into_iter().enumerate() {
            if n % (16 * POLL) == 16 * POLL - 1 && cancelled() {
                return None;
            }
            let clear = kept
                .range(..c.end)
                .next_back()
                .is_none_or(|(_, k)| k.end <= c.start);
            if clear {
                kept.insert(c.start, c);
            }
        }
        Some(kept.into_values().collect())
    }
}

/// Weekday names in lower case that may stand before or after a date, in the sets' languages:
/// compared with the word lower-cased, not folded, so an accented name is listed as written
/// and, where texts also drop its accents, plain ("marți", "marti").
const WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "mon",
    "tue",
    "tues",
    "wed",
    "thu",
    "thur",
    "thurs",
    "fri",
    "sat",
    "sun",
    "lunes",
    "martes",
    "miércoles",
    "miercoles",
    "jueves",
    "viernes",
    "sábado",
    "sabado",
    "domingo",
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    "montag",
    "dienstag",
    "mittwoch",
    "donnerstag",
    "freitag",
    "samstag",
    "sonntag",
    "pon",
    "wt",
    "śr",
    "czw",
    "pt",
    "sob",
    "niedz",
    "pazartesi",
    "salı",
    "çarşamba",
    "perşembe",
    "cuma",
    "cumartesi",
    "pazar",
    "senin",
    "selasa",
    "rabu",
    "kamis",
    "jumat",
    "sabtu",
    "minggu",
    "luni",
    "marți",
    "marti",
    "miercuri",
    "joi",
    "vineri",
    "sâmbătă",
    "sambata",
    "duminică",
    "duminica",
];

/// Words that join a date and its time of day ("at", "a las", "saat"), folded.
const AT_TIME: &[&str] = &[
    "at",
    "@",
    "a las",
    "sobre las",
    "hacia las",
    "às",
    "as",
    "à",
    "alle",
    "alle ore",
    "om",
    "um",
    "o",
    "saat",
    "pukul",
    "jam",
    "ora",
    "ore",
    "kl.",
    "kl",
    "alas",
];

/// Extends each date, whichever rule found it, over the time of day after it (`16/09/2026
/// at 7:30 AM`, `21 Ekim 2026, saat 08:40`, `6 de octubre de 2026, sobre las 23:30`,
/// `10/14 08:00`) and over a weekday before it (`Saturday 21/11/2026`, `el martes 6 de
/// octubre`): both say when, with the date. [`date_extent`] does the English forms for
/// the numeric date patterns as they match; this runs after overlaps are resolved, with
/// the other languages' words. A time with seconds (a log's time stamp) is left alone.
/// Spans stay sorted and apart.
fn extend_date_times(text: &str, spans: &mut [Span]) {
    let b = text.as_bytes();
    for i in 0..spans.len() {
        if !matches!(spans[i].entity, EntityType::Date | EntityType::DateOfBirth) {
            continue;
        }
        // The time after it.
        let mut p = spans[i].end;
        if b.get(p) == Some(&b',') {
            p += 1;
        }
        if b.get(p) == Some(&b' ') {
            p += 1;
            let mut q = p;
            // A weekday after the date ("2 Aralık 2026 Çarşamba 14:00").
            let wlen = text[p..]
                .char_indices()
                .find(|(_, c)| !c.is_alphabetic())
                .map_or(text.len() - p, |(k, _)| k);
            if wlen >= 3
                && WEEKDAYS.contains(&text[p..p + wlen].to_lowercase().as_str())
                && spans.get(i + 1).is_none_or(|n| n.start >= p + wlen)
            {
                spans[i].end = p + wlen;
                q = p + wlen;
                if text[q..].starts_with(", ") {
                    q += 2;
                } else if text[q..].starts_with(' ') {
                    q += 1;
                }
            }
            let p = q;
            let rest = &text[p..text.floor_char_boundary(p + 24)];
            let lower = rest.to_lowercase();
            if let Some(w) = AT_TIME
                .iter()
                .filter(|w| lower.starts_with(*w) && lower[w.len()..].starts_with(' '))
                .max_by_key(|w| w.len())
            {
                q = p + w.len() + 1;
            }
            for approx in ["approx. ", "about ", "around ", "approximately ", "ca. "] {
                if text[q..].len() >= approx.len()
                    && text.as_bytes()[q..q + approx.len()].eq_ignore_ascii_case(approx.as_bytes())
                {
                    q += approx.len();
                }
            }
            if let Some(end) = time_of_day(text, q)
                && spans.get(i + 1).is_none_or(|n| n.start >= end)
            {
                spans[i].end = end;
            }
        }
        // What may close the date: a.m./p.m., a zone, a second day or time of a range.
        let next = spans.get(i + 1).map_or(text.len(), |n| n.start);
        let tail = date_tail(text, spans[i].end);
        if tail <= next {
            spans[i].end = tail;
        }
        // A range between two dates ("11/16–11/20/2026"): its dash goes with them.
        if let Some(n) = spans.get(i + 1)
            && matches!(n.entity, EntityType::Date | EntityType::DateOfBirth)
            && matches!(
                &text[spans[i].end..n.start],
                "–" | "-" | " – " | " - " | "—"
            )
        {
            spans[i].end = n.start;
        }
        // A weekday before it.
        let s = spans[i].start;
        let head = &text[text.floor_char_boundary(s.saturating_sub(16))..s];
        let head_t = head
            .trim_end_matches(' ')
            .trim_end_matches(',')
            .trim_end_matches('.');
        if head_t.len() + 3 < head.len() || head_t.len() == head.len() {
            continue;
        }
        let word_at = head_t.rfind(|c: char| !c.is_alphabetic()).map_or(0, |k| {
            k + head_t[k..].chars().next().map_or(1, char::len_utf8)
        });
        let word = head_t[word_at..].to_lowercase();
        if word.is_empty() || !WEEKDAYS.contains(&word.as_str()) {
            continue;
        }
        let mut start = s - head.len() + word_at;
        // "el martes".
        if text[..start].ends_with("el ") || text[..start].ends_with("El ") {
            start -= 3;
        }
        let clear = i == 0 || spans[i - 1].end <= start;
        if clear {
            spans[i].start = start;
        }
    }
}

/// Time zones written after a time.
const ZONES: &[&str] = &[
    "CT", "ET", "MT", "PT", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT", "UTC", "GMT",
    "BST", "CET", "CEST", "IST", "AEST", "HST", "AKST", "WIB", "WITA", "WIT", "EET", "EEST", "TRT",
    "MSK", "JST", "KST", "NZST", "NZDT", "AEDT", "SAST", "WAT", "EAT",
];

/// The end of what closes a date span ending at `e`, or `e`: the a.m./p.m. and zone of
/// its time (`3:15 p.m.`, `9:40 AM MST`), the end of a time range (`15:00–16:10`), the
/// second day of a range of days (`Nov 14–15, 2026`), a 24-hour time without a colon
/// after a date with its year (`12/03/2026 0412`).
fn date_tail(text: &str, e: usize) -> usize {
    let b = text.as_bytes();
    let digits = |i: usize| {
        b.get(i..)
            .map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count())
    };
    let free = |i: usize| !b.get(i).is_some_and(u8::is_ascii_alphanumeric);
    let dash = |i: usize| -> Option<usize> {
        for d in ["–", "-", " – ", " - ", "—", " to "] {
            if text[i..].starts_with(d) {
                return Some(i + d.len());
            }
        }
        None
    };
    let mut t = e;
    // The span ends in AM or PM: a zone after it ("9:40 AM MST").
    let lower_end = text[text.floor_char_boundary(e.saturating_sub(4))..e].to_ascii_lowercase();
    if ["am", "pm", "a.m.", "p.m."]
        .iter()
        .any(|w| lower_end.ends_with(w))
        && b.get(e) == Some(&b' ')
    {
        let z = b[e + 1..]
            .iter()
            .take_while(|c| c.is_ascii_uppercase())
            .count();
        if ZONES.contains(&&text[e + 1..e + 1 + z]) && free(e + 1 + z) {
            return e + 1 + z;
        }
        return e;
    }
    // The span ends in minutes ("3:15"): the rest of its time.
    let minutes =
        e >= 3 && b[e - 3] == b':' && b[e - 2].is_ascii_digit() && b[e - 1].is_ascii_digit();
    if minutes {
        if let Some(z) = time_of_day(
            text,
            text[..e - 3]
                .rfind(|c: char| !c.is_ascii_digit())
                .map_or(0, |k| k + 1),
        ) && z > t
        {
            t = z;
        }
        if let Some(q) = dash(t)
            && let Some(z) = time_of_day(text, q)
            && text[q..z].contains(':')
        {
            t = z;
        }
        return t;
    }
    // A range of days: "Nov 14–15, 2026", "Jan 12-15".
    let back = b[..e]
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let day = (1..=2).contains(&back) && e > back && b[e - back - 1] == b' ';
    if day
        && let Some(q) = dash(e)
        && (1..=2).contains(&digits(q))
        && free(q + digits(q))
    {
        let d: u32 = text[q..q + digits(q)].parse().unwrap_or(0);
        if (1..=31).contains(&d) && !text[q + digits(q)..].starts_with(':') {
            t = q + digits(q);
            if text[t..].starts_with(", ") && digits(t + 2) == 4 && free(t + 6) {
                t += 6;
            } else if text[t..].starts_with(' ') && digits(t + 1) == 4 && free(t + 5) {
                t += 5;
            }
            return t;
        }
    }
    // "12/03/2026 0412": a four-digit year, then hours and minutes.
    if e >= 5
        && digits(e - 4) == 4
        && !b[e - 5].is_ascii_digit()
        && b.get(e) == Some(&b' ')
        && digits(e + 1) == 4
        && free(e + 5)
    {
        let hh: u32 = text[e + 1..e + 3].parse().unwrap_or(99);
        let mm: u32 = text[e + 3..e + 5].parse().unwrap_or(99);
        if hh <= 23 && mm <= 59 && b[e - 5] != b' ' {
            t = e + 5;
        }
    }
    t
}

/// A time of day at `q` ("7:30 AM", "08:40", "19:20", "10.15 Uhr", "10 AM", "2pm"), with
/// a zone after it ("CT", "EST"); its end. A time with seconds is not read.
fn time_of_day(text: &str, q: usize) -> Option<usize> {
    let b = text.as_bytes();
    let d1 = b
        .get(q..)?
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if !(1..=2).contains(&d1) {
        return None;
    }
    let mut e = q + d1;
    let mut minutes = false;
    if matches!(b.get(e), Some(b':' | b'.' | b'h'))
        && b.get(e + 1..e + 3)
            .is_some_and(|m| m.iter().all(u8::is_ascii_digit))
        && !b.get(e + 3).is_some_and(u8::is_ascii_digit)
    {
        e += 3;
        minutes = true;
        if b.get(e) == Some(&b':') && b.get(e + 1).is_some_and(u8::is_ascii_digit) {
            return None;
        }
    }
    // AM / PM / a.m.
    let mut k = e;
    if b.get(k) == Some(&b' ') {
        k += 1;
    }
    let ampm = ["am", "pm", "a.m.", "p.m.", "uhr", "h"]
        .iter()
        .filter(|w| {
            b.len() >= k + w.len()
                && b[k..k + w.len()].eq_ignore_ascii_case(w.as_bytes())
                && !b.get(k + w.len()).is_some_and(u8::is_ascii_alphanumeric)
        })
        .map(|w| k + w.len())
        .max();
    let had_ampm = ampm.is_some();
    if let Some(a) = ampm {
        e = a;
    }
    if !minutes && !had_ampm {
        return None;
    }
    if b.get(e).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    // A zone: two to four capitals ("CT", "EST", "UTC").
    if b.get(e) == Some(&b' ') {
        let z = b[e + 1..]
            .iter()
            .take_while(|c| c.is_ascii_uppercase())
            .count();
        if (2..=4).contains(&z) && !b.get(e + 1 + z).is_some_and(u8::is_ascii_alphanumeric) {
            let zone = &text[e + 1..e + 1 + z];
            if ZONES.contains(&zone) {
                e += 1 + z;
            }
        }
    }
    Some(e)
}

/// Extends each phone number over an extension that follows it (`x2204`, `ext. 31`,
/// `extension 7`): the extension is part of what reaches the person. Spans stay sorted
/// and apart: an extension that would reach the next span is left alone.
fn extend_phone_extensions(text: &str, spans: &mut [Span]) {
    let b = text.as_bytes();
    for i in 0..spans.len() {
        if spans[i].entity != EntityType::Phone {
            continue;
        }
        let mut p = spans[i].end;
        while p < b.len() && (b[p] == b' ' || b[p] == b',') && p - spans[i].end < 2 {
            p += 1;
        }
        let rest = &text[p..];
        let lower: String = rest
            .chars()
            .take(10)
            .collect::<String>()
            .to_ascii_lowercase();
        let word = ["extension", "ext.", "ext", "x.", "x", "#"]
            .into_iter()
            .find(|w| lower.starts_with(w));
        let Some(word) = word else { continue };
        let mut q = p + word.len();
        while q < b.len() && b[q] == b' ' && q - (p + word.len()) < 2 {
            q += 1;
        }
        let digits = b[q..].iter().take_while(|c| c.is_ascii_digit()).count();
        let after = q + digits;
        let bounded = after == b.len() || !b[after].is_ascii_alphanumeric();
        let clear = spans.get(i + 1).is_none_or(|n| n.start >= after);
        if (1..=6).contains(&digits) && bounded && clear {
            spans[i].end = after;
        }
    }
}

/// Log-ins and chat handles made from a name found in the same text: for a name
/// of two words or more, its first initial and last word (`praghavan` for
/// "Priyanka Raghavan"), first and last word joined by `.`, `_` or nothing, and
/// the first word with the last initial. A whole token (letters, digits, `.`,
/// `_`, `-`) equal to one of them, in any case, outside every span, is that
/// person too. Spans stay sorted and apart.
/// Log-in names made of a name, in lower case: an initial and a surname ("kfarrow",
/// "dkowalski"), or a given name or an initial, a dot and a surname or an initial
/// ("l.ferraro", "mateo.r"). The surname must be in the gazetteer and not also an
/// English word, and the whole token neither a word nor a name; a token that is part
/// of an e-mail address, a path, a domain or a file name is left alone.
/// Calls `f(start, end, dot)` for each lower-case token of 5 to 24 bytes that could be a
/// log-in: letters and at most one inner dot, standing alone (not inside an e-mail
/// address, a path, a domain or a file name).
fn for_each_login_token(text: &str, mut f: impl FnMut(usize, usize, Option<usize>)) {
    let b = text.as_bytes();
    let opens = |c: u8| {
        matches!(
            c,
            b' ' | b'\t'
                | b'\n'
                | b'\r'
                | b'('
                | b'['
                | b'"'
                | b'\''
                | b','
                | b';'
                | b':'
                | b'='
                | b'@'
        )
    };
    let mut i = 0;
    while i < b.len() {
        if !(i == 0 || opens(b[i - 1])) || !b[i].is_ascii_lowercase() {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut dot = None;
        while j < b.len()
            && (b[j].is_ascii_lowercase() || (matches!(b[j], b'.' | b'_') && dot.is_none()))
        {
            if matches!(b[j], b'.' | b'_') {
                dot = Some(j);
            }
            j += 1;
        }
        // A closing period belongs to the sentence.
        if dot == Some(j - 1) {
            j -= 1;
            dot = None;
        }
        let next_ok = match b.get(j) {
            None => true,
            Some(&c) => {
                matches!(
                    c,
                    b' ' | b'\t'
                        | b'\n'
                        | b'\r'
                        | b')'
                        | b']'
                        | b'"'
                        | b'\''
                        | b','
                        | b';'
                        | b':'
                        | b'!'
                        | b'?'
                ) || (c == b'.' && !b.get(j + 1).is_some_and(u8::is_ascii_alphanumeric))
            }
        };
        if next_ok && (5..=24).contains(&(j - i)) {
            f(i, j, dot);
        }
        i = j.max(i + 1);
    }
}

fn login_names(text: &str, spans: &mut Vec<Span>) {
    use crate::person::{FIRST, LAST, WORD};
    let lex = crate::person::lexicon();
    let common = crate::person::common_words();
    let flags = |w: &str| crate::person::lookup(lex, w);
    let surname = |w: &str| w.len() >= 4 && flags(w) & (LAST | WORD) == LAST;
    let given = |w: &str| w.len() == 1 || flags(w) & (FIRST | WORD) == FIRST;
    let b = text.as_bytes();
    // A log-in is looked up only where one stands (after "by", "user", "Analyst:", in
    // parentheses, after `=` or `@`) or when it has a dot; every word of the text would
    // otherwise cost two table lookups.
    let placed_at = |i: usize, dot: bool| {
        if dot {
            return true;
        }
        let mut k = i;
        while k > 0 && b[k - 1] == b' ' {
            k -= 1;
        }
        if k > 0 && matches!(b[k - 1], b'(' | b'=' | b'@' | b':' | b'[') {
            return true;
        }
        let mut a = k;
        while a > 0 && k - a < 9 && b[a - 1].is_ascii_alphabetic() {
            a -= 1;
        }
        if a > 0 && b[a - 1].is_ascii_alphabetic() {
            return false;
        }
        // One match on the folded word: this runs for every lower-case word of the text.
        let mut w = [0u8; 8];
        let n = k - a;
        if !(2..=8).contains(&n) {
            return false;
        }
        for (d, c) in w.iter_mut().zip(&b[a..k]) {
            *d = c.to_ascii_lowercase();
        }
        matches!(
            &w[..n],
            b"by"
                | b"user"
                | b"analyst"
                | b"reviewer"
                | b"agent"
                | b"owner"
                | b"assignee"
                | b"cc"
                | b"and"
                | b"for"
                | b"from"
                | b"to"
        )
    };
    let is_login = |tok: &str, dot: Option<usize>| match dot {
        None => {
            surname(&tok[1..])
                && crate::person::lookup(common, tok) == 0
                && flags(tok) & (FIRST | LAST | WORD) == 0
        }
        Some(d) => {
            let (l, r) = (&tok[..d], &tok[d + 1..]);
            (given(l) && (surname(r) || (r.len() == 1 && l.len() > 1)))
                && !(l.len() == 1 && r.len() == 1)
        }
    };
    let mut placed: HashSet<&str, crate::person::FxBuild> = HashSet::default();
    for_each_login_token(text, |i, j, dot| {
        let tok = &text[i..j];
        // The place first: it is a few byte compares, the set a hash of the token.
        if placed_at(i, dot.is_some()) && !placed.contains(tok) && is_login(tok, dot.map(|d| d - i))
        {
            placed.insert(tok);
        }
    });
    if placed.is_empty() {
        return;
    }
    // Every mention of a log-in found in its place, before it or after.
    let mut all = Vec::new();
    for_each_login_token(text, |i, j, _| {
        if placed.contains(&text[i..j]) {
            all.push((i, j));
        }
    });
    for (start, end) in all {
        // A name found inside the log-in ("hannah" of "hannah.k") gives way to all of it.
        spans.retain(|p| {
            !(p.entity == EntityType::Person
                && start <= p.start
                && p.end <= end
                && p.end - p.start < end - start)
        });
        if !spans.iter().any(|p| p.start < end && start < p.end) {
            spans.push(Span {
                start,
                end,
                entity: EntityType::Person,
                score: 0.7,
            });
        }
    }
    spans.sort_by_key(|p| p.start);
}

/// Whether an e-mail local part is made only of role words ("api-support",
/// "recall.escalations", "no-reply", "contactcentre-ops"): a shared mailbox, no person's.
fn role_mailbox(local: &str) -> bool {
    const ROLES: &[&str] = &[
        "support",
        "help",
        "helpdesk",
        "info",
        "contact",
        "contactcentre",
        "contactcenter",
        "ops",
        "no",
        "noreply",
        "donotreply",
        "reply",
        "service",
        "services",
        "customer",
        "customerservice",
        "billing",
        "claims",
        "team",
        "admin",
        "escalations",
        "sales",
        "enquiries",
        "inquiries",
        "care",
        "office",
        "hr",
        "payroll",
        "accounts",
        "fraud",
        "security",
        "privacy",
        "compliance",
        "appeals",
        "records",
        "notifications",
        "alerts",
        "api",
        "recall",
        "member",
        "members",
        "benefits",
        "underwriting",
        "disputes",
    ];
    let mut parts = local.split(['.', '-', '_', '+']).peekable();
    parts.peek().is_some()
        && parts.all(|p| !p.is_empty() && ROLES.iter().any(|r| r.eq_ignore_ascii_case(p)))
}

/// Whether one of the four words before `pos` on its line gives a number to a person:
/// a possessive ("my", "her") or a word for a person's own line ("contact", "cell", "home").
fn personal_before(text: &str, pos: usize) -> bool {
    // The 60 bytes before, at most: a line of a million numbers stays linear.
    let mut a = pos.saturating_sub(60);
    while !text.is_char_boundary(a) {
        a += 1;
    }
    let line = &text[text[a..pos].rfind('\n').map_or(a, |i| a + i + 1)..pos];
    line.rsplit(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .take(4)
        .any(|w| {
            [
                "my", "his", "her", "their", "your", "contact", "cell", "mobile", "home",
                "personal", "callback", "reach",
            ]
            .iter()
            .any(|x| x.eq_ignore_ascii_case(w))
        })
}

/// A name given in answer to a question for it, in a chat or call transcript: the line
/// after one that asks for a name ("Can I get the name on the account?") opens, after its
/// speaker label, with two to four words that start with a given name ("deshawn rivers",
/// "andre st. pierre, april 4 1995"). Written in lower case, such names escape the rules
/// that need capitals.
fn named_answers(text: &str, spans: &mut Vec<Span>) {
    use crate::person::{FIRST, LAST, WORD};
    if !text.contains('?') {
        return;
    }
    let lex = crate::person::lexicon();
    let common = crate::person::common_words();
    let mut found = Vec::new();
    let mut asked = false;
    let mut pos = 0usize;
    for line in text.split_inclusive('\n') {
        let (ls, body) = (pos, line.trim_end_matches(['\n', '\r']));
        pos += line.len();
        if body.trim().is_empty() {
            continue;
        }
        let was_asked = asked;
        asked = body.contains('?') && body.to_ascii_lowercase().contains("name");
        if !was_asked {
            continue;
        }
        // The answer follows a speaker label ("Customer: ", "18:05 marisol.v: ").
        let Some(colon) = body.get(..body.len().min(40)).and_then(|h| h.find(": ")) else {
            continue;
        };
        let at = colon + 2;
        let rest = &body[at..];
        let stop = rest.find([',', ';', '(', '?', '!']).unwrap_or(rest.len());
        let mut words = Vec::new();
        let mut off = 0;
        for w in rest[..stop].split(' ') {
            if !w.is_empty() {
                words.push((off, w.trim_end_matches('.')));
            }
            off += w.len() + 1;
        }
        let flags = |w: &str| crate::person::lookup(lex, w);
        let Some(&(first_at, first)) = words.first() else {
            continue;
        };
        if first_at != 0 || flags(first) & FIRST == 0 {
            continue;
        }
        let mut end = first.len();
        let mut n = 1;
        for &(o, w) in words.iter().skip(1).take(3) {
            let name_like = !w.is_empty()
                && w.chars()
                    .all(|c| c.is_alphabetic() || matches!(c, '-' | '\'' | '.'));
            let f = flags(w);
            let plain_word =
                f & (FIRST | LAST) == 0 && (f & WORD != 0 || crate::person::lookup(common, w) != 0);
            if !name_like || plain_word {
                break;
            }
            end = o + w.len();
            n += 1;
        }
        if n >= 2 {
            found.push((ls + at, ls + at + end));
        }
    }
    for (start, end) in found {
        spans.retain(|p| !(p.entity == EntityType::Person && start <= p.start && p.end <= end));
        if !spans.iter().any(|p| p.start < end && start < p.end) {
            spans.push(Span {
                start,
                end,
                entity: EntityType::Person,
                score: 0.8,
            });
            spans.sort_by_key(|p| p.start);
        }
    }
}

fn name_handles(text: &str, spans: &mut Vec<Span>) {
    let mut handles: HashSet<String, crate::person::FxBuild> = HashSet::default();
    // The local part of an e-mail address made of words ("hannah.nguyen@…") is the same
    // person's log-in wherever it stands alone ("user=hannah.nguyen"). A shared mailbox
    // ("customer.service@", "no_reply@") names no one: one of its words must be a name
    // that is not also an English word ("service" is a surname too).
    let gazetteer = crate::names::Gazetteer::get();
    for p in spans.iter().filter(|s| s.entity == EntityType::Email) {
        let local = text[p.start..p.end].split('@').next().unwrap_or("");
        let words: Vec<&str> = local
            .split(['.', '_'])
            .filter(|w| w.len() >= 2 && w.bytes().all(|c| c.is_ascii_alphabetic()))
            .collect();
        let named = words.iter().any(|w| {
            let f = gazetteer.lookup(w);
            f & (crate::names::FIRST | crate::names::LAST) != 0 && f & crate::names::WORD == 0
        });
        if words.len() >= 2 && named && local.len() >= 5 && local.len() <= 40 {
            handles.insert(local.to_ascii_lowercase());
        }
    }
    for p in spans.iter().filter(|s| s.entity == EntityType::Person) {
        let words: Vec<String> = text[p.start..p.end]
            .split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| w.len() >= 2)
            .map(str::to_ascii_lowercase)
            .collect();
        let (Some(first), Some(last)) = (words.first(), words.last()) else {
            continue;
        };
        if words.len() < 2 || first == last {
            continue;
        }
        // "Raghavan, Priyanka" puts the surname first; try both orders.
        for (f, l) in [(first, last), (last, first)] {
            let (fi, li) = (&f[..1], &l[..1]);
            for h in [
                format!("{fi}{l}"),
                format!("{f}.{l}"),
                format!("{f}_{l}"),
                format!("{f}{l}"),
                format!("{f}{li}"),
                format!("{f}.{li}"),
            ] {
                if h.len() >= 5 {
                    handles.insert(h);
                }
            }
        }
    }
    if handles.is_empty() {
        return;
    }
    let b = text.as_bytes();
    let tok = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-');
    // A token is compared only when a handle has its length and first letter.
    let mut shape = [0u64; 41];
    for h in &handles {
        if let Some(&c) = h.as_bytes().first()
            && h.len() <= 40
        {
            shape[h.len()] |= 1 << (c.to_ascii_lowercase() & 63);
        }
    }
    let mut buf = [0u8; 40];
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !tok(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && tok(b[i]) {
            i += 1;
        }
        let mut end = i;
        while end > start && matches!(b[end - 1], b'.' | b'-' | b'_') {
            end -= 1;
        }
        let boundary = start == 0 || !(b[start - 1] == b'@' || b[start - 1] >= 0x80);
        let after_ok = !matches!(b.get(i), Some(b'@')) && b.get(i).is_none_or(|&c| c < 0x80);
        let n = end - start;
        if (5..=40).contains(&n)
            && boundary
            && after_ok
            && shape[n] & (1 << (b[start].to_ascii_lowercase() & 63)) != 0
        {
            for (d, c) in buf.iter_mut().zip(&b[start..end]) {
                *d = c.to_ascii_lowercase();
            }
            if std::str::from_utf8(&buf[..n]).is_ok_and(|w| handles.contains(w)) {
                found.push((start, end));
            }
        }
    }
    if found.is_empty() {
        return;
    }
    // A handle replaces the names found inside it ("hannah" and "nguyen" of
    // "hannah.nguyen"), so the dot between them is masked too.
    spans.retain(|p| {
        p.entity != EntityType::Person
            || !found
                .iter()
                .any(|&(a, z)| a <= p.start && p.end <= z && (a, z) != (p.start, p.end))
    });
    let found = found.into_iter().map(|(start, end)| Span {
        start,
        end,
        entity: EntityType::Person,
        score: 0.85,
    });
    fill_gaps(spans, found);
}

/// Adds the spans of `new` (sorted by start, apart from each other) that overlap
/// no span of `spans` (sorted and apart); `spans` stays sorted and apart.
fn fill_gaps(spans: &mut Vec<Span>, new: impl IntoIterator<Item = Span>) {
    let mut k = 0;
    let mut add = Vec::new();
    for c in new {
        while k < spans.len() && spans[k].end <= c.start {
            k += 1;
        }
        if spans.get(k).is_none_or(|n| c.end <= n.start) {
            add.push(c);
        }
    }
    if !add.is_empty() {
        spans.extend(add);
        spans.sort_by_key(|s| s.start);
    }
}

/// A nickname in quotes or parentheses inside a name (`Nikolaos "Niko" Papadopoulos`,
/// `Margarethe (Greta) Lindqvist`): a name, the nickname, then the next name or a
/// capitalised word, are one name. Spans stay sorted and apart.
fn nicknames(text: &str, spans: &mut Vec<Span>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < spans.len() {
        if spans[i].entity != EntityType::Person {
            i += 1;
            continue;
        }
        let e = spans[i].end;
        let rest = &text[e..text.floor_char_boundary(e + 64)];
        let Some(after_space) = rest.strip_prefix(' ') else {
            i += 1;
            continue;
        };
        let mut close = None;
        for (open, shut) in [("\"", '"'), ("“", '”'), ("(", ')'), ("'", '\''), ("‘", '’')] {
            if let Some(inner) = after_space.strip_prefix(open)
                && let Some(k) = inner.find(shut)
            {
                let nick = &inner[..k];
                let word = nick.chars().next().is_some_and(char::is_uppercase)
                    && nick.chars().any(char::is_lowercase)
                    && nick.chars().count() <= 20
                    && nick
                        .chars()
                        .all(|c| c.is_alphabetic() || c == '-' || c == '.');
                if word {
                    close = Some(1 + open.len() + k + shut.len_utf8());
                }
                break;
            }
        }
        let Some(c) = close else {
            i += 1;
            continue;
        };
        let p = e + c;
        if b.get(p) != Some(&b' ') {
            i += 1;
            continue;
        }
        let q = p + 1;
        // The next name found, or a capitalised word.
        let end = if let Some(n) = spans.get(i + 1)
            && n.start == q
            && n.entity == EntityType::Person
        {
            let end = n.end;
            spans.remove(i + 1);
            end
        } else {
            let w: usize = text[q..]
                .char_indices()
                .find(|&(_, ch)| !(ch.is_alphabetic() || ch == '-' || ch == '\''))
                .map_or(text.len() - q, |(k, _)| k);
            let word = &text[q..q + w];
            let cap = word.chars().next().is_some_and(char::is_uppercase)
                && word.chars().skip(1).any(char::is_lowercase)
                && w >= 2;
            if !cap || spans.get(i + 1).is_some_and(|n| n.start < q + w) {
                i += 1;
                continue;
            }
            q + w
        };
        spans[i].end = end;
        i += 1;
    }
}

/// A name spelled out letter by letter after it is said (`Will Kerrigan, K-E-R-R-I-G-A-N`,
/// `Begaye, b e g a y e`), as phone transcripts write it: a run of three or more single
/// letters joined by `-`, `.` or spaces, starting within 48 bytes after a name, that
/// spells a word of a name found in the same text is that name too. Spans stay sorted
/// and apart.
fn spelled_names(text: &str, spans: &mut Vec<Span>) {
    if !spans.iter().any(|s| s.entity == EntityType::Person) {
        return;
    }
    let b = text.as_bytes();
    // A single ASCII letter at a word start.
    let single = |k: usize| {
        k < b.len()
            && b[k].is_ascii_alphabetic()
            && (k == 0 || !b[k - 1].is_ascii_alphanumeric())
            && !b.get(k + 1).is_some_and(u8::is_ascii_alphanumeric)
    };
    // Runs of three or more single letters, looked for just after each name (where a
    // caller spells it), before any name's words are collected.
    let mut runs: Vec<(usize, usize, String)> = Vec::new();
    let mut from = 0usize;
    for p in spans.iter().filter(|s| s.entity == EntityType::Person) {
        let mut i = p.end.max(from);
        let stop = (p.end + 48).min(b.len());
        while i < stop {
            if !single(i) {
                i += 1;
                continue;
            }
            let start = i;
            let mut end = i + 1;
            let mut word = String::new();
            word.push(b[i].to_ascii_lowercase() as char);
            loop {
                let mut k = end;
                let mut seps = 0;
                while k < b.len() && matches!(b[k], b'-' | b' ' | b'.') && seps < 3 {
                    k += 1;
                    seps += 1;
                }
                if seps == 0 || !single(k) {
                    break;
                }
                word.push(b[k].to_ascii_lowercase() as char);
                end = k + 1;
            }
            if word.len() >= 3 {
                runs.push((start, end, word));
            }
            i = end;
        }
        from = i;
    }
    if runs.is_empty() {
        return;
    }
    let names: Vec<String> = spans
        .iter()
        .filter(|s| s.entity == EntityType::Person)
        .flat_map(|s| {
            text[s.start..s.end]
                .split(|c: char| !c.is_alphabetic())
                .filter(|w| w.chars().count() >= 3)
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .collect();
    for (start, end, word) in runs {
        if !names.contains(&word) {
            continue;
        }
        let at = spans.partition_point(|s| s.start < start);
        let clear_before = at == 0 || spans[at - 1].end <= start;
        let clear_after = spans.get(at).is_none_or(|n| n.start >= end);
        if clear_before && clear_after {
            spans.insert(
                at,
                Span {
                    start,
                    end,
                    entity: EntityType::Person,
                    score: 0.9,
                },
            );
        }
    }
}

/// The end of an identifier with a letter prefix, widened over a letter group joined to
/// its last digits ("PS-0047712-D", "RNT-04-88172-OZ", "4417-882-913-KT").
fn id_suffix(text: &str, en: usize) -> usize {
    let b = text.as_bytes();
    if b.get(en) != Some(&b'-') {
        return en;
    }
    let n = b[en + 1..]
        .iter()
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    let z = en + 1 + n;
    if (1..=4).contains(&n)
        && b.get(z)
            .is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'-')
    {
        z
    } else {
        en
    }
}

/// Where an identifier's letter prefix starts, if the digits at `st` have one:
/// up to three groups of one to four capitals each joined by '-' ("HO-NC-"), or
/// one group of three or four capitals and a space ("HVM "), or of two after an
/// insurance label ("DZ 441 902 771"). A context word ("MRN-", "DOB ") is not a
/// prefix, unless joined to the digits after an identifier's own label ("Member ID
/// PH-2211094"). Returns `st` when there is none.
fn id_prefix(text: &str, st: usize) -> usize {
    let b = text.as_bytes();
    let letters_before = |p: usize| {
        b[..p]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_uppercase())
            .count()
    };
    let is_cue = |a: usize, z: usize| {
        let w = text[a..z].to_ascii_lowercase();
        cue_of(&w).is_some()
            || matches!(
                w.as_str(),
                "id" | "no" | "num" | "nbr" | "bin" | "pcn" | "grp" | "usd" | "eur" | "gbp" | "ref"
            )
    };
    let word_start = |p: usize| p == 0 || !b[p - 1].is_ascii_alphanumeric();
    // After an identifier's own label ("Member ID PH-2211094", "OHIP"), letters joined
    // to the digits are its prefix even when they spell a cue word elsewhere ("PH").
    let id_cue = |q: usize| {
        matches!(
            cue_before(text, q, 3),
            Some(Cue::Insurance | Cue::Mrn | Cue::License | Cue::Passport)
        )
    };
    let mut p = st;
    let mut groups = 0;
    while groups < 3 && p >= 2 && b[p - 1] == b'-' {
        let n = letters_before(p - 1);
        if n == 0 || n > 4 || (is_cue(p - 1 - n, p - 1) && !id_cue(p - 1 - n)) {
            break;
        }
        let q = p - 1 - n;
        if !(word_start(q) || (q > 0 && b[q - 1] == b'-')) {
            break;
        }
        p = q;
        groups += 1;
    }
    if groups > 0 {
        return if word_start(p) { p } else { st };
    }
    if st >= 4 && b[st - 1] == b' ' {
        let n = letters_before(st - 1);
        let q = st - 1 - n;
        // Two letters ("DZ 441 902 771", "PD 0774 19283") only right after an
        // insurance label: alone they are as often a state or a unit.
        let two = n == 2 && cue_before(text, q, 3) == Some(Cue::Insurance);
        if ((3..=4).contains(&n) || two) && word_start(q) && !is_cue(q, st - 1) {
            return q;
        }
    }
    st
}

/// A date's span widened over a weekday before it ("Mon 11/09", "Friday, 12/4")
/// and a time of day after it ("11/06/2026 06:33 ET", "at 2:14 PM", "18:40:11
/// -0500"): labelled data counts them as part of the date, and the time of a
/// visit is as identifying. Looks at most a few words either way.
fn date_extent(text: &str, s: usize, e: usize) -> (usize, usize) {
    let b = text.as_bytes();
    let mut start = s;
    let before = text[..s].trim_end_matches(' ');
    let before = before.strip_suffix(',').unwrap_or(before);
    if before.len() < s && s - before.len() <= 3 {
        let w0 = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_alphabetic())
            .last()
            .map_or(before.len(), |(k, _)| k);
        let w = &before[w0..];
        let word_start = w0 == 0 || !before[..w0].ends_with(|c: char| c.is_alphanumeric());
        if word_start && WEEKDAYS.contains(&w.to_lowercase().as_str()) {
            start = w0;
        }
    }
    let mut end = e;
    let mut k = e;
    // An ISO timestamp's time ("2026-11-12T21:47:03Z", "…T08:15:00.250-05:00").
    let iso = matches!(b.get(k), Some(b'T' | b't')) && b.get(k + 1).is_some_and(u8::is_ascii_digit);
    if iso {
        k += 1;
    } else if text[k..].starts_with(", ") {
        k += 2;
    } else if text[k..].starts_with(" at ") {
        k += 4;
    } else if text[k..].starts_with(' ') {
        k += 1;
    }
    let digits = |i: usize| {
        b[i.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let h = digits(k);
    if k > e && (1..=2).contains(&h) && b.get(k + h) == Some(&b':') && digits(k + h + 1) == 2 {
        let mut t = k + h + 3;
        if b.get(t) == Some(&b':') && digits(t + 1) == 2 {
            t += 3;
        }
        if iso {
            if b.get(t) == Some(&b'.') && digits(t + 1) > 0 {
                t += 1 + digits(t + 1);
            }
            if matches!(b.get(t), Some(b'Z' | b'z'))
                && !b.get(t + 1).is_some_and(u8::is_ascii_alphanumeric)
            {
                t += 1;
            } else if matches!(b.get(t), Some(b'+' | b'-')) && digits(t + 1) == 2 {
                if b.get(t + 3) == Some(&b':') && digits(t + 4) == 2 {
                    t += 6;
                } else if digits(t + 1) == 4 {
                    t += 5;
                }
            }
            return (start, t);
        }
        let rest = &text[t..];
        for suffix in [" AM", " PM", " am", " pm", "AM", "PM", "am", "pm", "a", "p"] {
            if rest.starts_with(suffix)
                && !rest[suffix.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
            {
                t += suffix.len();
                break;
            }
        }
        let rest = &text[t..];
        for zone in [
            " ET", " PT", " CT", " MT", " EST", " EDT", " PST", " PDT", " CST", " CDT", " UTC",
            " GMT",
        ] {
            if rest.starts_with(zone)
                && !rest[zone.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
            {
                t += zone.len();
                break;
            }
        }
        let rest = &text[t..];
        if rest.len() >= 6
            && rest.starts_with(" ")
            && matches!(rest.as_bytes()[1], b'+' | b'-')
            && digits(t + 2) == 4
        {
            t += 6;
        }
        end = t;
    } else if k > e && text[e..].starts_with(" at ") && (1..=2).contains(&h) {
        // An hour alone: "Sun 11/29 at 4 pm".
        let t = k + h;
        for suffix in [
            " pm", " am", "pm", "am", " p.m.", " a.m.", " PM", " AM", "PM", "AM",
        ] {
            let rest = &text[t..];
            if rest.starts_with(suffix)
                && !rest[suffix.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
            {
                end = t + suffix.len();
                break;
            }
        }
    }
    (start, end)
}

/// A candidate at `s` begins a word: not glued to letters, digits or a
/// "/", "$", ":", "-", "." before it.
fn b_at_word_start(text: &str, s: usize) -> bool {
    s == 0
        || !matches!(text.as_bytes()[s - 1], b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' | b'/' | b'$' | b':' | b'-' | b'.' | b'#' | b'\'' | 0x80..=0xff)
}

/// True when only spaces precede `pos` on its line (looks back at most 16 bytes).
fn line_opens(text: &str, pos: usize) -> bool {
    let b = text.as_bytes();
    let mut i = pos;
    while i > 0 && pos - i < 16 {
        match b[i - 1] {
            b' ' | b'\t' => i -= 1,
            b'\n' => return true,
            _ => return false,
        }
    }
    i == 0
}

fn has_context_word(text: &str, s: usize, e: usize, window: usize, words: &[String]) -> bool {
    let before = &text[..s];
    let after = &text[e..];
    let lw = |w: &str| words.iter().any(|x| x.eq_ignore_ascii_case(w));
    before
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .rev()
        .take(window)
        .any(lw)
        || after
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(window)
            .any(lw)
}

#[cfg(test)]
mod pattern_tests {
    #[test]
    fn address_pattern() {
        let p = super::patterns();
        let re = regex::Regex::new(&p[super::P_ADDRESS]).unwrap();
        for t in ["10127 65th Ave., Womack, MA 79245.", "3505 S 60th Parkway."] {
            assert!(re.is_match(t), "{t}");
        }
    }
}
