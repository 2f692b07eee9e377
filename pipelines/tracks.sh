#!/usr/bin/env bash
# Keypoint tracks of a video: one JSON record per frame (schemas/frame-record-v1.json) with the
# keypoints and, per keypoint, its persistent track id and age (superpointmatch mode=previous),
# then the number of tracks and their mean length.
# Usage: pipelines/tracks.sh [VIDEO] [OUT.jsonl]   env: FRAMES (100), SUPERPOINT_MODEL
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
VIDEO="${1:-$DATA/vtest.avi}"
OUT="${2:-$OUT_DIR/tracks.jsonl}"
FRAMES="${FRAMES:-100}"
require_file "$VIDEO"
require_element superpointpublish "the plugin is not built or GST_PLUGIN_PATH is wrong: run scripts/setup.sh"
say "tracking keypoints of $VIDEO -> $OUT ($FRAMES frames)"
gst-launch-1.0 -q -e \
  filesrc location="$VIDEO" ! decodebin ! identity eos-after="$FRAMES" ! videoconvert ! video/x-raw,format=GRAY8 \
  ! superpointdetect max-keypoints=500 \
  ! superpointmatch mode=previous min-inliers=12 \
  ! superpointpublish location="$OUT" ! fakesink
# A track's length = the frames it spans (its largest age + 1).
python3 - "$OUT" <<'PY'
import json, sys
longest = {}
frames = 0
for line in open(sys.argv[1]):
    frames += 1
    for track_id, age in (json.loads(line).get("matches") or {}).get("tracks", []):
        longest[track_id] = max(longest.get(track_id, 0), age + 1)
n = len(longest)
mean = sum(longest.values()) / n if n else 0.0
followed = [l for l in longest.values() if l > 1]
print(f"[tracks.sh] {frames} frames, {n} tracks, mean length {mean:.2f} frames; "
      f"{len(followed)} followed over 2+ frames, mean length {sum(followed) / max(len(followed), 1):.2f}")
PY
