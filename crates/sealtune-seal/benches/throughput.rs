//! Encrypt / decrypt / hash throughput on a large file, with one thread and
//! with all threads, against `age` when it is installed.
//!
//! `SEALTUNE_BENCH_BYTES=2147483648 cargo bench -p sealtune-seal --bench throughput`

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

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed().as_secs_f64())
}

fn run(cmd: &mut Command) -> f64 {
    let t = Instant::now();
    let st = cmd.status().expect("run command");
    assert!(st.success(), "{cmd:?} failed");
    t.elapsed().as_secs_f64()
}

fn main() {
    let bytes: u64 = std::env::var("SEALTUNE_BENCH_BYTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2 << 30);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let input = dir.path().join("model").join("weights.bin");
    std::fs::create_dir_all(input.parent().unwrap()).unwrap();
    write_input(&input, bytes);
    let sealed = dir.path().join("weights.seal");
    let out = dir.path().join("weights.out");
    let ids = [KeySource::Kek(Kek::from_bytes([42; 32]))];
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "file: {bytes} bytes ({:.2} GiB), cores: {all}",
        bytes as f64 / (1u64 << 30) as f64
    );
    println!("rss after writing input: {} MiB", peak_rss_mib());
    let mut threads = vec![1];
    if all > 1 {
        threads.push(all);
    }
    for &t in &threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap();
        let _ = std::fs::remove_file(&sealed);
        let _ = std::fs::remove_file(&out);
        let (_, enc_null) = time(|| {
            pool.install(|| {
                let f = std::io::BufReader::with_capacity(
                    1 << 20,
                    std::fs::File::open(&input).unwrap(),
                );
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
        println!(
            "sealtune threads={t}: encrypt to /dev/null {:.2} GB/s, seal to file (fsync) {:.2} GB/s, \
             decrypt to /dev/null (verify) {:.2} GB/s, unseal to file (fsync) {:.2} GB/s, \
             OMS sha256 hashing {:.2} GB/s",
            gbps(bytes, enc_null),
            gbps(bytes, enc),
            gbps(bytes, ver),
            gbps(bytes, dec),
            gbps(bytes, hash)
        );
    }
    println!(
        "peak rss of the streaming runs above: {} MiB",
        peak_rss_mib()
    );
    let age = Command::new("age").arg("--version").output();
    if age.is_ok_and(|o| o.status.success()) {
        let key = dir.path().join("age.key");
        let out = Command::new("age-keygen")
            .arg("-o")
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = std::fs::read_to_string(&key).unwrap();
        let recipient = text
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .unwrap()
            .to_owned();
        let aged = dir.path().join("weights.age");
        let enc = run(Command::new("age")
            .arg("-r")
            .arg(&recipient)
            .arg("-o")
            .arg(&aged)
            .arg(&input));
        let enc_null = run(Command::new("age")
            .arg("-r")
            .arg(&recipient)
            .arg("-o")
            .arg("/dev/null")
            .arg(&input));
        let dec_null = run(Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&key)
            .arg("-o")
            .arg("/dev/null")
            .arg(&aged));
        let dec_out = dir.path().join("weights.age.out");
        let dec = run(Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&key)
            .arg("-o")
            .arg(&dec_out)
            .arg(&aged));
        println!(
            "age (X25519 recipient, one core): encrypt to /dev/null {:.2} GB/s, encrypt to file {:.2} GB/s, \
             decrypt to /dev/null {:.2} GB/s, decrypt to file {:.2} GB/s",
            gbps(bytes, enc_null),
            gbps(bytes, enc),
            gbps(bytes, dec_null),
            gbps(bytes, dec)
        );
    } else {
        println!("age: not installed, comparison skipped");
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
            "sealtune in memory threads={t}: encrypt {:.2} GB/s, decrypt {:.2} GB/s",
            gbps(mem_len as u64, enc),
            gbps(mem_len as u64, dec)
        );
    }
    drop(plain);
    let sha = run(Command::new("sha256sum")
        .arg(&input)
        .stdout(std::process::Stdio::null()));
    println!(
        "sha256sum (coreutils, one core): {:.2} GB/s",
        gbps(bytes, sha)
    );
}
