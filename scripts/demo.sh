#!/usr/bin/env bash
# The main job: run superpointdetect with the shipped model on a real video (Debian opencv-doc's
# vtest.avi), write the keypoints of every frame as JSON Lines and an overlay video.
#
# Usage: scripts/demo.sh [--full] [--frames N] [VIDEO] [OUT_DIR]
#   default: the first 200 frames (20 s) of vtest.avi at a 512x384 inference size -> ./demo-output/
#            (about 30 s on 2 CPU cores)
#   --full       the whole video at the frame's own size (about 0.4 s per 768x576 frame on 2 cores)
#   --frames N   the first N frames (0 = all)
# SUPERPOINT_MODEL overrides the model (default models/superpoint.onnx).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FRAMES=200
INFERENCE="inference-width=512 inference-height=384"
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --full) FRAMES=0; INFERENCE=""; shift ;;
    --frames) [ $# -ge 2 ] || { echo "demo: --frames needs a number" >&2; exit 1; }
              FRAMES="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "demo: unknown option $1 (see --help)" >&2; exit 1 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
[[ "$FRAMES" =~ ^[0-9]+$ ]] || { echo "demo: --frames needs a number, got '$FRAMES'" >&2; exit 1; }
VIDEO="${ARGS[0]:-/usr/share/doc/opencv-doc/examples/data/vtest.avi}"
OUT="${ARGS[1]:-$PWD/demo-output}"
MODEL="${SUPERPOINT_MODEL:-$ROOT/models/superpoint.onnx}"
[ -f "$ROOT/.deps/env.sh" ] || { echo "demo: run scripts/setup.sh first" >&2; exit 1; }
source "$ROOT/.deps/env.sh"
if [ ! -f "$MODEL" ]; then
  echo "demo: model $MODEL not found: set SUPERPOINT_MODEL to a SuperPoint ONNX model, or train one with" >&2
  echo "      superpoint-train (training/README.md, 'The CPU recipe')" >&2
  exit 2
fi
if [ ! -f "$VIDEO" ]; then
  if [ -z "${ARGS[0]:-}" ]; then
    echo "demo: the sample video $VIDEO is missing: run scripts/setup.sh (it installs Debian's opencv-doc)" >&2
  else
    echo "demo: video file $VIDEO not found: give the path of a video file GStreamer can decode" >&2
  fi
  exit 1
fi
gst-inspect-1.0 superpointdetect >/dev/null 2>&1 \
  || { echo "demo: the superpointdetect element is not built: run scripts/setup.sh" >&2; exit 1; }
mkdir -p "$OUT"
JSON="$OUT/keypoints.jsonl"
VIDEO_OUT="$OUT/overlay.avi"
LIMIT=""
[ "$FRAMES" -gt 0 ] && LIMIT="identity eos-after=$FRAMES !"
echo "demo: $VIDEO -> $JSON and $VIDEO_OUT (model $MODEL; ${FRAMES/#0/all} frames${INFERENCE:+, $INFERENCE})"
# progressreport prints the stream position every 5 s against the whole video's duration; with a
# frame limit the total shown is the part that runs (FRAMES / frame rate, the rate read from the
# decoded caps).
TOTAL=""
if [ "$FRAMES" -gt 0 ]; then
  rate=$(gst-launch-1.0 -v filesrc location="$VIDEO" ! decodebin ! video/x-raw ! fakesink num-buffers=1 2>/dev/null \
    | grep -o 'framerate=(fraction)[0-9]*/[0-9]*' | head -n 1 | sed 's/.*)//' || true)
  if [ -n "$rate" ] && [ "${rate%/*}" -gt 0 ]; then
    TOTAL=$(( (FRAMES * ${rate#*/} + ${rate%/*} - 1) / ${rate%/*} ))
  fi
fi
start=$(date +%s)
# -e turns Ctrl-C into EOS so the video is finalised.
set +e
gst-launch-1.0 -e filesrc location="$VIDEO" ! decodebin ! videoconvert ! $LIMIT \
  progressreport update-freq=5 \
  ! superpointdetect model="$MODEL" $INFERENCE json-location="$JSON" ! superpointoverlay ! videoconvert \
  ! avenc_mpeg4 bitrate=2000000 ! avimux ! filesink location="$VIDEO_OUT" 2>&1 \
  | grep --line-buffered -E "progressreport|ERROR|WARN|rror" \
  | awk -v total="$TOTAL" '
      total != "" && match($0, /[0-9]+ \/ [0-9]+ seconds \( *[0-9.]+ %\)/) {
        split(substr($0, RSTART, RLENGTH), f, " ")
        # At EOS progressreport may report the position demuxers reached past the limit.
        pos = f[1] + 0 > total + 0 ? total : f[1]
        if (f[3] + 0 > total + 0)
          $0 = sprintf("%s%d / %d seconds (%5.1f %%)", substr($0, 1, RSTART - 1), pos, total,
                       100 * pos / total)
      }
      { print; fflush() }'
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] || { echo "demo: the pipeline failed (gst-launch-1.0 exit $status, messages above)" >&2; exit 1; }
frames=$(wc -l < "$JSON")
[ "$frames" -gt 0 ] || { echo "demo: no frame was processed (see the messages above)" >&2; exit 1; }
[ -s "$VIDEO_OUT" ] || { echo "demo: $VIDEO_OUT was not written" >&2; exit 1; }
mean=$(python3 -c "import json,sys; c=[len(json.loads(l)['keypoints']) for l in open(sys.argv[1])]; print(f'{sum(c)/len(c):.0f}')" "$JSON")
echo "demo: $frames frames in $(( $(date +%s) - start )) s, $mean keypoints per frame on average"
echo "demo: keypoints: $JSON"
echo "demo: overlay video: $VIDEO_OUT"
