//! The safetensors reader never panics on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtune_model::safetensors::Checkpoint;

fuzz_target!(|data: &[u8]| {
    let dir = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
    let path = std::path::PathBuf::from(format!("{dir}/sealtune-fuzz-st-{}.safetensors", std::process::id()));
    std::fs::write(&path, data).unwrap();
    if let Ok(mut ck) = Checkpoint::open_file(&path) {
        let names: Vec<(String, Vec<usize>)> = ck
            .names()
            .take(8)
            .map(|n| (n.clone(), ck.shape(n).unwrap_or(&[]).to_vec()))
            .collect();
        for (n, shape) in names {
            let _ = ck.read(&n, &shape);
        }
    }
    let _ = std::fs::remove_file(&path);
});
