#!/usr/bin/env bash
# Planar-target tracking: finds the reference image box.png in every frame of a moving view of box_in_scene.png and outlines it.
# Usage: pipelines/track-planar.sh [REFERENCE] [SCENE_IMAGE_OR_VIDEO] [OUT.avi]   env: FRAMES (60), SUPERPOINT_MODEL
# A scene image is turned into video by a slowly varying random homography; a video file is used as is.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
REFERENCE="${1:-$DATA/box.png}"
SCENE="${2:-$DATA/box_in_scene.png}"
OUT="${3:-$OUT_DIR/track-planar.avi}"
FRAMES="${FRAMES:-60}"
require_file "$REFERENCE" "give a PNG/JPEG/PNM image of the planar target"
require_file "$SCENE"
require_element avenc_mpeg4 "install gstreamer1.0-libav (scripts/setup.sh does)"
case "$SCENE" in
  *.png|*.jpg|*.jpeg|*.pgm|*.ppm)
    SOURCE="filesrc location=$SCENE ! decodebin ! imagefreeze num-buffers=$FRAMES ! videoconvert ! video/x-raw,format=I420,framerate=10/1 \
      ! homographicwarp mode=random seed=3 perspective=0.05 scale=0.1 rotation=8 translation=0.4 patch-ratio=0.9" ;;
  *)
    SOURCE="filesrc location=$SCENE ! decodebin ! identity eos-after=$FRAMES ! videoconvert ! video/x-raw,format=I420" ;;
esac
RECORDS="$OUT_DIR/track-planar.jsonl"
say "tracking $REFERENCE in $SCENE -> $OUT ($FRAMES frames)"
# The reference is detected by superpointmatch itself (reference-model defaults to $SUPERPOINT_MODEL,
# like superpointdetect's model), so both sides use the same network and settings.
# shellcheck disable=SC2086
gst-launch-1.0 -q -e \
  $SOURCE \
  ! superpointdetect max-keypoints=1000 \
  ! superpointmatch mode=reference reference-location="$REFERENCE" min-inliers=15 ratio=0.9 \
  ! superpointpublish location="$RECORDS" \
  ! superpointoverlay draw-matches=true draw-outline=true thickness=2 keypoint-radius=2 \
  ! videoconvert ! avenc_mpeg4 bitrate=3000000 ! avimux ! filesink location="$OUT"
# One record per frame (schemas/frame-record-v1.json); "status" occurs once per record.
ok=$(grep -c '"status":"ok"' "$RECORDS" || true)
lost=$(grep -c '"status":"lost"' "$RECORDS" || true)
say "wrote $OUT: target found in $ok frames, lost in $lost (outline = reference mapped by the estimated homography; records: $RECORDS)"
