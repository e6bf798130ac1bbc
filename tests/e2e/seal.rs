//! keygen, seal, unseal, sign and verify through the binary.

use std::os::unix::fs::PermissionsExt;

use crate::util::*;

fn mode(d: &Dir, rel: &str) -> u32 {
    std::fs::metadata(d.path().join(rel))
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn keygen_writes_private_files_0600_and_never_overwrites() {
    let d = Dir::new();
    d.run(&["keygen", "--out", "keys", "--name", "rel"])
        .assert_code(0);
    assert_eq!(mode(&d, "keys/rel.key.pem"), 0o600);
    assert_eq!(mode(&d, "keys/rel.kek"), 0o600);
    assert!(d.read("keys/rel.pub.pem").contains("BEGIN PUBLIC KEY"));
    let before = d.read("keys/rel.key.pem");
    let r = d.run(&["keygen", "--out", "keys", "--name", "rel"]);
    assert_ne!(r.code, 0);
    assert_eq!(d.read("keys/rel.key.pem"), before);
}

#[test]
fn seal_unseal_round_trip_and_failures_write_no_plaintext() {
    let d = Dir::new();
    d.run(&["keygen", "--out", "keys", "--name", "a"])
        .assert_code(0);
    d.run(&["keygen", "--out", "keys", "--name", "b"])
        .assert_code(0);
    let payload: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    d.write("w.bin", &payload);
    d.cmd(&[
        "seal",
        "--in",
        "w.bin",
        "--out",
        "w.seal",
        "--kek",
        "keys/a.kek",
        "--passphrase-env",
        "PASS",
    ])
    .env("PASS", "correct horse battery staple")
    .output()
    .map(Ran::from)
    .unwrap()
    .assert_code(0);
    d.run(&[
        "unseal",
        "w.seal",
        "--out",
        "plain.bin",
        "--kek",
        "keys/a.kek",
    ])
    .assert_code(0);
    assert_eq!(std::fs::read(d.path().join("plain.bin")).unwrap(), payload);
    assert_eq!(mode(&d, "plain.bin"), 0o600);
    let r: Ran = d
        .cmd(&["unseal", "w.seal", "--check", "--passphrase-env", "PASS"])
        .env("PASS", "correct horse battery staple")
        .output()
        .unwrap()
        .into();
    r.assert_code(0).assert_stderr_has("nothing written");

    // A wrong key: 77, and nothing written.
    d.run(&["unseal", "w.seal", "--out", "x.bin", "--kek", "keys/b.kek"])
        .assert_code(77);
    assert!(!d.exists("x.bin"));
    // A flipped byte in the middle: 65, and nothing written.
    let mut sealed = std::fs::read(d.path().join("w.seal")).unwrap();
    let mid = sealed.len() / 2;
    sealed[mid] ^= 1;
    d.write("bad.seal", &sealed);
    d.run(&[
        "unseal",
        "bad.seal",
        "--out",
        "y.bin",
        "--kek",
        "keys/a.kek",
    ])
    .assert_code(65);
    assert!(!d.exists("y.bin"));
    // Plaintext only with an explicit --out.
    d.run(&["unseal", "w.seal", "--kek", "keys/a.kek"])
        .assert_code(64);
    // A key file others can read is refused.
    std::fs::set_permissions(
        d.path().join("keys/a.kek"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    d.run(&["unseal", "w.seal", "--out", "z.bin", "--kek", "keys/a.kek"])
        .assert_code(77);
    assert!(!d.exists("z.bin"));
}

#[test]
fn sign_and_verify_a_directory() {
    let d = Dir::new();
    d.run(&["keygen", "--out", "keys", "--name", "a"])
        .assert_code(0);
    d.run(&["keygen", "--out", "keys", "--name", "b"])
        .assert_code(0);
    d.write("rel/adapter.seal", b"sealed bytes");
    d.write("rel/MODEL_CARD.md", "# card\n");
    d.run(&["sign", "rel", "--key", "keys/a.key.pem"])
        .assert_code(0);
    let r = d.run(&["verify", "rel", "--public-key", "keys/a.pub.pem"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("signature valid; 2 file(s) match"),
        "{}",
        r.stdout
    );
    // Wrong signer.
    assert_ne!(
        d.run(&["verify", "rel", "--public-key", "keys/b.pub.pem"])
            .code,
        0
    );
    // A changed card, then an extra unsigned file, are named.
    d.write("rel/MODEL_CARD.md", "# card, edited\n");
    let r = d.run(&["verify", "rel", "--public-key", "keys/a.pub.pem"]);
    assert_ne!(r.code, 0);
    r.assert_stderr_has("MODEL_CARD.md");
    d.write("rel/MODEL_CARD.md", "# card\n");
    d.write("rel/extra.txt", "x");
    let r = d.run(&["verify", "rel", "--public-key", "keys/a.pub.pem"]);
    assert_ne!(r.code, 0);
    r.assert_stderr_has("extra.txt");
}
