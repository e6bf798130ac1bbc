//! Times the detector's parts separately on generated text.
use std::time::Instant;

use sealtune_pii::corpus::generate_bytes;
use sealtune_pii::{Detector, EntityType, MaskConfig};

/// CPU seconds used by this thread (utime + stime from /proc, USER_HZ = 100).
fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let rest = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn main() {
    let docs: Vec<String> = generate_bytes(42, 16 << 20)
        .into_iter()
        .map(|d| d.text)
        .collect();
    let mb = docs.iter().map(String::len).sum::<usize>() as f64 / 1e6;
    let all = Detector::new(&MaskConfig::default()).unwrap();
    let no_person = Detector::new(&MaskConfig {
        entities: Some(
            EntityType::ALL
                .iter()
                .copied()
                .filter(|&t| t != EntityType::Person)
                .collect(),
        ),
        ..MaskConfig::default()
    })
    .unwrap();
    let no_person_address = Detector::new(&MaskConfig {
        entities: Some(
            EntityType::ALL
                .iter()
                .copied()
                .filter(|&t| t != EntityType::Person && t != EntityType::StreetAddress)
                .collect(),
        ),
        ..MaskConfig::default()
    })
    .unwrap();
    let only_person = Detector::new(&MaskConfig {
        entities: Some(vec![EntityType::Person]),
        ..MaskConfig::default()
    })
    .unwrap();
    for (name, d) in [
        ("all", &all),
        ("no person", &no_person),
        ("no person, no address", &no_person_address),
        ("person only (regex still runs)", &only_person),
    ] {
        let t = Instant::now();
        let c = cpu();
        let n: usize = docs.iter().map(|x| d.detect(x).len()).sum();
        eprintln!(
            "{name}: {:.1} MB/s wall, {:.1} MB per CPU-second ({n})",
            mb / t.elapsed().as_secs_f64(),
            mb / (cpu() - c)
        );
    }
    let re =
        regex_automata::meta::Regex::new_many(&sealtune_pii::detect::pattern_strings()).unwrap();
    let t = Instant::now();
    let mut per = [0usize; 16];
    for x in &docs {
        for m in re.find_iter(x) {
            per[m.pattern().as_usize()] += 1;
        }
    }
    let n: usize = per.iter().sum();
    eprintln!("matches per pattern: {per:?}");
    eprintln!(
        "regex only: {:.1} MB/s ({n})",
        mb / t.elapsed().as_secs_f64()
    );
}
