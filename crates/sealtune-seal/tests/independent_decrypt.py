#!/usr/bin/env python3
"""Independent decryptor for the sealed format, written from docs/FORMAT.md
only (uses the `cryptography` package). Checks every test vector whose
openers are KEKs: success vectors must decrypt to the recorded SHA-256, the
others must fail.

Usage: independent_decrypt.py crates/sealtune-seal/tests/vectors
"""
import hashlib
import json
import pathlib
import sys

from cryptography.hazmat.primitives import constant_time, hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
import base64

MAGIC = b"sealtune-seal/1\n"
CHUNK = 16384


class Fail(Exception):
    pass


def hkdf(dk, label, h):
    return HKDF(hashes.SHA512(), 32, b"sealtune-seal/v1", label + b"\0" + h).derive(dk)


def decrypt(data, keks, passphrases):
    if data[:16] != MAGIC:
        raise Fail("magic")
    if len(data) < 20:
        raise Fail("truncated header")
    L = int.from_bytes(data[16:20], "big")
    if not 1 <= L <= 1 << 20 or len(data) < 52 + L:
        raise Fail("header length")
    prefix, commitment = data[: 20 + L], data[20 + L : 52 + L]
    hdr = json.loads(prefix[20:])
    if hdr.get("version") != 1:
        raise Fail("version")
    if set(hdr) != {"version", "suite", "chunk_size", "plaintext_size", "content_type", "recipients"}:
        raise Fail("members")
    if hdr["suite"] != "HKDF-SHA-512/AES-256-GCM/16KiB" or hdr["chunk_size"] != CHUNK:
        raise Fail("suite")
    h = hashlib.sha512(prefix).digest()
    key, unwrapped = None, False
    for r in hdr["recipients"]:
        cands = []
        if r["type"] == "aes-kw":
            cands = [k for k in keks if hashlib.sha256(b"sealtune-kek-id\0" + k).digest()[:8].hex() == r["kek_id"]]
        elif r["type"] == "argon2id":
            cands = [
                Argon2id(salt=base64.b64decode(r["salt"]), length=32, iterations=r["iterations"],
                         lanes=r["parallelism"], memory_cost=r["memory_kib"]).derive(p.encode())
                for p in passphrases
            ]
        for kek in cands:
            try:
                dk = aes_key_unwrap(kek, base64.b64decode(r["wrapped_key"]))
            except InvalidUnwrap:
                continue
            unwrapped = True
            if constant_time.bytes_eq(hkdf(dk, b"key commitment", h), commitment):
                key = hkdf(dk, b"payload key", h)
                break
        if key:
            break
    if key is None:
        raise Fail("header modified" if unwrapped else "no key")
    n = hdr["plaintext_size"] // CHUNK + 1
    body, pos, out = data[52 + L :], 0, bytearray()
    aes = AESGCM(key)
    for i in range(n):
        ln = CHUNK if i < n - 1 else hdr["plaintext_size"] % CHUNK
        if pos + ln + 16 > len(body):
            raise Fail("truncated")
        nonce = b"\0\0\0" + i.to_bytes(8, "big") + (b"\1" if i == n - 1 else b"\0")
        try:
            out += aes.decrypt(nonce, body[pos : pos + ln + 16], b"")
        except Exception:
            raise Fail(f"chunk {i}")
        pos += ln + 16
    if pos != len(body):
        raise Fail("trailing data")
    return bytes(out)


def main():
    bad = 0
    for f in sorted(pathlib.Path(sys.argv[1]).glob("*.vec")):
        raw = f.read_bytes()
        head, data = raw.split(b"\n\n", 1)
        meta = [line.split(": ", 1) for line in head.decode().splitlines()]
        keks = [bytes.fromhex(v) for k, v in meta if k == "kek"]
        passes = [v for k, v in meta if k == "passphrase"]
        expect = dict(meta)["expect"]
        try:
            pt = decrypt(data, keks, passes)
            ok = expect == "success" and hashlib.sha256(pt).hexdigest() == dict(meta)["payload"]
            why = "decrypted"
        except (Fail, ValueError, KeyError) as e:
            ok, why = expect != "success", f"failed: {e}"
        print(("ok  " if ok else "BAD ") + f"{f.name}: expect {expect}, {why}")
        bad += not ok
    sys.exit(1 if bad else 0)


main()
