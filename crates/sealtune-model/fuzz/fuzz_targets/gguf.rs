//! The GGUF reader never panics on arbitrary bytes, and reading any tensor it
//! lists either succeeds or fails cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtune_model::gguf::GgufFile;

fuzz_target!(|data: &[u8]| {
    // The reader works on files; keep them in memory-backed /dev/shm when there.
    let dir = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
    let path = std::path::PathBuf::from(format!("{dir}/sealtune-fuzz-gguf-{}", std::process::id()));
    std::fs::write(&path, data).unwrap();
    if let Ok(mut g) = GgufFile::open(&path) {
        let infos: Vec<_> = g.tensors.iter().take(8).cloned().collect();
        for t in &infos {
            let _ = g.read_f32(t);
        }
    }
    let _ = std::fs::remove_file(&path);
});
