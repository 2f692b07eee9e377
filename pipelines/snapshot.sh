#!/usr/bin/env bash
# Writes a 320-pixel-wide PNG screenshot of the keypoint/track overlay on vtest.avi (pipelines/overlay.png by default).
# Usage: pipelines/snapshot.sh [OUT.png]   env: FRAME (frame number, default 20), SUPERPOINT_MODEL
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
OUT="${1:-$PIPELINES_DIR/overlay.png}"
FRAME="${FRAME:-20}"
VIDEO="$DATA/vtest.avi"
require_file "$VIDEO" "install Debian's opencv-doc (scripts/setup.sh does)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# Every frame is encoded; multifilesink keeps only the newest file, i.e. frame $FRAME.
gst-launch-1.0 -q -e \
  filesrc location="$VIDEO" ! decodebin ! identity eos-after="$FRAME" \
  ! videoconvert ! video/x-raw,format=I420 \
  ! superpointdetect inference-width=384 inference-height=288 max-keypoints=400 \
  ! superpointmatch mode=previous min-inliers=12 \
  ! superpointoverlay keypoint-radius=4 thickness=2 track-length=8 \
  ! videoscale ! video/x-raw,width=320,height=240 ! videoconvert ! pngenc compression-level=9 \
  ! multifilesink location="$TMP/frame-%05d.png" max-files=1
last="$(ls "$TMP"/frame-*.png | tail -n 1)"
cp "$last" "$OUT"
say "wrote $OUT ($(stat -c %s "$OUT") bytes, frame $FRAME)"
