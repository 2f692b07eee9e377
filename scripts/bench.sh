#!/usr/bin/env bash
# CPU benchmark: engine and detector ms/frame (with onnxruntime-Python as the baseline, same run)
# and superpointdetect in a GStreamer pipeline (frames/s), to show the element's overhead.
# Usage: scripts/bench.sh [MODEL]   (default models/superpoint.onnx; a random-weights model of the
# same architecture is timed when it is missing, and the output says so)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ -f .deps/env.sh ] || { echo "run scripts/setup.sh first" >&2; exit 1; }
source .deps/env.sh
MODEL="${1:-$ROOT/models/superpoint.onnx}"
if [ ! -f "$MODEL" ]; then
  MODEL="$(mktemp --suffix=.onnx)"
  superpoint write-random-model "$MODEL"
  echo "note: models/superpoint.onnx missing; timing random weights (same network cost)"
fi
ITER="${ITER:-10}"
superpoint bench --model "$MODEL" --iterations "$ITER" | tee /tmp/superpoint-bench.txt

IMG=/usr/share/doc/opencv-doc/examples/data/graf1.png
run_pipeline() { # frames width height -> seconds
  local n=$1 w=$2 h=$3 t0 t1
  t0=$(date +%s.%N)
  gst-launch-1.0 -q filesrc location="$IMG" ! pngdec ! videoconvert ! videoscale \
    ! "video/x-raw,format=GRAY8,width=$w,height=$h" ! imagefreeze num-buffers="$n" \
    ! superpointdetect model="$MODEL" ! fakesink sync=false 2>/dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
echo
echo "superpointdetect in a pipeline (imagefreeze of graf1.png -> superpointdetect -> fakesink):"
printf '%10s | %14s | %12s | %14s | %10s\n' size "element ms" "frames/s" "detector ms" overhead
for size in 640x480 1280x720; do
  w=${size%x*}; h=${size#*x}
  short=$(run_pipeline 3 "$w" "$h"); long=$(run_pipeline $((3 + ITER)) "$w" "$h")
  # The difference of two runs cancels start-up (plugin load, model load, negotiation).
  ms=$(echo "($long - $short) * 1000 / $ITER" | bc -l)
  det=$(awk -v s="$size" '$1 == s {print $5}' /tmp/superpoint-bench.txt)
  printf '%10s | %14.1f | %12.2f | %14.1f | %9.1f%%\n' "$size" "$ms" "$(echo "1000 / $ms" | bc -l)" "$det" \
    "$(echo "($ms / $det - 1) * 100" | bc -l)"
done
