//! A temporary project directory and a command runner for the binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_sealtune");

/// A fresh directory with a config and data in it.
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

/// What a command did.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn assert_code(&self, code: i32) -> &Ran {
        assert_eq!(
            self.code, code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn assert_stderr_has(&self, needle: &str) -> &Ran {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    /// JSON events from stdout.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

impl From<Output> for Ran {
    fn from(o: Output) -> Ran {
        Ran {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path().join(rel).exists()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).current_dir(self.path()).stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Ran {
        self.cmd(args).output().expect("run sealtune").into()
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sealtune")
    }

    /// A config for the data in `data/`, with extra `[data]` lines, a `[mask]`
    /// section whose key file (mode 0600) it creates, a `[model]` section
    /// (tests that do not train run `--to mask`), and a `[release]` section with
    /// keys from `sealtune keygen` (`keys/t.*`).
    pub fn config(&self, format: &str, extra: &str) -> PathBuf {
        self.mask_key("mask.key", 7);
        if !self.exists("keys/t.key.pem") {
            self.run(&["keygen", "--out", "keys", "--name", "t"])
                .assert_code(0);
        }
        self.write(
            "cfg.toml",
            format!(
                "[run]\nid = \"t\"\ndir = \"run\"\n\n[data]\ninputs = [\"data/*\"]\nformat = \"{format}\"\n{extra}\n[mask]\nkey_file = \"mask.key\"\n\n[model]\npath = \"model\"\n\n[release]\nsigning_key_file = \"keys/t.key.pem\"\nrecipients = [{{ kek_file = \"keys/t.kek\" }}]\n"
            ),
        )
    }

    /// Write a 32-byte masking key file, mode 0600.
    pub fn mask_key(&self, rel: &str, fill: u8) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.write(rel, [fill; 32]);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }
}

pub fn chat_line(i: usize) -> String {
    format!(
        "{{\"messages\":[{{\"role\":\"user\",\"content\":\"question {i}\"}},{{\"role\":\"assistant\",\"content\":\"answer {i}\"}}]}}\n"
    )
}

pub fn chat_lines(n: usize) -> String {
    (0..n).map(chat_line).collect()
}

/// Wait until `cond` holds or `secs` pass.
pub fn wait_for(secs: f64, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = std::time::Instant::now();
    while t0.elapsed().as_secs_f64() < secs {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    false
}

/// Write a large chat JSONL file (about `mb` megabytes) efficiently.
pub fn write_large(path: &Path, mb: usize) {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let filler = "lorem ipsum dolor sit amet ".repeat(8);
    let mut written = 0usize;
    let mut i = 0usize;
    while written < mb * 1_000_000 {
        let line = format!(
            "{{\"messages\":[{{\"role\":\"user\",\"content\":\"q{i} {filler}\"}},{{\"role\":\"assistant\",\"content\":\"a{i} {filler}\"}}]}}\n"
        );
        written += line.len();
        w.write_all(line.as_bytes()).unwrap();
        i += 1;
    }
    w.flush().unwrap();
}

pub fn status_json(d: &Dir) -> serde_json::Value {
    let r = d.run(&["status", "--run-dir", "run", "--json"]);
    r.assert_code(0);
    serde_json::from_str(&r.stdout).unwrap()
}

pub fn stage_state(d: &Dir, stage: &str) -> String {
    let v = status_json(d);
    v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == stage)
        .map(|s| s["state"].as_str().unwrap().to_string())
        .unwrap()
}

/// The fetched SmolLM2 directory (`scripts/fetch-smollm2.sh`). The tests that call this
/// are `#[ignore]`d, so a fresh clone lists them as ignored; `--include-ignored` runs them
/// and they fail here, saying what to fetch, when the model is absent.
pub fn smollm2_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/smollm2-135m-instruct");
    assert!(
        dir.join("tokenizer.json").is_file(),
        "{} is missing; run scripts/fetch-smollm2.sh",
        dir.display()
    );
    dir
}

/// A project layout like a fresh clone's after scripts/prepare.sh fetched the
/// model and made the keys: `configs/NAME` copied from the repository,
/// `datasets/` and `models/` linked, `keys/mask.key` and the quickstart keys
/// created. Needs the real model ([`smollm2_dir`]).
pub fn shipped_layout(config: &str) -> Dir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    smollm2_dir();
    let d = Dir::new();
    let rel = format!("configs/{config}");
    d.write(&rel, std::fs::read(root.join(&rel)).unwrap());
    for dir in ["datasets", "models"] {
        std::os::unix::fs::symlink(root.join(dir), d.path().join(dir)).unwrap();
    }
    d.mask_key("keys/mask.key", 3);
    d.run(&["keygen", "--out", "keys", "--name", "quickstart"])
        .assert_code(0);
    d
}

/// A tiny random Llama (2 layers, hidden 64) with SmolLM2's real tokenizer and chat
/// template, written to `dst`: fast enough to train in tests.
pub fn tiny_chat_model(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    for (k, v) in [
        ("hidden_size", 64),
        ("intermediate_size", 128),
        ("num_hidden_layers", 2),
        ("num_attention_heads", 4),
        ("num_key_value_heads", 2),
        ("head_dim", 16),
        ("max_position_embeddings", 2048),
    ] {
        cfg[k] = v.into();
    }
    std::fs::write(dst.join("config.json"), cfg.to_string()).unwrap();
    let lc = sealtune_model::LlamaConfig::from_file(&dst.join("config.json")).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let tensors: Vec<sealtune_model::safetensors::OwnedTensor> =
        sealtune_model::model::expected_tensors(&lc)
            .into_iter()
            .map(|(name, shape)| {
                let n: usize = shape.iter().product();
                let data = if name.contains("norm") {
                    vec![1.0; n]
                } else {
                    (0..n)
                        .map(|_| {
                            state ^= state << 13;
                            state ^= state >> 7;
                            state ^= state << 17;
                            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.08
                        })
                        .collect()
                };
                sealtune_model::safetensors::OwnedTensor { name, shape, data }
            })
            .collect();
    sealtune_model::safetensors::write_safetensors(&dst.join("model.safetensors"), &tensors)
        .unwrap();
}

/// SHA-256 of a file, hex.
pub fn sha256_hex(path: &Path) -> String {
    sealtune_pipeline::fsutil::sha256_file(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .sha256
}

/// Whether `path` parses as a safetensors file: an 8-byte little-endian header length
/// that fits in the file, then a JSON object of that length. Any file, any size.
pub fn parses_as_safetensors(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let Some(len) = bytes.get(..8) else {
        return false;
    };
    let n = u64::from_le_bytes(len.try_into().unwrap());
    let Some(end) = n.checked_add(8).filter(|e| *e <= bytes.len() as u64) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes[8..end as usize])
        .is_ok()
}

/// Every regular file under `root`, recursively.
pub fn all_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}
