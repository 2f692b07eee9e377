#!/usr/bin/env bash
# Live camera: keypoints, tracks and (MODE=reference) the outline of what was in view when started, or MODE=stabilize, on a V4L2 camera.
# Usage: pipelines/camera.sh   env: DEVICE (/dev/video0), MODE=previous|reference|stabilize, SINK (autovideosink)
# In MODE=reference, the first frame is the reference; press Ctrl-C to stop.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
DEVICE="${DEVICE:-/dev/video0}"
MODE="${MODE:-previous}"
SINK="${SINK:-autovideosink sync=false}"
[ -e "$DEVICE" ] || die "no camera at $DEVICE (set DEVICE=/dev/videoN; list them with: v4l2-ctl --list-devices)"
require_element v4l2src "install gstreamer1.0-plugins-good"
case "$MODE" in
  previous|reference) TAIL="superpointmatch mode=$MODE ! superpointoverlay thickness=2" ;;
  stabilize) TAIL="superpointmatch mode=previous ! homographicwarp mode=stabilize smoothing=15" ;;
  *) die "MODE must be previous, reference or stabilize, got $MODE" ;;
esac
say "camera $DEVICE, mode $MODE -> $SINK"
# Detection runs at 320x240 for speed on a CPU (coordinates are mapped back to 640x480);
# add provider=cuda to superpointdetect on a machine with the CUDA execution provider.
# shellcheck disable=SC2086
gst-launch-1.0 -e \
  v4l2src device="$DEVICE" ! videoconvert ! videoscale ! video/x-raw,format=I420,width=640,height=480 \
  ! queue leaky=downstream max-size-buffers=2 \
  ! superpointdetect inference-width=320 inference-height=240 max-keypoints=500 \
  ! $TAIL ! videoconvert ! $SINK
