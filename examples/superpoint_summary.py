#!/usr/bin/python3
"""Per-frame SuperPoint summary of a video, read from the GStreamer bus in Python.

Runs

    filesrc ! decodebin ! videoconvert
      ! superpointdetect post-messages=true message-descriptors=true
      ! superpointmatch post-messages=true ! fakesink sync=false

and prints, for each frame, the keypoints and descriptors of the `superpoint-keypoints` message
and the matches and homography of the `superpoint-match` message (field table: README,
"Reading the results in an application"; gstsuperpoint::messages in the plugin), e.g.

    frame 1  pts 0.100 s  keypoints 494 (best 0.714 at 322.0,326.0)  descriptors 494x256 (norm 1.000..1.000)  previous ok: 455 matches, 425 inliers  H [1.000 -0.000 0.13; 0.000 1.000 -0.07; -0.00000 0.00000 1]

With --json, one JSON object per frame instead (keys frame, pts, keypoints, best,
descriptor_shape, descriptor_norm_min, descriptor_norm_max, mode, status, matches, inliers,
homography),
then a last line {"frames": N}.

Needs PyGObject with GStreamer's introspection data and its Python overrides (Debian 12:
python3-gi, gir1.2-gstreamer-1.0, python3-gst-1.0; scripts/setup.sh installs them; they are
Debian's python3, /usr/bin/python3), and the plugin: installed from the .deb, or
`source .deps/env.sh` in the source tree.

    /usr/bin/python3 examples/superpoint_summary.py [VIDEO] [--frames N] [--model M.onnx] [--json]
"""

import argparse
import json
import math
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

DEFAULT_VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def limit_frames(pad, frames):
    """Lets exactly `frames` buffers leave `pad`, then pushes EOS once and drops the rest.

    (`identity eos-after=N` on GStreamer 1.22 passes N-1 buffers after decodebin, then sometimes
    more, so the limit is counted here.)"""
    passed = [0]

    def probe(pad, info):
        passed[0] += 1
        if passed[0] <= frames:
            return Gst.PadProbeReturn.OK
        if passed[0] == frames + 1:
            pad.push_event(Gst.Event.new_eos())
        return Gst.PadProbeReturn.DROP

    pad.add_probe(Gst.PadProbeType.BUFFER, probe)


def read_keypoints(s):
    """The `superpoint-keypoints` structure `s` as a dict: pts (ns or None), frame, keypoints
    ([x, y, score] in frame pixels, best first) and, with message-descriptors=true, the
    descriptors as a flat float32 memoryview of shape [count, descriptor-size]."""
    ok, pts = s.get_uint64("pts")
    keypoints = [list(k) for k in s.get_value("keypoints")]
    out = {
        "pts": pts if ok and pts != Gst.CLOCK_TIME_NONE else None,
        "frame": s.get_value("frame"),
        "keypoints": keypoints,
        "descriptors": None,
        "descriptor_size": 0,
    }
    if s.has_field("descriptors"):
        size = s.get_value("descriptor-size")
        buf = s.get_value("descriptors")  # Gst.Buffer, float32 row-major [count, size]
        data = buf.extract_dup(0, buf.get_size())
        floats = memoryview(data).cast("f")
        if len(floats) != len(keypoints) * size:
            raise ValueError(
                f"descriptors hold {len(floats)} floats, not {len(keypoints)} x {size}"
            )
        out["descriptors"] = floats
        out["descriptor_size"] = size
    return out


def read_match(s):
    """The `superpoint-match` structure `s` as a dict: frame, status (reference | ok | lost),
    matches, inliers and homography (9 row-major doubles, matched frame -> this frame; None when
    there is none)."""
    homography = list(s.get_value("homography")) if s.has_field("homography") else None
    return {
        "frame": s.get_value("frame"),
        "mode": s.get_value("mode"),
        "status": s.get_value("status"),
        "matches": s.get_value("matches"),
        "inliers": s.get_value("inliers"),
        "homography": homography,
    }


def descriptor_norms(floats, size):
    """L2 norm of each row of the flat [n, size] float32 view."""
    norms = []
    for i in range(0, len(floats), size):
        row = floats[i : i + size]
        norms.append(math.sqrt(sum(v * v for v in row)))
    return norms


def summary(k, m):
    """One frame's summary as a dict (see --json in the module docstring)."""
    n = len(k["keypoints"])
    norms = descriptor_norms(k["descriptors"], k["descriptor_size"]) if k["descriptors"] is not None else []
    return {
        "frame": k["frame"],
        "pts": k["pts"],
        "keypoints": n,
        "best": k["keypoints"][0] if n else None,
        "descriptor_shape": [n, k["descriptor_size"]] if k["descriptors"] is not None else None,
        "descriptor_norm_min": min(norms) if norms else None,
        "descriptor_norm_max": max(norms) if norms else None,
        "mode": m["mode"] if m else None,
        "status": m["status"] if m else None,
        "matches": m["matches"] if m else None,
        "inliers": m["inliers"] if m else None,
        "homography": m["homography"] if m else None,
    }


def text_line(r):
    parts = [f"frame {r['frame']}"]
    if r["pts"] is not None:
        parts.append(f"pts {r['pts'] / 1e9:.3f} s")
    kp = f"keypoints {r['keypoints']}"
    if r["best"]:
        x, y, score = r["best"]
        kp += f" (best {score:.3f} at {x:.1f},{y:.1f})"
    parts.append(kp)
    if r["descriptor_shape"]:
        rows, cols = r["descriptor_shape"]
        norms = ""
        if rows:
            norms = f" (norm {r['descriptor_norm_min']:.3f}..{r['descriptor_norm_max']:.3f})"
        parts.append(f"descriptors {rows}x{cols}{norms}")
    if r["status"]:
        parts.append(f"{r['mode']} {r['status']}: {r['matches']} matches, {r['inliers']} inliers")
    if r["homography"]:
        h = r["homography"]
        parts.append(
            "H [{:.3f} {:.3f} {:.2f}; {:.3f} {:.3f} {:.2f}; {:.5f} {:.5f} {:.0f}]".format(*h)
        )
    return "  ".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("video", nargs="?", default=DEFAULT_VIDEO, help="video file (default: opencv-doc's vtest.avi)")
    ap.add_argument("--frames", type=int, default=0, help="stop after N frames (default: the whole video)")
    ap.add_argument("--model", help="SuperPoint ONNX model (default: the plugin's search order)")
    ap.add_argument("--json", action="store_true", help="one JSON object per frame")
    args = ap.parse_args()
    if args.frames < 0:
        ap.error("--frames must be 0 (whole video) or more")

    Gst.init(None)
    for factory in ("superpointdetect", "superpointmatch"):
        if Gst.ElementFactory.find(factory) is None:
            sys.exit(
                f"error: GStreamer element {factory} not found: install the gst-plugin-superpoint "
                "package, or run `source .deps/env.sh` in the source tree (GST_PLUGIN_PATH)"
            )
    desc = (
        "decodebin name=dec ! videoconvert name=convert "
        "! superpointdetect name=detect post-messages=true message-descriptors=true "
        "! superpointmatch post-messages=true ! fakesink sync=false"
    )
    pipeline = Gst.parse_launch(f"filesrc name=src ! {desc}")
    pipeline.get_by_name("src").set_property("location", args.video)
    if args.model:
        pipeline.get_by_name("detect").set_property("model", args.model)
    if args.frames:
        limit_frames(pipeline.get_by_name("convert").get_static_pad("src"), args.frames)

    pending = {}  # pts -> keypoints message, until the match message of that frame arrives
    frames = 0
    pipeline.set_state(Gst.State.PLAYING)
    bus = pipeline.get_bus()
    status = 0
    mask = Gst.MessageType.ELEMENT | Gst.MessageType.EOS | Gst.MessageType.ERROR | Gst.MessageType.WARNING
    while True:
        msg = bus.timed_pop_filtered(Gst.CLOCK_TIME_NONE, mask)
        if msg.type == Gst.MessageType.EOS:
            break
        if msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            print(f"error from {msg.src.get_name()}: {err.message} ({debug})", file=sys.stderr)
            status = 1
            break
        if msg.type == Gst.MessageType.WARNING:
            err, _ = msg.parse_warning()
            print(f"warning from {msg.src.get_name()}: {err.message}", file=sys.stderr)
            continue
        s = msg.get_structure()
        if s is None:
            continue
        if s.get_name() == "superpoint-keypoints":
            k = read_keypoints(s)
            pending[k["pts"]] = k
        elif s.get_name() == "superpoint-match":
            ok, pts = s.get_uint64("pts")
            k = pending.pop(pts if ok and pts != Gst.CLOCK_TIME_NONE else None, None)
            if k is None:
                continue
            r = summary(k, read_match(s))
            print(json.dumps(r) if args.json else text_line(r), flush=True)
            frames += 1
    pipeline.set_state(Gst.State.NULL)
    if args.json:
        print(json.dumps({"frames": frames}))
    else:
        print(f"{frames} frames")
    return status


if __name__ == "__main__":
    sys.exit(main())
