#!/usr/bin/env bash
# Validates the Kubernetes and Argo manifests that `sealtune plan` writes for
# configs/quickstart.toml against published schemas: Kubernetes' own
# OpenAPI-derived JSON schemas from the PyPI package `kubernetes-validate`
# (strict: unknown fields fail) for the Kubernetes versions in K8S_VERSIONS,
# and Argo Workflows' Workflow schema as generated into the PyPI package
# `hera`. Needs PyPI once (the virtual environment is kept under target/).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="${PLAN_SCHEMAS_VENV:-$root/target/plan-schemas-venv}"
versions="${K8S_VERSIONS:-1.31,1.32,1.33,1.34,1.35}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ ! -x "$venv/bin/kubernetes-validate" ] || ! "$venv/bin/python" -c 'import hera' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet kubernetes-validate==1.37.0 hera==7.1.0 pyyaml
fi
"$venv/bin/pip" list 2>/dev/null | grep -Ei '^(kubernetes-validate|hera) ' || true

cd "$root"
sealtune="${SEALTUNE:-}"
if [ -z "$sealtune" ]; then
    cargo build --quiet -p sealtune-cli
    sealtune="$target/debug/sealtune"
fi

for kind in kubernetes argo; do
    "$sealtune" plan configs/quickstart.toml --emit "$kind" --out "$work/$kind" \
        --image registry.example/sealtune:0.1 --namespace ml --storage-class nfs-client 2>/dev/null
    # And with the placeholders left in: they must still be schema-valid text.
    "$sealtune" plan configs/quickstart.toml --emit "$kind" --out "$work/$kind-placeholders" 2>/dev/null
done
"$venv/bin/python" scripts/check-plan-schemas.py "$versions" \
    "$work"/kubernetes/*.yaml "$work"/kubernetes-placeholders/*.yaml \
    "$work"/argo/*.yaml "$work"/argo-placeholders/*.yaml
echo "all manifests valid"
