#!/usr/bin/env bash
# Draws SuperPoint keypoints and frame-to-frame match tracks on vtest.avi and writes an AVI (MPEG-4 part 2).
# Usage: pipelines/keypoints-overlay.sh [VIDEO] [OUT.avi]   env: FRAMES (default 100), SUPERPOINT_MODEL, OUT_DIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
VIDEO="${1:-$DATA/vtest.avi}"
FRAMES="${FRAMES:-100}"
OUT="${2:-$OUT_DIR/keypoints.avi}"
require_file "$VIDEO" "install Debian's opencv-doc (scripts/setup.sh does)"
require_element avenc_mpeg4 "install gstreamer1.0-libav (scripts/setup.sh does)"
say "$VIDEO -> $OUT ($FRAMES frames)"
# filesrc num-buffers= would cut avidemux short; identity eos-after= limits decoded frames instead.
gst-launch-1.0 -e \
  filesrc location="$VIDEO" ! decodebin ! identity eos-after="$FRAMES" \
  ! videoconvert ! video/x-raw,format=I420 \
  ! superpointdetect inference-width=384 inference-height=288 max-keypoints=500 \
  ! superpointmatch mode=previous min-inliers=12 \
  ! superpointoverlay keypoint-radius=3 track-length=8 \
  ! videoconvert ! avenc_mpeg4 bitrate=4000000 ! avimux ! filesink location="$OUT"
say "wrote $OUT"
