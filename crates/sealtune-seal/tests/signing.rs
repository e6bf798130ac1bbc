//! OMS signatures, release verification and DSSE statements.

#![cfg(unix)]

use sealtune_contract::ExitStatus as _;
use std::path::Path;

use p256::ecdsa::SigningKey;
use sealtune_seal::dsse::{self, ResourceDescriptor, Statement};
use sealtune_seal::oms::{self, Serialization, SignOptions};
use sealtune_seal::{Kek, KeySource, Mismatch, SealError, keygen, sign_release, verify_release};

fn release_dir(root: &Path) -> std::path::PathBuf {
    let d = root.join("release");
    std::fs::create_dir_all(d.join("adapter")).unwrap();
    std::fs::write(d.join("MODEL_CARD.md"), "# card\n").unwrap();
    std::fs::write(d.join("adapter/config.json"), "{}").unwrap();
    std::fs::write(d.join("adapter.json"), "[]").unwrap();
    d
}

fn mismatches(e: SealError) -> Vec<Mismatch> {
    match e {
        SealError::ContentMismatch { mismatches, .. } => mismatches,
        other => panic!("{other:?}"),
    }
}

#[test]
fn sign_then_verify_and_detect_every_change() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = keygen(&tmp.path().join("keys"), "rel").unwrap();
    let dir = release_dir(tmp.path());
    let input = tmp.path().join("w.bin");
    std::fs::write(&input, vec![1u8; 40_000]).unwrap();
    let kek = KeySource::Kek(Kek::load(&keys.kek).unwrap());
    sealtune_seal::seal_file(&input, &dir.join("adapter/w.seal"), &[kek], None).unwrap();

    let m = sign_release(&dir, &keys.private_key, &SignOptions::default()).unwrap();
    assert_eq!(
        m.files,
        [
            "MODEL_CARD.md",
            "adapter.json",
            "adapter/config.json",
            "adapter/w.seal"
        ]
    );
    let names: Vec<_> = m.resources.keys().cloned().collect();
    assert_eq!(names.len(), 4);
    let r = verify_release(&dir, &keys.public_key, Some(&keys.kek)).unwrap();
    assert_eq!(r.sealed_checked, [dir.join("adapter/w.seal")]);
    assert_eq!(r.manifest.root_digest, m.root_digest);
    // Signing again refuses to overwrite model.sig.
    assert_eq!(
        sign_release(&dir, &keys.private_key, &SignOptions::default())
            .unwrap_err()
            .exit()
            .code(),
        73
    );

    std::fs::write(dir.join("MODEL_CARD.md"), "# edited card\n").unwrap();
    std::fs::write(dir.join("extra.txt"), "x").unwrap();
    std::fs::remove_file(dir.join("adapter.json")).unwrap();
    let e = verify_release(&dir, &keys.public_key, None).unwrap_err();
    assert_eq!(e.exit().code(), 65);
    let msg = e.to_string();
    let mm = mismatches(e);
    assert!(mm.contains(&Mismatch::Extra("extra.txt".into())), "{mm:?}");
    assert!(
        mm.contains(&Mismatch::Missing("adapter.json".into())),
        "{mm:?}"
    );
    assert!(
        mm.iter()
            .any(|m| matches!(m, Mismatch::Digest { name, .. } if name == "MODEL_CARD.md"))
    );
    assert!(
        msg.contains("MODEL_CARD.md") && msg.contains("extra.txt"),
        "{msg}"
    );
}

#[test]
fn wrong_signer_and_tampered_bundle_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let a = keygen(&tmp.path().join("a"), "a").unwrap();
    let b = keygen(&tmp.path().join("b"), "b").unwrap();
    let dir = release_dir(tmp.path());
    sign_release(&dir, &a.private_key, &SignOptions::default()).unwrap();
    let e = verify_release(&dir, &b.public_key, None).unwrap_err();
    assert!(matches!(e, SealError::BadSignature { .. }), "{e}");
    assert_eq!(e.exit().code(), 77);

    // Same key hint, but the payload is changed: the signature fails.
    let sig_path = dir.join("model.sig");
    let mut bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&sig_path).unwrap()).unwrap();
    let payload = bundle["dsseEnvelope"]["payload"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut bytes = base64_decode(&payload);
    let pos = bytes.iter().position(|b| *b == b'a').unwrap();
    bytes[pos] = b'b';
    bundle["dsseEnvelope"]["payload"] = base64_encode(&bytes).into();
    std::fs::write(&sig_path, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let e = verify_release(&dir, &a.public_key, None).unwrap_err();
    assert!(matches!(e, SealError::BadSignature { .. }), "{e}");
    std::fs::write(&sig_path, b"{not json").unwrap();
    assert!(matches!(
        verify_release(&dir, &a.public_key, None).unwrap_err(),
        SealError::BundleInvalid { .. }
    ));
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn shards_cover_large_files_and_sort_by_components() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("a.txt"), vec![3u8; 2500]).unwrap();
    std::fs::write(dir.join("a/b"), "x").unwrap();
    let key = SigningKey::from_slice(&[9u8; 32]).unwrap();
    let opts = SignOptions {
        serialization: Serialization::Shards { shard_size: 1000 },
        ..Default::default()
    };
    oms::sign_dir(&dir, &key, &opts).unwrap();
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("model.sig")).unwrap()).unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&base64_decode(
        bundle["dsseEnvelope"]["payload"].as_str().unwrap(),
    ))
    .unwrap();
    let names: Vec<&str> = payload["predicate"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    // Component order puts "a/b" before "a.txt" (unlike byte order).
    assert_eq!(
        names,
        [
            "a/b:0:1",
            "a.txt:0:1000",
            "a.txt:1000:2000",
            "a.txt:2000:2500"
        ]
    );
    let pk_path = tmp.path().join("pub.pem");
    std::fs::write(
        &pk_path,
        sealtune_seal::keys::public_key_pem(key.verifying_key()).unwrap(),
    )
    .unwrap();
    oms::verify_dir(&dir, &dir.join("model.sig"), key.verifying_key(), &pk_path).unwrap();
    std::fs::write(dir.join("a:1"), "z").unwrap();
    let e = oms::sign_dir(
        &dir,
        &key,
        &SignOptions {
            serialization: Serialization::Shards { shard_size: 1000 },
            ..Default::default()
        },
    );
    assert!(
        matches!(e, Err(SealError::UnsupportedEntry { .. })),
        "{e:?}"
    );
    std::fs::remove_file(dir.join("a:1")).unwrap();
    std::fs::write(dir.join("empty"), "").unwrap();
    let mm = mismatches(
        oms::verify_dir(&dir, &dir.join("model.sig"), key.verifying_key(), &pk_path).unwrap_err(),
    );
    assert_eq!(mm, [Mismatch::Extra("empty".into())]);
}

#[test]
fn symlinks_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = release_dir(tmp.path());
    std::os::unix::fs::symlink("/etc/hostname", dir.join("link")).unwrap();
    let key = SigningKey::from_slice(&[9u8; 32]).unwrap();
    let e = oms::sign_dir(&dir, &key, &SignOptions::default()).unwrap_err();
    assert!(matches!(e, SealError::UnsupportedEntry { .. }), "{e}");
}

#[test]
fn dsse_statements_round_trip_and_reject_other_signers() {
    let key = SigningKey::from_slice(&[5u8; 32]).unwrap();
    let other = SigningKey::from_slice(&[6u8; 32]).unwrap();
    let st = Statement::new(
        vec![ResourceDescriptor {
            name: Some("adapter.seal".into()),
            uri: None,
            digest: [("sha256".to_owned(), "00".repeat(32))].into(),
        }],
        "https://slsa.dev/provenance/v1",
        serde_json::json!({"buildDefinition": {"buildType": "https://example.invalid/sealtune"}}),
    );
    let env = dsse::sign_statement(&st, &key).unwrap();
    assert_eq!(
        dsse::verify_statement(&env, key.verifying_key()).unwrap(),
        st
    );
    let e = dsse::verify_statement(&env, other.verifying_key()).unwrap_err();
    assert!(matches!(e, dsse::SignatureError::NoValidSignature));
    assert_eq!(e.exit().code(), 77);
    let mut forged = env.clone();
    forged.payload_type = "text/plain".into();
    assert!(matches!(
        dsse::verify_statement(&forged, key.verifying_key()),
        Err(dsse::SignatureError::PayloadType { .. })
    ));
    let line = serde_json::to_string(&env).unwrap();
    assert_eq!(
        dsse::verify_jsonl(&format!("{line}\n{line}\n"), key.verifying_key())
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        dsse::verify_jsonl(&format!("{line}\n{{}}\n"), key.verifying_key())
            .unwrap_err()
            .0,
        2
    );
    assert_eq!(dsse::pae("t", b"ab"), b"DSSEv1 1 t 2 ab");
}

#[test]
fn provenance_signed_by_another_key_fails_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = keygen(&tmp.path().join("k"), "k").unwrap();
    let dir = release_dir(tmp.path());
    let st = Statement::new(
        vec![],
        "https://in-toto.io/attestation/test-result/v0.1",
        serde_json::json!({"result": "PASSED"}),
    );
    let rogue = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let line = serde_json::to_string(&dsse::sign_statement(&st, &rogue).unwrap()).unwrap();
    std::fs::write(dir.join("provenance.intoto.jsonl"), format!("{line}\n")).unwrap();
    sign_release(&dir, &keys.private_key, &SignOptions::default()).unwrap();
    let e = verify_release(&dir, &keys.public_key, None).unwrap_err();
    assert!(
        matches!(&e, SealError::BadSignature { reason, .. } if reason.contains("line 1")),
        "{e}"
    );
}

#[test]
fn high_s_signatures_are_accepted_like_other_verifiers() {
    use p256::ecdsa::Signature;
    use p256::ecdsa::signature::Signer as _;
    let key = SigningKey::from_slice(&[5u8; 32]).unwrap();
    let msg = dsse::pae(dsse::IN_TOTO_PAYLOAD_TYPE, b"{}");
    let sig: Signature = key.sign(&msg);
    let (r, s) = sig.split_scalars();
    let flipped = Signature::from_scalars(r, -*s).unwrap();
    for sig in [sig, flipped] {
        let env = dsse::Envelope {
            payload: base64_encode(b"{}"),
            payload_type: dsse::IN_TOTO_PAYLOAD_TYPE.into(),
            signatures: vec![dsse::EnvelopeSignature {
                sig: base64_encode(sig.to_der().as_bytes()),
                keyid: String::new(),
            }],
        };
        dsse::verify_envelope(&env, key.verifying_key(), dsse::IN_TOTO_PAYLOAD_TYPE).unwrap();
    }
}

#[test]
fn verify_with_kek_authenticates_every_chunk_of_signed_sealed_files() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = keygen(&tmp.path().join("k"), "k").unwrap();
    let dir = release_dir(tmp.path());
    let input = tmp.path().join("w.bin");
    std::fs::write(&input, vec![9u8; 50_000]).unwrap();
    let kek = KeySource::Kek(Kek::load(&keys.kek).unwrap());
    let sealed = dir.join("w.seal");
    sealtune_seal::seal_file(&input, &sealed, &[kek], None).unwrap();
    // Damaged before signing: the signature covers it, only the KEK check can tell.
    let mut bytes = std::fs::read(&sealed).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 1;
    std::fs::remove_file(&sealed).unwrap();
    std::fs::write(&sealed, &bytes).unwrap();
    sign_release(&dir, &keys.private_key, &SignOptions::default()).unwrap();
    verify_release(&dir, &keys.public_key, None).unwrap();
    let e = verify_release(&dir, &keys.public_key, Some(&keys.kek)).unwrap_err();
    assert!(
        matches!(&e, SealError::Sealed { path, .. } if *path == sealed),
        "{e:?}"
    );
    assert!(e.to_string().contains("w.seal"), "{e}");
}

#[test]
fn failed_seal_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.bin");
    std::fs::write(&input, b"data").unwrap();
    let bad_kms = sealtune_seal::KmsCommand::parse("/nonexistent/kms").unwrap();
    let out = tmp.path().join("in.seal");
    let e = sealtune_seal::seal_file(&input, &out, &[KeySource::Kms(bad_kms)], None).unwrap_err();
    assert_eq!(e.exit().code(), 77, "{e}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    let e = sealtune_seal::seal_file(
        tmp.path(),
        &out,
        &[KeySource::Kek(Kek::from_bytes([1; 32]))],
        None,
    )
    .unwrap_err();
    assert!(matches!(e, SealError::UnsupportedEntry { .. }), "{e}");
    let e = sealtune_seal::seal_file(&tmp.path().join("absent"), &out, &[], None).unwrap_err();
    assert_eq!(e.exit().code(), 66);
}

#[test]
fn verify_refuses_files_in_paths_the_signature_lists_as_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = keygen(&tmp.path().join("keys"), "rel").unwrap();
    let dir = release_dir(tmp.path());
    let opts = SignOptions {
        ignore_paths: vec!["manifest.json".into()],
        ..SignOptions::default()
    };
    sign_release(&dir, &keys.private_key, &opts).unwrap();
    // The engine's manifest, written after signing, is the one file passed over.
    std::fs::write(dir.join("manifest.json"), "{}").unwrap();
    verify_release(&dir, &keys.public_key, None).unwrap();
    for extra in [
        ".git/config",
        ".github/workflows/x.yml",
        ".gitattributes",
        ".gitignore",
        "manifest.json/payload.bin",
    ] {
        let tmp2 = tempfile::tempdir().unwrap();
        let d = release_dir(tmp2.path());
        sign_release(&d, &keys.private_key, &opts).unwrap();
        let p = d.join(extra);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "planted").unwrap();
        let mm = mismatches(verify_release(&d, &keys.public_key, None).unwrap_err());
        assert_eq!(mm, [Mismatch::Extra(extra.into())], "{extra}");
    }
}

#[test]
fn open_release_verifies_then_unseals_into_memory_only() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = keygen(&tmp.path().join("keys"), "rel").unwrap();
    let dir = release_dir(tmp.path());
    let input = tmp.path().join("w.bin");
    let plain: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
    std::fs::write(&input, &plain).unwrap();
    let kek = KeySource::Kek(Kek::load(&keys.kek).unwrap());
    sealtune_seal::seal_file(&input, &dir.join("adapter/w.seal"), &[kek], None).unwrap();
    std::fs::remove_file(&input).unwrap();
    sign_release(&dir, &keys.private_key, &SignOptions::default()).unwrap();
    let before: Vec<_> = walk(tmp.path());

    let r = sealtune_seal::open_release(&dir, &keys.public_key, &keys.kek).unwrap();
    let (pt, info) = r.unseal("adapter/w.seal").unwrap();
    assert_eq!(&pt[..], &plain[..]);
    assert_eq!(info.header.plaintext_size, plain.len() as u64);
    assert_eq!(r.read("adapter.json").unwrap(), b"[]");
    // Files the signature does not cover are not handed out.
    assert_eq!(r.read("model.sig").unwrap_err().exit().code(), 66);
    // A file swapped after verification is refused when read.
    std::fs::write(dir.join("adapter.json"), "[1]").unwrap();
    let e = r.read("adapter.json").unwrap_err();
    assert_eq!(e.exit().code(), 65, "{e}");
    assert!(e.to_string().contains("adapter.json"), "{e}");
    std::fs::write(dir.join("adapter.json"), "[]").unwrap();
    // Nothing was written while reading.
    assert_eq!(walk(tmp.path()), before);

    // The same errors as verify: a changed sealed byte, an extra file.
    let sealed = dir.join("adapter/w.seal");
    let mut bytes = std::fs::read(&sealed).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 1;
    std::fs::write(&sealed, &bytes).unwrap();
    let a = sealtune_seal::open_release(&dir, &keys.public_key, &keys.kek).unwrap_err();
    let b = verify_release(&dir, &keys.public_key, Some(&keys.kek)).unwrap_err();
    assert_eq!(a.to_string(), b.to_string());
    assert_eq!(a.exit().code(), b.exit().code());
    bytes[n - 10] ^= 1;
    std::fs::write(&sealed, &bytes).unwrap();
    std::fs::write(dir.join("extra.txt"), "x").unwrap();
    let a = sealtune_seal::open_release(&dir, &keys.public_key, &keys.kek).unwrap_err();
    assert_eq!(a.exit().code(), 65);
    assert!(a.to_string().contains("extra.txt"), "{a}");
}

fn walk(root: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let b = std::fs::read(&p).unwrap();
                out.push((p, b));
            }
        }
    }
    out.sort();
    out
}
