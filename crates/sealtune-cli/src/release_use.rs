//! Using a signed, sealed release: `generate --release` and `export`.
//!
//! Both verify the release exactly as `sealtune verify DIR --public-key PUB
//! --kek KEK` does (same errors, same exit codes), then read its files into
//! memory only: every file is checked again against the signed digest as it
//! is read, and the sealed adapter is decrypted into zeroizing buffers that
//! are handed out only after every chunk authenticated. The base model's files
//! must have the SHA-256 digests the release's signed provenance records.
//! Plaintext reaches the disk only through `export`, into its explicit
//! `--out` directory.

use std::path::{Path, PathBuf};

use sealtune_pipeline::Exit;
use sealtune_seal::VerifiedRelease;
use zeroize::Zeroizing;

use crate::error::Fail;

/// The adapter files a release holds.
const ADAPTER_CONFIG: &str = "adapter_config.json";
const ADAPTER_SEALED: &str = "adapter_model.safetensors.seal";

/// A verified release with its adapter in memory.
pub(crate) struct OpenedRelease {
    pub release: VerifiedRelease,
    /// `adapter_config.json`, as signed.
    pub adapter_config: Vec<u8>,
    /// `adapter_model.safetensors`, decrypted; zeroized on drop.
    pub adapter_weights: Zeroizing<Vec<u8>>,
}

/// Verifies `dir` as `sealtune verify` does and decrypts its adapter into memory.
pub(crate) fn open(dir: &Path, public_key: &Path, kek: &Path) -> Result<OpenedRelease, Fail> {
    let release = sealtune_seal::open_release(dir, public_key, kek).map_err(Fail::from)?;
    for f in [ADAPTER_CONFIG, ADAPTER_SEALED] {
        if !release.has(f) {
            return Err(Fail {
                exit: Exit::NoInput,
                message: format!(
                    "{}: the signed release holds no {f}; it is not a sealtune adapter release",
                    dir.display()
                ),
            });
        }
    }
    let adapter_config = release.read(ADAPTER_CONFIG).map_err(Fail::from)?;
    let (adapter_weights, _) = release.unseal(ADAPTER_SEALED).map_err(Fail::from)?;
    let r = release.report();
    eprintln!(
        "{}: signature valid; {} file(s) match; {} provenance statement(s) verified; {} sealed file(s) fully authenticated",
        dir.display(),
        r.manifest.files.len(),
        r.provenance_statements,
        r.sealed_checked.len()
    );
    Ok(OpenedRelease {
        release,
        adapter_config,
        adapter_weights,
    })
}

/// The base model files (`base-model:<file>` → SHA-256) the release's signed
/// SLSA provenance records.
fn recorded_base_files(release: &VerifiedRelease) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for st in &release.report().statements {
        if st.predicate_type != sealtune_release::provenance::SLSA_PROVENANCE_V1 {
            continue;
        }
        let deps = st.predicate["buildDefinition"]["resolvedDependencies"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for d in deps {
            let (Some(name), Some(sha)) = (d["name"].as_str(), d["digest"]["sha256"].as_str())
            else {
                continue;
            };
            if let Some(file) = name.strip_prefix("base-model:") {
                out.push((file.to_owned(), sha.to_ascii_lowercase()));
            }
        }
    }
    out
}

/// The files of a model directory that loading reads: config, tokenizer,
/// weights (and the shard index with its shards).
fn loaded_files(dir: &Path) -> Result<Vec<String>, Fail> {
    let mut names: Vec<String> = [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "model.safetensors",
        "model.safetensors.index.json",
    ]
    .iter()
    .filter(|f| dir.join(f).is_file())
    .map(|f| (*f).to_owned())
    .collect();
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let bad = |why: String| Fail {
            exit: Exit::DataErr,
            message: format!("{}: {why}", index.display()),
        };
        let text = std::fs::read_to_string(&index).map_err(|e| bad(e.to_string()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let map = v["weight_map"]
            .as_object()
            .ok_or_else(|| bad("no weight_map".into()))?;
        for shard in map.values().filter_map(|s| s.as_str()) {
            if !names.iter().any(|n| n == shard) {
                names.push(shard.to_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Checks that `base` is the model the release was trained on: every
/// `base-model:<file>` of the signed provenance is present in `base` with the
/// recorded SHA-256 (missing: 66; different: 65), and every file loading
/// reads is one of them (65).
pub(crate) fn check_base_model(release: &VerifiedRelease, base: &Path) -> Result<(), Fail> {
    let recorded = recorded_base_files(release);
    let prov = release.dir().join(sealtune_seal::release::PROVENANCE_FILE);
    if recorded.is_empty() {
        return Err(Fail {
            exit: Exit::DataErr,
            message: format!(
                "{}: records no base-model files, so the base model {} cannot be checked against it",
                prov.display(),
                base.display()
            ),
        });
    }
    if !base.is_dir() {
        return Err(Fail {
            exit: Exit::NoInput,
            message: format!("{}: no such model directory", base.display()),
        });
    }
    for (name, want) in &recorded {
        if name.contains('/') || name.starts_with('.') {
            return Err(Fail {
                exit: Exit::DataErr,
                message: format!(
                    "{}: base-model:{name} is not a plain file name",
                    prov.display()
                ),
            });
        }
        let path = base.join(name);
        if !path.is_file() {
            return Err(Fail {
                exit: Exit::NoInput,
                message: format!(
                    "{}: missing; the release's provenance records base-model:{name}; pass the base model the adapter was trained on with --model",
                    path.display()
                ),
            });
        }
        let got = sealtune_pipeline::fsutil::sha256_file(&path).map_err(|e| Fail {
            exit: Exit::IoErr,
            message: format!("{}: cannot read: {e}", path.display()),
        })?;
        if &got.sha256 != want {
            return Err(Fail {
                exit: Exit::DataErr,
                message: format!(
                    "{}: sha256 {} but the release's provenance records {want} for base-model:{name}; this is not the base model the adapter was trained on",
                    path.display(),
                    got.sha256
                ),
            });
        }
    }
    for f in loaded_files(base)? {
        if !recorded.iter().any(|(n, _)| n == &f) {
            return Err(Fail {
                exit: Exit::DataErr,
                message: format!(
                    "{}: would be loaded but the release's provenance records no digest for it (base-model:{f}); this is not the base model the adapter was trained on",
                    base.join(&f).display()
                ),
            });
        }
    }
    Ok(())
}

/// Loads the base model from `base` (checked against the provenance) and
/// attaches the release's adapter from memory.
pub(crate) fn load_model(
    opened: &OpenedRelease,
    base: &Path,
    device: &sealtune_model::Device,
    precision: sealtune_model::Precision,
) -> Result<sealtune_model::Llama, Fail> {
    check_base_model(&opened.release, base)?;
    let mut m = sealtune_model::Llama::load_dir_as(base, device, precision).map_err(Fail::from)?;
    m.load_peft_adapter_bytes(
        &opened.adapter_config,
        &opened.adapter_weights,
        opened.release.dir(),
    )
    .map_err(Fail::from)?;
    Ok(m)
}

/// What `export` writes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ExportKind {
    /// `adapter_config.json` + `adapter_model.safetensors`.
    Peft,
    /// The base with the adapter merged (HF safetensors, sharded like the base).
    Merged,
}

/// `sealtune export`: verify, then write plaintext only into `out` (new or
/// empty), files mode 0600, each atomically after the whole sealed file
/// authenticated. Returns the files written.
pub(crate) fn export(
    dir: &Path,
    public_key: &Path,
    kek: &Path,
    out: &Path,
    kind: ExportKind,
    base: Option<&Path>,
) -> Result<Vec<PathBuf>, Fail> {
    check_out_dir(out)?;
    let opened = open(dir, public_key, kek)?;
    let model = match (kind, base) {
        (ExportKind::Merged, Some(b)) => {
            // Exported weights are float32 (the base's f32 values plus the f32 delta).
            let m = load_model(
                &opened,
                b,
                &sealtune_model::Device::flex(),
                sealtune_model::Precision::F32,
            )?;
            Some(m)
        }
        (ExportKind::Merged, None) => {
            return Err(Fail {
                exit: Exit::Usage,
                message: "--merged needs --model BASE_DIR".into(),
            });
        }
        (ExportKind::Peft, Some(b)) => {
            check_base_model(&opened.release, b)?;
            None
        }
        (ExportKind::Peft, None) => None,
    };
    // Everything is verified and decrypted; only now is the output made.
    check_out_dir(out)?;
    let created = !out.exists();
    if created {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(out)
            .map_err(|e| Fail {
                exit: Exit::CantCreate,
                message: format!("{}: cannot create: {e}", out.display()),
            })?;
    }
    let result = match (&model, kind) {
        (Some(m), _) => {
            let base = base.unwrap_or(Path::new("."));
            m.save_merged_like(base, out, 0o600).map_err(Fail::from)
        }
        (None, _) => {
            let mut written = Vec::new();
            let mut write = |name: &str, bytes: &[u8]| -> Result<(), Fail> {
                let p = out.join(name);
                sealtune_pipeline::fsutil::atomic_write_private(&p, bytes).map_err(|e| Fail {
                    exit: Exit::CantCreate,
                    message: format!("{}: cannot write: {e}", p.display()),
                })?;
                written.push(p);
                Ok(())
            };
            write(ADAPTER_CONFIG, &opened.adapter_config)
                .and_then(|()| write("adapter_model.safetensors", &opened.adapter_weights))
                .map(|()| written)
        }
    };
    match result {
        Ok(files) => Ok(files),
        Err(f) => {
            // Leave nothing half-exported behind in a directory this command made.
            if created {
                let _ = std::fs::remove_dir_all(out);
            }
            Err(f)
        }
    }
}

/// `--out` must be new, or an empty directory.
fn check_out_dir(out: &Path) -> Result<(), Fail> {
    match std::fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Fail {
            exit: Exit::CantCreate,
            message: format!("{}: cannot inspect: {e}", out.display()),
        }),
        Ok(m) if m.is_dir() => {
            let empty = std::fs::read_dir(out)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if empty {
                Ok(())
            } else {
                Err(Fail {
                    exit: Exit::CantCreate,
                    message: format!(
                        "{}: exists and is not empty; export writes only into a new or empty directory",
                        out.display()
                    ),
                })
            }
        }
        Ok(_) => Err(Fail {
            exit: Exit::CantCreate,
            message: format!(
                "{}: exists and is not a directory; choose a new directory",
                out.display()
            ),
        }),
    }
}
