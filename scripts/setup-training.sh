#!/usr/bin/env bash
# Set up the SuperPoint trainer: libtorch from the PyPI wheel torch==2.11.0 (the version tch 0.24
# binds) in .deps/torch-venv, then a release build of `superpoint-train`.
# Idempotent: with everything present it prints two lines and rebuilds nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.deps/torch-venv"
TORCH_VERSION="2.11.0"

say() { printf '[setup-training] %s\n' "$*"; }
die() { printf '[setup-training] ERROR: %s\n' "$*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 not found (apt-get install python3 python3-venv)"
command -v cargo >/dev/null || die "cargo not found: install Rust 1.95 (rustup) first"

if [ ! -x "$VENV/bin/python" ]; then
  say "creating Python venv in .deps/torch-venv"
  python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
fi
if "$VENV/bin/python" -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  say "torch $TORCH_VERSION present"
else
  say "installing torch==$TORCH_VERSION into .deps/torch-venv (about 2.7 GB with its CUDA libraries; a few minutes)"
  "$VENV/bin/pip" install -q --disable-pip-version-check "torch==$TORCH_VERSION" \
    || die "pip install torch==$TORCH_VERSION failed (network to PyPI? free disk space: needs ~6 GB)"
  "$VENV/bin/python" -c "import torch" || die "torch installed but cannot be imported"
fi

# torch-sys finds libtorch through the venv's python; build.rs adds an rpath to it.
export LIBTORCH_USE_PYTORCH=1 PATH="$VENV/bin:$PATH"
(cd "$ROOT" && cargo build --release --locked -q -p superpoint-train) \
  || die "cargo build --release -p superpoint-train failed (see the compiler output above)"

cat > "$ROOT/.deps/torch-env.sh" <<ENV
# source this file to build or run the trainer by hand
export LIBTORCH_USE_PYTORCH=1
export PATH="$VENV/bin:$ROOT/target/release:\$PATH"
export ORT_DYLIB_PATH="\${ORT_DYLIB_PATH:-$ROOT/.deps/onnxruntime/libonnxruntime.so.1.31.1}"
ENV
say "ready: target/release/superpoint-train (source .deps/torch-env.sh to use it by hand)"
