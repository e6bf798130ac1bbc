//! Using a release: `generate --release` (verify, then decrypt into memory
//! only) and `export` (plaintext only into the explicit output), on the
//! pipeline's release of a tiny random model.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::util::*;

const PROMPT: &str = "Who is member 3?";

pub(crate) fn gen_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "generate",
        "--prompt",
        PROMPT,
        "--chat",
        "--max-new-tokens",
        "12",
    ];
    v.extend_from_slice(extra);
    v
}

pub(crate) const REL: [&str; 6] = [
    "--release",
    "run/release",
    "--public-key",
    "keys/t.pub.pem",
    "--kek",
    "keys/t.kek",
];

/// Every regular file under `root` with its SHA-256.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            let p = e.path();
            if t.is_dir() {
                stack.push(p);
            } else if t.is_file() {
                let h = sha256_hex(&p);
                out.insert(p, h);
            }
        }
    }
    out
}

/// Whether `path` parses as safetensors holding LoRA adapter tensors.
fn holds_adapter_tensors(path: &Path) -> bool {
    sealtune_model::safetensors::Checkpoint::open_file(path)
        .map(|c| {
            c.names()
                .any(|n| n.contains("lora_A") || n.contains("lora_B"))
        })
        .unwrap_or(false)
}

fn error_line(r: &Ran) -> String {
    r.stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line:\n{}", r.stderr))
        .to_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn a_release_is_used_from_memory_and_exported_only_where_asked() {
    let d = crate::pipeline::project(true);
    d.run(&["run", "cfg.toml"]).assert_code(0);
    let before = snapshot(d.path());

    // generate --release: the same greedy text as the plaintext adapter.
    let want = d.run(&gen_args(&[
        "--model",
        "model",
        "--adapter",
        "run/train/adapter",
    ]));
    want.assert_code(0);
    let mut args = gen_args(&["--model", "model"]);
    args.extend_from_slice(&REL);
    let got = d.run(&args);
    got.assert_code(0);
    assert_eq!(got.stdout, want.stdout);
    assert!(got.stderr.contains("signature valid"), "{}", got.stderr);
    // generate --release wrote nothing at all.
    assert_eq!(
        snapshot(d.path()),
        before,
        "generate --release wrote a file"
    );

    // export --peft: the trained adapter's exact bytes, mode 0600.
    let r = d.run(&[
        "export",
        "--release",
        "run/release",
        "--public-key",
        "keys/t.pub.pem",
        "--kek",
        "keys/t.kek",
        "--out",
        "peft",
        "--peft",
    ]);
    r.assert_code(0);
    for f in ["adapter_model.safetensors", "adapter_config.json"] {
        assert_eq!(
            sha256_hex(&d.path().join("peft").join(f)),
            sha256_hex(&d.path().join("run/train/adapter").join(f)),
            "{f}"
        );
        assert_eq!(mode(&d.path().join("peft").join(f)), 0o600, "{f}");
    }
    assert_eq!(std::fs::read_dir(d.path().join("peft")).unwrap().count(), 2);
    // The exported adapter generates the same text from disk.
    d.run(&gen_args(&["--model", "model", "--adapter", "peft"]))
        .assert_code(0);

    // export --merged: the base with the adapter folded in gives the same text.
    let mut ex = vec!["export"];
    ex.extend_from_slice(&REL);
    ex.extend_from_slice(&["--out", "merged", "--merged", "--model", "model"]);
    d.run(&ex).assert_code(0);
    for f in ["model.safetensors", "config.json", "tokenizer.json"] {
        assert_eq!(mode(&d.path().join("merged").join(f)), 0o600, "{f}");
    }
    let merged = d.run(&gen_args(&["--model", "merged"]));
    merged.assert_code(0);
    assert_eq!(merged.stdout, want.stdout);

    // An existing, non-empty output is refused before anything is written.
    d.write("full/keep.txt", "x");
    let mut ex = vec!["export"];
    ex.extend_from_slice(&REL);
    ex.extend_from_slice(&["--out", "full", "--peft"]);
    d.run(&ex).assert_code(73).assert_stderr_has("not empty");
    assert_eq!(std::fs::read_dir(d.path().join("full")).unwrap().count(), 1);

    // No new or changed file anywhere holds the adapter's tensors, except the
    // explicit PEFT export.
    let after = snapshot(d.path());
    for (p, h) in &after {
        if before.get(p) == Some(h) || p.starts_with(d.path().join("peft")) {
            continue;
        }
        assert!(
            !holds_adapter_tensors(p),
            "{} holds adapter tensors",
            p.display()
        );
    }

    // A wrong base model is refused, naming the file.
    std::fs::create_dir(d.path().join("other")).unwrap();
    for f in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.safetensors",
    ] {
        std::fs::copy(
            d.path().join("model").join(f),
            d.path().join("other").join(f),
        )
        .unwrap();
    }
    let w = d.path().join("other/model.safetensors");
    let mut bytes = std::fs::read(&w).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0x40;
    std::fs::write(&w, &bytes).unwrap();
    let mut args = gen_args(&["--model", "other"]);
    args.extend_from_slice(&REL);
    d.run(&args)
        .assert_code(65)
        .assert_stderr_has("other/model.safetensors")
        .assert_stderr_has("not the base model");
    let mut ex = vec!["export"];
    ex.extend_from_slice(&REL);
    ex.extend_from_slice(&["--out", "m2", "--merged", "--model", "other"]);
    d.run(&ex).assert_code(65);
    assert!(!d.exists("m2"));
    // A file the provenance records is missing: 66.
    std::fs::copy(d.path().join("model/model.safetensors"), &w).unwrap();
    std::fs::remove_file(d.path().join("other/tokenizer_config.json")).unwrap();
    d.run(&args)
        .assert_code(66)
        .assert_stderr_has("tokenizer_config.json");
    // A file that would be loaded but is not recorded: 65.
    std::fs::copy(
        d.path().join("model/tokenizer_config.json"),
        d.path().join("other/tokenizer_config.json"),
    )
    .unwrap();
    d.run(&args).assert_code(0);
    d.write("other/generation_config.json", "{}");
    d.run(&args)
        .assert_code(65)
        .assert_stderr_has("generation_config.json");

    // A tampered release is refused by generate --release and export exactly
    // as verify refuses it, and nothing is written.
    let seal = d.path().join("run/release/adapter_model.safetensors.seal");
    let card = d.path().join("run/release/MODEL_CARD.md");
    let extra = d.path().join("run/release/notes.txt");
    let seal_bytes = std::fs::read(&seal).unwrap();
    let card_text = std::fs::read_to_string(&card).unwrap();
    type Tamper = Box<dyn Fn()>;
    let cases: Vec<(&str, Tamper, Tamper)> = vec![
        (
            "changed byte in the .seal",
            Box::new({
                let (seal, b) = (seal.clone(), seal_bytes.clone());
                move || {
                    let mut b = b.clone();
                    let n = b.len();
                    b[n - 20] ^= 1;
                    std::fs::write(&seal, b).unwrap();
                }
            }),
            Box::new({
                let (seal, b) = (seal.clone(), seal_bytes.clone());
                move || std::fs::write(&seal, &b).unwrap()
            }),
        ),
        (
            "extra file",
            Box::new({
                let extra = extra.clone();
                move || std::fs::write(&extra, "hello").unwrap()
            }),
            Box::new({
                let extra = extra.clone();
                move || std::fs::remove_file(&extra).unwrap()
            }),
        ),
        (
            "changed card",
            Box::new({
                let (card, t) = (card.clone(), card_text.clone());
                move || std::fs::write(&card, t.replace("Model details", "Model detail")).unwrap()
            }),
            Box::new({
                let (card, t) = (card.clone(), card_text.clone());
                move || std::fs::write(&card, &t).unwrap()
            }),
        ),
    ];
    for (what, tamper, restore) in cases {
        tamper();
        let before = snapshot(d.path());
        let v = d.run(&[
            "verify",
            "run/release",
            "--public-key",
            "keys/t.pub.pem",
            "--kek",
            "keys/t.kek",
        ]);
        assert_ne!(v.code, 0, "{what}: verify passed");
        let mut args = gen_args(&["--model", "model"]);
        args.extend_from_slice(&REL);
        let g = d.run(&args);
        assert_eq!(g.code, v.code, "{what}: generate --release\n{}", g.stderr);
        assert_eq!(error_line(&g), error_line(&v), "{what}");
        assert!(g.stdout.is_empty(), "{what}: generated text");
        for kind in [&["--peft"][..], &["--merged", "--model", "model"][..]] {
            let mut ex = vec!["export"];
            ex.extend_from_slice(&REL);
            ex.extend_from_slice(&["--out", "tampered"]);
            ex.extend_from_slice(kind);
            let e = d.run(&ex);
            assert_eq!(e.code, v.code, "{what}: export {kind:?}\n{}", e.stderr);
            assert_eq!(error_line(&e), error_line(&v), "{what}");
        }
        assert_eq!(snapshot(d.path()), before, "{what}: a file was written");
        restore();
    }
    // Restored, it verifies again.
    let mut args = gen_args(&["--model", "model"]);
    args.extend_from_slice(&REL);
    d.run(&args).assert_code(0);
}
