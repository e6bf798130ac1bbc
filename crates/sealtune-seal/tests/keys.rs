//! keygen, key file permissions, recipient configuration, KMS commands.

#![cfg(unix)]

use sealtune_contract::ExitStatus as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sealtune_seal::format;
use sealtune_seal::keys::{load_public_key, load_signing_key};
use sealtune_seal::{FormatError, Kek, KeySource, KmsCommand, RecipientConfig, SealError, keygen};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn keygen_writes_private_files_0600_and_refuses_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = keygen(&dir.path().join("keys"), "release").unwrap();
    assert_eq!(mode(&out.private_key), 0o600);
    assert_eq!(mode(&out.kek), 0o600);
    assert!(
        std::fs::read_to_string(&out.private_key)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    assert!(
        std::fs::read_to_string(&out.public_key)
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    let sk = load_signing_key(&out.private_key).unwrap();
    assert_eq!(
        &load_public_key(&out.public_key).unwrap(),
        sk.verifying_key()
    );
    let kek = Kek::load(&out.kek).unwrap();
    assert_eq!(
        Kek::parse(kek.to_text().as_bytes()).unwrap().as_bytes(),
        kek.as_bytes()
    );
    let before = std::fs::read(&out.kek).unwrap();
    let err = keygen(&dir.path().join("keys"), "release").unwrap_err();
    assert_eq!(err.exit().code(), 73, "{err}");
    assert_eq!(std::fs::read(&out.kek).unwrap(), before);
    assert!(keygen(dir.path(), "../x").is_err());
}

#[test]
fn readable_private_key_or_kek_is_refused_with_77() {
    let dir = tempfile::tempdir().unwrap();
    let out = keygen(dir.path(), "k").unwrap();
    for (p, m) in [(&out.private_key, 0o640), (&out.kek, 0o604)] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }
    let e = load_signing_key(&out.private_key).unwrap_err();
    assert!(
        matches!(e, SealError::InsecurePermissions { mode: 0o640, .. }),
        "{e}"
    );
    assert_eq!(e.exit().code(), 77);
    let e = Kek::load(&out.kek).unwrap_err();
    assert_eq!(e.exit().code(), 77);
    let e = Kek::load(&dir.path().join("absent.kek")).unwrap_err();
    assert_eq!(e.exit().code(), 66);
}

#[test]
fn kek_parse_accepts_text_and_raw_and_rejects_junk() {
    let text = format!("sealtune-kek-v1:{}\n", "ab".repeat(32));
    assert_eq!(Kek::parse(text.as_bytes()).unwrap().as_bytes(), &[0xab; 32]);
    assert_eq!(Kek::parse(&[5u8; 32]).unwrap().as_bytes(), &[5; 32]);
    assert!(Kek::parse(b"sealtune-kek-v1:abc\n").is_err());
    assert!(Kek::parse(&[5u8; 31]).is_err());
    assert!(!format!("{:?}", Kek::from_bytes([0xab; 32])).contains("abab"));
}

#[test]
fn recipient_config_needs_exactly_one_source() {
    let dir = tempfile::tempdir().unwrap();
    let out = keygen(dir.path(), "r").unwrap();
    let cfg: RecipientConfig =
        serde_json::from_str(&format!(r#"{{"kek_file": "{}"}}"#, out.kek.display())).unwrap();
    assert!(matches!(
        cfg.resolve(dir.path()).unwrap(),
        KeySource::Kek(_)
    ));
    let both = RecipientConfig {
        kek_file: Some("a".into()),
        passphrase_env: Some("B".into()),
        ..Default::default()
    };
    assert_eq!(both.resolve(dir.path()).unwrap_err().exit().code(), 78);
    assert_eq!(
        RecipientConfig::default()
            .resolve(dir.path())
            .unwrap_err()
            .exit()
            .code(),
        78
    );
    assert!(serde_json::from_str::<RecipientConfig>(r#"{"kek": "inline secret"}"#).is_err());
    let unset = RecipientConfig {
        passphrase_env: Some("SEALTUNE_TEST_SURELY_UNSET_VAR".into()),
        ..Default::default()
    };
    assert_eq!(unset.resolve(dir.path()).unwrap_err().exit().code(), 78);
    let kms = RecipientConfig {
        kms_command: Some(vec!["/bin/kms".into(), "--key".into(), "k1".into()]),
        ..Default::default()
    };
    match kms.resolve(dir.path()).unwrap() {
        KeySource::Kms(c) => assert_eq!(c.args, ["--key", "k1"]),
        other => panic!("{other:?}"),
    }
}

fn script(dir: &Path, name: &str, body: &str) -> KmsCommand {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
    KmsCommand {
        program: p,
        args: vec!["--key".into(), "test".into()],
        timeout: std::time::Duration::from_secs(30),
    }
}

#[test]
fn kms_command_wraps_and_unwraps_through_stdin_stdout() {
    let dir = tempfile::tempdir().unwrap();
    // A stand-in KMS: "wrap" prefixes a marker, "unwrap" strips it.
    let kms = script(
        dir.path(),
        "kms",
        r#"[ "$1 $2" = "--key test" ] || exit 3
case "$3" in wrap) printf 'W'; cat ;; unwrap) tail -c +2 ;; *) exit 2 ;; esac"#,
    );
    let mut sealed = Vec::new();
    format::encrypt(
        &b"secret"[..],
        6,
        &mut sealed,
        &[KeySource::Kms(kms.clone())],
        "x",
    )
    .unwrap();
    let (pt, info) = format::decrypt_to_vec(&sealed[..], &[KeySource::Kms(kms)], None).unwrap();
    assert_eq!(&pt[..], b"secret");
    assert_eq!(info.header.recipients[0].kind(), "kms");

    let failing = script(dir.path(), "bad", "echo refused >&2; exit 1");
    let e = format::decrypt_to_vec(&sealed[..], &[KeySource::Kms(failing)], None).unwrap_err();
    assert!(
        matches!(&e, FormatError::Kms { reason, .. } if reason.contains("refused")),
        "{e}"
    );
    let liar = script(dir.path(), "liar", "cat >/dev/null; head -c 32 /dev/zero");
    let e = format::decrypt_to_vec(&sealed[..], &[KeySource::Kms(liar)], None).unwrap_err();
    assert!(matches!(e, FormatError::CommitmentMismatch), "{e}");
    let mut slow = script(dir.path(), "slow", "sleep 30");
    slow.timeout = std::time::Duration::from_millis(300);
    let t = std::time::Instant::now();
    let e = format::decrypt_to_vec(&sealed[..], &[KeySource::Kms(slow)], None).unwrap_err();
    assert!(
        matches!(&e, FormatError::Kms { reason, .. } if reason.contains("stopped")),
        "{e}"
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    let missing = KmsCommand::parse("/nonexistent/kms --x").unwrap();
    let e = format::encrypt(&b"a"[..], 1, Vec::new(), &[KeySource::Kms(missing)], "x").unwrap_err();
    assert!(matches!(e, FormatError::Kms { op: "wrap", .. }), "{e}");
}
