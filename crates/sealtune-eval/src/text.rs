//! Text measures: normalised edit similarity and the zlib size used by the zlib
//! membership score.

use std::io::Write;

/// Levenshtein distance between two sequences.
pub fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(x != y);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// `1 − distance / max(len)`: 1 for identical sequences, 0 for disjoint ones of equal
/// length. Two empty sequences are identical.
pub fn edit_similarity<T: PartialEq>(a: &[T], b: &[T]) -> f64 {
    let m = a.len().max(b.len());
    if m == 0 {
        return 1.0;
    }
    1.0 - edit_distance(a, b) as f64 / m as f64
}

/// The zlib compression level of the zlib score.
pub const ZLIB_LEVEL: u32 = 6;

/// Bytes of `text` compressed with zlib (RFC 1950) by the zlib library (flate2's libz
/// backend) at level [`ZLIB_LEVEL`], header and checksum included: the length Python's
/// `len(zlib.compress(text.encode(), 6))` gives.
pub fn zlib_len(text: &str) -> usize {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(ZLIB_LEVEL));
    // Writing into a Vec cannot fail.
    let ok = enc.write_all(text.as_bytes()).is_ok();
    match (ok, enc.finish()) {
        (true, Ok(v)) => v.len(),
        _ => text.len() + 11,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_similarity_golden_values() {
        assert_eq!(edit_distance(b"kitten", b"sitting"), 3);
        assert_eq!(edit_similarity(b"kitten", b"sitting"), 1.0 - 3.0 / 7.0);
        assert_eq!(edit_similarity::<u8>(b"", b""), 1.0);
        assert_eq!(edit_similarity(&[1, 2, 3], &[1, 2, 3]), 1.0);
        assert_eq!(edit_similarity(&[1, 2, 3], &[4, 5, 6]), 0.0);
        // One token of 10 differs: similarity 0.9 (the near-verbatim threshold).
        let a: Vec<u32> = (0..10).collect();
        let mut b = a.clone();
        b[4] = 99;
        assert!((edit_similarity(&a, &b) - 0.9).abs() < 1e-12);
    }

    #[test]
    fn zlib_sizes_are_fixed() {
        // Empty input: 2-byte header, one empty final block, 4-byte Adler-32.
        assert_eq!(zlib_len(""), 8);
        let rep = "abc".repeat(200);
        let rand = "q8Zr1mXw7LkPz0Vb3NcJy5Ht9GdFs2Ae4UiOo6Ra";
        assert!(zlib_len(&rep) < 30, "{}", zlib_len(&rep));
        assert!(zlib_len(rand) > rand.len(), "{}", zlib_len(rand));
        // Python's `len(zlib.compress(t.encode(), 6))` for each; miniz_oxide, the backend
        // before, gives 103 for the first.
        let reference = [
            (
                "I can see why this is frustrating. You can appeal within 180 days; the appeal form is in the member portal under Claims.",
                102,
            ),
            (
                "The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog. ",
                55,
            ),
            (
                "Patient [PERSON] was seen on 2024-03-02 for a follow-up of hypertension; BP 142/91, metformin continued.",
                106,
            ),
        ];
        for (t, want) in reference {
            assert_eq!(zlib_len(t), want, "{t}");
        }
    }
}
