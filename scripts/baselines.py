#!/usr/bin/env python3
"""ORB and SIFT baselines (OpenCV) for `superpoint eval --detections`.

For every image k of every sequence of an HPatches-layout dataset (sequences may sit up to three
folders down, as in ../shared/data/realpairs/<source>/<sequence>), writes OUTDIR/<sequence>/<k>.json
in the `superpoint detect --json` format:

    {"width": W, "height": H, "keypoints": [[x, y, score], ...], "descriptors": [[...], ...]}

Keypoints are in pixels with (0, 0) at the centre of the top-left pixel (OpenCV's convention, the
same as SuperPoint's), sorted by the detector response (the score), best first.

Descriptors are written so that `superpoint eval`'s matcher (mutual nearest neighbours by L2 distance
on unit vectors) ranks them exactly as each method's usual matching does:
  - SIFT: the 128-D descriptor divided by its L2 norm (OpenCV's SIFT descriptors all have nearly the
    same norm, so the ranking equals L2 matching on the raw descriptors);
  - ORB: the 256 bits unpacked to +1/16 (bit set) or -1/16 (bit clear), a unit vector; the squared
    L2 distance of two such vectors is Hamming distance / 64, so the ranking equals Hamming
    matching.

Usage:
    .deps/venv/bin/python scripts/baselines.py DATASET OUTDIR --method sift [-n 1000]
"""

import argparse
import json
import os
import sys
import time

try:
    import cv2
    import numpy as np
except ImportError as e:  # pragma: no cover - environment problem
    sys.exit(
        f"baselines.py: {e}. Run it with .deps/venv/bin/python (scripts/setup.sh installs "
        "opencv-python-headless and numpy there)."
    )

EXTENSIONS = ["ppm", "png", "jpg", "jpeg", "pgm"]


def find_image(folder, k):
    for ext in EXTENSIONS:
        p = os.path.join(folder, f"{k}.{ext}")
        if os.path.isfile(p):
            return p
    return None


def numbered_images(folder):
    """Image numbers k of the files <k>.<ext> in folder, sorted."""
    found = set()
    for name in os.listdir(folder):
        stem, _, ext = name.rpartition(".")
        if ext.lower() in EXTENSIONS and stem.isdigit():
            found.add(int(stem))
    return sorted(found)


def sequences(root, depth=3):
    """The dataset's sequences as (name, folder), like superpoint::eval::load_dataset: root
    itself, or folders holding an image 1 up to three levels down, named by their path below root
    (e.g. oxford/bark)."""
    if not os.path.isdir(root):
        sys.exit(f"baselines.py: dataset folder {root} does not exist")
    if find_image(root, 1):
        return [(os.path.basename(os.path.normpath(root)), root)]
    found = []

    def walk(folder, prefix, depth):
        for name in sorted(os.listdir(folder)):
            sub = os.path.join(folder, name)
            if not os.path.isdir(sub):
                continue
            if find_image(sub, 1):
                found.append((prefix + name, sub))
            elif depth > 1:
                walk(sub, prefix + name + "/", depth - 1)

    walk(root, "", depth)
    if not found:
        sys.exit(
            f"baselines.py: no HPatches sequences in {root}: expected folders holding "
            "1.ppm..6.ppm (or .png) and H_1_2..H_1_6"
        )
    return sorted(found)


def make_detector(method, n):
    if method == "sift":
        return cv2.SIFT_create(nfeatures=n)
    return cv2.ORB_create(nfeatures=n)


def describe(detector, method, gray):
    kps, desc = detector.detectAndCompute(gray, None)
    if desc is None or len(kps) == 0:
        return [], []
    order = sorted(range(len(kps)), key=lambda i: -kps[i].response)
    kps = [kps[i] for i in order]
    desc = desc[order]
    if method == "sift":
        d = desc.astype(np.float64)
        d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
        d = np.round(d, 6)
    else:
        bits = np.unpackbits(desc, axis=1).astype(np.float64)
        d = (bits * 2.0 - 1.0) / 16.0
    keypoints = [[round(float(k.pt[0]), 3), round(float(k.pt[1]), 3), float(k.response)] for k in kps]
    return keypoints, d.tolist()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", help="HPatches-layout dataset folder (or one sequence folder)")
    ap.add_argument("outdir", help="output folder: OUTDIR/<sequence>/<k>.json")
    ap.add_argument("--method", choices=["orb", "sift"], required=True)
    ap.add_argument("-n", "--num-keypoints", type=int, default=1000, help="keypoints per image (default 1000)")
    args = ap.parse_args()
    if args.num_keypoints <= 0:
        sys.exit("baselines.py: --num-keypoints must be positive")

    detector = make_detector(args.method, args.num_keypoints)
    total, images, t_total = 0, 0, 0.0
    for name, folder in sequences(args.dataset):
        out_seq = os.path.join(args.outdir, name)
        os.makedirs(out_seq, exist_ok=True)
        for k in numbered_images(folder):
            path = find_image(folder, k)
            gray = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
            if gray is None:
                sys.exit(f"baselines.py: cannot read image {path}")
            t0 = time.perf_counter()
            keypoints, descriptors = describe(detector, args.method, gray)
            t_total += time.perf_counter() - t0
            record = {
                "width": int(gray.shape[1]),
                "height": int(gray.shape[0]),
                "keypoints": keypoints,
                "descriptors": descriptors,
            }
            with open(os.path.join(out_seq, f"{k}.json"), "w") as f:
                json.dump(record, f, separators=(",", ":"))
            total += len(keypoints)
            images += 1
    with open(os.path.join(args.outdir, "baseline.json"), "w") as f:
        json.dump(
            {
                "method": args.method,
                "opencv": cv2.__version__,
                "num_keypoints": args.num_keypoints,
                "descriptor_encoding": "L2-normalised float"
                if args.method == "sift"
                else "bits unpacked to +-1/16 (L2 ranking = Hamming ranking)",
                "images": images,
                "detect_ms_per_image": 1e3 * t_total / max(images, 1),
            },
            f,
            indent=2,
        )
    print(
        f"{args.method}: {images} images, {total / max(images, 1):.0f} keypoints per image, "
        f"{1e3 * t_total / max(images, 1):.1f} ms per image -> {args.outdir}"
    )


if __name__ == "__main__":
    main()
