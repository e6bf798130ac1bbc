//! Times the detector's parts separately on generated text.
use std::time::Instant;

use sealtune_pii::corpus::generate_bytes;
use sealtune_pii::{Detector, EntityType, MaskConfig};

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
    let only_person = Detector::new(&MaskConfig {
        entities: Some(vec![EntityType::Person]),
        ..MaskConfig::default()
    })
    .unwrap();
    for (name, d) in [
        ("all", &all),
        ("no person", &no_person),
        ("person only (regex still runs)", &only_person),
    ] {
        let t = Instant::now();
        let n: usize = docs.iter().map(|x| d.detect(x).len()).sum();
        eprintln!("{name}: {:.1} MB/s ({n})", mb / t.elapsed().as_secs_f64());
    }
    let re =
        regex_automata::meta::Regex::new_many(&sealtune_pii::detect::pattern_strings()).unwrap();
    let t = Instant::now();
    let n: usize = docs.iter().map(|x| re.find_iter(x).count()).sum();
    eprintln!(
        "regex only: {:.1} MB/s ({n})",
        mb / t.elapsed().as_secs_f64()
    );
}
