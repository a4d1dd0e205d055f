#!/usr/bin/python3
"""A real RTSP server on loopback for streamd's tests: GStreamer's RTSP server through python3-gi.

Usage: rtsp-server.py PORT PATH [WIDTHxHEIGHT [FPS] | --file CLIP.mp4]
Serves rtsp://127.0.0.1:PORT/PATH: a live test pattern (default 176x144 at 15 fps), H.264 (x264, zerolatency,
a key frame every second), or with --file a real H.264 MP4 clip as it is, at its own pace (from the start for
each new session; the stream ends with the clip). Prints "ready" once listening; runs until killed.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
port, path = sys.argv[1], sys.argv[2]
clip = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--file" else None
if clip is None:
    width, height = (sys.argv[3] if len(sys.argv) > 3 else "176x144").split("x")
    fps = sys.argv[4] if len(sys.argv) > 4 else "15"
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
if clip is not None:
    factory.set_launch("( filesrc location=%s ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )" % clip)
else:
    factory.set_launch(
    "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=%s,height=%s,framerate=%s/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=%s ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    % (width, height, fps, fps)
)
factory.set_shared(True)
server.get_mount_points().add_factory("/" + path, factory)
if server.attach(None) == 0:
    print("cannot listen on 127.0.0.1:%s" % port, flush=True)
    sys.exit(1)
print("ready", flush=True)
GLib.MainLoop().run()
