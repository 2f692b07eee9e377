#!/usr/bin/env python3
"""Static int8 quantization of a SuperPoint ONNX model (QDQ, per-channel weights) with ONNX Runtime.

Calibrates activation ranges on real photos (grey, resized to the calibration size), measures each
convolution's sensitivity (the output error when only that layer is quantized), keeps the most
sensitive ones in float (`--keep-float N`, default 1: for the shipped model that is conv1a, which
has one input channel and costs little; keeping conv1b as well, 40% of the operations, removes
the speed-up), and writes the int8 model with the metadata of the fp32 one
(`superpoint.model_id` gets an `-int8` suffix, `superpoint.trained` is kept).

Usage:
    .deps/venv/bin/python scripts/quantize_int8.py MODEL.onnx OUT.onnx --calib PHOTOS_DIR \
        [--count 64] [--size 320x240] [--keep-float N | --keep-float-nodes a,b]

The calibration photos must not be the ones the model is evaluated on.
"""

import argparse
import logging
import glob
import os
import sys
import tempfile

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    import cv2
except ImportError as e:  # pragma: no cover - environment problem
    sys.exit(f"quantize_int8.py: {e}. Run it with .deps/venv/bin/python (scripts/setup.sh).")

EXTENSIONS = ("jpg", "jpeg", "png", "ppm", "pgm")


def photos(folder, count):
    files = sorted(
        f
        for ext in EXTENSIONS
        for f in glob.glob(os.path.join(folder, "**", f"*.{ext}"), recursive=True)
    )
    if not files:
        sys.exit(f"quantize_int8.py: no photos ({', '.join(EXTENSIONS)}) under {folder}")
    step = max(1, len(files) // count)
    return files[::step][:count]


def load(path, width, height):
    img = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if img is None:
        sys.exit(f"quantize_int8.py: cannot read {path}")
    img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    return (img.astype(np.float32) / 255.0)[None, None]


class Reader(CalibrationDataReader):
    def __init__(self, images):
        self.images = list(images)
        self.i = 0

    def get_next(self):
        if self.i >= len(self.images):
            return None
        self.i += 1
        return {"image": self.images[self.i - 1]}

    def rewind(self):
        self.i = 0


def run(model, images):
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return [sess.run(["scores", "descriptors"], {"image": x}) for x in images]


def error(ref, out):
    """Mean absolute error of the scores (relative to their mean) and of the descriptors."""
    s = np.mean([np.abs(a[0] - b[0]).mean() / (np.abs(a[0]).mean() + 1e-12) for a, b in zip(ref, out)])
    d = np.mean([np.abs(a[1] - b[1]).mean() for a, b in zip(ref, out)])
    return s, d


# Relu and MaxPool are quantized too: a Relu right after a quantized convolution is then folded
# into its output range (uint8 with zero point 0), and the pools run on uint8, so ONNX Runtime
# fuses each DequantizeLinear -> Conv -> QuantizeLinear into one QLinearConv with no float
# round trip between layers. With Conv alone, every layer paid a Quantize/Dequantize pair around
# its Relu and pool (29% of the int8 model's time at 640x480, ONNX Runtime's profiler).
OP_TYPES = ["Conv", "Relu", "MaxPool"]


def quantize(src, dst, images, nodes_to_quantize=None, exclude=()):
    quantize_static(
        src,
        dst,
        Reader(images),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        op_types_to_quantize=OP_TYPES,
        nodes_to_quantize=nodes_to_quantize,
        nodes_to_exclude=list(exclude),
    )


def main():
    # onnxruntime.quantization suggests pre-processing at every call: shape inference only,
    # which this fully convolutional graph does not need.
    logging.getLogger().setLevel(logging.ERROR)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--calib", required=True, help="folder of calibration photos (searched recursively)")
    ap.add_argument("--count", type=int, default=64, help="calibration photos (default 64)")
    ap.add_argument("--size", default="320x240", help="calibration size WIDTHxHEIGHT (default 320x240)")
    ap.add_argument("--keep-float", type=int, default=1, help="keep the N most sensitive convolutions in float (default 1: conv1a, which has one input channel and costs little)")
    ap.add_argument("--keep-float-nodes", default="", help="comma-separated node names to keep in float instead")
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    files = photos(a.calib, a.count)
    images = [load(f, w, h) for f in files]
    # Sensitivity is measured on photos not used for calibration.
    held = [load(f, w, h) for f in photos(a.calib, a.count * 2)[1::2][:16]]
    print(f"calibration: {len(images)} photos from {a.calib} at {w}x{h}; sensitivity on {len(held)} others")

    m = onnx.load(a.model)
    convs = [n.name for n in m.graph.node if n.op_type == "Conv"]
    ref = run(a.model, held)
    tmp = tempfile.mkdtemp(prefix="sp-int8-")
    if a.keep_float_nodes:
        keep = [n for n in a.keep_float_nodes.split(",") if n]
    else:
        sens = []
        for name in convs:
            p = os.path.join(tmp, f"{name}.onnx")
            quantize(a.model, p, images, nodes_to_quantize=[name])
            s, d = error(ref, run(p, held))
            sens.append((s + d, s, d, name))
            print(f"  sensitivity {name:<12} scores {s:.4f} descriptors {d:.5f}")
        sens.sort(reverse=True)
        keep = [name for *_, name in sens[: a.keep_float]]
    print(f"kept in float: {', '.join(keep) or 'none'}")
    quantize(a.model, a.out, images, exclude=keep)
    s, d = error(ref, run(a.out, held))
    print(f"int8 model vs fp32 on held-out photos: scores {s:.4f} (relative), descriptors {d:.5f}")

    # Carry the metadata over.
    q = onnx.load(a.out)
    meta = {p.key: p.value for p in m.metadata_props}
    meta["superpoint.model_id"] = meta.get("superpoint.model_id", "superpoint") + "-int8"
    meta["superpoint.quantization"] = (
        f"static QDQ int8 (ONNX Runtime {ort.__version__}) of {', '.join(OP_TYPES)}, per-channel weights, MinMax calibration on "
        f"{len(images)} photos at {w}x{h}; float convolutions: {', '.join(keep) or 'none'}"
    )
    del q.metadata_props[:]
    for k, v in meta.items():
        q.metadata_props.add(key=k, value=v)
    q.doc_string = m.doc_string
    onnx.save(q, a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
