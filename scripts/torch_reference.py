#!/usr/bin/env python3
"""Plain PyTorch SuperPoint: the reference `superpoint bench` is compared against.

Same architecture and weights as our ONNX model (read straight from the .onnx file, no `onnx`
package needed), eager mode, fp32, and the usual PyTorch post-processing (softmax, max-pool NMS,
border, top-k, bilinear descriptor sampling with grid_sample, L2 normalisation), timed end to end
from a uint8 frame in host memory to keypoints and descriptors in host memory.

    python scripts/torch_reference.py MODEL.onnx [--device cuda] [--sizes 640x480,1920x1080]
        [--iterations 50] [--batch 8] [--check-against-ort]

Prints one JSON object per size. Needs only torch (the trainer's venv or the GPU machine's).
"""
import argparse
import json
import struct
import sys
import time

import torch
import torch.nn.functional as F


# --- minimal ONNX reader: initializers only (ModelProto.graph.initializer) --------------------
def _varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf):
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _varint(buf, pos)
        elif wire == 2:
            n, pos = _varint(buf, pos)
            val, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            val, pos = buf[pos:pos + 4], pos + 4
        elif wire == 1:
            val, pos = buf[pos:pos + 8], pos + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, val


def read_initializers(path):
    data = open(path, "rb").read()
    graph = next(v for f, w, v in _fields(data) if f == 7)
    tensors = {}
    for f, _, t in _fields(graph):
        if f != 5:
            continue
        dims, name, raw, floats, dtype = [], None, None, [], 1
        for tf, tw, tv in _fields(t):
            if tf == 1:
                if tw == 0:
                    dims.append(tv)
                else:  # packed
                    p = 0
                    while p < len(tv):
                        d, p = _varint(tv, p)
                        dims.append(d)
            elif tf == 2:
                dtype = tv
            elif tf == 8:
                name = tv.decode()
            elif tf == 9:
                raw = tv
            elif tf == 4 and tw == 2:
                floats = list(struct.unpack(f"<{len(tv) // 4}f", tv))
        if dtype != 1:  # only float32 weights matter (the rest are Slice/Squeeze constants)
            continue
        if raw is not None:
            tensor = torch.frombuffer(bytearray(raw), dtype=torch.float32)
        else:
            tensor = torch.tensor(floats, dtype=torch.float32)
        tensors[name] = tensor.reshape(dims) if dims else tensor
    return tensors


# --- network ------------------------------------------------------------------------------------
class SuperPoint(torch.nn.Module):
    ENCODER = ["conv1a", "conv1b", "conv2a", "conv2b", "conv3a", "conv3b", "conv4a", "conv4b"]

    def __init__(self, weights):
        super().__init__()

        def conv(name):
            w = weights[f"{name}.weight"]
            c = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], padding=w.shape[2] // 2)
            c.weight.data.copy_(w)
            c.bias.data.copy_(weights[f"{name}.bias"])
            return c

        self.encoder = torch.nn.ModuleList(conv(n) for n in self.ENCODER)
        self.convPa, self.convPb = conv("convPa"), conv("convPb")
        self.convDa, self.convDb = conv("convDa"), conv("convDb")
        # Per-channel affine after a ReLU ([1,C,1,1] `<layer>.post_scale` / `.post_shift`): models
        # imported from conv -> ReLU -> BatchNorm checkpoints (`superpoint import`).
        self.post = [n for n in self.ENCODER + ["convPa", "convDa"] if f"{n}.post_scale" in weights]
        for n in self.post:
            self.register_buffer(f"{n}_post_scale", weights[f"{n}.post_scale"])
            self.register_buffer(f"{n}_post_shift", weights[f"{n}.post_shift"])

    def act(self, name, x):
        x = F.relu(x)
        if name in self.post:
            x = x * getattr(self, f"{name}_post_scale") + getattr(self, f"{name}_post_shift")
        return x

    def forward(self, x):
        for i, (name, c) in enumerate(zip(self.ENCODER, self.encoder)):
            x = self.act(name, c(x))
            if i % 2 == 1 and i < 6:
                x = F.max_pool2d(x, 2, 2)
        semi = self.convPb(self.act("convPa", self.convPa(x)))
        prob = F.softmax(semi, 1)[:, :-1]
        scores = F.pixel_shuffle(prob, 8)[:, 0]
        desc = F.normalize(self.convDb(self.act("convDa", self.convDa(x))), p=2, dim=1)
        return scores, desc


def postprocess(scores, desc, threshold=0.015, nms_radius=4, border=4, max_keypoints=1000):
    """Batched post-processing on the device; returns per-image (keypoints [K,3], desc [K,256])."""
    k = 2 * nms_radius + 1
    pooled = F.max_pool2d(scores[:, None], k, stride=1, padding=nms_radius)[:, 0]
    keep = (scores == pooled) & (scores >= threshold)
    keep[:, :border] = False
    keep[:, -border:] = False
    keep[:, :, :border] = False
    keep[:, :, -border:] = False
    masked = torch.where(keep, scores, torch.zeros_like(scores)).flatten(1)
    top = torch.topk(masked, min(max_keypoints, masked.shape[1]), dim=1)
    n, h, w = scores.shape
    ys = torch.div(top.indices, w, rounding_mode="floor").float()
    xs = (top.indices % w).float()
    # grid_sample with align_corners=True on the H/8 x W/8 map: cell centre i at pixel 8i+3.5.
    gx = (xs - 3.5) / 8 / (desc.shape[3] - 1) * 2 - 1
    gy = (ys - 3.5) / 8 / (desc.shape[2] - 1) * 2 - 1
    grid = torch.stack([gx, gy], -1)[:, None]
    sampled = F.grid_sample(desc, grid, mode="bilinear", align_corners=True)[:, :, 0]
    sampled = F.normalize(sampled, p=2, dim=1).transpose(1, 2)
    valid = top.values > 0
    return [(torch.stack([xs[i], ys[i], top.values[i]], -1)[valid[i]], sampled[i][valid[i]]) for i in range(n)]


def end_to_end(model, frames_u8, device, pinned):
    """uint8 [N,H,W] host -> keypoints + descriptors host."""
    pinned.copy_(frames_u8)
    x = pinned.to(device, non_blocking=True).float().div_(255.0)[:, None]
    with torch.inference_mode():
        scores, desc = model(x)
        results = postprocess(scores, desc)
    return [(k.cpu(), d.cpu()) for k, d in results]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--sizes", default="640x480,1920x1080")
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--frames", help="raw uint8 file of BATCH x H x W pixels (one size): time these "
                    "frames instead of random ones (`superpoint bench --provider cuda` passes its own)")
    ap.add_argument("--check-against-ort", action="store_true",
                    help="compare the network outputs with onnxruntime on the CPU (needs onnxruntime, numpy)")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    model = SuperPoint(read_initializers(args.model)).to(device).eval()
    for size in args.sizes.split(","):
        w, h = map(int, size.split("x"))
        h8, w8 = h // 8 * 8, w // 8 * 8
        gen = torch.Generator().manual_seed(0)
        frames = torch.randint(0, 256, (args.batch, h8, w8), dtype=torch.uint8, generator=gen)
        if args.frames:
            raw = bytearray(open(args.frames, "rb").read())
            frames = torch.frombuffer(raw, dtype=torch.uint8).reshape(args.batch, h8, w8)
        pinned = torch.empty_like(frames).pin_memory() if device.type == "cuda" else torch.empty_like(frames)
        for _ in range(3):
            end_to_end(model, frames, device, pinned)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times = []
        for _ in range(args.iterations):
            t = time.perf_counter()
            end_to_end(model, frames, device, pinned)
            times.append((time.perf_counter() - t) * 1e3)
        times.sort()
        med = times[len(times) // 2]
        out = {"size": f"{w8}x{h8}", "device": str(device), "batch": args.batch,
               "ms_per_call": med, "ms_per_frame": med / args.batch, "frames_per_s": 1000 * args.batch / med}
        if args.check_against_ort:
            import numpy as np
            import onnxruntime as ort
            sess = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
            x = (frames[:1].float() / 255.0)[:, None]
            o_scores, o_desc = sess.run(None, {"image": x.numpy()})
            with torch.inference_mode():
                t_scores, t_desc = model.cpu()(x)
            model.to(device)
            out["max_abs_diff_scores"] = float(np.abs(o_scores - t_scores.numpy()).max())
            out["max_abs_diff_descriptors"] = float(np.abs(o_desc - t_desc.numpy()).max())
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
