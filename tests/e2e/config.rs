//! Bad configs: exit 78, naming the key (and line), never echoing a secret.

use crate::util::*;

fn expect_config_error(extra_toml: &str, key: &str) -> Ran {
    let d = Dir::new();
    d.write("data/a.jsonl", chat_lines(3));
    d.write(
        "cfg.toml",
        format!("[run]\nid = \"t\"\ndir = \"run\"\n\n[data]\ninputs = [\"data/*\"]\nformat = \"chat\"\n{extra_toml}"),
    );
    let r = d.run(&["run", "cfg.toml", "--to", "mask"]);
    r.assert_code(78).assert_stderr_has(key);
    assert!(!d.exists("run/ingest"), "nothing may run on a bad config");
    let v = d.run(&["validate", "cfg.toml"]);
    v.assert_code(78).assert_stderr_has(key);
    r
}

#[test]
fn unknown_key() {
    let r = expect_config_error("eval_fractoin = 0.2\n", "data.eval_fractoin");
    r.assert_stderr_has("cfg.toml:8")
        .assert_stderr_has("unknown field");
}

#[test]
fn out_of_range_values() {
    expect_config_error("eval_fraction = 1.5\n", "data.eval_fraction")
        .assert_stderr_has("less than 1");
    expect_config_error("max_record_bytes = 10\n", "data.max_record_bytes");
    expect_config_error("on_invalid = \"ignore\"\n", "data.on_invalid");
}

#[test]
fn inline_secret_is_refused_and_not_echoed() {
    let secret = "Zr3LkP0vN2xW7yT5uB1mC4aD9eF6gHq8";
    let r = expect_config_error(
        &format!("\n[run.keys]\nhmac_key = \"{secret}\"\n"),
        "run.keys.hmac_key",
    );
    assert!(!r.stderr.contains(secret));
    let r = expect_config_error(&format!("key_file = \"{secret}\"\n"), "data.key_file");
    assert!(!r.stderr.contains(secret));
    r.assert_stderr_has("looks like the secret itself");
}

#[test]
fn unknown_sections_are_refused() {
    expect_config_error("\n[trian]\nx = 1\n", "trian").assert_stderr_has("unknown section");
}

#[test]
fn csv_mapping_must_be_consistent() {
    let d = Dir::new();
    d.write("data/a.csv", "q,a\nx,y\n");
    d.config("csv", "[data.csv]\ntext = \"q\"\nuser = \"q\"\n");
    d.run(&["validate", "cfg.toml"])
        .assert_code(78)
        .assert_stderr_has("data.csv");
    d.config("chat", "[data.csv]\nuser = \"q\"\n");
    d.run(&["validate", "cfg.toml"])
        .assert_code(78)
        .assert_stderr_has("only used with format = \"csv\"");
}

#[test]
fn toml_syntax_error_has_line() {
    let d = Dir::new();
    d.write("cfg.toml", "[data]\ninputs = [\"a\"\nformat = \"chat\"\n");
    d.run(&["validate", "cfg.toml"])
        .assert_code(78)
        .assert_stderr_has("cfg.toml:");
}

#[test]
fn missing_inputs_are_66() {
    let d = Dir::new();
    d.mask_key("mask.key", 1);
    d.run(&["keygen", "--out", "keys", "--name", "t"])
        .assert_code(0);
    d.write(
        "cfg.toml",
        "[data]\ninputs = [\"nope/*.jsonl\"]\nformat = \"chat\"\n[mask]\nkey_file = \"mask.key\"\n[model]\npath = \"m\"\n[release]\nsigning_key_file = \"keys/t.key.pem\"\nrecipients = [{ kek_file = \"keys/t.kek\" }]\n",
    );
    d.run(&["validate", "cfg.toml"])
        .assert_code(66)
        .assert_stderr_has("matched no file");
    d.run(&["run", "cfg.toml", "--to", "mask"])
        .assert_code(66)
        .assert_stderr_has("matched no file");
}

#[test]
fn a_config_without_model_names_the_section() {
    let d = Dir::new();
    d.mask_key("mask.key", 1);
    d.write(
        "cfg.toml",
        "[data]\ninputs = [\"d/*.jsonl\"]\nformat = \"chat\"\n[mask]\nkey_file = \"mask.key\"\n",
    );
    d.run(&["validate", "cfg.toml"])
        .assert_code(78)
        .assert_stderr_has("add [model] with `path`");
}

#[test]
#[ignore = "needs the model: bash scripts/fetch-smollm2.sh"]
fn validate_accepts_the_shipped_quickstart() {
    let d = shipped_layout("quickstart.toml");
    d.run(&["validate", "configs/quickstart.toml"])
        .assert_code(0)
        .assert_stderr_has("valid");
    // Without the release keys it says how to make them.
    std::fs::remove_file(d.path().join("keys/quickstart.key.pem")).unwrap();
    d.run(&["validate", "configs/quickstart.toml"])
        .assert_code(78)
        .assert_stderr_has("sealtune keygen");
}

#[test]
fn missing_config_file_is_66() {
    let d = Dir::new();
    d.run(&["run", "nope.toml"])
        .assert_code(66)
        .assert_stderr_has("nope.toml: no such config file");
    d.run(&["validate", "nope.toml"]).assert_code(66);
}

/// A device this build or machine does not have is refused before anything runs, naming
/// the file and line (or the flag) and saying how to get it.
#[test]
fn unavailable_device_is_a_config_error() {
    let how = if cfg!(feature = "libtorch") {
        "CUDA GPU"
    } else {
        "setup-libtorch.sh"
    };
    let d = Dir::new();
    d.write("data/a.jsonl", chat_lines(3));
    let cfg = d.config("chat", "");
    let base = std::fs::read_to_string(&cfg).unwrap();
    let with = |compute: &str| {
        d.write("cfg.toml", format!("{base}\n[compute]\n{compute}\n"));
        let line = base.lines().count() + 3;
        let r = d.run(&["run", "cfg.toml", "--to", "mask"]);
        assert!(!d.exists("run/ingest"), "nothing may run on a bad device");
        let v = d.run(&["validate", "cfg.toml"]);
        v.assert_code(78);
        assert_eq!(v.stderr, r.stderr);
        (r, format!("cfg.toml:{line}"))
    };
    let (r, at) = with("device = \"cuda:99\"");
    r.assert_code(78)
        .assert_stderr_has(&at)
        .assert_stderr_has("compute.device")
        .assert_stderr_has(how);
    let (r, _) = with("devise = \"cpu\"");
    r.assert_code(78).assert_stderr_has("compute.devise");
    let (r, _) = with("device = \"tpu\"");
    r.assert_code(78)
        .assert_stderr_has("compute.device")
        .assert_stderr_has("libtorch-cpu");

    d.write("cfg.toml", &base);
    d.run(&["run", "cfg.toml", "--to", "mask", "--device", "cuda:99"])
        .assert_code(78)
        .assert_stderr_has("compute.device (from --device)")
        .assert_stderr_has(how);
    assert!(!d.exists("run/ingest"), "nothing may run on a bad device");
    let r = d.run(&["run", "cfg.toml", "--to", "mask", "--device", "gpu"]);
    assert_ne!(r.code, 0);
    r.assert_stderr_has("libtorch-cpu");
    d.run(&["run", "cfg.toml", "--to", "mask", "--device", "cpu"])
        .assert_code(0);
}

/// bf16 is computed on LibTorch devices only: on the pure-Rust CPU it is refused before
/// anything runs, naming the key (file and line) or the flag; an unknown dtype names the
/// values it takes.
#[test]
fn bf16_on_the_pure_rust_cpu_is_a_config_error() {
    let d = Dir::new();
    d.write("data/a.jsonl", chat_lines(3));
    let cfg = d.config("chat", "");
    let base = std::fs::read_to_string(&cfg).unwrap();
    d.write(
        "cfg.toml",
        format!("{base}\n[compute]\ndevice = \"cpu\"\ndtype = \"bf16\"\n"),
    );
    let line = base.lines().count() + 4;
    let r = d.run(&["run", "cfg.toml", "--to", "mask"]);
    r.assert_code(78)
        .assert_stderr_has(&format!("cfg.toml:{line}"))
        .assert_stderr_has("compute.dtype")
        .assert_stderr_has("libtorch-cpu");
    assert!(!d.exists("run/ingest"), "nothing may run on a bad dtype");
    d.write("cfg.toml", format!("{base}\n[compute]\ndtype = \"f16\"\n"));
    d.run(&["validate", "cfg.toml"])
        .assert_code(78)
        .assert_stderr_has("compute.dtype")
        .assert_stderr_has("bf16");

    d.write("cfg.toml", &base);
    d.run(&[
        "run", "cfg.toml", "--to", "mask", "--device", "cpu", "--dtype", "bf16",
    ])
    .assert_code(78)
    .assert_stderr_has("compute.dtype (from --dtype)");
    assert!(!d.exists("run/ingest"), "nothing may run on a bad dtype");
    d.run(&["run", "cfg.toml", "--to", "mask", "--dtype", "f32"])
        .assert_code(0);
}
