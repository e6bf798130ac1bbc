//! Tamper suite: every modification is rejected with a specific error and
//! no plaintext is produced (in memory or on disk).

use sealtune_contract::ExitStatus as _;
use sealtune_seal::format::{self, CHUNK_SIZE, TAG_SIZE};
use sealtune_seal::{Argon2Settings, FormatError, Kek, KeySource, Passphrase, SealError};

const SLOT: usize = CHUNK_SIZE + TAG_SIZE;

fn kek(b: u8) -> KeySource {
    KeySource::Kek(Kek::from_bytes([b; 32]))
}

fn sealed(n: usize, r: &[KeySource]) -> (Vec<u8>, usize) {
    let data: Vec<u8> = (0..n).map(|i| (i % 253) as u8).collect();
    let mut out = Vec::new();
    format::encrypt(&data[..], n as u64, &mut out, r, "application/octet-stream").unwrap();
    let hlen = u32::from_be_bytes(out[16..20].try_into().unwrap()) as usize;
    (out, 20 + hlen + 32)
}

fn open(bytes: &[u8], ids: &[KeySource]) -> Result<(), FormatError> {
    format::decrypt_to_vec(bytes, ids, Some(bytes.len() as u64)).map(|_| ())
}

#[test]
fn every_header_byte_flip_is_a_header_or_key_failure() {
    let (s, hs) = sealed(3 * CHUNK_SIZE + 10, &[kek(1)]);
    for i in 0..hs {
        let mut m = s.clone();
        m[i] ^= 0x01;
        let e = open(&m, &[kek(1)]).unwrap_err();
        assert!(
            matches!(
                e,
                FormatError::BadMagic
                    | FormatError::HeaderLength { .. }
                    | FormatError::HeaderInvalid { .. }
                    | FormatError::UnsupportedVersion { .. }
                    | FormatError::TruncatedHeader
                    | FormatError::NoMatchingRecipient { .. }
                    | FormatError::CommitmentMismatch
            ),
            "flip at {i}: {e:?}"
        );
    }
}

#[test]
fn byte_flips_in_chunks_and_tags_name_the_chunk() {
    let (s, hs) = sealed(3 * CHUNK_SIZE + 10, &[kek(1)]);
    let mut offsets: Vec<usize> = (hs..s.len()).step_by(331).collect();
    for c in 0..4 {
        let tag_start = (hs + c * SLOT + CHUNK_SIZE).min(s.len() - TAG_SIZE);
        offsets.extend(tag_start..tag_start + TAG_SIZE);
        offsets.push(hs + c * SLOT);
    }
    offsets.push(s.len() - 1);
    for i in offsets {
        let mut m = s.clone();
        m[i] ^= 0x80;
        let want = ((i - hs) / SLOT) as u64;
        match open(&m, &[kek(1)]) {
            Err(FormatError::ChunkAuthentication { index }) => {
                assert_eq!(index, want, "offset {i}")
            }
            other => panic!("flip at {i}: {other:?}"),
        }
    }
}

#[test]
fn truncation_at_and_between_boundaries() {
    let (s, hs) = sealed(2 * CHUNK_SIZE + 5, &[kek(1)]);
    let mut cuts = vec![
        hs,
        hs + 1,
        hs + SLOT - 1,
        hs + SLOT,
        hs + SLOT + 1,
        hs + 2 * SLOT,
        s.len() - 1,
    ];
    cuts.extend([hs + 2 * SLOT + 1, hs + 2 * SLOT + 20]);
    for cut in cuts {
        match open(&s[..cut], &[kek(1)]) {
            Err(FormatError::Truncated { found, .. }) => assert_eq!(found as usize, cut - hs),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    for cut in [0, 10, 17, hs - 32, hs - 1] {
        assert!(
            matches!(
                open(&s[..cut], &[kek(1)]),
                Err(FormatError::TruncatedHeader)
            ),
            "cut at {cut}"
        );
    }
}

#[test]
fn reordered_duplicated_and_appended_chunks() {
    let (s, hs) = sealed(3 * CHUNK_SIZE + 10, &[kek(1)]);
    let chunk = |c: usize| &s[hs + c * SLOT..(hs + (c + 1) * SLOT).min(s.len())];
    let build = |order: &[usize]| {
        let mut v = s[..hs].to_vec();
        for &c in order {
            v.extend_from_slice(chunk(c));
        }
        v
    };
    let cases: &[(&[usize], u64)] = &[
        (&[1, 0, 2, 3], 0),
        (&[0, 2, 1, 3], 1),
        (&[0, 0, 1, 2, 3], 1),
        (&[0, 1, 1, 3], 2),
    ];
    for (order, idx) in cases {
        match open(&build(order), &[kek(1)]) {
            Err(FormatError::ChunkAuthentication { index }) => assert_eq!(index, *idx, "{order:?}"),
            other => panic!("{order:?}: {other:?}"),
        }
    }
    // The short last chunk in a full chunk's place fails on its position.
    assert!(matches!(
        open(&build(&[0, 1, 3, 3]), &[kek(1)]),
        Err(FormatError::Truncated { .. })
    ));
    assert!(matches!(
        open(&build(&[0, 1, 2, 3, 3]), &[kek(1)]),
        Err(FormatError::TrailingData)
    ));
}

#[test]
fn headers_swapped_between_files() {
    let (a, ha) = sealed(CHUNK_SIZE + 1, &[kek(1)]);
    let (b, hb) = sealed(CHUNK_SIZE + 1, &[kek(1)]);
    // Header JSON of A with commitment and chunks of B.
    let mut m = a[..ha - 32].to_vec();
    m.extend_from_slice(&b[hb - 32..]);
    assert!(matches!(
        open(&m, &[kek(1)]),
        Err(FormatError::CommitmentMismatch)
    ));
    // Header and commitment of A with chunks of B.
    let mut m = a[..ha].to_vec();
    m.extend_from_slice(&b[hb..]);
    assert!(matches!(
        open(&m, &[kek(1)]),
        Err(FormatError::ChunkAuthentication { index: 0 })
    ));
}

#[test]
fn wrong_kek_and_wrong_passphrase() {
    let pass = |p: &str| KeySource::Passphrase {
        passphrase: Passphrase::new(p),
        settings: Argon2Settings::MIN_SEAL,
    };
    let (s, _) = sealed(10, &[kek(1), pass("right")]);
    for ids in [
        vec![kek(2)],
        vec![pass("wrong")],
        vec![kek(2), pass("wrong")],
        vec![],
    ] {
        assert!(matches!(
            open(&s, &ids),
            Err(FormatError::NoMatchingRecipient { .. })
        ));
    }
}

#[test]
fn failed_unseal_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("w.bin");
    std::fs::write(&input, vec![7u8; 3 * CHUNK_SIZE]).unwrap();
    let sealed_path = dir.path().join("w.bin.seal");
    sealtune_seal::seal_file(&input, &sealed_path, &[kek(1)], None).unwrap();
    let mut bytes = std::fs::read(&sealed_path).unwrap();
    let n = bytes.len();
    bytes[n - TAG_SIZE - 3] ^= 1; // damage the tag of chunk 2 (chunk 3 is the empty last chunk)
    let bad = dir.path().join("bad.seal");
    std::fs::write(&bad, &bytes).unwrap();
    let out = dir.path().join("out.bin");
    let err = sealtune_seal::unseal_file(&bad, &out, &[kek(1)]).unwrap_err();
    assert!(
        matches!(
            err,
            SealError::Sealed {
                source: FormatError::ChunkAuthentication { index: 2 },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.exit().code(), 65);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "only the inputs remain: {names:?}");
    let err = sealtune_seal::open_sealed(&bad, &[kek(1)]).unwrap_err();
    assert!(matches!(err, SealError::Sealed { .. }));
    let err = sealtune_seal::unseal_file(&sealed_path, &out, &[kek(2)]).unwrap_err();
    assert_eq!(err.exit().code(), 77);
    assert!(!out.exists());
}

#[cfg(unix)]
#[test]
fn unseal_creates_private_file_and_refuses_overwrite() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("w.bin");
    std::fs::write(&input, b"secret weights").unwrap();
    let sealed_path = dir.path().join("w.seal");
    sealtune_seal::seal_file(
        &input,
        &sealed_path,
        &[kek(1)],
        Some("application/x-safetensors"),
    )
    .unwrap();
    let out = dir.path().join("plain.bin");
    let info = sealtune_seal::unseal_file(&sealed_path, &out, &[kek(1)]).unwrap();
    assert_eq!(info.header.content_type, "application/x-safetensors");
    assert_eq!(std::fs::read(&out).unwrap(), b"secret weights");
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let err = sealtune_seal::unseal_file(&sealed_path, &out, &[kek(1)]).unwrap_err();
    assert_eq!(err.exit().code(), 73);
    let err = sealtune_seal::seal_file(&input, &sealed_path, &[kek(1)], None).unwrap_err();
    assert_eq!(err.exit().code(), 73);
    let (pt, _) = sealtune_seal::open_sealed(&sealed_path, &[kek(1)]).unwrap();
    assert_eq!(&pt[..], b"secret weights");
    sealtune_seal::verify_sealed(&sealed_path, &[kek(1)]).unwrap();
}

#[test]
fn errors_across_batches_are_reported_in_file_order() {
    // 600 chunks: three batches of up to 256 chunks each.
    let (s, hs) = sealed(600 * CHUNK_SIZE - 3, &[kek(1)]);
    let mut m = s.clone();
    m[hs + 10 * SLOT + 1] ^= 1;
    m.truncate(hs + 520 * SLOT);
    assert!(matches!(
        open(&m, &[kek(1)]),
        Err(FormatError::ChunkAuthentication { index: 10 })
    ));
    let mut m = s.clone();
    m[hs + 300 * SLOT + 1] ^= 1;
    m.extend_from_slice(b"extra");
    assert!(matches!(
        open(&m, &[kek(1)]),
        Err(FormatError::ChunkAuthentication { index: 300 })
    ));
    assert!(matches!(
        open(&s[..hs + 520 * SLOT + 3], &[kek(1)]),
        Err(FormatError::Truncated { .. })
    ));
    let mut m = s.clone();
    m.push(0);
    assert!(matches!(
        open(&m, &[kek(1)]),
        Err(FormatError::TrailingData)
    ));
    let (pt, info) = format::decrypt_to_vec(&s[..], &[kek(1)], None).unwrap();
    assert_eq!(pt.len(), 600 * CHUNK_SIZE - 3);
    assert_eq!(info.chunks, 600);
}

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Hardening item 4: while `unseal` runs, and after it fails on the last
/// chunk, no file with plaintext has a name in the output directory (a named
/// temporary would survive SIGKILL). The directory is listed continuously
/// during the whole decryption.
#[cfg(target_os = "linux")]
#[test]
fn plaintext_never_has_a_name_before_every_chunk_authenticated() {
    let src = tempfile::tempdir().unwrap();
    let outdir = tempfile::tempdir().unwrap();
    let input = src.path().join("w.bin");
    let size = 48 * 1024 * 1024 + 5;
    std::fs::write(&input, vec![7u8; size]).unwrap();
    let sealed_path = src.path().join("w.bin.seal");
    sealtune_seal::seal_file(&input, &sealed_path, &[kek(1)], None).unwrap();
    let mut bytes = std::fs::read(&sealed_path).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1; // the last chunk's tag
    let bad = src.path().join("bad.seal");
    std::fs::write(&bad, &bytes).unwrap();
    drop(bytes);
    let out = outdir.path().join("out.bin");
    let mut seen = std::collections::BTreeSet::new();
    let err = std::thread::scope(|s| {
        let job = s.spawn(|| sealtune_seal::unseal_file(&bad, &out, &[kek(1)]));
        while !job.is_finished() {
            seen.extend(listing(outdir.path()));
        }
        job.join().unwrap()
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            SealError::Sealed {
                source: FormatError::ChunkAuthentication { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(seen.is_empty(), "named files during unseal: {seen:?}");
    assert!(listing(outdir.path()).is_empty());
    // The same file, intact, is published only at the end, with mode 0600.
    let job_seen = std::thread::scope(|s| {
        let job = s.spawn(|| sealtune_seal::unseal_file(&sealed_path, &out, &[kek(1)]));
        let mut seen = std::collections::BTreeSet::new();
        while !job.is_finished() {
            seen.extend(
                listing(outdir.path())
                    .into_iter()
                    .filter(|n| n != "out.bin"),
            );
        }
        job.join().unwrap().unwrap();
        seen
    });
    assert!(job_seen.is_empty(), "{job_seen:?}");
    assert_eq!(listing(outdir.path()), ["out.bin"]);
    assert_eq!(std::fs::read(&out).unwrap().len(), size);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// Temporaries that an interrupted `unseal` of an earlier version (or of a
/// process that no longer runs) left next to the output are removed by the
/// next `unseal` to the same output; others are left alone.
#[cfg(unix)]
#[test]
fn unseal_removes_stale_temporaries_of_the_same_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("w.bin");
    std::fs::write(&input, vec![7u8; 3 * CHUNK_SIZE]).unwrap();
    let sealed_path = dir.path().join("w.bin.seal");
    sealtune_seal::seal_file(&input, &sealed_path, &[kek(1)], None).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = [
        ".out.bin.tmp-9f86d081884c7d65".to_owned(),
        format!(".out.bin.tmp-{dead}-9f86d081884c7d65"),
    ];
    for name in &stale {
        std::fs::write(dir.path().join(name), b"plaintext of an earlier run").unwrap();
    }
    std::fs::write(dir.path().join(".other.bin.tmp-9f86d081884c7d65"), b"x").unwrap();
    let out = dir.path().join("out.bin");
    sealtune_seal::unseal_file(&sealed_path, &out, &[kek(1)]).unwrap();
    assert_eq!(
        listing(dir.path()),
        [
            ".other.bin.tmp-9f86d081884c7d65",
            "out.bin",
            "w.bin",
            "w.bin.seal"
        ]
    );
}
