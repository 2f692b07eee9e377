#!/usr/bin/env bash
# Video stabilisation: shakes vtest.avi with small random homographies, then stabilises it; writes shaky | stabilised side by side.
# Usage: pipelines/stabilize.sh [VIDEO] [OUT.avi]   env: FRAMES (100), SHAKE=0 to stabilise VIDEO as it is, SMOOTHING (15)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
VIDEO="${1:-$DATA/vtest.avi}"
FRAMES="${FRAMES:-100}"
OUT="${2:-$OUT_DIR/stabilized.avi}"
SMOOTHING="${SMOOTHING:-15}"
require_file "$VIDEO" "install Debian's opencv-doc (scripts/setup.sh does)"
require_element avenc_mpeg4 "install gstreamer1.0-libav (scripts/setup.sh does)"
if [ "${SHAKE:-1}" = 1 ]; then
  # Hand-held camera: up to 1.5 degrees of roll, 2 % zoom, a little translation, per frame.
  SHAKER="homographicwarp mode=random seed=1 perspective=0.0 scale=0.02 rotation=1.5 translation=0.3 patch-ratio=0.92 !"
else
  SHAKER=""
fi
say "$VIDEO -> $OUT ($FRAMES frames, smoothing=$SMOOTHING, shake=${SHAKE:-1})"
RECORDS="$OUT_DIR/stabilize.jsonl"
# shellcheck disable=SC2086
gst-launch-1.0 -q -e \
  filesrc location="$VIDEO" ! decodebin ! identity eos-after="$FRAMES" \
  ! videoconvert ! videoscale ! video/x-raw,format=I420,width=384,height=288 \
  ! $SHAKER tee name=t \
  t. ! queue max-size-buffers=30 ! comp.sink_0 \
  t. ! queue max-size-buffers=30 \
     ! superpointdetect max-keypoints=500 \
     ! superpointmatch mode=previous min-inliers=12 \
     ! superpointpublish location="$RECORDS" \
     ! homographicwarp mode=stabilize smoothing="$SMOOTHING" ! comp.sink_1 \
  compositor name=comp sink_1::xpos=384 ! video/x-raw,width=768,height=288 \
  ! videoconvert ! avenc_mpeg4 bitrate=4000000 ! avimux ! filesink location="$OUT"
# One record per frame (schemas/frame-record-v1.json); "status" occurs once per record.
ok=$(grep -c '"status":"ok"' "$RECORDS" || true)
lost=$(grep -c '"status":"lost"' "$RECORDS" || true)
say "wrote $OUT (left: input, right: stabilised); frames with motion estimate: $ok, lost: $lost (records: $RECORDS)"
