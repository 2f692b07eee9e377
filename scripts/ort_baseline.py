#!/usr/bin/env python3
"""Baseline for `superpoint bench`: onnxruntime's own Python InferenceSession.run on the same
model and input size. Prints one JSON object with the median ms per run."""
import json
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def main() -> None:
    if len(sys.argv) != 6:
        sys.exit("usage: ort_baseline.py MODEL HEIGHT WIDTH ITERATIONS THREADS(0=default)")
    model, h, w, iters, threads = sys.argv[1], *map(int, sys.argv[2:])
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads > 0:
        opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    image = rng.random((1, 1, h, w), dtype=np.float32)
    sess.run(None, {"image": image})  # warm-up
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        sess.run(None, {"image": image})
        times.append((time.perf_counter() - t) * 1e3)
    print(json.dumps({"ms_median": statistics.median(times), "ms_min": min(times), "runs": iters}))


if __name__ == "__main__":
    main()
