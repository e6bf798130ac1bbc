//! Round trips of the sealed format and the file-level commands.

use sealtune_seal::format::{self, CHUNK_SIZE};
use sealtune_seal::{Argon2Settings, FormatError, Kek, KeySource, Passphrase};

fn kek(b: u8) -> KeySource {
    KeySource::Kek(Kek::from_bytes([b; 32]))
}

fn seal(data: &[u8], r: &[KeySource]) -> Vec<u8> {
    let mut out = Vec::new();
    format::encrypt(
        data,
        data.len() as u64,
        &mut out,
        r,
        "application/octet-stream",
    )
    .unwrap();
    out
}

#[test]
fn round_trip_sizes_around_chunk_boundaries() {
    for size in [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE,
        300 * CHUNK_SIZE + 7,
    ] {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let sealed = seal(&data, &[kek(1)]);
        let (pt, info) = format::decrypt_to_vec(&sealed[..], &[kek(1)], None).unwrap();
        assert_eq!(&pt[..], &data[..], "size {size}");
        assert_eq!(info.chunks, size as u64 / CHUNK_SIZE as u64 + 1);
    }
}

#[test]
fn multiple_recipients_each_open() {
    let pass = KeySource::Passphrase {
        passphrase: Passphrase::new("correct horse"),
        settings: Argon2Settings::MIN_SEAL,
    };
    let sealed = seal(b"hello", &[kek(1), pass.clone(), kek(2)]);
    for id in [kek(1), kek(2), pass] {
        let (pt, _) = format::decrypt_to_vec(&sealed[..], &[id], None).unwrap();
        assert_eq!(&pt[..], b"hello");
    }
    let err = format::decrypt_to_vec(&sealed[..], &[kek(3)], None).unwrap_err();
    assert!(
        matches!(err, FormatError::NoMatchingRecipient { .. }),
        "{err}"
    );
}

#[test]
fn weak_argon2_settings_refused_when_sealing() {
    let pass = KeySource::Passphrase {
        passphrase: Passphrase::new("pw"),
        settings: Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
    };
    let mut out = Vec::new();
    let err = format::encrypt(&b"x"[..], 1, &mut out, &[pass], "x").unwrap_err();
    assert!(matches!(err, FormatError::Argon2Params { .. }));
}

#[test]
fn input_length_must_match() {
    let mut out = Vec::new();
    let err = format::encrypt(&b"abc"[..], 2, &mut out, &[kek(1)], "x").unwrap_err();
    assert!(matches!(err, FormatError::InputChanged { .. }));
    let err = format::encrypt(&b"abc"[..], 4, &mut out, &[kek(1)], "x").unwrap_err();
    assert!(matches!(err, FormatError::InputChanged { .. }));
    assert!(matches!(
        format::encrypt(&b"abc"[..], 3, &mut out, &[], "x").unwrap_err(),
        FormatError::NoRecipients
    ));
}

#[test]
fn header_parser_is_strict() {
    let ok = r#"{"version":1,"suite":"HKDF-SHA-512/AES-256-GCM/16KiB","chunk_size":16384,"plaintext_size":5,"content_type":"x","recipients":[{"type":"aes-kw","kek_id":"00","wrapped_key":"AA=="}]}"#;
    format::parse_header(ok.as_bytes()).unwrap();
    let cases = [
        (
            ok.replace(r#""kek_id""#, r#""extra":1,"kek_id""#),
            "unknown recipient member",
        ),
        (
            ok.replace(r#""type":"aes-kw""#, r#""type":"rsa""#),
            "unknown recipient type",
        ),
        (
            ok.replace(r#""chunk_size":16384"#, r#""chunk_size":4096"#),
            "chunk size",
        ),
        (ok.replace("16KiB", "8KiB"), "suite"),
        (
            ok.replace(
                r#""content_type":"x","#,
                r#""content_type":"x","content_type":"y","#,
            ),
            "duplicate member",
        ),
        (
            ok.replace(
                r#"[{"type":"aes-kw","kek_id":"00","wrapped_key":"AA=="}]"#,
                "[]",
            ),
            "no recipients",
        ),
    ];
    for (json, what) in cases {
        let e = format::parse_header(json.as_bytes()).unwrap_err();
        assert!(
            matches!(e, FormatError::HeaderInvalid { .. }),
            "{what}: {e:?}"
        );
    }
    let e = format::parse_header(ok.replace(r#""version":1"#, r#""version":7"#).as_bytes())
        .unwrap_err();
    assert!(matches!(e, FormatError::UnsupportedVersion { found: 7 }));
}
