//! A learned tagger for person names in running text: logistic regression over
//! hashed features of each capitalised word and its neighbours (the words, their
//! shapes, the gazetteer and safe-list flags, the punctuation between them, the
//! place on the line).
//!
//! It complements the rules of [`crate::person`]: they find names that have a
//! cue they know; the tagger scores every capitalised word, so a name with a cue
//! the rules do not list ("results called to Okafor", "lives with her son Dami")
//! can still be found. Its spans join the rules' candidates before overlap
//! resolution.
//!
//! The committed model (`data/person-tagger.bin`) is trained by
//! `cargo run --release -p sealtune-pii --example train-tagger` on the `dev`
//! parts of the independently written evaluation sets only; the hold-out parts
//! are never trained on. `tests/tagger.rs` retrains it and checks that the
//! result is byte-identical to the committed file.

use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, OnceLock};

use crate::person::{self, Case, Word};

/// log2 of the number of weight buckets (hashed features).
pub const BITS: u32 = 17;
const N: usize = 1 << BITS;
/// log2 of the buckets of the name-likeness model (character n-grams).
pub const NL_BITS: u32 = 16;
const NL_N: usize = 1 << NL_BITS;
const MAGIC: &[u8; 8] = b"STPTAG02";
/// Bytes of a serialised model: magic, the two bit counts, the threshold, the
/// two scales, the weights of the tagger and of the name-likeness model.
const SIZE: usize = 8 + 2 + 4 + 4 + 4 + 2 * N + 2 * NL_N;

static BUILTIN: &[u8] = include_bytes!("../data/person-tagger.bin");
/// A trained tagger: one weight per hashed feature and the probability at or
/// above which a word is tagged as (part of) a name.
#[derive(Clone)]
pub struct Model {
    /// The tagger's weights as stored: i16 steps of `scale` (half the cache
    /// footprint of f32; every candidate word reads 35 of them at random).
    w: Vec<i16>,
    scale: f32,
    /// Name-likeness: logistic regression over a word's character n-grams,
    /// trained on the name lists against the common-word list, so that a
    /// name on no list ("Oyelaran") still looks like one.
    nl: Vec<f32>,
    threshold: f32,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

/// One training document: its text and the byte ranges of its person names.
#[derive(Debug, Clone)]
pub struct TrainDoc {
    /// The text.
    pub text: String,
    /// Byte ranges `[start, end)` of the person names in it.
    pub names: Vec<(usize, usize)>,
}

/// The model shipped with the crate.
pub fn builtin() -> Arc<Model> {
    static M: OnceLock<Arc<Model>> = OnceLock::new();
    M.get_or_init(|| {
        Arc::new(
            Model::from_bytes(BUILTIN)
                // The bytes are compiled in; `builtin_model_loads_and_round_trips`
                // fails the build's tests if they are not a model.
                .expect("data/person-tagger.bin is a model written by the train-tagger example"),
        )
    })
    .clone()
}

impl Model {
    /// The tagging threshold (a probability).
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The same weights with another threshold.
    pub fn with_threshold(mut self, threshold: f32) -> Self {
        self.threshold = threshold;
        self
    }

    /// Serialises the model: `STPTAG02`, the two bucket bit counts (u8), the
    /// threshold and the two weight scales (f32 LE), then one i16 LE per bucket
    /// of the tagger, then of the name-likeness model.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (scale, nl_scale) = (self.scale, quant_scale(&self.nl));
        let mut out = Vec::with_capacity(SIZE);
        out.extend_from_slice(MAGIC);
        out.push(BITS as u8);
        out.push(NL_BITS as u8);
        out.extend_from_slice(&self.threshold.to_le_bytes());
        out.extend_from_slice(&scale.to_le_bytes());
        out.extend_from_slice(&nl_scale.to_le_bytes());
        for &w in &self.w {
            out.extend_from_slice(&w.to_le_bytes());
        }
        for &w in &self.nl {
            out.extend_from_slice(&quant(w, nl_scale).to_le_bytes());
        }
        out
    }

    /// Reads a model written by [`Model::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<Self, String> {
        if b.len() != SIZE || &b[..8] != MAGIC || b[8] != BITS as u8 || b[9] != NL_BITS as u8 {
            return Err(format!(
                "not a person-tagger model of {BITS} and {NL_BITS} bits ({} bytes, expected {SIZE})",
                b.len()
            ));
        }
        let f = |k: usize| f32::from_le_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]]);
        let (threshold, scale, nl_scale) = (f(10), f(14), f(18));
        let bad = |s: f32| !s.is_finite() || s < 0.0;
        if !(0.0..=1.0).contains(&threshold) || bad(scale) || bad(nl_scale) {
            return Err("person-tagger model: threshold or scale out of range".into());
        }
        let table = |bytes: &[u8], scale: f32| -> Vec<f32> {
            bytes
                .chunks_exact(2)
                .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) * scale)
                .collect()
        };
        let w = b[22..22 + 2 * N]
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        let nl = table(&b[22 + 2 * N..], nl_scale);
        Ok(Model {
            w,
            scale,
            nl,
            threshold,
        })
    }

    /// The probability that each candidate word of `text` is part of a name:
    /// `(word start, word end, probability)` in text order.
    pub fn word_scores(&self, text: &str) -> Vec<(usize, usize, f32)> {
        let ws = person::words(text, person::lexicon());
        let mut cx = Cx::new(text, &ws, &self.nl);
        let mut feats = Vec::with_capacity(40);
        let mut out = Vec::new();
        for (i, w) in ws.iter().enumerate() {
            if !candidate(w) {
                continue;
            }
            feats.clear();
            cx.features(i, &mut feats);
            out.push((w.start, w.end, self.prob(&feats)));
        }
        out
    }

    /// Finds names: runs of tagged words joined across a space, a hyphen or an
    /// initial's full stop. Calls `emit(start, end, probability)` for each;
    /// polls `cancelled` every [`crate::detect::POLL`] words and returns false
    /// when it said stop.
    pub fn find(
        &self,
        text: &str,
        cancelled: &dyn Fn() -> bool,
        emit: impl FnMut(usize, usize, f32),
    ) -> bool {
        let ws = person::words(text, person::lexicon());
        self.find_in(text, &ws, cancelled, emit)
    }

    /// [`Model::find`] over the words the name rules already split.
    pub(crate) fn find_in(
        &self,
        text: &str,
        ws: &[Word],
        cancelled: &dyn Fn() -> bool,
        mut emit: impl FnMut(usize, usize, f32),
    ) -> bool {
        let mut cx = Cx::new(text, ws, &self.nl);
        let mut feats = Vec::with_capacity(40);
        // A run of tagged words: the indices of its first and last words, its
        // best probability, whether it has a word of two letters or more.
        let mut run: Option<(usize, usize, f32, bool)> = None;
        let mut prev_tagged: Option<usize> = None;
        // A run is a name unless it is initials alone or an organisation's name
        // (an organisation word in it or right after it: "Harbor Pointe Clinic").
        let mut flush = |(first, last, q, long): (usize, usize, f32, bool)| {
            let org = |w: &Word| w.flags & person::ORG != 0;
            let (s, e) = (ws[first].start, ws[last].end);
            let after = ws.get(last + 1).filter(|n| &text[e..n.start] == " ");
            if long && !ws[first..=last].iter().any(org) && !after.is_some_and(org) {
                emit(s, e, q);
            }
        };
        // First pass: each candidate's probability. A word tagged with
        // confidence marks its other capitalised mentions in the text as names
        // too ("Jen has the handoff doc" after "Jen Okafor, RN").
        let mut probs: Vec<(usize, f32)> = Vec::new();
        let mut sure: HashSet<u64, BuildHasherDefault<IdHash>> = HashSet::default();
        for (i, w) in ws.iter().enumerate() {
            if i % crate::detect::POLL == crate::detect::POLL - 1 && cancelled() {
                return false;
            }
            if !candidate(w) {
                continue;
            }
            feats.clear();
            cx.features(i, &mut feats);
            let p = self.prob(&feats);
            if p >= SURE.max(self.threshold) && w.end - w.start >= 3 && cx.cls2(i as isize) & 4 == 0
            {
                sure.insert(cx.lw(i as isize));
            }
            probs.push((i, p));
        }
        for (i, mut p) in probs {
            let w = &ws[i];
            if p < self.threshold
                && matches!(w.case, Case::Cap | Case::Upper)
                && sure.contains(&cx.lw(i as isize))
            {
                p = self.threshold;
            }
            if p < self.threshold {
                continue;
            }
            let joined = prev_tagged == Some(i.wrapping_sub(1)) && {
                let g = &text[ws[i - 1].end..w.start];
                matches!(g, " " | "-" | ". " | " \"" | "\" " | " “" | "” ")
            };
            let long = text[w.start..w.end].chars().nth(1).is_some();
            match (&mut run, joined) {
                (Some(r), true) => {
                    r.1 = i;
                    r.2 = r.2.max(p);
                    r.3 |= long;
                }
                _ => {
                    if let Some(r) = run.take() {
                        flush(r);
                    }
                    run = Some((i, i, p, long));
                }
            }
            prev_tagged = Some(i);
        }
        if let Some(r) = run {
            flush(r);
        }
        true
    }

    fn prob(&self, feats: &[u32]) -> f32 {
        let z: i32 = feats.iter().map(|&f| i32::from(self.w[f as usize])).sum();
        let z = z as f32 * self.scale;
        sigmoid(z)
    }
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

fn quant_scale(w: &[f32]) -> f32 {
    let m = w.iter().fold(0f32, |m, x| m.max(x.abs()));
    if m == 0.0 { 1.0 } else { m / 32767.0 }
}

fn quant(w: f32, scale: f32) -> i16 {
    (w / scale).round().clamp(-32767.0, 32767.0) as i16
}

/// Words the tagger scores: capitalised or all-capitals words, and lower-case
/// words that are on a name list and not ordinary words (`priya`); not the
/// closed-class words, titles, labels, salutations and credentials of the
/// name rules' lexicon, which are never names themselves.
fn candidate(w: &Word) -> bool {
    const NEVER: u16 = person::STOP | person::TITLE | person::LABEL | person::SALUT | person::CRED;
    if w.flags & NEVER != 0 {
        return false;
    }
    match w.case {
        Case::Cap | Case::Upper => true,
        Case::Lower => {
            w.end - w.start >= 3
                && w.flags & (person::FIRST | person::LAST) != 0
                && w.flags & person::WORD == 0
        }
        Case::Other => false,
    }
}

/// The character 2-, 3- and 4-grams of a word folded to lower case, with its
/// start and end marked, and a length bucket, as name-likeness buckets.
fn ngrams(word: &str, mut out: impl FnMut(u32)) {
    let mut cs = [0u32; 26];
    let mut n = 1;
    cs[0] = u32::from('^');
    for c in word.chars().filter(|c| c.is_alphabetic()) {
        if n == cs.len() - 1 {
            break;
        }
        cs[n] = c.to_lowercase().next().map_or(u32::from(c), u32::from);
        n += 1;
    }
    cs[n] = u32::from('$');
    n += 1;
    let bucket = |h: u64| (h >> (64 - NL_BITS)) as u32;
    out(bucket(mix(7, n.min(12) as u64)));
    for k in 2..=4 {
        for win in cs[..n].windows(k) {
            let mut h = k as u64;
            for &c in win {
                h = mix(h, u64::from(c));
            }
            out(bucket(mix(h, 0x91)));
        }
    }
}

/// Trains the name-likeness weights: names on the census lists that are not
/// ordinary words against the common words that are on no name list.
fn train_name_likeness(epochs: usize, seed: u64) -> Vec<f32> {
    let g = crate::names::Gazetteer::get();
    let mut examples: Vec<(Vec<u32>, f32)> = Vec::new();
    let mut push = |w: &str, y: f32| {
        let mut f = Vec::new();
        ngrams(w, |b| f.push(b));
        examples.push((f, y));
    };
    let mut names: Vec<&str> = g
        .entries()
        .filter(|(_, f)| f & crate::names::WORD == 0)
        .map(|(n, _)| n)
        .collect();
    names.sort_unstable();
    for n in names {
        push(n, 1.0);
    }
    for w in crate::names::COMMON_WORDS
        .lines()
        .chain(person::EXTRA_COMMON.iter().copied())
    {
        if g.lookup(w) == 0 {
            push(w, 0.0);
        }
    }
    sgd(&examples, NL_N, epochs, seed)
}

/// Logistic regression by AdaGrad over hashed binary features, `epochs`
/// passes in an order shuffled by `seed`; returns the weights.
fn sgd(examples: &[(Vec<u32>, f32)], n: usize, epochs: usize, seed: u64) -> Vec<f32> {
    const LR: f32 = 0.3;
    let mut w = vec![0f32; n];
    let mut g2 = vec![0f32; n];
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut rng = seed | 1;
    for _ in 0..epochs {
        // Fisher-Yates with xorshift64.
        for k in (1..order.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            order.swap(k, (rng % (k as u64 + 1)) as usize);
        }
        for &e in &order {
            let (f, y) = &examples[e];
            let z: f32 = f.iter().map(|&b| w[b as usize]).sum();
            let g = sigmoid(z) - y;
            for &b in f {
                let b = b as usize;
                g2[b] += g * g;
                w[b] -= LR * g / (g2[b] + 1e-6).sqrt();
            }
        }
    }
    w
}

/// The weights as they are stored (quantised to i16 with one scale).
fn quantised(mut w: Vec<f32>) -> Vec<f32> {
    let scale = quant_scale(&w);
    for x in &mut w {
        *x = f32::from(quant(*x, scale)) * scale;
    }
    w
}

/// The probability at which a tagged word's other mentions are names too (or the
/// model's threshold, when that is higher).
const SURE: f32 = 0.9;

#[inline]
fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95)
}

/// Out-of-range neighbours.
const EDGE: u64 = 0xED6E;

/// Features of one word, computed on demand and cached per word.
struct Cx<'a> {
    text: &'a str,
    ws: &'a [Word],
    /// The name-likeness weights.
    nlw: &'a [f32],
    /// Per word, 0 until computed: the folded hash (never 0 once computed).
    lw: Vec<u64>,
    /// Per word, `u64::MAX` until computed: case, safe-list, gazetteer and
    /// name-likeness bits.
    c2: Vec<u64>,
    /// Per word and one past the last, `u64::MAX` until computed: the coded
    /// punctuation before it, with bit 63 set when it holds a line break.
    gaps: Vec<u64>,
    /// Candidate words by folded hash: how often each is written capitalised
    /// where a sentence does not start (names keep their capital; ordinary
    /// words lose it).
    mid: std::collections::HashMap<u64, u32, BuildHasherDefault<IdHash>>,
}

/// The map's keys are already hashes.
#[derive(Default)]
struct IdHash(u64);

impl std::hash::Hasher for IdHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

const NEWLINE: u64 = 1 << 63;

impl<'a> Cx<'a> {
    fn new(text: &'a str, ws: &'a [Word], nlw: &'a [f32]) -> Self {
        let mut cx = Cx {
            text,
            ws,
            nlw,
            lw: vec![0; ws.len()],
            c2: vec![u64::MAX; ws.len()],
            gaps: vec![u64::MAX; ws.len() + 1],
            mid: Default::default(),
        };
        for (j, w) in ws.iter().enumerate() {
            if matches!(w.case, Case::Cap | Case::Upper) && !cx.sentence_start(j as isize) {
                let h = cx.lw(j as isize);
                *cx.mid.entry(h).or_insert(0) += 1;
            }
        }
        cx
    }

    fn word(&self, j: isize) -> Option<&Word> {
        usize::try_from(j).ok().and_then(|j| self.ws.get(j))
    }

    /// Whether word `j` opens a line or follows `.`, `!`, `?` or `:`.
    fn sentence_start(&mut self, j: isize) -> bool {
        let Some(z) = self.word(j).copied() else {
            return true;
        };
        if j == 0 || self.gap(j) & NEWLINE != 0 {
            return true;
        }
        let a = self.ws[j as usize - 1].end;
        self.text.as_bytes()[a..z.start]
            .iter()
            .rev()
            .find(|c| !c.is_ascii_whitespace() && !matches!(c, b'"' | b'(' | b'*' | b'-'))
            .is_some_and(|c| matches!(c, b'.' | b'!' | b'?' | b':'))
    }

    /// The word folded to ASCII lower case, hashed.
    fn lw(&mut self, j: isize) -> u64 {
        let Some(w) = self.word(j) else { return EDGE };
        let j = j as usize;
        if self.lw[j] == 0 {
            let mut h = 0x1f;
            for &c in &self.text.as_bytes()[w.start..w.end] {
                h = mix(h, u64::from(c.to_ascii_lowercase()));
            }
            self.lw[j] = h | 1;
        }
        self.lw[j]
    }

    /// Case, safe-list, gazetteer, initial and name-likeness bits. The list
    /// and letter tests are made for capitalised words and candidates only; a
    /// lower-case word that is no candidate counts as a common word.
    fn cls2(&mut self, j: isize) -> u64 {
        let Some(&w) = self.word(j) else { return EDGE };
        let ju = j as usize;
        if self.c2[ju] != u64::MAX {
            return self.c2[ju];
        }
        let case = match w.case {
            Case::Cap => 0,
            Case::Upper => 1,
            Case::Lower => 2,
            Case::Other => 3,
        };
        let word = &self.text[w.start..w.end];
        let initial = w.end - w.start == 1 && self.text.as_bytes().get(w.end) == Some(&b'.');
        let (common, like) = if matches!(w.case, Case::Cap | Case::Upper) || candidate(&w) {
            let common =
                w.flags & person::WORD != 0 || person::lookup(person::common_words(), word) != 0;
            let mut z = 0f32;
            ngrams(word, |b| z += self.nlw[b as usize]);
            let p = sigmoid(z);
            (common, (p * 4.999) as u64)
        } else {
            (w.case == Case::Lower, 5)
        };
        let v = case
            | u64::from(common) << 2
            | u64::from(w.flags & (person::FIRST | person::LAST)) << 3
            | u64::from(initial) << 5
            | like << 6;
        self.c2[ju] = v;
        v
    }

    /// The name-likeness bucket of word `j` (0-4; 5 for a lower-case word that
    /// is no candidate).
    fn name_like(&mut self, j: isize) -> u64 {
        match self.cls2(j) {
            EDGE => EDGE,
            v => v >> 6 & 7,
        }
    }

    /// The cue flags of the person lexicon (titles, labels, kin words, ...).
    fn cues(&self, j: isize) -> u64 {
        self.word(j).map_or(EDGE, |w| u64::from(w.flags >> 3))
    }

    fn cls(&mut self, j: isize) -> u64 {
        let Some(&w) = self.word(j) else { return EDGE };
        let n = self.text[w.start..w.end].chars().count();
        let lenb = match n {
            1 => 0,
            2..=3 => 1,
            4..=7 => 2,
            _ => 3,
        };
        (self.cls2(j) & 0x3f) | lenb << 6 | self.cues(j) << 8
    }

    /// The punctuation between word `j - 1` and word `j`, coded: newline `N`,
    /// blanks `_`, digits `D`, other non-ASCII `U`, runs collapsed; bit 63 set
    /// when it holds a line break (the start of the text counts as one).
    fn gap(&mut self, j: isize) -> u64 {
        let Ok(ju) = usize::try_from(j) else {
            return EDGE;
        };
        if ju > self.ws.len() {
            return EDGE;
        }
        if self.gaps[ju] != u64::MAX {
            return self.gaps[ju];
        }
        let a = if ju == 0 { 0 } else { self.ws[ju - 1].end };
        let z = self.ws.get(ju).map_or(self.text.len(), |w| w.start);
        let g = &self.text.as_bytes()[a..z];
        let (mut h, mut last, mut n) = (0u64, 0u8, 0);
        for &c in g.iter().take(12) {
            let k = match c {
                b'\n' => b'N',
                b' ' | b'\t' | b'\r' => b'_',
                b'0'..=b'9' => b'D',
                c if c >= 0x80 => b'U',
                c => c,
            };
            if k != last {
                h = h << 8 | u64::from(k);
                last = k;
                n += 1;
                if n == 6 {
                    break;
                }
            }
        }
        if g.len() > 12 {
            h = h << 8 | u64::from(b'+');
        }
        if ju == 0 || g.contains(&b'\n') {
            h |= NEWLINE;
        }
        self.gaps[ju] = h;
        h
    }

    fn newline_before(&mut self, j: isize) -> bool {
        j <= 0 || self.gap(j) & NEWLINE != 0
    }

    /// Pushes the feature buckets of word `i`.
    fn features(&mut self, i: usize, out: &mut Vec<u32>) {
        let i = i as isize;
        let (l0, lm1, lm2, lp1, lp2) = (
            self.lw(i),
            self.lw(i - 1),
            self.lw(i - 2),
            self.lw(i + 1),
            self.lw(i + 2),
        );
        let (c0, cm1, cm2, cp1, cp2) = (
            self.cls2(i),
            self.cls2(i - 1),
            self.cls2(i - 2),
            self.cls2(i + 1),
            self.cls2(i + 2),
        );
        let (gb, ga) = (self.gap(i), self.gap(i + 1));
        // Place on the line: words before and after on the same line (up to 6),
        // and the first word of the line with the punctuation after it.
        let mut before = 0;
        while before < 6 && !self.newline_before(i - before) {
            before += 1;
        }
        let mut after = 0;
        while after < 6
            && (i + after + 1) < self.ws.len() as isize
            && !self.newline_before(i + after + 1)
        {
            after += 1;
        }
        let head = if before < 6 {
            let h = self.lw(i - before);
            mix(h, self.gap(i - before + 1))
        } else {
            EDGE
        };
        let w = self.ws[i as usize];
        let word = &self.text[w.start..w.end];
        let mut suffix = 0x5u64;
        for c in word.chars().rev().take(3) {
            suffix = mix(suffix, u64::from(c) | 0x20);
        }
        let start = self.sentence_start(i);
        let others = self.mid.get(&l0).copied().unwrap_or(0)
            - u32::from(!start && matches!(w.case, Case::Cap | Case::Upper));
        let doc = mix(u64::from(start), u64::from(others.min(2)));
        let (nl0, nlp1, nlm1) = (
            self.name_like(i),
            self.name_like(i + 1),
            self.name_like(i - 1),
        );
        let cls0 = self.cls(i);
        let fs: [(u64, u64); 35] = [
            (1, 0),
            (2, l0),
            (3, cls0),
            (4, mix(suffix, c0)),
            (5, lm1),
            (6, lm2),
            (7, lp1),
            (8, lp2),
            (9, cm1),
            (10, cp1),
            (11, cm2),
            (12, cp2),
            (13, gb),
            (14, ga),
            (15, mix(gb, lm1)),
            (16, mix(lp1, ga)),
            (17, mix(mix(cm1, c0), cp1)),
            (18, mix(mix(before as u64, after as u64), c0)),
            (19, mix(lm1, c0)),
            (20, mix(c0, lp1)),
            (21, self.cues(i - 1)),
            (22, self.cues(i - 2)),
            (23, self.cues(i + 1)),
            (24, head),
            (25, mix(mix(gb, c0), ga)),
            (26, mix(mix(cm1, gb), c0)),
            (27, mix(mix(lm2, lm1), c0)),
            (28, mix(doc, c0)),
            (29, mix(doc, l0)),
            (30, mix(mix(doc, lm1), c0)),
            (31, mix(nl0, c0)),
            (32, mix(mix(nl0, c0), gb)),
            (33, mix(mix(nl0, lm1), doc)),
            (34, mix(mix(nlm1, cm1), mix(nl0, c0))),
            (35, mix(mix(nl0, c0), mix(nlp1, cp1))),
        ];
        for (k, v) in fs {
            out.push((mix(mix(k, v), k) >> (64 - BITS)) as u32);
        }
    }
}

/// Passes over the training examples of the committed model.
pub const EPOCHS: usize = 6;
/// Shuffling seed of the committed model.
pub const SEED: u64 = 0x5EA1_7A66;
/// The evaluation sets whose `dev` parts the committed model is trained on,
/// relative to the crate's directory. Their `holdout` parts are never used.
pub const TRAINING_SETS: &[&str] = &[
    "tests/independent/dev.jsonl",
    "tests/independent2/dev.jsonl",
    "tests/independent3/dev.jsonl",
    "tests/independent4/dev.jsonl",
    "tests/independent5/dev.jsonl",
    "tests/independent6/dev.jsonl",
    "tests/independent7/dev.jsonl",
];

/// The committed model's training documents: the person names of the
/// [`TRAINING_SETS`] under `crate_dir`.
pub fn training_docs(crate_dir: &std::path::Path) -> Result<Vec<TrainDoc>, String> {
    let mut out = Vec::new();
    for rel in TRAINING_SETS {
        let path = crate_dir.join(rel);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let docs =
            crate::corpus::read_labelled(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        out.extend(docs.into_iter().map(|d| {
            TrainDoc {
                names: d
                    .gold
                    .iter()
                    .filter(|g| g.entity == crate::types::EntityType::Person)
                    .map(|g| (g.start, g.end))
                    .collect(),
                text: d.text,
            }
        }));
    }
    Ok(out)
}

/// Trains a model on `docs` by logistic regression with AdaGrad: `epochs`
/// passes in an order shuffled by `seed`. Deterministic: the same documents,
/// epochs and seed give the same bytes. The weights are quantised as
/// [`Model::to_bytes`] stores them.
pub fn train(docs: &[TrainDoc], epochs: usize, seed: u64, threshold: f32) -> Model {
    let nl = quantised(train_name_likeness(epochs, seed));
    let mut examples: Vec<(Vec<u32>, f32)> = Vec::new();
    for d in docs {
        let ws = person::words(&d.text, person::lexicon());
        let mut cx = Cx::new(&d.text, &ws, &nl);
        for (i, w) in ws.iter().enumerate() {
            if !candidate(w) {
                continue;
            }
            let mut f = Vec::with_capacity(40);
            cx.features(i, &mut f);
            let y = d.names.iter().any(|&(s, e)| s < w.end && w.start < e);
            examples.push((f, if y { 1.0 } else { 0.0 }));
        }
    }
    let w = sgd(&examples, N, epochs, seed);
    let scale = quant_scale(&w);
    Model {
        w: w.iter().map(|&x| quant(x, scale)).collect(),
        scale,
        nl,
        threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_model_loads_and_round_trips() {
        let m = builtin();
        assert!(m.threshold() > 0.0 && m.threshold() < 1.0);
        let again = Model::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(again.to_bytes(), BUILTIN);
    }

    #[test]
    fn corrupt_models_are_refused() {
        assert!(Model::from_bytes(&BUILTIN[..BUILTIN.len() - 1]).is_err());
        let mut b = BUILTIN.to_vec();
        b[0] ^= 1;
        assert!(Model::from_bytes(&b).is_err());
        let mut b = BUILTIN.to_vec();
        b[9..13].copy_from_slice(&2.0f32.to_le_bytes());
        assert!(Model::from_bytes(&b).is_err());
    }

    #[test]
    fn tags_names_in_running_text_and_not_ordinary_words() {
        let m = builtin();
        let text = "Lives with her son Babajide, who drives her to dialysis. \
                    Results were called to Okonkwo at 14:10. The Pharmacy confirmed the refill.";
        let mut found = Vec::new();
        assert!(m.find(text, &|| false, |s, e, _| found.push(&text[s..e])));
        assert!(found.contains(&"Babajide"), "{found:?}");
        assert!(
            !found
                .iter()
                .any(|f| f.contains("Pharmacy") || f.contains("Results")),
            "{found:?}"
        );
    }

    #[test]
    fn training_is_deterministic_and_learns() {
        let docs: Vec<TrainDoc> = [
            "Seen with Zorblat today.",
            "Call Zorblat back.",
            "The Clinic is open.",
        ]
        .iter()
        .map(|t| TrainDoc {
            text: (*t).to_string(),
            names: t.find("Zorblat").map(|s| (s, s + 7)).into_iter().collect(),
        })
        .collect();
        let a = train(&docs, 5, 7, 0.5);
        let b = train(&docs, 5, 7, 0.5);
        assert_eq!(a.to_bytes(), b.to_bytes());
        let s = a.word_scores("Call Zorblat back.");
        let z = s.iter().find(|x| x.0 == 5).unwrap().2;
        let c = s.iter().find(|x| x.0 == 0).unwrap().2;
        assert!(z > 0.5 && c < 0.5, "{s:?}");
    }
}
