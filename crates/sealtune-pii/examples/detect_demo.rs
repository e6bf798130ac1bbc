//! Prints the spans found in each argument (a quick manual check).
use std::io::Write;

fn main() {
    let det = sealtune_pii::Detector::new(&sealtune_pii::MaskConfig::default()).expect("detector");
    let mut out = std::io::stderr();
    for arg in std::env::args().skip(1) {
        for s in det.detect(&arg) {
            let _ = writeln!(
                out,
                "{:?} {:.2} {:?}",
                s.entity,
                s.score,
                &arg[s.start..s.end]
            );
        }
        let _ = writeln!(out, "--");
    }
}
