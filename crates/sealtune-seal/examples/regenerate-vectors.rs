//! Writes `tests/vectors/*.vec` again (see `tests/vectors.rs` for the file format):
//! `cargo run -p sealtune-seal --example regenerate-vectors`. Sealing draws fresh nonces,
//! so every run writes different bytes that the same tests accept; commit them only when
//! the format or the set of cases changed.

use std::path::Path;

use sealtune_seal::format::{self, CHUNK_SIZE, TAG_SIZE};
use sealtune_seal::{Argon2Settings, Kek, KeySource, Passphrase};
use sha2::{Digest, Sha256};

const KEK_A: [u8; 32] = [0x11; 32];
const KEK_B: [u8; 32] = [0x22; 32];
const PASS: &str = "vector passphrase";

struct Sealed {
    bytes: Vec<u8>,
    body_start: usize,
}

fn seal(data: &[u8], r: &[KeySource]) -> Sealed {
    let mut bytes = Vec::new();
    format::encrypt(
        data,
        data.len() as u64,
        &mut bytes,
        r,
        "application/octet-stream",
    )
    .unwrap();
    let hlen = u32::from_be_bytes(bytes[16..20].try_into().unwrap()) as usize;
    Sealed {
        body_start: 20 + hlen + 32,
        bytes,
    }
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

// One parameter per header field of the vector file.
#[allow(clippy::too_many_arguments)]
fn write(
    dir: &Path,
    name: &str,
    expect: &str,
    error: Option<&str>,
    ids: &[&str],
    comment: &str,
    plain: Option<&[u8]>,
    body: &[u8],
) {
    let mut h = format!("expect: {expect}\n");
    if let Some(e) = error {
        h += &format!("error: {e}\n");
    }
    for id in ids {
        h += id;
        h += "\n";
    }
    if let Some(p) = plain {
        h += &format!("payload: {}\n", hex::encode(Sha256::digest(p)));
    }
    h += &format!("comment: {comment}\n\n");
    let mut out = h.into_bytes();
    out.extend_from_slice(body);
    std::fs::write(dir.join(format!("{name}.vec")), out).unwrap();
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let ka = format!("kek: {}", hex::encode(KEK_A));
    let kb = format!("kek: {}", hex::encode(KEK_B));
    let pw = format!("passphrase: {PASS}");
    let a = || KeySource::Kek(Kek::from_bytes(KEK_A));
    let b = || KeySource::Kek(Kek::from_bytes(KEK_B));
    let p = || KeySource::Passphrase {
        passphrase: Passphrase::new(PASS),
        settings: Argon2Settings::MIN_SEAL,
    };
    let ok = |name: &str, n: usize, r: &[KeySource], ids: &[&str], c: &str| {
        let d = data(n);
        write(
            &dir,
            name,
            "success",
            None,
            ids,
            c,
            Some(&d),
            &seal(&d, r).bytes,
        );
    };
    ok(
        "success_empty",
        0,
        &[a()],
        &[&ka],
        "empty plaintext: a single empty last chunk",
    );
    ok("success_short", 100, &[a()], &[&ka], "one short chunk");
    ok(
        "success_exact_chunk",
        CHUNK_SIZE,
        &[a()],
        &[&ka],
        "one full chunk then an empty last chunk",
    );
    ok(
        "success_two_and_a_half",
        2 * CHUNK_SIZE + CHUNK_SIZE / 2,
        &[a()],
        &[&ka],
        "three chunks",
    );
    ok(
        "success_passphrase",
        10,
        &[p()],
        &[&pw],
        "argon2id recipient",
    );
    ok(
        "success_second_recipient",
        10,
        &[a(), b()],
        &[&kb],
        "opened by the second of two KEK recipients",
    );

    let d = data(2 * CHUNK_SIZE + 100);
    let s = seal(&d, &[a()]);
    let (hs, body) = (s.body_start, &s.bytes[s.body_start..]);
    let fail = |name: &str, exp: &str, err: &str, ids: &[&str], c: &str, bytes: &[u8]| {
        write(&dir, name, exp, Some(err), ids, c, None, bytes);
    };
    let hf = "header failure";
    let pf = "payload failure";
    let mut m = s.bytes.clone();
    m[0] ^= 1;
    fail(
        "header_bad_magic",
        hf,
        "BadMagic",
        &[&ka],
        "first magic byte flipped",
        &m,
    );
    let json = String::from_utf8(s.bytes[20..hs - 32].to_vec()).unwrap();
    let reheader = |j: &str| {
        let mut v = s.bytes[..16].to_vec();
        v.extend_from_slice(&(j.len() as u32).to_be_bytes());
        v.extend_from_slice(j.as_bytes());
        v.extend_from_slice(&s.bytes[hs - 32..]);
        v
    };
    fail(
        "header_version_2",
        hf,
        "UnsupportedVersion",
        &[&ka],
        "version changed to 2",
        &reheader(&json.replace("\"version\":1", "\"version\":2")),
    );
    fail(
        "header_unknown_field",
        hf,
        "HeaderInvalid",
        &[&ka],
        "extra JSON field",
        &reheader(&json.replacen('{', "{\"x\":1,", 1)),
    );
    fail(
        "header_content_type_edit",
        hf,
        "CommitmentMismatch",
        &[&ka],
        "content_type edited",
        &reheader(&json.replace("octet-stream", "octet-streaM")),
    );
    fail(
        "header_size_edit",
        hf,
        "CommitmentMismatch",
        &[&ka],
        "plaintext_size edited",
        &reheader(&json.replace(&format!(":{},", d.len()), &format!(":{},", d.len() - 1))),
    );
    let mut m = s.bytes.clone();
    m[hs - 1] ^= 0x80;
    fail(
        "header_commitment_flip",
        hf,
        "CommitmentMismatch",
        &[&ka],
        "last commitment byte flipped",
        &m,
    );
    let mut m = s.bytes.clone();
    m[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
    fail(
        "header_length_huge",
        hf,
        "HeaderLength",
        &[&ka],
        "header length field set to 2^32-1",
        &m,
    );
    let other = seal(&d, &[a()]);
    let mut m = other.bytes[..other.body_start - 32].to_vec();
    m.extend_from_slice(&s.bytes[hs - 32..]);
    fail(
        "header_swapped",
        hf,
        "CommitmentMismatch",
        &[&ka],
        "header of another file encrypted with the same KEK",
        &m,
    );

    fail(
        "key_wrong_kek",
        "key failure",
        "NoMatchingRecipient",
        &[&kb],
        "only a wrong KEK is given",
        &s.bytes,
    );
    let ps = seal(&data(10), &[p()]);
    fail(
        "key_wrong_passphrase",
        "key failure",
        "NoMatchingRecipient",
        &["passphrase: not it"],
        "wrong passphrase",
        &ps.bytes,
    );

    let slot = CHUNK_SIZE + TAG_SIZE;
    let mut m = s.bytes.clone();
    m[hs + slot + 5] ^= 1;
    fail(
        "payload_chunk_flip",
        pf,
        "ChunkAuthentication",
        &[&ka],
        "byte in chunk 1 flipped",
        &m,
    );
    let mut m = s.bytes.clone();
    let last = m.len() - 1;
    m[last] ^= 1;
    fail(
        "payload_tag_flip",
        pf,
        "ChunkAuthentication",
        &[&ka],
        "last tag byte flipped",
        &m,
    );
    fail(
        "payload_truncated_at_boundary",
        pf,
        "Truncated",
        &[&ka],
        "last chunk removed",
        &s.bytes[..hs + 2 * slot],
    );
    fail(
        "payload_truncated_mid_chunk",
        pf,
        "Truncated",
        &[&ka],
        "cut inside chunk 1",
        &s.bytes[..hs + slot + 77],
    );
    fail(
        "payload_truncated_no_chunks",
        pf,
        "Truncated",
        &[&ka],
        "all chunks removed",
        &s.bytes[..hs],
    );
    let mut m = s.bytes[..hs].to_vec();
    m.extend_from_slice(&body[slot..2 * slot]);
    m.extend_from_slice(&body[..slot]);
    m.extend_from_slice(&body[2 * slot..]);
    fail(
        "payload_reordered",
        pf,
        "ChunkAuthentication",
        &[&ka],
        "chunks 0 and 1 swapped",
        &m,
    );
    let mut m = s.bytes[..hs + slot].to_vec();
    m.extend_from_slice(&body[..slot]);
    m.extend_from_slice(&body[slot..]);
    fail(
        "payload_duplicated",
        pf,
        "ChunkAuthentication",
        &[&ka],
        "chunk 0 repeated",
        &m,
    );
    let mut m = s.bytes.clone();
    m.extend_from_slice(&body[2 * slot..]);
    fail(
        "payload_trailing_data",
        pf,
        "TrailingData",
        &[&ka],
        "last chunk appended twice",
        &m,
    );
    let mut m = s.bytes[..hs].to_vec();
    m.extend_from_slice(&other.bytes[other.body_start..]);
    fail(
        "payload_body_swapped",
        pf,
        "ChunkAuthentication",
        &[&ka],
        "chunks of another file with the same KEK",
        &m,
    );
    let e = seal(&data(CHUNK_SIZE), &[a()]);
    fail(
        "payload_empty_last_chunk_missing",
        pf,
        "Truncated",
        &[&ka],
        "full chunk kept, empty last chunk dropped",
        &e.bytes[..e.bytes.len() - TAG_SIZE],
    );
}
