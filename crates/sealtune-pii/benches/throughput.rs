//! Detection and masking throughput over generated text.
//!
//! `cargo bench -p sealtune-pii --bench throughput` (env `SEALTUNE_BENCH_MB`,
//! default 64, sets the corpus size). Reports MB/s on 1 thread and on N
//! threads, and peak resident memory (VmHWM).

use std::time::Instant;

use rayon::prelude::*;
use sealtune_pii::corpus::generate_bytes;
use sealtune_pii::{Detector, MaskConfig, MaskKey, Masker, RecordKind};
use serde_json::json;
use zeroize::Zeroizing;

fn vm_hwm_mb() -> f64 {
    sealtune_pipeline::proc::peak_rss_kib().map_or(f64::NAN, |kb| kb as f64 / 1024.0)
}

/// CPU seconds (user + system) from a /proc stat file; USER_HZ is 100 on Linux.
fn cpu_secs(path: &str) -> f64 {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let t = |i: usize| {
        f.get(i)
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (t(11) + t(12)) / 100.0
}

fn main() {
    let mb: usize = std::env::var("SEALTUNE_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let t0 = Instant::now();
    let docs: Vec<String> = generate_bytes(42, mb << 20)
        .into_iter()
        .map(|d| d.text)
        .collect();
    let total: usize = docs.iter().map(String::len).sum();
    let total_mb = total as f64 / 1e6;
    eprintln!(
        "corpus: {} documents, {:.1} MB generated in {:.1}s; VmHWM {:.0} MiB",
        docs.len(),
        total_mb,
        t0.elapsed().as_secs_f64(),
        vm_hwm_mb()
    );

    let det = Detector::new(&MaskConfig::default()).expect("detector");
    det.detect("warm up: Patient: Maria Lopez 123-45-6789");
    // The same without the learned name tagger (the rules alone), for its
    // cost: the two alternate, two rounds each, in this one run.
    let rules = Detector::new(&MaskConfig::default())
        .expect("detector")
        .with_person_model(None);
    let run = |d: &Detector| {
        let t = Instant::now();
        let c = cpu_secs("/proc/thread-self/stat");
        let spans: usize = docs.iter().map(|x| d.detect(x).len()).sum();
        let secs = t.elapsed().as_secs_f64();
        (spans, secs, cpu_secs("/proc/thread-self/stat") - c)
    };
    for round in 1..=2 {
        let (s, secs, cpu) = run(&det);
        let (rs, rsecs, rcpu) = run(&rules);
        eprintln!(
            "detect, 1 thread, round {round}: {:.1} MB/s wall, {:.1} MB per CPU-second ({s} spans, {secs:.2}s); \
             without the name tagger {:.1} MB/s wall, {:.1} MB per CPU-second ({rs} spans, {rsecs:.2}s); \
             the tagger costs {:.2}x the CPU time",
            total_mb / secs,
            total_mb / cpu,
            total_mb / rsecs,
            total_mb / rcpu,
            cpu / rcpu
        );
    }

    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut threads = vec![2usize, cores];
    threads.dedup();
    for n in threads.into_iter().filter(|&n| n > 1) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .expect("pool");
        let t = Instant::now();
        let c = cpu_secs("/proc/self/stat");
        let s: usize = pool.install(|| docs.par_iter().map(|d| det.detect(d).len()).sum());
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_secs("/proc/self/stat") - c;
        eprintln!(
            "detect, {n} threads: {:.1} MB/s wall, {:.1} MB per CPU-second ({s} spans, {secs:.2}s)",
            total_mb / secs,
            total_mb / cpu
        );
    }

    let key = MaskKey::new(Zeroizing::new(vec![0x5a; 32])).expect("key");
    let masker = Masker::new(&MaskConfig::default(), key).expect("masker");
    let before = vm_hwm_mb();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let t = Instant::now();
    let mut out_bytes = 0usize;
    pool.install(|| {
        masker
            .mask_stream(
                docs.iter().map(|d| json!({ "text": d })),
                RecordKind::Text,
                256,
                |_, r| -> Result<(), ()> {
                    out_bytes += r
                        .map_err(|_| ())?
                        .record
                        .map_or(0, |v| v["text"].as_str().map_or(0, str::len));
                    Ok(())
                },
            )
            .expect("stream")
    });
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "mask_stream (tag), 1 thread: {:.1} MB/s ({:.1} MB out, {:.2}s)",
        total_mb / secs,
        out_bytes as f64 / 1e6,
        secs
    );
    eprintln!(
        "peak RSS (VmHWM): {:.0} MiB before masking, {:.0} MiB after (corpus held in memory: {:.0} MB)",
        before,
        vm_hwm_mb(),
        total_mb
    );
}
