#!/usr/bin/env bash
# Clippy on every crate, target and feature set, warnings are errors (as gst-plugins-rs'
# ci/run-clippy.sh: default features, no default features, all features).
#
#   scripts/clippy.sh          what builds without libtorch: the default members (library, plugin,
#                              end-to-end tests) with default features, and the library without its
#                              default `cli` feature (as the plugin uses it)
#   scripts/clippy.sh --torch  what needs libtorch (LIBTORCH_USE_PYTORCH=1 with torch's venv on
#                              PATH, see scripts/setup-training.sh): the library and the plugin with
#                              all features (`torch`), and the trainer
#
# scripts/test.sh runs the first, scripts/test-training.sh (after installing libtorch) the second.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { printf '[clippy] %s\n' "$*"; }
die() { printf '[clippy] ERROR: %s\n' "$*" >&2; exit 1; }

clippy() {
  say "cargo clippy --release --locked --all-targets $* -- -D warnings"
  cargo clippy --release --locked --all-targets "$@" -- -D warnings || die "clippy found problems (above)"
}

case "${1:-}" in
  "")
    clippy
    clippy -p superpoint --no-default-features
    ;;
  --torch)
    [ -n "${LIBTORCH_USE_PYTORCH:-}${LIBTORCH:-}" ] \
      || die "no libtorch: run scripts/setup-training.sh, then export LIBTORCH_USE_PYTORCH=1 PATH=\"$ROOT/.deps/torch-venv/bin:\$PATH\""
    clippy -p superpoint -p gst-plugin-superpoint --all-features
    clippy -p superpoint-train
    ;;
  -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown argument $1 (see --help)" ;;
esac
