#!/usr/bin/env bash
# The main job: run superpointdetect on a real video (Debian opencv-doc's vtest.avi) and write the
# keypoints of every frame as JSON Lines (plus an overlay video when superpointoverlay is built).
# Usage: scripts/demo.sh [VIDEO] [OUT_DIR]     (default: vtest.avi -> ./demo-output/)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VIDEO="${1:-/usr/share/doc/opencv-doc/examples/data/vtest.avi}"
OUT="${2:-$PWD/demo-output}"
MODEL="${SUPERPOINT_MODEL:-$ROOT/models/superpoint.onnx}"
[ -f "$ROOT/.deps/env.sh" ] || { echo "demo: run scripts/setup.sh first" >&2; exit 1; }
source "$ROOT/.deps/env.sh"
if [ ! -f "$MODEL" ]; then
  cat >&2 <<MSG
demo: the trained model $MODEL is missing.
  It is produced by this repository's training pipeline (training/, 'superpoint-train', see
  training/README.md): Synthetic Shapes -> MagicPoint -> Homographic Adaptation -> joint training
  -> export to models/superpoint.onnx. The full-scale run needs a GPU and has not landed yet.
  To try the plumbing only, point SUPERPOINT_MODEL at a model you trained, or at a random-weights
  model ('superpoint write-random-model /tmp/random.onnx'; its keypoints are meaningless).
MSG
  exit 2
fi
[ -f "$VIDEO" ] || { echo "demo: video $VIDEO not found (install opencv-doc: scripts/setup.sh)" >&2; exit 1; }
mkdir -p "$OUT"
JSON="$OUT/keypoints.jsonl"
echo "demo: $VIDEO -> $JSON"
if gst-inspect-1.0 superpointoverlay >/dev/null 2>&1; then
  gst-launch-1.0 -e filesrc location="$VIDEO" ! decodebin ! videoconvert \
    ! superpointdetect model="$MODEL" json-location="$JSON" ! superpointoverlay ! videoconvert \
    ! avenc_mpeg4 bitrate=2000000 ! mp4mux ! filesink location="$OUT/overlay.mp4"
  echo "demo: overlay video: $OUT/overlay.mp4"
else
  gst-launch-1.0 filesrc location="$VIDEO" ! decodebin ! videoconvert \
    ! superpointdetect model="$MODEL" json-location="$JSON" ! fakesink
fi
frames=$(wc -l < "$JSON")
echo "demo: $frames frames of keypoints in $JSON"
