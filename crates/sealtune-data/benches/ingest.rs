//! Ingest throughput and peak memory, against anchors measured in the same run.
//!
//! ```text
//! cargo bench -p sealtune-data --bench ingest            # 256 MB and 1024 MB inputs
//! cargo bench -p sealtune-data --bench ingest -- --mb 64 # one size
//! ```
//!
//! For each input size it generates a chat JSONL file, then runs each phase in
//! a fresh child process (so each peak RSS is its own) and prints MB/s, the
//! ratio to the anchors, and peak RSS:
//! - `sha256`: read the file and hash it (the I/O + digest floor ingest pays);
//! - `parse`: split lines and parse each as JSON (`serde_json::Value`), no checks;
//! - `ingest`: the real stage work: hash, bounded lines, UTF-8, JSON, schema,
//!   dedup, split, index, report.

#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sealtune_data::config::{DataConfig, Format, OnInvalid};
use sealtune_data::ingest::{IngestRun, ingest};

fn peak_rss_kib() -> u64 {
    sealtune_pipeline::proc::peak_rss_kib().unwrap_or(0)
}

fn generate(path: &Path, mb: usize) -> u64 {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let topics = [
        "card declined",
        "claim denied",
        "blood pressure",
        "address change",
        "refund",
        "prior authorization",
    ];
    let mut written = 0u64;
    let mut i = 0u64;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while written < (mb as u64) * 1_000_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let t = topics[(x % topics.len() as u64) as usize];
        let len = 40 + (x >> 20) % 600;
        let body: String = "lorem ipsum dolor sit amet consectetur "
            .chars()
            .cycle()
            .take(len as usize)
            .collect();
        let line = format!(
            "{{\"messages\":[{{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"}},{{\"role\":\"user\",\"content\":\"#{i} {t}: {body}\"}},{{\"role\":\"assistant\",\"content\":\"Re {t} ({i}): {body}\"}}]}}\n"
        );
        written += line.len() as u64;
        w.write_all(line.as_bytes()).unwrap();
        i += 1;
    }
    w.flush().unwrap();
    written
}

fn phase(name: &str, file: &Path, out: &Path) -> f64 {
    let t0 = Instant::now();
    match name {
        "sha256" => {
            sealtune_pipeline::fsutil::sha256_file(file).unwrap();
        }
        "parse" => {
            let r = BufReader::with_capacity(1 << 20, std::fs::File::open(file).unwrap());
            let mut n = 0u64;
            for line in r.split(b'\n') {
                let v: serde_json::Value = serde_json::from_slice(&line.unwrap()).unwrap();
                n += v.is_object() as u64;
            }
            assert!(n > 0);
        }
        "ingest" => {
            let data = DataConfig {
                inputs: vec![],
                format: Format::Chat,
                csv: None,
                eval_fraction: 0.1,
                split_seed: 0,
                on_invalid: OnInvalid::Fail,
                max_record_bytes: 1 << 20,
                dedup: true,
                max_errors_listed: 20,
            };
            std::fs::create_dir_all(out).unwrap();
            let files = [file.to_path_buf()];
            let names = ["bench.jsonl".to_string()];
            let report = ingest(IngestRun {
                data: &data,
                files: &files,
                names: &names,
                expected_sha256: None,
                out_dir: out,
                on_bytes: &mut |_| {},
                cancelled: &|| false,
            })
            .unwrap();
            assert_eq!(
                report.totals.read,
                report.totals.accepted + report.totals.duplicates
            );
        }
        other => panic!("unknown phase {other}"),
    }
    t0.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Child mode: run one phase, print "secs peak_kib".
    if let Some(i) = args.iter().position(|a| a == "--phase") {
        let name = &args[i + 1];
        let file = PathBuf::from(&args[i + 2]);
        let out = PathBuf::from(&args[i + 3]);
        let secs = phase(name, &file, &out);
        println!("{secs} {}", peak_rss_kib());
        return;
    }
    let sizes: Vec<usize> = match args.iter().position(|a| a == "--mb") {
        Some(i) => vec![args[i + 1].parse().expect("--mb N")],
        None => vec![256, 1024],
    };
    let dir = tempfile::tempdir().unwrap();
    let me = std::env::current_exe().unwrap();
    println!(
        "machine: {} cores; {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        cpu_model()
    );
    println!(
        "{:>7} {:>8} {:>10} {:>10} {:>14}",
        "MB", "phase", "MB/s", "seconds", "peak RSS MiB"
    );
    for mb in sizes {
        let file = dir.path().join(format!("in-{mb}.jsonl"));
        let bytes = generate(&file, mb);
        let mut rates = std::collections::BTreeMap::new();
        for name in ["sha256", "parse", "ingest"] {
            // Warm the page cache once so every phase reads from memory.
            let _ = sealtune_pipeline::fsutil::sha256_file(&file);
            let out = dir.path().join(format!("out-{mb}-{name}"));
            let o = Command::new(&me)
                .args([
                    "--phase",
                    name,
                    file.to_str().unwrap(),
                    out.to_str().unwrap(),
                ])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let s = String::from_utf8(o.stdout).unwrap();
            let mut it = s.split_whitespace();
            let secs: f64 = it.next().unwrap().parse().unwrap();
            let kib: u64 = it.next().unwrap().parse().unwrap();
            let rate = bytes as f64 / 1e6 / secs;
            rates.insert(name, rate);
            println!(
                "{:>7} {:>8} {:>10.1} {:>10.2} {:>14.1}",
                bytes / 1_000_000,
                name,
                rate,
                secs,
                kib as f64 / 1024.0
            );
        }
        println!(
            "        ingest / sha256 = {:.2}x   ingest / parse-only = {:.2}x",
            rates["ingest"] / rates["sha256"],
            rates["ingest"] / rates["parse"]
        );
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default()
}
