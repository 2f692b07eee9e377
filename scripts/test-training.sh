#!/usr/bin/env bash
# Tests of the SuperPoint trainer (training/): clippy on what needs libtorch (the trainer, the
# `torch` feature; scripts/clippy.sh --torch), unit and integration tests (CPU), then the whole
# recipe at tiny scale (`superpoint-train pipeline --small`). Needs scripts/setup.sh (ONNX Runtime)
# to have run; installs libtorch itself through scripts/setup-training.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '[test-training] %s\n' "$*"; }
die() { printf '[test-training] ERROR: %s\n' "$*" >&2; exit 1; }

ORT_LIB="$ROOT/.deps/onnxruntime/libonnxruntime.so.1.31.1"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$ORT_LIB}"
[ -f "$ORT_DYLIB_PATH" ] || die "ONNX Runtime not found at $ORT_DYLIB_PATH: run scripts/setup.sh first"

bash "$ROOT/scripts/setup-training.sh"
export LIBTORCH_USE_PYTORCH=1 PATH="$ROOT/.deps/torch-venv/bin:$PATH"

bash "$ROOT/scripts/clippy.sh" --torch || die "clippy found problems (above)"

say "cargo test --release -p superpoint-train"
(cd "$ROOT" && cargo test --release --locked -q -p superpoint-train 2>&1) | tee /tmp/superpoint-train-tests.$$ \
  || die "trainer tests failed"
rm -f /tmp/superpoint-train-tests.$$

# `superpoint import` against PyTorch: checkpoints of both published layouts built with torch,
# converted, run by the engine and compared with torch's forward pass (1e-5); torch is required here.
say "cargo test --release -p superpoint --test import_checkpoint (torch checkpoints)"
(cd "$ROOT" && SUPERPOINT_REQUIRE_TORCH=1 SUPERPOINT_TORCH_PYTHON="$ROOT/.deps/torch-venv/bin/python" \
  cargo test --release --locked -q -p superpoint --test import_checkpoint -- --nocapture 2>&1) \
  || die "checkpoint import tests failed"

# The libtorch engine (feature `torch`, off in the default build): device post-processing equal
# to the host's, equal to ONNX Runtime on real frames (graf1, messi5, graf3 resized), provider=cuda
# reported unavailable without a GPU; the element with provider=cuda on libtorch's CPU in a
# vtest.avi pipeline, and its fallback warning / provider-fallback=false error.
say "cargo test --release --features torch: libtorch engine (superpoint, gst-plugin-superpoint)"
start=$(date +%s)
(cd "$ROOT" && cargo test --release --locked -q -p superpoint --features torch --lib --test torch_engine -- torch 2>&1 \
  && cargo test --release --locked -q -p gst-plugin-superpoint --features torch \
       --test superpointdetect_torch --test superpointdetect -- libtorch cuda_provider 2>&1) \
  || die "libtorch engine tests failed"
say "libtorch engine tests took $(( $(date +%s) - start )) s"

# Photos: the permissive photos of the shared data set when present, else stand-in images.
# The Kodak photos are held back: validation during joint training, never training.
PHOTOS=()
for d in "$ROOT/../shared/data/extra" "/work/shared/data/extra"; do
  if [ -f "$d/MANIFEST.tsv" ]; then
    PHOTOS=(--photos "$d" --licence permissive --exclude kodak24 --val-photos "$d/kodak24")
    break
  fi
done
OUT="$(mktemp -d /tmp/superpoint-pipeline.XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
say "pipeline --small ${PHOTOS[*]:-(stand-in photos)} -> $OUT"
start=$(date +%s)
"$ROOT/target/release/superpoint-train" --threads "$(nproc)" pipeline --small --out "$OUT" "${PHOTOS[@]}" \
  || die "pipeline --small failed"
say "pipeline --small took $(( $(date +%s) - start )) s"

# The run must have produced both models, verified against ONNX Runtime, with falling losses.
python3 - "$OUT/pipeline.json" <<'PY' || die "pipeline --small results are wrong (see above)"
import json, sys
s = json.load(open(sys.argv[1]))
def loss(key):
    f, l = s[key]["first"], s[key]["last"]
    return float(f.split(",")[1]), float(l.split(",")[1])
ok = True
for key in ("magicpoint_loss", "train_loss"):
    a, b = loss(key)
    good = b < a
    ok &= good
    print(f"  {key}: {a:.4f} -> {b:.4f} {'ok' if good else 'NOT DECREASING'}")
for key in ("magicpoint_onnx_max_abs_diff", "superpoint_onnx_max_abs_diff"):
    d = s[key]
    good = d is not None and d[0] < 1e-4 and d[1] < 1e-3
    ok &= good
    print(f"  {key}: {d} {'ok' if good else 'BAD'}")
print(f"  magicpoint AP {s['magicpoint_ap']:.4f}, mAP {s['magicpoint_map']:.4f}")
sys.exit(0 if ok else 1)
PY
VAL=()
[ ${#PHOTOS[@]} -gt 0 ] && VAL=(superpoint/val.csv superpoint/val.png)
for f in magicpoint.onnx superpoint.onnx magicpoint/loss.png superpoint/loss.png magicpoint/eval/pr_curve.png adapt/labels.json "${VAL[@]}"; do
  [ -s "$OUT/$f" ] || die "pipeline --small did not write $f"
done
echo "pipeline: 1 passed, 0 failed"
say "all trainer tests passed"
