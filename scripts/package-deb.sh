#!/usr/bin/env bash
# Builds the Debian package of the plugin with cargo-deb:
#   target/debian/gst-plugin-superpoint_<version>-1_amd64.deb
# It holds the plugin (/usr/lib/x86_64-linux-gnu/gstreamer-1.0/), a private ONNX Runtime
# (/usr/lib/x86_64-linux-gnu/gst-superpoint/), the shipped models (/usr/share/gst-superpoint/)
# and the `superpoint` CLI (/usr/bin/); the asset list is [package.metadata.deb] in
# plugins/gst-superpoint/Cargo.toml. Install it with:  sudo apt install ./target/debian/gst-plugin-superpoint_*.deb
#
# Usage: scripts/package-deb.sh [--no-build] [--fast] [--output DIR]
#   --no-build    package the existing release build (scripts/setup.sh made it) without cargo build
#   --fast        lighter compression (tests)
#   --output DIR  write the .deb into DIR instead of target/debian/
# Needs scripts/setup.sh first (ONNX Runtime in .deps/onnxruntime/); installs cargo-deb when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_DEB_VERSION="3.8.0"
ORT_LIB="$ROOT/.deps/onnxruntime/libonnxruntime.so.1.31.1"

say() { printf '[package-deb] %s\n' "$*" >&2; }
die() { printf '[package-deb] ERROR: %s\n' "$*" >&2; exit 1; }

build=1
deb_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --fast) deb_args+=(--fast) ;;
    --output) [ $# -ge 2 ] || die "--output needs a folder"; deb_args+=(--output "$2"); shift ;;
    -h|--help) sed -n '2,13{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument $1 (use --no-build, --fast, --output DIR)" ;;
  esac
  shift
done

cd "$ROOT"
[ -f "$ORT_LIB" ] || die "$ORT_LIB missing: run scripts/setup.sh first (it takes ONNX Runtime from the onnxruntime wheel)"
if ! cargo deb --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; then
  say "installing cargo-deb $CARGO_DEB_VERSION (cargo install, a few minutes)"
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION" -q || die "cargo install cargo-deb failed"
fi
if [ "$build" -eq 1 ]; then
  say "building the plugin and the CLI (cargo build --release)"
  cargo build --release --locked -q -p gst-plugin-superpoint -p superpoint || die "cargo build failed"
fi
for f in target/release/libgstsuperpoint.so target/release/superpoint; do
  [ -f "$f" ] || die "$f missing: run scripts/setup.sh (or drop --no-build)"
done
# cargo-deb prints the path of the .deb on stdout. --strip: installed binaries without debug info
# (the release profile keeps line tables for backtraces in the source tree: 91 MB of CLI).
cargo deb -p gst-plugin-superpoint --no-build --locked --strip "${deb_args[@]}"
