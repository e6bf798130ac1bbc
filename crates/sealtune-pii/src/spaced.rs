//! Letter-spaced text, as OCR writes a form typed in spaced capitals
//! ("4 1 7   C A L L E   S O L ,   A P T   2"): the detector reads a copy in which each
//! such run is closed up ("417 CALLE SOL, APT 2"), and what it finds there is mapped back
//! to the original bytes.

/// A run needs at least this many one-character tokens.
const MIN_TOKENS: usize = 4;
/// Spaces between two tokens of one run at most (wider is a column gap).
const MAX_GAP: usize = 4;

/// The text with its letter-spaced runs closed up, and where each of its bytes came from.
#[derive(Debug)]
pub(crate) struct Collapsed {
    /// The closed-up copy.
    pub text: String,
    /// `origin[i]`: the byte of the original text that byte `i` of [`Collapsed::text`]
    /// is, plus one entry for the end.
    origin: Vec<usize>,
    /// The runs, as byte ranges of the copy.
    runs: Vec<(usize, usize)>,
}

impl Collapsed {
    /// The original range of `[start, end)` of the copy.
    pub fn original(&self, start: usize, end: usize) -> (usize, usize) {
        // Bytes are copied whole: the end of the last byte is one past its origin.
        (self.origin[start], self.origin[end - 1] + 1)
    }

    /// Whether `[start, end)` of the copy overlaps a closed-up run.
    pub fn touches_run(&self, start: usize, end: usize) -> bool {
        self.runs.iter().any(|&(s, e)| start < e && s < end)
    }
}

/// Where the one-character token at `i` ends, if the character at `i` has a space (or a
/// line's start or end) on both sides.
fn single(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    if i > 0 && !matches!(b[i - 1], b' ' | b'\n' | b'\t') {
        return None;
    }
    let c = text[i..].chars().next()?;
    if c.is_whitespace() {
        return None;
    }
    let end = i + c.len_utf8();
    match b.get(end) {
        None | Some(b' ' | b'\n' | b'\r' | b'\t') => Some(end),
        _ => None,
    }
}

/// The closed-up copy of `text`, or `None` when it has no letter-spaced run (the common
/// case, which costs one pass over the bytes).
pub(crate) fn collapse(text: &str) -> Option<Collapsed> {
    let b = text.as_bytes();
    // Runs in the original: token ranges, consecutive tokens at most MAX_GAP spaces apart.
    let mut runs: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut cur: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    let flush = |cur: &mut Vec<(usize, usize)>, runs: &mut Vec<Vec<(usize, usize)>>| {
        if cur.len() >= MIN_TOKENS {
            runs.push(std::mem::take(cur));
        } else {
            cur.clear();
        }
    };
    while i < b.len() {
        if !text.is_char_boundary(i) {
            i += 1;
            continue;
        }
        if let Some(end) = single(text, i) {
            if let Some(&(_, last)) = cur.last() {
                let gap = &b[last..i];
                if gap.len() > MAX_GAP || gap.iter().any(|&c| c != b' ') {
                    flush(&mut cur, &mut runs);
                }
            }
            cur.push((i, end));
            i = end;
            continue;
        }
        if b[i] != b' ' {
            // A line break, a tab or a longer token ends the run.
            flush(&mut cur, &mut runs);
            if matches!(b[i], b'\n' | b'\t' | b'\r') {
                i += 1;
                continue;
            }
            while i < b.len() && !matches!(b[i], b' ' | b'\n' | b'\t') {
                i += 1;
            }
            continue;
        }
        i += 1;
    }
    flush(&mut cur, &mut runs);
    // A run must have a single space between two of its tokens somewhere: spaced letters,
    // not a column of one-character cells.
    runs.retain(|r| r.windows(2).any(|w| w[1].0 - w[0].1 == 1));
    if runs.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len() + 1);
    let mut spans = Vec::with_capacity(runs.len());
    let mut copied = 0;
    let push = |out: &mut String, origin: &mut Vec<usize>, s: usize, e: usize| {
        out.push_str(&text[s..e]);
        origin.extend(s..e);
    };
    for run in &runs {
        push(&mut out, &mut origin, copied, run[0].0);
        let start = out.len();
        for (k, &(s, e)) in run.iter().enumerate() {
            if k > 0 && s - run[k - 1].1 > 1 {
                // A wider gap is the space between words.
                push(&mut out, &mut origin, run[k - 1].1, run[k - 1].1 + 1);
            }
            push(&mut out, &mut origin, s, e);
        }
        copied = run[run.len() - 1].1;
        spans.push((start, out.len()));
    }
    push(&mut out, &mut origin, copied, text.len());
    origin.push(text.len());
    Some(Collapsed {
        text: out,
        origin,
        runs: spans,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_up_spaced_runs_and_maps_back() {
        let t =
            "Addr:  4 1 7   C A L L E   S O L ,   A P T   2\nPhone ( 5 7 5 )  5 5 5 - 0 1 5 2 ok";
        let c = collapse(t).unwrap();
        assert_eq!(
            c.text,
            "Addr:  417 CALLE SOL, APT 2\nPhone (575) 555-0152 ok"
        );
        let at = c.text.find("CALLE").unwrap();
        let (s, e) = c.original(at, at + 5);
        assert_eq!(&t[s..e], "C A L L E");
        assert!(c.touches_run(at, at + 5));
        let ok = c.text.find("ok").unwrap();
        assert!(!c.touches_run(ok, ok + 2));
        assert_eq!(c.original(ok, ok + 2), (t.len() - 2, t.len()));
    }

    #[test]
    fn ordinary_text_and_columns_are_left_alone() {
        assert!(collapse("A plain sentence, with a word or two: I am 5 or 6.").is_none());
        // One-character cells a column apart are not spaced letters.
        assert!(collapse("X     Y     Z     W").is_none());
        let c = collapse("É T É  x").unwrap();
        assert_eq!(c.text, "ÉTÉ x");
    }
}
