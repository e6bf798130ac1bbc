#!/usr/bin/env bash
# Proves that sealtune's OMS v1.0 signatures interoperate with the stock
# OpenSSF `model_signing` tool, in both directions, for both serializations,
# and that an independent decryptor written from docs/FORMAT.md reads the
# sealed-format test vectors.
# Needs network access to PyPI (once) and a Rust toolchain.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="${OMS_VENV:-$target/oms-venv}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ ! -x "$venv/bin/model_signing" ]; then
    python3 -m venv "$venv"
    # pyOpenSSL is imported by model_signing but not declared by every release.
    "$venv/bin/pip" install --quiet model-signing pyopenssl
fi
ms="$venv/bin/model_signing"
"$ms" --version

cd "$root"
cargo build --quiet -p sealtune-seal --examples
sign="$target/debug/examples/oms-sign"
verify="$target/debug/examples/oms-verify"

openssl ecparam -name prime256v1 -genkey -noout -out "$work/ec.pem"
openssl pkcs8 -topk8 -nocrypt -in "$work/ec.pem" -out "$work/key.pem"
openssl ec -in "$work/key.pem" -pubout -out "$work/pub.pem" 2>/dev/null
chmod 600 "$work/key.pem"

make_model() {
    mkdir -p "$1/sub dir/deeper"
    printf 'hello\n' > "$1/config.json"
    head -c 300000 /dev/urandom > "$1/weights.safetensors"
    printf 'card\n' > "$1/MODEL_CARD.md"
    printf 'x' > "$1/sub dir/deeper/a.txt"
    printf 'y' > "$1/sub dir.txt"
    printf 'z' > "$1/sub dir/b"
}

fail=0
check() {
    local what="$1"; shift
    if "$@" > "$work/log" 2>&1; then
        echo "PASS  $what"
    else
        echo "FAIL  $what"; sed 's/^/      /' "$work/log"; fail=1
    fi
}
expect_fail() {
    local what="$1"; shift
    if "$@" > "$work/log" 2>&1; then
        echo "FAIL  $what (accepted a modified model)"; fail=1
    else
        echo "PASS  $what"
    fi
}

# The stock `model_signing verify key` command always re-hashes with the
# files serialization; signatures using shards are checked through its
# Python API, which reads the serialization from the signature.
py_verify() {
    "$venv/bin/python" - "$1" "$2" <<'PY'
import sys
import model_signing
m, pub = sys.argv[1], sys.argv[2]
model_signing.verifying.Config().use_elliptic_key_verifier(public_key=pub).verify(m, m + "/model.sig")
PY
}

for mode in "" "--shard-size 100000"; do
    label="${mode:-default: files}"
    m="$work/ours-${RANDOM}"
    make_model "$m"
    # shellcheck disable=SC2086
    check "sealtune signs ($label)" "$sign" "$m" "$work/key.pem" $mode
    if [ -z "$mode" ]; then
        check "model_signing verify key accepts sealtune's signature ($label)" \
            "$ms" verify key "$m" --signature "$m/model.sig" --public_key "$work/pub.pem"
    fi
    check "model_signing API accepts sealtune's signature ($label)" py_verify "$m" "$work/pub.pem"
    check "sealtune verifies its own signature ($label)" "$verify" "$m" "$work/pub.pem"
    printf 'tampered' >> "$m/MODEL_CARD.md"
    if [ -z "$mode" ]; then
        expect_fail "model_signing verify key rejects a modified file ($label)" \
            "$ms" verify key "$m" --signature "$m/model.sig" --public_key "$work/pub.pem"
    fi
    expect_fail "model_signing API rejects a modified file ($label)" py_verify "$m" "$work/pub.pem"
    expect_fail "sealtune rejects a modified file ($label)" "$verify" "$m" "$work/pub.pem"
done

openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl ec -pubout -out "$work/other.pem" 2>/dev/null
m="$work/signer"
make_model "$m"
"$sign" "$m" "$work/key.pem" 2>/dev/null
expect_fail "model_signing rejects sealtune's signature under another public key" \
    "$ms" verify key "$m" --signature "$m/model.sig" --public_key "$work/other.pem"
expect_fail "sealtune rejects its signature under another public key" "$verify" "$m" "$work/other.pem"

m="$work/theirs"
make_model "$m"
check "model_signing signs" "$ms" sign key "$m" --private_key "$work/key.pem" --signature "$m/model.sig"
check "sealtune verifies model_signing's signature (files)" "$verify" "$m" "$work/pub.pem"
printf 'extra' > "$m/unsigned.bin"
expect_fail "sealtune rejects an unsigned extra file" "$verify" "$m" "$work/pub.pem"

m="$work/theirs-shards"
make_model "$m"
check "model_signing signs (shards)" "$venv/bin/python" - "$m" "$work/key.pem" <<'PY'
import sys
import model_signing
m, key = sys.argv[1], sys.argv[2]
cfg = model_signing.signing.Config().use_elliptic_key_signer(private_key=key)
cfg.set_hashing_config(
    model_signing.hashing.Config()
    .use_shard_serialization(shard_size=100000)
    .set_ignored_paths(paths=["model.sig"])
)
cfg.sign(m, m + "/model.sig")
PY
check "sealtune verifies model_signing's signature (shards)" "$verify" "$m" "$work/pub.pem"

# The sealed format, read by an independent decryptor written from
# docs/FORMAT.md alone (Python `cryptography`, installed with model-signing).
check "independent decryptor agrees with every test vector" \
    "$venv/bin/python" crates/sealtune-seal/tests/independent_decrypt.py crates/sealtune-seal/tests/vectors

exit "$fail"
