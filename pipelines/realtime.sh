#!/usr/bin/env bash
# Real time on a CPU: a 320x240 live stream through the int8 model, at most 300 keypoints, on two
# threads, with QoS (superpointdetect's default) dropping frames that are already late; prints the
# frame rate that reaches the sink. The figures for this machine are in pipelines/README.md.
# Usage: pipelines/realtime.sh   env: SOURCE=camera|test (default: camera when DEVICE exists),
#   DEVICE (/dev/video0), DURATION (seconds, default 10; 0 = until Ctrl-C), SINK (fakesink, or
#   autovideosink to watch), THREADS (2), SUPERPOINT_MODEL (default the int8 model; e.g.
#   models/superpoint.onnx to compare)
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export SUPERPOINT_MODEL="${SUPERPOINT_MODEL:-$HERE/../models/superpoint-int8.onnx}"
source "$HERE/common.sh"
DEVICE="${DEVICE:-/dev/video0}"
DURATION="${DURATION:-10}"
SINK="${SINK:-fakesink}"
THREADS="${THREADS:-2}"
[[ "$DURATION" =~ ^[0-9]+$ ]] || die "DURATION must be a whole number of seconds, got $DURATION"
if [ -z "${SOURCE:-}" ]; then
  if [ -e "$DEVICE" ]; then SOURCE=camera; else SOURCE=test; fi
fi
CAPS="video/x-raw,format=GRAY8,width=320,height=240"
case "$SOURCE" in
  camera)
    [ -e "$DEVICE" ] || die "no camera at $DEVICE (set DEVICE=/dev/videoN, or SOURCE=test for a live test source)"
    require_element v4l2src "install gstreamer1.0-plugins-good"
    SRC="v4l2src device=$DEVICE ! videoconvert ! videoscale ! $CAPS" ;;
  test)
    # A live source at 30 frames/s standing in for a camera; snow gives every frame the most keypoints.
    SRC="videotestsrc is-live=true pattern=snow ! $CAPS,framerate=30/1" ;;
  *) die "SOURCE must be camera or test, got $SOURCE" ;;
esac
say "$SOURCE -> superpointdetect ($(basename "$MODEL"), 320x240, max-keypoints=300, threads=$THREADS) -> $SINK, ${DURATION/#0/until Ctrl-C} s"
LOG="$OUT_DIR/realtime.log"
JSON="$OUT_DIR/realtime.jsonl"
STOP=()
[ "$DURATION" -gt 0 ] && STOP=(timeout --preserve-status -s INT "$DURATION")
# -e turns the interrupt into EOS. The sink follows the clock and sends QoS events, so frames that
# are already late are dropped by superpointdetect, never queued; json-location numbers every input
# frame, so dropped ones leave gaps.
set +e
# shellcheck disable=SC2086
"${STOP[@]}" gst-launch-1.0 -e $SRC \
  ! superpointdetect model="$MODEL" max-keypoints=300 threads="$THREADS" json-location="$JSON" \
  ! superpointoverlay ! videoconvert ! $SINK sync=true qos=true > "$LOG" 2>&1
status=$?
set -e
# 130: stopped by the interrupt (gst-launch-1.0 reports it even when the forced EOS got through).
[ "$status" -eq 0 ] || [ "$status" -eq 130 ] || { cat "$LOG" >&2; die "the pipeline failed (gst-launch-1.0 exit $status)"; }
python3 - "$JSON" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
if len(rows) < 2:
    sys.exit(f"[realtime.sh] ERROR: {len(rows)} frames processed: too short a run to measure")
span = (rows[-1]["pts"] - rows[0]["pts"]) / 1e9
seen = rows[-1]["frame"] - rows[0]["frame"] + 1
print(f"[realtime.sh] {len(rows)} frames processed in {span:.1f} s of stream: {(len(rows) - 1) / span:.1f} frames/s; "
      f"{seen - len(rows)} of {seen} frames dropped as late (QoS)")
PY
