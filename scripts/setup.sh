#!/usr/bin/env bash
# Set up gst-superpoint on Debian 12: system packages, ONNX Runtime, a Python venv for
# tests/benchmarks, cargo-deb, then a release build of the plugin and the `superpoint` CLI.
# Idempotent: a second run with everything present prints one line per step and rebuilds nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/.deps"
ORT_VERSION="1.31.1"
ORT_DIR="$DEPS/onnxruntime"
VENV="$DEPS/venv"
APT_PACKAGES=(
  pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-libav opencv-doc python3-venv bc
  python3-gi gir1.2-gstreamer-1.0 python3-gst-1.0 dpkg-dev
  mosquitto python3-paho-mqtt python3-jsonschema
)
CARGO_DEB_VERSION="3.8.0"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# 1. Debian packages (only those missing).
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq || die "apt-get update failed (network or apt sources?)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
else
  say "Debian packages present"
fi
# The tests start their own /usr/sbin/mosquitto on a free 127.0.0.1 port: the Debian package's
# system broker (port 1883 for everyone) stays off.
if command -v systemctl >/dev/null && systemctl is-enabled --quiet mosquitto 2>/dev/null; then
  say "disabling the system mosquitto service (tests run their own broker)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO systemctl disable --now mosquitto >/dev/null || die "systemctl disable mosquitto failed"
fi
command -v cargo >/dev/null || die "cargo not found: install Rust 1.95 (rustup) first"

# 2. Python venv with onnx/onnxruntime/numpy (model checks, benchmark baseline) and OpenCV (ORB/SIFT baselines).
PY_REQS=(onnx==1.23.2 "onnxruntime==$ORT_VERSION" numpy==2.4.6 opencv-python-headless==4.13.0.92)
if [ ! -x "$VENV/bin/python" ]; then
  say "creating Python venv in .deps/venv"
  python3 -m venv "$VENV" || die "python3 -m venv failed (install python3-venv)"
fi
if ! "$VENV/bin/python" -c 'import onnx, onnxruntime, numpy, cv2' 2>/dev/null; then
  say "installing Python packages: ${PY_REQS[*]}"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_REQS[@]}" || die "pip install failed"
else
  say "Python venv ready"
fi

# 3. ONNX Runtime shared library, taken from the PyPI wheel (the venv's copy).
ORT_LIB="$ORT_DIR/libonnxruntime.so.$ORT_VERSION"
if [ ! -f "$ORT_LIB" ]; then
  mkdir -p "$ORT_DIR"
  src=$("$VENV/bin/python" -c 'import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), "capi"))')
  cp "$src"/libonnxruntime.so* "$ORT_DIR/" || die "libonnxruntime.so not found in $src"
  say "ONNX Runtime $ORT_VERSION -> $ORT_LIB"
else
  say "ONNX Runtime present"
fi

# 4. cargo-deb for scripts/package-deb.sh (the Debian package, built by a test).
if cargo deb --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; then
  say "cargo-deb present"
else
  say "installing cargo-deb $CARGO_DEB_VERSION (cargo install, a few minutes)"
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION" -q || die "cargo install cargo-deb failed"
fi

# 5. Release build of the plugin and the CLI.
say "building (cargo build --release)"
(cd "$ROOT" && cargo build --release --locked -q -p gst-plugin-superpoint -p superpoint) || die "cargo build failed"

cat > "$DEPS/env.sh" <<ENV
# source this file: makes the plugin and ONNX Runtime visible to GStreamer tools
export GST_PLUGIN_PATH="$ROOT/target/release\${GST_PLUGIN_PATH:+:\$GST_PLUGIN_PATH}"
export ORT_DYLIB_PATH="$ORT_LIB"
export PATH="$ROOT/target/release:\$PATH"
ENV
say "done. Use it with:  source .deps/env.sh && gst-inspect-1.0 superpointdetect"
