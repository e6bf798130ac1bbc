#!/usr/bin/env bash
# Fetches the official CycloneDX 1.6 JSON schema, with the SPDX and JSF
# schemas it references, from the PyPI package cyclonedx-python-lib (which
# ships them), for the sealtune-card test that validates bom.cdx.json.
#
#   bash scripts/fetch-cyclonedx-schema.sh [DIR]
#
# DIR defaults to $SEALTUNE_CYCLONEDX_SCHEMA_DIR, else target/cyclonedx-schema,
# which is where the test looks when the variable is unset.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-${SEALTUNE_CYCLONEDX_SCHEMA_DIR:-$root/target/cyclonedx-schema}}"
version="${CYCLONEDX_PYTHON_LIB_VERSION:-11.12.0}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

python3 -m pip download --quiet --no-deps --only-binary=:all: \
    "cyclonedx-python-lib==$version" -d "$tmp"
mkdir -p "$out"
python3 - "$tmp" "$out" <<'PY'
import glob, sys, zipfile
tmp, out = sys.argv[1], sys.argv[2]
wheel = glob.glob(tmp + "/cyclonedx_python_lib-*.whl")[0]
names = ["bom-1.6.SNAPSHOT.schema.json", "spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json"]
with zipfile.ZipFile(wheel) as z:
    for n in names:
        data = z.read("cyclonedx/schema/_res/" + n)
        with open(out + "/" + n, "wb") as f:
            f.write(data)
print("CycloneDX 1.6 schema from cyclonedx-python-lib " + wheel.rsplit("/", 1)[-1].split("-")[1] + " in " + out)
PY
