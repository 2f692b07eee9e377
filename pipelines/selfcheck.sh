#!/usr/bin/env bash
# Self-check: warps a still image by random homographies, recovers them with superpointdetect ! superpointmatch and prints the corner error against the truth.
# Usage: pipelines/selfcheck.sh [IMAGE]   env: FRAMES (50), SUPERPOINT_MODEL, WIDTH/HEIGHT (320x256)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
IMAGE="${1:-$DATA/graf1.png}"
FRAMES="${FRAMES:-50}"
WIDTH="${WIDTH:-320}"
HEIGHT="${HEIGHT:-256}"
require_file "$IMAGE"
LOG="$OUT_DIR/selfcheck.log"
say "$IMAGE at ${WIDTH}x${HEIGHT}, $FRAMES random homographies (frame 0 is the reference)"
# homographicwarp attaches each sampled homography (HomographyMeta); superpointmatch compares its
# estimate (reference frame -> current frame) with the truth and reports `corner-error` (pixels):
# the mean distance of the four image corners mapped by the estimate and by the truth.
gst-launch-1.0 -m \
  filesrc location="$IMAGE" ! decodebin ! imagefreeze num-buffers="$FRAMES" \
  ! videoconvert ! videoscale ! video/x-raw,format=GRAY8,width="$WIDTH",height="$HEIGHT",framerate=30/1 \
  ! homographicwarp mode=random seed=7 perspective=0.1 scale=0.15 rotation=15 translation=0.5 patch-ratio=0.8 \
  ! superpointdetect \
  ! superpointmatch mode=reference post-messages=true \
  ! fakesink sync=false > "$LOG"
UNTRAINED=0
if grep -q 'RANDOM.*untrained weights' "$LOG"; then
  UNTRAINED=1
  say "WARNING: $MODEL has RANDOM, untrained weights: the errors below test the plumbing, not quality"
fi
TABLE="$OUT_DIR/selfcheck.tsv"
# One line per checked frame: frame, status, corner error in px ("-" when lost).
grep -o 'superpoint-match, .*' "$LOG" | awk '
  {
    f = ""; s = ""; e = "-";
    if (match($0, /frame=\(guint64\)[0-9]+/)) f = substr($0, RSTART + 15, RLENGTH - 15);
    if (match($0, /status=\(string\)[a-z]+/)) s = substr($0, RSTART + 15, RLENGTH - 15);
    if (match($0, /corner-error=\(double\)[-0-9.e+]+/)) e = substr($0, RSTART + 21, RLENGTH - 21);
    if (f != "0") printf "%s\t%s\t%s\n", f, s, e;
  }' > "$TABLE"
awk -F'\t' '{ if ($3 == "-") printf "frame %3d  %-5s\n", $1, $2; else printf "frame %3d  %-5s corner error %8.2f px\n", $1, $2, $3 }' "$TABLE"
n=$(wc -l < "$TABLE")
[ "$n" -gt 0 ] || die "no superpoint-match messages in $LOG"
median=$(awk -F'\t' '$3 != "-" { print $3 }' "$TABLE" | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f", v[int((NR + 1) / 2)]; else print "n/a" }')
awk -F'\t' -v n="$n" -v median="$median" '
  $3 != "-" { k++; sum += $3; if ($3 < 3) good++ }
  END {
    printf "\n%d frames: %d with a homography, %d lost; corner error < 3 px on %d (%.0f%%); median %s px, mean %.2f px\n",
      n, k, n - k, good, 100 * good / n, median, k ? sum / k : 0
  }' "$TABLE"
if [ "$UNTRAINED" = 1 ]; then
  say "RANDOM-weights model: plumbing figures only, not quality (log: $LOG)"
else
  say "log: $LOG, per-frame table: $TABLE"
fi
