#!/usr/bin/env bash
# Runs every test: set-up (idempotent), formatting check, clippy (scripts/clippy.sh: all targets,
# with and without default features, warnings are errors), the Rust test suites of the library,
# the plugin and the end-to-end tests (gst-inspect, gst-launch on real video), then the trainer's
# tests (with clippy on the trainer and the `torch` feature) when its set-up script exists. This
# is the command CI runs (.ci/run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
source .deps/env.sh
echo "[test] cargo fmt --check"
cargo fmt --all -- --check
bash scripts/clippy.sh
echo "[test] cargo test (release: reuses the set-up build)"
cargo test --release --locked
if [ -f scripts/test-training.sh ]; then
  echo "[test] training"
  bash scripts/test-training.sh
fi
echo "[test] all tests passed"
