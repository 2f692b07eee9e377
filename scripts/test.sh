#!/usr/bin/env bash
# Runs every test: set-up (idempotent), formatting check, clippy (all targets, warnings are
# errors), the Rust test suites of the library, the plugin and the end-to-end tests (gst-inspect,
# gst-launch on real video), then the trainer's tests when its set-up script exists. This is the
# command CI runs (.ci/run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
source .deps/env.sh
echo "[test] cargo fmt --check"
cargo fmt --all -- --check
echo "[test] cargo clippy (every target of the default members, warnings are errors)"
cargo clippy --release --locked --all-targets -- -D warnings
echo "[test] cargo test (release: reuses the set-up build)"
cargo test --release --locked
if [ -f scripts/test-training.sh ]; then
  echo "[test] training"
  bash scripts/test-training.sh
fi
echo "[test] all tests passed"
