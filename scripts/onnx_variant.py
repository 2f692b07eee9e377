#!/usr/bin/env python3
"""Writes a variant of a SuperPoint ONNX model, for the tests of faulty and fixed-shape models.

    onnx_variant.py IN OUT --fix-input 1x1x240x320    input `image` fixed to N x C x H x W
    onnx_variant.py IN OUT --nan-bias convDb.bias      one value of an initializer set to NaN

Needs the `onnx` package (in .deps/venv, installed by scripts/setup.sh). The models it writes are
test fixtures, made at test time in a temporary folder: never commit them.
"""

import argparse
import math
import sys

import onnx
from onnx import numpy_helper


def fix_input(model, shape):
    dims = [int(d) for d in shape.split("x")]
    (image,) = [i for i in model.graph.input if i.name == "image"]
    tensor_dims = image.type.tensor_type.shape.dim
    if len(dims) != len(tensor_dims):
        sys.exit(f"--fix-input {shape}: the input has {len(tensor_dims)} dimensions")
    for dim, value in zip(tensor_dims, dims):
        dim.ClearField("dim_param")
        dim.dim_value = value


def nan_bias(model, name):
    for i, init in enumerate(model.graph.initializer):
        if init.name == name:
            values = numpy_helper.to_array(init).copy()
            values.flat[0] = math.nan
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(values, name))
            return
    names = ", ".join(i.name for i in model.graph.initializer)
    sys.exit(f"no initializer {name} (the model has {names})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--fix-input", metavar="NxCxHxW")
    parser.add_argument("--nan-bias", metavar="INITIALIZER")
    args = parser.parse_args()
    model = onnx.load(args.input)
    if args.fix_input:
        fix_input(model, args.fix_input)
    if args.nan_bias:
        nan_bias(model, args.nan_bias)
    onnx.save(model, args.output)


if __name__ == "__main__":
    main()
