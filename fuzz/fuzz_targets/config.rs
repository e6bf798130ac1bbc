//! The config loader and the `[data]` schema never panic, and a config they
//! accept yields a run directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtune_data::DataConfig;
use sealtune_pipeline::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(cfg) = Config::from_str(std::path::Path::new("f.toml"), text.to_string(), &["data"]) {
        let _ = DataConfig::from_config(&cfg);
        let _ = cfg.default_run_dir();
    }
});
