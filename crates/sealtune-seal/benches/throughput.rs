//! Encrypt / decrypt / hash throughput on a large file, with one and two
//! crypto threads (and all, when there are more), against `age` when it is
//! installed (`apt-get install age`; found on `PATH`), in the same run with
//! the runs interleaved. Reports wall time and CPU time (user + system) per
//! GiB.
//!
//! `SEALTUNE_BENCH_BYTES=1073741824 SEALTUNE_BENCH_REPEAT=5 cargo bench -p sealtune-seal --bench throughput`

// A benchmark reports its figures on stdout.
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use sealtune_seal::oms::{self, Serialization, SignOptions};
use sealtune_seal::{Kek, KeySource, format};

fn gbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e9
}

fn peak_rss_mib() -> u64 {
    sealtune_pipeline::proc::peak_rss_kib().map_or(0, |kib| kib / 1024)
}

fn write_input(path: &Path, bytes: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        for c in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
}

/// User + system CPU seconds of this process (all threads) and of its
/// waited-for children, from `/proc/self/stat` (clock ticks of 10 ms).
fn cpu_times() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the parenthesised command name; utime is field 14.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let tick = 100.0;
    ((f[11] + f[12]) / tick, (f[13] + f[14]) / tick)
}

/// One timed run: wall seconds and CPU seconds (user + system).
#[derive(Clone, Copy)]
struct Sample {
    wall: f64,
    cpu: f64,
}

fn time<T>(f: impl FnOnce() -> T) -> (T, Sample) {
    let (c0, _) = cpu_times();
    let t = Instant::now();
    let r = f();
    let wall = t.elapsed().as_secs_f64();
    let (c1, _) = cpu_times();
    (r, Sample { wall, cpu: c1 - c0 })
}

fn run(cmd: &mut Command) -> Sample {
    let (_, c0) = cpu_times();
    let t = Instant::now();
    let st = cmd.status().expect("run command");
    assert!(st.success(), "{cmd:?} failed");
    let wall = t.elapsed().as_secs_f64();
    let (_, c1) = cpu_times();
    Sample { wall, cpu: c1 - c0 }
}

/// `GB/s (wall), CPU s per GiB` over repeated samples: best and worst.
fn report(bytes: u64, v: &[Sample]) -> String {
    let gib = bytes as f64 / (1u64 << 30) as f64;
    let best = v.iter().map(|s| s.wall).fold(f64::INFINITY, f64::min);
    let worst = v.iter().map(|s| s.wall).fold(0.0, f64::max);
    let cmin = v.iter().map(|s| s.cpu).fold(f64::INFINITY, f64::min) / gib;
    let cmax = v.iter().map(|s| s.cpu).fold(0.0, f64::max) / gib;
    format!(
        "{:.2}-{:.2} GB/s ({:.2}-{:.2} s wall/GiB), {cmin:.2}-{cmax:.2} s CPU/GiB",
        gbps(bytes, worst),
        gbps(bytes, best),
        best / gib,
        worst / gib,
    )
}

fn main() {
    let bytes: u64 = std::env::var("SEALTUNE_BENCH_BYTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2 << 30);
    let repeat: usize = std::env::var("SEALTUNE_BENCH_REPEAT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let input = dir.path().join("model").join("weights.bin");
    std::fs::create_dir_all(input.parent().unwrap()).unwrap();
    write_input(&input, bytes);
    let sealed = dir.path().join("weights.seal");
    let out = dir.path().join("weights.out");
    let ids = [KeySource::Kek(Kek::from_bytes([42; 32]))];
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "file: {bytes} bytes ({:.2} GiB), cores: {all}, {repeat} runs of each; \
         figures are worst-best over the runs; CPU is user + system of all threads \
         (the reader and writer threads included)",
        bytes as f64 / (1u64 << 30) as f64
    );
    println!("rss after writing input: {} MiB", peak_rss_mib());
    let mut threads = vec![1];
    if all > 1 {
        threads.push(all.min(2));
    }
    if all > 2 {
        threads.push(all);
    }
    // Runs of sealtune and age alternate so that both see the same load.
    let age_ok = Command::new("age")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let age_key = dir.path().join("age.key");
    let mut recipient = String::new();
    if age_ok {
        let o = Command::new("age-keygen")
            .arg("-o")
            .arg(&age_key)
            .output()
            .unwrap();
        assert!(o.status.success());
        let text = std::fs::read_to_string(&age_key).unwrap();
        recipient = text
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .unwrap()
            .to_owned();
    }
    let aged = dir.path().join("weights.age");
    let aged_out = dir.path().join("weights.age.out");
    let mut age_runs: [Vec<Sample>; 6] = Default::default();
    let mut ours: Vec<[Vec<Sample>; 5]> = threads.iter().map(|_| Default::default()).collect();
    for _ in 0..repeat {
        for (k, &t) in threads.iter().enumerate() {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap();
            let _ = std::fs::remove_file(&sealed);
            let _ = std::fs::remove_file(&out);
            let (_, enc_null) = time(|| {
                pool.install(|| {
                    let f = std::fs::File::open(&input).unwrap();
                    format::encrypt(f, bytes, std::io::sink(), &ids, "application/octet-stream")
                        .unwrap()
                })
            });
            let (_, enc) = time(|| {
                pool.install(|| sealtune_seal::seal_file(&input, &sealed, &ids, None).unwrap())
            });
            let (_, ver) =
                time(|| pool.install(|| sealtune_seal::verify_sealed(&sealed, &ids).unwrap()));
            let (_, dec) =
                time(|| pool.install(|| sealtune_seal::unseal_file(&sealed, &out, &ids).unwrap()));
            let _ = std::fs::remove_file(dir.path().join("model").join("model.sig"));
            let (_, hash) = time(|| {
                pool.install(|| {
                    let key = p256::ecdsa::SigningKey::from_slice(&[3; 32]).unwrap();
                    let opts = SignOptions {
                        serialization: Serialization::Shards {
                            shard_size: 1 << 28,
                        },
                        ..SignOptions::default()
                    };
                    oms::sign_dir(input.parent().unwrap(), &key, &opts).unwrap()
                })
            });
            for (v, s) in ours[k].iter_mut().zip([enc_null, enc, ver, dec, hash]) {
                v.push(s);
            }
        }
        if age_ok {
            let _ = std::fs::remove_file(&aged);
            let _ = std::fs::remove_file(&aged_out);
            let age = || Command::new("age");
            let enc_null = run(age()
                .arg("-r")
                .arg(&recipient)
                .arg("-o")
                .arg("/dev/null")
                .arg(&input));
            let enc = run(age()
                .arg("-r")
                .arg(&recipient)
                .arg("-o")
                .arg(&aged)
                .arg(&input));
            // age does not fsync; `sync FILE` (coreutils) does, as seal does.
            let sync = run(Command::new("sync").arg(&aged));
            let dec_null = run(age()
                .arg("-d")
                .arg("-i")
                .arg(&age_key)
                .arg("-o")
                .arg("/dev/null")
                .arg(&aged));
            let dec = run(age()
                .arg("-d")
                .arg("-i")
                .arg(&age_key)
                .arg("-o")
                .arg(&aged_out)
                .arg(&aged));
            let dsync = run(Command::new("sync").arg(&aged_out));
            let plus = |a: Sample, b: Sample| Sample {
                wall: a.wall + b.wall,
                cpu: a.cpu + b.cpu,
            };
            for (v, s) in age_runs.iter_mut().zip([
                enc_null,
                enc,
                plus(enc, sync),
                dec_null,
                dec,
                plus(dec, dsync),
            ]) {
                v.push(s);
            }
        }
    }
    for (k, &t) in threads.iter().enumerate() {
        let names = [
            "encrypt to /dev/null",
            "seal to file (fsync)",
            "verify (decrypt to /dev/null)",
            "unseal to file (fsync)",
            "OMS sha256 hashing",
        ];
        for (name, v) in names.iter().zip(&ours[k]) {
            println!("sealtune threads={t}: {name}: {}", report(bytes, v));
        }
    }
    println!(
        "peak rss of the streaming runs above: {} MiB",
        peak_rss_mib()
    );
    if age_ok {
        let names = [
            "encrypt to /dev/null",
            "encrypt to file (no fsync)",
            "encrypt to file + sync FILE",
            "decrypt to /dev/null",
            "decrypt to file (no fsync)",
            "decrypt to file + sync FILE",
        ];
        for (name, v) in names.iter().zip(&age_runs) {
            println!("age (X25519 recipient): {name}: {}", report(bytes, v));
        }
    } else {
        println!("age: not installed (apt-get install age), comparison skipped");
    }
    // Crypto alone: up to 256 MiB from memory to memory, no file system.
    let mem_len = bytes.min(256 << 20) as usize;
    let plain: Vec<u8> = (0..mem_len).map(|i| ((i * 131) >> 3) as u8).collect();
    for t in threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap();
        let mut sealed_mem = Vec::with_capacity(mem_len + mem_len / 1000 + 4096);
        // A first pass faults in the output pages; the second is timed.
        format::encrypt(&plain[..], mem_len as u64, &mut sealed_mem, &ids, "x").unwrap();
        sealed_mem.clear();
        let (_, enc) = time(|| {
            pool.install(|| {
                format::encrypt(&plain[..], mem_len as u64, &mut sealed_mem, &ids, "x").unwrap()
            })
        });
        let (_, dec) = time(|| pool.install(|| format::verify(&sealed_mem[..], &ids).unwrap()));
        println!(
            "sealtune in memory threads={t}: encrypt {:.2} GB/s ({:.3} s CPU/GiB), \
             decrypt {:.2} GB/s ({:.3} s CPU/GiB)",
            gbps(mem_len as u64, enc.wall),
            enc.cpu * (1u64 << 30) as f64 / mem_len as f64,
            gbps(mem_len as u64, dec.wall),
            dec.cpu * (1u64 << 30) as f64 / mem_len as f64
        );
    }
    drop(plain);
    let sha = run(Command::new("sha256sum")
        .arg(&input)
        .stdout(std::process::Stdio::null()));
    println!(
        "sha256sum (coreutils, one core): {:.2} GB/s",
        gbps(bytes, sha.wall)
    );
}
