#!/usr/bin/env bash
# Builds sealtune with LibTorch (CPU and CUDA devices: [compute] device = "libtorch-cpu",
# "cuda", "cuda:N"), against the PyPI wheel torch==2.11.0, the build the project tests on.
#
#   bash scripts/setup-libtorch.sh            # venv + target/release/sealtune (libtorch)
#   eval "$(bash scripts/setup-libtorch.sh --env)"   # venv, then print the build environment
#                                             # (for cargo test --features libtorch)
#
# The venv is target/libtorch-venv (SEALTUNE_TORCH_VENV overrides; about 5 GB with the
# CUDA libraries the wheel depends on). The binary finds LibTorch through its run path
# (the venv's torch/lib, or SEALTUNE_LIBTORCH_RPATH=dir[:dir...] at build time for a
# LibTorch that will live elsewhere); LD_LIBRARY_PATH at run time overrides it.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0
VENV=${SEALTUNE_TORCH_VENV:-target/libtorch-venv}
PY=${PYTHON:-python3}

have_torch() {
    "$VENV/bin/python" -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null
}

if ! have_torch; then
    echo "== creating $VENV with torch==$TORCH_VERSION (PyPI)" >&2
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "torch==$TORCH_VERSION" >&2
    have_torch || { echo "error: $VENV: torch $TORCH_VERSION did not install" >&2; exit 69; }
fi

VENV_ABS=$(cd "$VENV" && pwd)
TORCH_LIB=$("$VENV_ABS/bin/python" -c "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))")

# torch-sys (tch 0.22) reads LibTorch's headers and libraries from the venv's torch
# package. It was written for torch 2.9; the API it calls compiles and runs against 2.11
# (CI builds and tests it), so its version check is bypassed.
env_lines() {
    cat <<ENV
export VIRTUAL_ENV='$VENV_ABS'
export PATH='$VENV_ABS/bin':"\$PATH"
export LIBTORCH_USE_PYTORCH=1
export LIBTORCH_BYPASS_VERSION_CHECK=1
export SEALTUNE_LIBTORCH_RPATH='${SEALTUNE_LIBTORCH_RPATH:-$TORCH_LIB}'
export LD_LIBRARY_PATH='$TORCH_LIB'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
ENV
}

if [ "${1:-}" = "--env" ]; then
    env_lines
    exit 0
fi

eval "$(env_lines)"
# The binary must not depend on LD_LIBRARY_PATH: it carries the run path instead.
unset LD_LIBRARY_PATH
echo "== cargo build --release --features libtorch (first build: about 15 minutes on 2 cores)" >&2
cargo build --release --locked -p sealtune-cli --features libtorch
echo "== target/release/sealtune: LibTorch from $SEALTUNE_LIBTORCH_RPATH" >&2
target/release/sealtune --version
