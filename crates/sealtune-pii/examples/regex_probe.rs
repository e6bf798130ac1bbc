//! Measures the candidate automaton's speed with each pattern left out.
use std::time::Instant;

use regex_automata::meta;
use sealtune_pii::corpus::generate_bytes;

fn main() {
    let docs: Vec<String> = generate_bytes(42, 4 << 20)
        .into_iter()
        .map(|d| d.text)
        .collect();
    let mb = docs.iter().map(String::len).sum::<usize>() as f64 / 1e6;
    let pats = sealtune_pii::detect::pattern_strings();
    for skip in std::iter::once(usize::MAX).chain(0..pats.len()) {
        let p: Vec<&String> = pats
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, p)| p)
            .collect();
        let re = meta::Regex::builder()
            .configure(meta::Config::new().hybrid_cache_capacity(16 << 20))
            .build_many(&p)
            .unwrap();
        let t = Instant::now();
        let n: usize = docs.iter().map(|x| re.find_iter(x).count()).sum();
        eprintln!(
            "without {skip}: {:.1} MB/s ({n})",
            mb / t.elapsed().as_secs_f64()
        );
    }
}
