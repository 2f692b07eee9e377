#!/usr/bin/env bash
# Evaluates a SuperPoint model against ORB and SIFT through the same code (`superpoint eval`), on
#   graf 1->3 (Debian opencv-doc: graf1.png, graf3.png and the true homography H1to3p.xml),
#   synthetic viewpoint pairs of held-back photos (`--synthetic`, 3 warps each, longer side 640),
#   and the real pairs with true homographies of ../shared/data/realpairs (Oxford, HPatches, EVD;
#   one summary per source) when that folder exists ($REALPAIRS to point elsewhere).
# Extra arguments for the model's `superpoint eval` runs go in $EVAL_ARGS (e.g.
# EVAL_ARGS="--reference-views 12@1,0.71,0.5,0.35,0.25").
# XFeat (the learned CPU peer, issue 24) joins SIFT and ORB when .deps/xfeat-venv exists
# (scripts/xfeat.sh setup); otherwise it is skipped with a message.
# Prints one table per dataset and method and writes the JSON reports and MMA plots to OUT.
#
# Usage: scripts/eval-model.sh [MODEL] [PHOTOS_DIR] [OUT]
#   MODEL       default models/superpoint.onnx
#   PHOTOS_DIR  held-back photos, default ../shared/data/extra/kodak24 (the 24 Kodak photos, which
#               the shipped model never saw in training)
#   OUT         default /tmp/superpoint-eval
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL="${1:-$ROOT/models/superpoint.onnx}"
PHOTOS="${2:-$ROOT/../shared/data/extra/kodak24}"
OUT="${3:-/tmp/superpoint-eval}"
DATA=/usr/share/doc/opencv-doc/examples/data
[ -f "$ROOT/.deps/env.sh" ] || { echo "eval-model: run scripts/setup.sh first" >&2; exit 1; }
source "$ROOT/.deps/env.sh"
PY="$ROOT/.deps/venv/bin/python"
[ -f "$MODEL" ] || { echo "eval-model: model $MODEL not found" >&2; exit 1; }
[ -d "$PHOTOS" ] || { echo "eval-model: photo folder $PHOTOS not found (give PHOTOS_DIR)" >&2; exit 1; }
for f in graf1.png graf3.png H1to3p.xml; do
  [ -f "$DATA/$f" ] || { echo "eval-model: $DATA/$f missing: install opencv-doc (scripts/setup.sh)" >&2; exit 1; }
done
mkdir -p "$OUT/graf/v_graf"
cp "$DATA/graf1.png" "$OUT/graf/v_graf/1.png"
cp "$DATA/graf3.png" "$OUT/graf/v_graf/2.png"
# H1to3p.xml is an OpenCV matrix; `superpoint eval` reads it as H_1_2.
cp "$DATA/H1to3p.xml" "$OUT/graf/v_graf/H_1_2"
superpoint eval "$OUT/synthetic" --synthetic "$PHOTOS" --synthetic-warps 3 --generate-only
SETS=(graf synthetic)
REALPAIRS="${REALPAIRS:-$ROOT/../shared/data/realpairs}"
if [ -d "$REALPAIRS" ]; then
  ln -sfn "$(cd "$REALPAIRS" && pwd)" "$OUT/realpairs"
  SETS+=(realpairs)
else
  echo "eval-model: $REALPAIRS not found: real pairs skipped (set REALPAIRS)" >&2
fi
PEERS=(sift orb)
XFEAT_PY="$ROOT/.deps/xfeat-venv/bin/python"
if [ -x "$XFEAT_PY" ]; then
  PEERS+=(xfeat)
else
  echo "eval-model: XFeat skipped: $XFEAT_PY not found (scripts/xfeat.sh setup installs it)" >&2
fi
for set in "${SETS[@]}"; do
  REPORTS=()
  for m in "${PEERS[@]}"; do
    if [ "$m" = xfeat ]; then
      "$XFEAT_PY" "$ROOT/scripts/xfeat.py" detect "$OUT/$set" "$OUT/$set-$m" >/dev/null \
        || { echo "eval-model: scripts/xfeat.py detect failed on $set (see above)" >&2; exit 1; }
    else
      "$PY" "$ROOT/scripts/baselines.py" "$OUT/$set" "$OUT/$set-$m" --method "$m" >/dev/null
    fi
    superpoint eval "$OUT/$set" --detections "$OUT/$set-$m" --name "$m" --json "$OUT/$set-$m.json" -q
    REPORTS+=("$OUT/$set-$m.json")
  done
  # shellcheck disable=SC2086
  superpoint eval "$OUT/$set" --model "$MODEL" --json "$OUT/$set-model.json" ${EVAL_ARGS:-} \
    --plot "$OUT/$set-mma.png" --compare "${REPORTS[@]}" -q
done
echo "eval-model: reports and MMA plots in $OUT"
