# Shared set-up sourced by the pipeline scripts: environment, model and input checks, helpers.
# Not meant to be run on its own.
set -euo pipefail

PIPELINES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$PIPELINES_DIR/.." && pwd)"
DATA="${DATA:-/usr/share/doc/opencv-doc/examples/data}"
OUT_DIR="${OUT_DIR:-${TMPDIR:-/tmp}/gst-superpoint}"

die() { printf '[%s] ERROR: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }
say() { printf '[%s] %s\n' "$(basename "$0")" "$*"; }

[ -f "$ROOT/.deps/env.sh" ] || die "$ROOT/.deps/env.sh not found: run scripts/setup.sh first (it builds the plugin and installs ONNX Runtime)"
# shellcheck source=/dev/null
source "$ROOT/.deps/env.sh"

# The model: $SUPERPOINT_MODEL overrides the shipped one (both elements read it as their default).
MODEL="${SUPERPOINT_MODEL:-$ROOT/models/superpoint.onnx}"
if [ ! -f "$MODEL" ]; then
  cat >&2 <<MSG
[$(basename "$0")] ERROR: no SuperPoint model at $MODEL
  The repository ships models/superpoint.onnx; point SUPERPOINT_MODEL at a SuperPoint ONNX model,
  or train one (training/README.md, "The CPU recipe").
MSG
  exit 1
fi
export SUPERPOINT_MODEL="$MODEL"
mkdir -p "$OUT_DIR"

require_file() { [ -r "$1" ] || die "$1 not readable${2:+: $2}"; }
require_element() {
  gst-inspect-1.0 "$1" >/dev/null 2>&1 || die "GStreamer element $1 not found${2:+: $2}"
}
require_element superpointdetect "the plugin is not built or GST_PLUGIN_PATH is wrong: run scripts/setup.sh"
say "model $MODEL"
