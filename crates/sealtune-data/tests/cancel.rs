//! A scan stops at a safe point soon after it is asked to, even when the file
//! holds a few large records rather than many small ones.

use std::cell::Cell;

use sealtune_data::config::{DataConfig, Format, OnInvalid};
use sealtune_data::source::{Scan, scan_file};
use sealtune_pipeline::Exit;

#[test]
fn large_records_reach_a_safe_point() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("big.jsonl");
    let body = "x".repeat(9 << 20);
    let line = format!("{{\"text\": \"{body}\"}}\n");
    std::fs::write(&path, line.repeat(4)).unwrap();
    let data = DataConfig {
        inputs: vec![],
        format: Format::Text,
        csv: None,
        eval_fraction: 0.0,
        split_seed: 1,
        on_invalid: OnInvalid::Fail,
        max_record_bytes: 16 << 20,
        dedup: true,
        max_errors_listed: 20,
    };
    for want_records in [false, true] {
        let visited = Cell::new(0u32);
        let res = scan_file(
            &path,
            "big.jsonl",
            Scan {
                data: &data,
                want_records,
                on_bytes: &mut |_| {},
                cancelled: &|| true,
            },
            &mut |_| {
                visited.set(visited.get() + 1);
                Ok(())
            },
        );
        let e = res.expect_err("the scan read the whole file without a safe point");
        assert_eq!(e.exit(), Exit::TempFail, "{e}");
        assert!(
            visited.get() < 4,
            "{} records read after the request",
            visited.get()
        );
    }
}
