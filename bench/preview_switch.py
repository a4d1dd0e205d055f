#!/usr/bin/env python3
"""How long a style change takes to show in the web page's preview: reads a pipeline's MJPEG preview, switches
its style through the API, and times the first preview frame that looks like the new style. "Looks like" is
judged on each frame's mean colour (decoded by ffmpeg): a frame counts once it has moved more than half way from
the old style's mean (the frames before the switch) to the new style's (the frames 3 to 4 s after it).
Usage: preview_switch.py PORT TOKEN PIPELINE STYLE_A STYLE_B [ROUNDS]   (style indices of a multi-style model)
"""
import http.client
import json
import subprocess
import sys
import threading
import time

port, token, pipeline = int(sys.argv[1]), sys.argv[2], sys.argv[3]
styles = [int(sys.argv[4]), int(sys.argv[5])]
rounds = int(sys.argv[6]) if len(sys.argv) > 6 else 3

frames = []  # (arrival time, JPEG bytes): decoding waits, so the reader never falls behind the stream
lock = threading.Lock()
colours = {}  # id of a frame's bytes → mean RGB, decoded once


def mean_colour(jpeg):
    key = id(jpeg)
    if key not in colours:
        colours[key] = decode_mean(jpeg)
    return colours[key]


def decode_mean(jpeg):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-f", "image2pipe", "-i", "-", "-vf", "scale=16:12", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], input=jpeg, capture_output=True, timeout=10).stdout
    n = len(raw) // 3 or 1
    return [sum(raw[c::3]) / n for c in range(3)]


def read_preview(stop):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", f"/v1/pipelines/{pipeline}/preview")
    response = connection.getresponse()
    while not stop.is_set():
        headers = {}
        line = response.readline()
        while line in (b"\r\n", b""):
            line = response.readline()
        while True:  # boundary, then headers up to the blank line
            line = response.readline().strip()
            if not line:
                break
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        jpeg = response.read(int(headers["content-length"]))
        arrived = time.monotonic()
        with lock:
            frames.append((arrived, jpeg))


def distance(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5


def mean(colours):
    return [sum(c[i] for c in colours) / len(colours) for i in range(3)]


def set_style(index):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", f"/v1/pipelines/{pipeline}/style", json.dumps({"style_index": index}),
                       {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    answer = connection.getresponse()
    answer.read()
    if answer.status != 200:
        sys.exit(f"style change: {answer.status}")


stop = threading.Event()
threading.Thread(target=read_preview, args=(stop,), daemon=True).start()
set_style(styles[0])
time.sleep(4)
delays = []
for round_ in range(rounds):
    for index in (styles[1], styles[0]):
        with lock:
            recent = frames[-5:]
        before = mean([mean_colour(j) for _, j in recent])
        sent = time.monotonic()
        set_style(index)
        applied = time.monotonic()
        # Wait for 3 frames from 3 s on (at most 20 s: a slow machine delivers few frames).
        limit = time.monotonic() + 20
        while time.monotonic() < limit:
            with lock:
                after_frames = [(t, j) for t, j in frames if t > applied]
            late = [j for t, j in after_frames if t - applied >= 3]
            if len(late) >= 3:
                break
            time.sleep(0.2)
        if len(late) < 3:
            print(f"round {round_ + 1}: too few preview frames after the change")
            continue
        final = mean([mean_colour(j) for j in late[:5]])
        gap = distance(final, before)
        shown = next((t for t, j in after_frames if distance(mean_colour(j), before) > gap / 2), None)
        if gap < 15 or shown is None:
            print(f"round {round_ + 1}: styles {styles} look too alike in the preview (distance {gap:.0f}); choose others")
            continue
        delays.append(shown - applied)
        print(f"round {round_ + 1}: style {index}: API answered in {applied - sent:.2f} s, preview showed it {shown - applied:.2f} s later")
stop.set()
if delays:
    delays.sort()
    print(f"style change to preview: median {delays[len(delays) // 2]:.2f} s, worst {delays[-1]:.2f} s over {len(delays)} changes")
