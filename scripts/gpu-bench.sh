#!/usr/bin/env bash
# The libtorch engine on a GPU (issue 17): one script, two halves.
#
#   bash scripts/gpu-bench.sh prepare          # here (Rust, libtorch): build, strip, fill .gpu/
#   bash scripts/gpu-bench.sh run              # on the GPU machine, from the repository root
#   bash scripts/gpu-bench.sh run --rehearse   # here, on the CPU, tiny sizes (checks the script)
#
# `prepare` builds `superpoint` (feature torch) and the libtorch-vs-ONNX-Runtime equality test
# against .deps/torch-venv's libtorch 2.11.0+cu130, strips them and copies them with the test
# images into .gpu/ (ignored by git; carry it: `run` with carry [".gpu"]). The GPU machine has no
# Rust, GStreamer or ONNX Runtime library of ours: `run` takes libtorch from its python3's torch
# (2.11.0+cu130) and ONNX Runtime from its onnxruntime wheel.
#
# `run` does, writing logs to $OUT (or /tmp/gpu-bench):
#   1. the equality test on CUDA device 0 (keypoints and descriptors vs ONNX Runtime on the CPU);
#   2. `superpoint bench --provider cuda`: 640x480 and 1920x1080, single stream and batches 8 and
#      32, with scripts/torch_reference.py (PyTorch eager fp32, cuDNN's default TF32) on the same
#      frames in the same run for TF32 convolutions, then strict fp32 and bf16 convolutions alone;
#   3. a 2,000-frame stream at 640x480 through the engine (no GStreamer there) with the GPU memory
#      and the process's resident memory sampled every second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GPU="$ROOT/.gpu"
say() { printf '[gpu-bench] %s\n' "$*"; }
die() { printf '[gpu-bench] ERROR: %s\n' "$*" >&2; exit 1; }
DATA=/usr/share/doc/opencv-doc/examples/data

# The newest executable matching $1 (a glob under target/release/deps) linked against libtorch:
# the shared target directory also holds builds without the feature.
newest_torch_exe() {
  local f
  for f in $(ls -t $1 2>/dev/null); do
    [[ -x "$f" && "$f" != *.d ]] || continue
    ldd "$f" 2>/dev/null | grep libtorch_cpu >/dev/null && { echo "$f"; return; }
  done
  return 1
}

prepare() {
  source "$ROOT/.deps/env.sh"
  export LIBTORCH_USE_PYTORCH=1 PATH="$ROOT/.deps/torch-venv/bin:$PATH"
  cd "$ROOT"
  say "building superpoint and the equality test with --features torch"
  cargo build --release --locked -q -p superpoint --features torch --bin superpoint
  cargo test --release --locked -q -p superpoint --features torch --test torch_engine --no-run
  mkdir -p "$GPU/data"
  grep -qx '/.gpu/' "$(git rev-parse --git-path info/exclude)" 2>/dev/null \
    || echo '/.gpu/' >> "$(git rev-parse --git-path info/exclude)"
  local bin test
  bin="$(newest_torch_exe 'target/release/deps/superpoint-*')" || die "no libtorch superpoint binary"
  test="$(newest_torch_exe 'target/release/deps/torch_engine-*')" || die "no torch_engine test binary"
  strip -o "$GPU/superpoint" "$bin"
  strip -o "$GPU/torch_engine" "$test"
  cp "$DATA/graf1.png" "$DATA/graf3.png" "$DATA/messi5.jpg" "$GPU/data/"
  du -sh "$GPU"/* | sed 's/^/[gpu-bench]   /'
  say "ready: carry .gpu (with the working tree: $(du -sh --exclude=target --exclude=.deps --exclude=.git "$ROOT" | cut -f1) besides)"
}

run() {
  local rehearse=0
  [ "${1:-}" = "--rehearse" ] && rehearse=1
  cd "$ROOT"
  [ -x "$GPU/superpoint" ] || die ".gpu/superpoint missing: run 'bash scripts/gpu-bench.sh prepare' here first and carry .gpu"
  local out="${OUT:-/tmp/gpu-bench}"
  mkdir -p "$out"
  local py sizes batches iters stream
  if [ $rehearse = 1 ]; then
    py="$ROOT/.deps/torch-venv/bin/python"
    sizes=160x120 batches=2 iters=2 stream=10
    export SUPERPOINT_TORCH_DEVICE=cpu SUPERPOINT_TEST_TORCH_DEVICE=cpu
    export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$ROOT/.deps/onnxruntime/libonnxruntime.so.1.31.1}"
  else
    py=python3
    sizes=640x480,1920x1080 batches=8,32 iters=50 stream=2000
    export SUPERPOINT_TEST_TORCH_DEVICE=cuda
    local ort_dir
    ort_dir="$($py -c 'import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))')/capi"
    ORT_DYLIB_PATH="$(ls "$ort_dir"/libonnxruntime.so* | head -1)"
    export ORT_DYLIB_PATH
    # The binaries were built in /work/main with the opencv-doc images: give them those paths.
    if [ "$(cd /work/main 2>/dev/null && pwd -P)" != "$(pwd -P)" ]; then
      [ -e /work/main ] && die "/work/main exists and is not this checkout"
      mkdir -p /work && ln -s "$ROOT" /work/main
    fi
    mkdir -p "$DATA"
    for f in "$GPU"/data/*; do [ -e "$DATA/${f##*/}" ] || cp "$f" "$DATA/"; done
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv | tee "$out/gpu.csv"
  fi
  LD_LIBRARY_PATH="$($py -c 'import torch, os; print(os.path.dirname(torch.__file__))')/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH
  say "torch $($py -c 'import torch; print(torch.__version__, torch.cuda.is_available())'), ORT_DYLIB_PATH=$ORT_DYLIB_PATH"

  say "1. equality test (libtorch on ${SUPERPOINT_TEST_TORCH_DEVICE} vs ONNX Runtime on the CPU)"
  local t0=$SECONDS
  "$GPU/torch_engine" --test-threads=1 --nocapture 2>&1 | tee "$out/equality.log" \
    || say "   EQUALITY TEST FAILED (see above); going on with the benchmark"
  say "   took $((SECONDS - t0)) s"

  local bench=("$GPU/superpoint" bench --provider cuda --model "$ROOT/models/superpoint.onnx"
    --image "$GPU/data/graf1.png" --sizes "$sizes" --batch-sizes "$batches" --iterations "$iters")
  # The reference (PyTorch defaults: cuDNN may use TF32) runs with the TF32 mode only.
  for mode in tf32 fp32 bf16; do
    local ref="$py"
    [ $mode = tf32 ] || ref=/nonexistent
    say "2. bench, $mode convolutions$([ $mode = tf32 ] && echo ', with torch_reference.py')"
    t0=$SECONDS
    SUPERPOINT_TORCH_TF32=$([ $mode = tf32 ] && echo 1 || echo 0) \
      SUPERPOINT_TORCH_HALF=$([ $mode = bf16 ] && echo bf16 || echo fp32) \
      "${bench[@]}" --torch-python "$ref" 2>&1 | tee "$out/bench-$mode.log" \
      || say "   BENCH FAILED (see above)"
    say "   took $((SECONDS - t0)) s"
  done

  say "3. $stream frames at 640x480 through the engine, memory sampled every second"
  t0=$SECONDS
  "$GPU/superpoint" bench --provider cuda --model "$ROOT/models/superpoint.onnx" \
    --image "$GPU/data/graf1.png" --sizes 640x480 --batch-sizes 1 --iterations "$stream" \
    --torch-python /nonexistent > "$out/stream.log" 2>&1 &
  local pid=$!
  echo "seconds,gpu_memory_used_mib,rss_kib" > "$out/memory.csv"
  while kill -0 $pid 2>/dev/null; do
    local gpu=n/a rss
    [ $rehearse = 1 ] || gpu="$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)"
    rss="$(awk '/VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)"
    echo "$((SECONDS - t0)),$gpu,$rss" >> "$out/memory.csv"
    sleep 1
  done
  wait $pid || die "stream run failed: $(tail -3 "$out/stream.log")"
  say "   took $((SECONDS - t0)) s"

  say "summary"
  grep -E "identical positions|test result" "$out/equality.log" || true
  for mode in tf32 fp32 bf16; do echo "$mode:"; grep -E "^ +[0-9]+x[0-9]+ \|" "$out/bench-$mode.log" || true; done
  echo "stream: $(grep -E '^ +640x480' "$out/stream.log" || true)"
  echo "memory (first, middle, last sample):"
  awk 'NR==2 {print} {l[NR]=$0} END {print l[int((NR+1)/2)]; print l[NR]}' "$out/memory.csv"
}

case "${1:-}" in
  prepare) prepare ;;
  run) shift; run "$@" ;;
  *) die "usage: $0 prepare | run [--rehearse]" ;;
esac
