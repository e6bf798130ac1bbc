#!/usr/bin/env bash
# The positive control: train the small model with masking off on planted PII
# and repeated canaries (configs/leak-demo.toml), and show that eval's gates
# catch the leak: `sealtune run` must exit 3 with nothing released. Exits 0
# when the demonstration behaves as it should, 1 otherwise.
#
#   bash scripts/leak-demo.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# shellcheck source=scripts/prepare.sh
source "$root/scripts/prepare.sh"

echo "== leak demo (about 5 minutes on 2 cores)" >&2
set +e
"$st" run configs/leak-demo.toml
code=$?
set -e
echo >&2
python3 - runs/leak-demo/eval/report.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{'gate':<20} {'status':<7} {'value':>9}  threshold")
for g in r["gates"]:
    v = "n/a" if g["value"] is None else f"{g['value']:.3f}"
    print(f"{g['name']:<20} {g['status']:<7} {v:>9}  {g['op']} {g['threshold']}")
PY
if [[ $code -ne 3 ]]; then
    echo "leak demo: expected exit 3 (a gate failed), got $code" >&2
    exit 1
fi
if [[ -e runs/leak-demo/release ]]; then
    echo "leak demo: a release was written; it must not be" >&2
    exit 1
fi
echo "leak demo: the gates failed and nothing was released, as they should (exit 3)." >&2
