//! Command-line surface: help lists exit codes, completions, usage errors.

use crate::util::*;

#[test]
fn help_lists_every_exit_code() {
    let d = Dir::new();
    let r = d.run(&["--help"]);
    r.assert_code(0);
    for code in [
        "0", "3", "64", "65", "66", "70", "73", "74", "75", "77", "78",
    ] {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{code} "))),
            "exit code {code} missing from --help:\n{}",
            r.stdout
        );
    }
    for cmd in ["run", "stage", "status", "validate", "audit", "completions"] {
        assert!(r.stdout.contains(cmd));
    }
}

#[test]
fn completions_and_usage_errors() {
    let d = Dir::new();
    let r = d.run(&["completions", "bash"]);
    r.assert_code(0);
    assert!(r.stdout.contains("sealtune"));
    d.run(&["frobnicate"]).assert_code(64);
    d.run(&["run"]).assert_code(64);
}

#[test]
fn readme_lists_every_exit_code_as_the_binary_does() {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"),
    )
    .unwrap();
    for e in sealtune_pipeline::Exit::ALL {
        let row = format!("| {} |", e.code());
        assert!(readme.contains(&row), "README lacks exit code {}", e.code());
    }
}
