#!/usr/bin/python3
"""Prints, per frame, the status and track counts that superpointpublish sends to an MQTT broker.

    gst-launch-1.0 ... ! superpointdetect ! superpointmatch \
        ! superpointpublish broker=mqtt://127.0.0.1:1883 topic=cam1 ! fakesink
    examples/mqtt_subscriber.py --host 127.0.0.1 --port 1883 --topic cam1 [--count N]

Records follow schemas/frame-record-v1.json. Uses Debian's python3-paho-mqtt (1.6; scripts/setup.sh
installs it). Stops after --count records (default: never) or on Ctrl-C.
"""
import argparse
import json
import sys

import paho.mqtt.client as mqtt


def summary(record):
    """One line: frame, status, keypoints, tracks continued from the previous frame, new ones."""
    matches = record.get("matches") or {}
    tracks = matches.get("tracks", [])
    continued = sum(1 for _, age in tracks if age > 0)
    return (f"frame {record['frame']}: {matches.get('status', 'no-matches')}, "
            f"{len(record['keypoints'])} keypoints, {continued} tracks continued, "
            f"{len(tracks) - continued} new, longest age {max((a for _, a in tracks), default=0)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--topic", default="superpoint")
    ap.add_argument("--qos", type=int, choices=(0, 1), default=1)
    ap.add_argument("--count", type=int, default=0, help="stop after this many records (0: never)")
    args = ap.parse_args()
    received = 0

    def on_connect(client, _userdata, _flags, rc):
        if rc != 0:
            sys.exit(f"cannot connect to {args.host}:{args.port}: {mqtt.connack_string(rc)}")
        client.subscribe(args.topic, qos=args.qos)

    def on_message(client, _userdata, msg):
        nonlocal received
        record = json.loads(msg.payload)
        if record.get("version") != 1:
            print(f"unknown record version {record.get('version')}", file=sys.stderr)
            return
        print(summary(record), flush=True)
        received += 1
        if args.count and received >= args.count:
            client.disconnect()

    def on_subscribe(_client, _userdata, _mid, _granted_qos):
        print(f"subscribed to {args.topic} on {args.host}:{args.port}", file=sys.stderr, flush=True)

    client = mqtt.Client()
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    try:
        client.connect(args.host, args.port)
    except OSError as e:
        sys.exit(f"cannot connect to {args.host}:{args.port}: {e} (is the broker running?)")
    try:
        client.loop_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
