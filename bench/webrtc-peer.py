#!/usr/bin/env python3
"""An independent WebRTC peer for streamd's WHIP and WHEP endpoints, built on aiortc (a WebRTC stack streamd did
not write). The tests and bench/webrtc-latency.sh run it from a virtual environment with aiortc installed.

  webrtc-peer.py whep URL --frames N [--save FILE] [--audio]   play: receive N video frames (and the sound), report them
  webrtc-peer.py whip URL --seconds S [--width W --height H --audio]   publish a test pattern
  webrtc-peer.py roundtrip WHIP_URL WHEP_URL --seconds S   publish a frame counter and read it back: latency
  webrtc-peer.py pattern FILE [--width W --height H]      write the first published picture (raw RGB)
  webrtc-peer.py sync FILE [--width W]                    how far the sound of a recording of the published pattern
                                                          is from its pictures (beeps against frame counters)
  webrtc-peer.py clip FILE --seconds S [--width W --height H]   write the pattern and the beeps to a file (H.264
                                                          and AAC at 44.1 kHz stereo): a source for a live pipeline

The published sound (--audio) is a 440 Hz beep for the first half of every second, on the same clock as the
pictures: the beep of second k starts with frame 30·k. So sound and picture can be compared wherever both come
back: at a player (roundtrip --audio) or in a recording (sync).

Every mode prints one JSON object on standard output and exits 0, or prints one line on standard error and exits
1. Every wait is bounded (--timeout). ICE uses loopback only: aioice's host addresses are replaced by 127.0.0.1,
so no packet leaves the machine.
"""
import argparse
import array
import asyncio
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop   # C loops for loudness and down-mixing: the peers share the cores with the server they measure
import fractions
import json
import math
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request

import aioice.ice
import av
from aiortc import RTCPeerConnection, RTCSessionDescription, MediaStreamTrack
from aiortc.mediastreams import AUDIO_PTIME, MediaStreamError

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

CLOCK = 90000
FPS = 30
BEEP_HZ = 440
BEEP_SECONDS = 0.5   # each second starts with this much tone, then silence
BITS = 16            # the frame counter's width in the pattern
CELL = 40            # one bit is a CELL×CELL square: big enough to survive a style network


class PeerError(Exception):
    """A failure reported as one line by main()."""


def fail(message):
    raise PeerError(message)


def post_offer(url, sdp, token, timeout):
    """POSTs the offer (WHIP/WHEP): the answer's SDP and the session's URL (Location)."""
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=sdp.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.status != 201:
                fail(f"{url}: status {response.status}, expected 201")
            location = response.headers.get("Location") or ""
            return response.read().decode(), urllib.request.urljoin(url, location)
    except urllib.error.HTTPError as e:
        fail(f"{url}: status {e.code}: {e.read().decode(errors='replace').strip()}")
    except OSError as e:
        fail(f"{url}: {e}")


def delete(url, token, timeout):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        urllib.request.urlopen(urllib.request.Request(url, headers=headers, method="DELETE"), timeout=timeout).close()
    except (urllib.error.HTTPError, OSError):
        pass


async def negotiate(pc, url, token, timeout):
    await pc.setLocalDescription(await pc.createOffer())
    # aiortc gathers before setLocalDescription returns: the offer carries its candidates (no trickle).
    answer, location = await asyncio.get_running_loop().run_in_executor(
        None, post_offer, url, pc.localDescription.sdp, token, timeout)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return location


def draw_counter(frame_rgb, width, value):
    """Writes `value` as BITS black/white squares across the picture's middle band (row-major RGB bytes)."""
    top = 3 * CELL
    for bit in range(BITS):
        on = (value >> bit) & 1
        x0 = (bit % 8) * CELL * 2 + CELL // 2
        y0 = top + (bit // 8) * CELL * 2
        shade = 255 if on else 0
        row = bytes([shade]) * (CELL * 3)
        for y in range(y0, y0 + CELL):
            start = (y * width + x0) * 3
            frame_rgb[start:start + CELL * 3] = row


def read_counter(rgb, width, sent_width):
    """The counter drawn by draw_counter into a `sent_width`-wide picture, from a (possibly scaled and stylized)
    `width`-wide one: each square's mean brightness against the middle of the darkest and brightest squares."""
    k = width / sent_width
    means = []
    top = 3 * CELL
    for bit in range(BITS):
        x0 = int(((bit % 8) * CELL * 2 + CELL // 2 + CELL // 4) * k)
        y0 = int((top + (bit // 8) * CELL * 2 + CELL // 4) * k)
        side = max(2, int(CELL // 2 * k))
        total = 0
        count = 0
        for y in range(y0, y0 + side, 2):
            start = (y * width + x0) * 3
            line = rgb[start:start + side * 3]
            total += sum(line)
            count += len(line)
        means.append(total / max(1, count))
    low, high = min(means), max(means)
    if high - low < 30:
        return None
    cut = (low + high) / 2
    return sum(1 << bit for bit, m in enumerate(means) if m > cut)


class PatternTrack(MediaStreamTrack):
    """A moving test picture with a frame counter; the send time of each counter is kept for the round trip."""
    kind = "video"

    def __init__(self, width, height, fps, counter, epoch=None):
        super().__init__()
        self.width, self.height, self.fps, self.counter = width, height, fps, counter
        self.index = 0
        self.sent = {}
        self.start = epoch

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        target = self.start + self.index / self.fps
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        w, h = self.width, self.height
        if not hasattr(self, "base"):
            # Diagonal colour bands, 64 rows taller than the picture: scrolling it gives texture for the style
            # network and motion for the encoder at the cost of one slice a frame.
            self.base = bytearray()
            for y in range(h + 64):
                self.base += bytes(c for x in range(w) for c in (((x + y) * 2) % 256, (x // 3 + 64) % 256, (y * 3) % 256))
        offset = (self.index * 4) % 64
        rgb = bytearray(self.base[offset * w * 3:(offset + h) * w * 3])
        value = self.index % (1 << BITS)
        if self.counter:
            draw_counter(rgb, w, value)
        frame = av.VideoFrame(w, h, "rgb24")
        frame.planes[0].update(bytes(rgb))
        frame.pts = int(self.index * CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, CLOCK)
        self.sent[value] = time.monotonic()
        self.index += 1
        return frame


class BeepTrack(MediaStreamTrack):
    """A 440 Hz beep for the first half of every second from `epoch`, the pictures' clock too: the beep of second
    k starts as frame 30·k is sent."""
    kind = "audio"

    def __init__(self, epoch):
        super().__init__()
        self.samples = 0
        self.start = epoch
        rate = 48000
        # One second of it, made once (the pattern repeats every second).
        self.second = b"".join(
            (int(8000 * math.sin(2 * math.pi * BEEP_HZ * n / rate)) if n < BEEP_SECONDS * rate else 0).to_bytes(2, "little", signed=True)
            for n in range(rate))

    async def recv(self):
        rate = 48000
        count = int(AUDIO_PTIME * rate)
        if self.start is None:
            self.start = time.monotonic()
        delay = self.start + self.samples / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = av.AudioFrame(format="s16", layout="mono", samples=count)
        at = (self.samples % rate) * 2
        data = (self.second[at:] + self.second)[:count * 2]
        frame.planes[0].update(data)
        frame.pts = self.samples
        frame.sample_rate = rate
        frame.time_base = fractions.Fraction(1, rate)
        self.samples += count
        return frame


async def receive_frames(track, frames, timeout, on_frame):
    deadline = time.monotonic() + timeout
    got = 0
    while got < frames:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            frame = await asyncio.wait_for(track.recv(), left)
        except (asyncio.TimeoutError, MediaStreamError):
            break
        got += 1
        on_frame(frame)
    return got


def rgb_of(frame):
    rgb = frame.reformat(format="rgb24")
    plane = rgb.planes[0]
    data = bytes(plane)
    if plane.line_size != rgb.width * 3:
        data = b"".join(data[y * plane.line_size:y * plane.line_size + rgb.width * 3] for y in range(rgb.height))
    return data, rgb.width, rgb.height


async def start_publisher(url, width, height, audio, token, timeout):
    """A publishing connection sending the counter pattern (and the beeps with `audio`), both timed from one
    epoch: (connection, video, URL)."""
    pc = RTCPeerConnection()
    epoch = time.monotonic() + 1.0   # after the negotiation below, so neither track starts behind its clock
    video = PatternTrack(width, height, FPS, counter=True, epoch=epoch)
    pc.addTrack(video)
    if audio:
        pc.addTrack(BeepTrack(epoch))
    return pc, video, await negotiate(pc, url, token, timeout)


async def start_player(url, token, timeout, audio=None):
    """A playing connection: (connection, its video track, the session's URL). With `audio` (a list), the offer
    asks for sound too and the sound track, when one comes, is appended to it."""
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    if audio is not None:
        pc.addTransceiver("audio", direction="recvonly")
    arrived = asyncio.get_running_loop().create_future()

    def on_track(track):
        if track.kind == "video":
            arrived.done() or arrived.set_result(track)
        elif audio is not None:
            audio.append(track)
    pc.on("track", on_track)
    location = await negotiate(pc, url, token, timeout)
    try:
        return pc, await asyncio.wait_for(arrived, timeout), location
    except asyncio.TimeoutError:
        fail(f"{url}: no video track within {timeout} s")


def mono_of(frame):
    """A packed 16-bit audio frame's samples as mono (bytes), the channels averaged."""
    channels = len(frame.layout.channels)
    data = bytes(frame.planes[0])[:frame.samples * channels * 2]
    return audioop.tomono(data, 2, 0.5, 0.5) if channels == 2 else data


def tone_report(samples, rate):
    """Loudness (RMS of full scale) and pitch (from zero crossings) of mono 16-bit samples, both over the 10 ms
    windows that are not silent (so beeps measure as the tone they are); silence has no pitch. `loud` is the
    share of the time that is not silent. The pitch leaves out windows with half as many crossings again as the
    median window or more: a lost packet the decoder conceals with noise, on a loaded machine, is not the tone."""
    window = rate // 100
    energy, loud, counts = 0, 0, []
    for start in range(0, len(samples) - window + 1, window):
        part = samples[start:start + window]
        e = sum(v * v for v in part)
        if math.sqrt(e / window) / 32768 < 0.02:
            continue
        loud += window
        energy += e
        counts.append(sum(1 for a, b in zip(part, part[1:]) if (a < 0) != (b < 0)))
    if not loud:
        return {"seconds": round(len(samples) / rate, 3), "rms": 0, "hz": None, "loud": 0}
    median = sorted(counts)[len(counts) // 2]
    tonal = [c for c in counts if c < 1.5 * median + 1]
    return {"seconds": round(len(samples) / rate, 3), "rms": round(math.sqrt(energy / loud) / 32768, 4),
            "hz": round(sum(tonal) / 2 / (len(tonal) * window / rate), 1), "loud": round(loud / max(1, len(samples)), 3),
            "noisyWindows": len(counts) - len(tonal)}


class Onsets:
    """Where beeps start in sound fed to it piece by piece: a loud 5 ms window after at least 0.3 s of quiet."""

    def __init__(self):
        self.times, self.quiet = [], 0.0

    def feed(self, samples, rate, start_time):
        """Mono 16-bit `samples` (bytes) whose first is at `start_time` (s)."""
        window = rate // 200
        for start in range(0, len(samples) // 2 - window + 1, window):
            loud = audioop.rms(samples[start * 2:(start + window) * 2], 2) / 32768 > 0.05
            if loud and self.quiet >= 0.3:
                self.times.append(start_time + start / rate)
            self.quiet = 0.0 if loud else self.quiet + window / rate


def sync_offset(frame_marks, onsets):
    """How late the sound is against the pictures (s; negative: early), from frames (time, counter) and beep
    onsets (time), each on the clock it came back on: a frame's lag behind its nominal time (counter / 30) against
    a beep's lag behind its own (the nearest whole second), medians of both."""
    if not frame_marks or not onsets:
        return None
    video = statistics.median(t - v / FPS for t, v in frame_marks)
    # A beep belongs to the second nearest its time less the pictures' lag.
    audio = statistics.median(t - round(t - video) for t in onsets)
    return round(audio - video, 4)


async def collect_audio(tracks, seconds_wanted, deadline):
    """Mono samples from the first sound track (the channels averaged), skipping the first half second (the
    decoder's start), until `seconds_wanted` are kept or `deadline`: (samples, rate)."""
    while not tracks and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if not tracks:
        return [], 48000
    kept, rate, skipped = [], 48000, 0.0
    while time.monotonic() < deadline and len(kept) < seconds_wanted * rate:
        try:
            frame = await asyncio.wait_for(tracks[0].recv(), max(0.01, deadline - time.monotonic()))
        except (asyncio.TimeoutError, MediaStreamError):
            break
        rate = frame.sample_rate
        if skipped < 0.5:
            skipped += frame.samples / rate
            continue
        kept.extend(array.array("h", mono_of(frame)))
    return kept, rate


async def play(url, frames, save, audio, token, timeout):
    started = time.monotonic()
    sound_tracks = [] if audio else None
    pc, track, location = await start_player(url, token, timeout, sound_tracks)
    sound = None
    if audio:
        sound = asyncio.ensure_future(collect_audio(sound_tracks, 2.0, time.monotonic() + timeout))
    report = {"frames": 0, "width": 0, "height": 0, "firstFrameSeconds": None, "session": location}
    last = {}

    def on_frame(frame):
        if report["firstFrameSeconds"] is None:
            report["firstFrameSeconds"] = round(time.monotonic() - started, 3)
        report["width"], report["height"] = frame.width, frame.height
        last["frame"] = frame

    report["frames"] = await receive_frames(track, frames, timeout, on_frame)
    if sound is not None:
        samples, rate = await sound
        report["audio"] = tone_report(samples, rate)
        report["audioTracks"] = len(sound_tracks)
    if save and "frame" in last:
        data, w, h = rgb_of(last["frame"])
        with open(save, "wb") as f:
            f.write(data)
    elapsed = time.monotonic() - started
    report["seconds"] = round(elapsed, 3)
    delete(location, token, timeout)
    await pc.close()
    return report


async def publish(url, seconds, width, height, audio, token, timeout):
    pc, video, location = await start_publisher(url, width, height, audio, token, timeout)
    await asyncio.sleep(seconds)
    report = {"framesSent": video.index, "session": location, "state": pc.connectionState}
    delete(location, token, timeout)
    await pc.close()
    return report


class LatencyMeter:
    """Latencies of one way back (a player), from the counters it reads: each counter counted once, the first
    time it is read, and only after the warm-up."""

    def __init__(self, sent, width, height, measure_from):
        self.sent, self.width, self.height, self.measure_from = sent, width, height, measure_from
        self.latencies, self.seen, self.frames, self.unreadable = [], set(), 0, 0
        self.marks = []   # (arrival, counter) of each counter's first reading

    def add(self, frame):
        now = time.monotonic()
        self.frames += 1
        data, w, h = rgb_of(frame)
        value = read_counter(data, w, self.width) if w * self.height == h * self.width else None
        if value is None or value not in self.sent or value in self.seen:
            self.unreadable += 1
            return
        self.seen.add(value)
        self.marks.append((now, value))
        if now >= self.measure_from:
            self.latencies.append((now - self.sent[value]) * 1000)

    def report(self):
        r = {"framesReceived": self.frames, "readable": len(self.latencies), "unreadable": self.unreadable}
        if self.latencies:
            ordered = sorted(self.latencies)
            r["p50ms"] = round(statistics.median(ordered), 1)
            r["p95ms"] = round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1)
            r["maxms"] = round(ordered[-1], 1)
        return r


def read_stream(url, meter, until, timeout):
    """A player of another transport (RTMP, HLS…) through FFmpeg (PyAV), on its own thread, until `until`."""
    container = None
    deadline = time.monotonic() + timeout
    while container is None:
        try:
            container = av.open(url, timeout=timeout, options={"fflags": "nobuffer"} if url.startswith("rtmp") else {})
        except (av.error.FFmpegError, OSError) as e:
            # A playlist appears with its first segments; a stream once the pipeline pushes.
            if time.monotonic() >= deadline:
                meter.error = str(e)
                return
            time.sleep(0.5)
    try:
        for frame in container.decode(video=0):
            meter.add(frame)
            if time.monotonic() >= until:
                break
    except av.error.FFmpegError as e:
        meter.error = str(e)
    finally:
        container.close()


def recording_sync(path, sent_width):
    """Sound against pictures in a recording of the published pattern and beeps (times are the file's)."""
    marks, seen, samples, first_audio = [], set(), array.array("h"), None
    resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
    with av.open(path) as container:
        for frame in container.decode(video=0):
            data, w, h = rgb_of(frame)
            value = read_counter(data, w, sent_width)
            if value is not None and value not in seen and frame.time is not None:
                seen.add(value)
                marks.append((frame.time, value))
    with av.open(path) as container:
        if not container.streams.audio:
            fail(f"{path}: no audio stream")
        for frame in container.decode(audio=0):
            for mono in resampler.resample(frame):
                if first_audio is None:
                    first_audio = mono.time or 0.0
                samples.extend(array.array("h", bytes(mono.planes[0])[:mono.samples * 2]))
    onsets = Onsets()
    onsets.feed(samples.tobytes(), 48000, first_audio or 0.0)
    onsets = onsets.times
    # The counter wraps at 2^16 frames; a recording is much shorter than 36 minutes, and its counters grow.
    return {"frames": len(marks), "beeps": len(onsets), "offsetSeconds": sync_offset(marks, onsets),
            "tone": tone_report(samples, 48000)}


async def write_clip(path, seconds, width, height):
    """The published pattern and beeps, on their one clock, into a file: frame 30·k and the beep of second k start
    together. The sound is AAC at 44.1 kHz in stereo (not the 48 kHz mono it is made at), so a reader of the file
    has to convert it."""
    pictures = PatternTrack(width, height, FPS, counter=True, epoch=0.0)   # an epoch long past: no waiting
    beeps = BeepTrack(0.0)
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=44100)
    frames = int(seconds * FPS)
    with av.open(path, "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "veryfast", "g": str(FPS)}
        audio = out.add_stream("aac", rate=44100)
        audio.layout = "stereo"
        heard = 0.0
        for index in range(frames):
            picture = await pictures.recv()
            picture.pts, picture.time_base = index, fractions.Fraction(1, FPS)
            for packet in video.encode(picture.reformat(format="yuv420p")):
                out.mux(packet)
            while heard < (index + 1) / FPS:
                block = await beeps.recv()
                heard = beeps.samples / 48000
                for converted in resampler.resample(block):
                    for packet in audio.encode(converted):
                        out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        for converted in resampler.resample(None):
            for packet in audio.encode(converted):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
    return {"frames": frames, "seconds": frames / FPS, "width": width, "height": height}


async def listen(tracks, deadline, onsets, epoch):
    """Beep onsets of the first sound track, on arrival (s after `epoch`), until `deadline`."""
    while not tracks and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    while tracks and time.monotonic() < deadline:
        try:
            frame = await asyncio.wait_for(tracks[0].recv(), max(0.01, deadline - time.monotonic()))
        except (asyncio.TimeoutError, MediaStreamError):
            break
        arrived = time.monotonic() - epoch
        onsets.feed(mono_of(frame), frame.sample_rate, arrived)


async def roundtrip(whip, whep, seconds, warmup, width, height, audio, token, timeout, also):
    publisher, video, whip_location = await start_publisher(whip, width, height, audio, token, timeout)
    sound_tracks = [] if audio else None
    player, track, whep_location = await start_player(whep, token, timeout, sound_tracks)
    onsets = Onsets()
    if audio:
        listening = asyncio.ensure_future(listen(sound_tracks, time.monotonic() + warmup + seconds, onsets, video.start))
    measure_from = time.monotonic() + warmup
    webrtc = LatencyMeter(video.sent, width, height, measure_from)
    others = {}
    for name_url in also:
        name, url = name_url.split("=", 1)
        meter = LatencyMeter(video.sent, width, height, measure_from)
        thread = threading.Thread(target=read_stream, args=(url, meter, measure_from + seconds, timeout), daemon=True)
        thread.start()
        others[name] = (meter, thread)
    await receive_frames(track, 1 << 30, warmup + seconds, webrtc.add)
    if audio:
        await listening
    for meter, thread in others.values():
        await asyncio.get_running_loop().run_in_executor(None, thread.join, timeout)
    delete(whep_location, token, timeout)
    delete(whip_location, token, timeout)
    await player.close()
    await publisher.close()
    report = {"framesSent": video.index, "webrtc": webrtc.report()}
    if audio:
        # Sound against picture at the player, after the warm-up (aiortc plays each as it comes: no lip sync of
        # its own, so this is what the stream itself carries).
        start = warmup
        marks = [(t - video.start, v) for t, v in webrtc.marks if t - video.start >= start]
        later = [t for t in onsets.times if t >= start]
        report["webrtc"]["soundOffsetSeconds"] = sync_offset(marks, later)
        report["webrtc"]["beeps"] = len(later)
    for name, (meter, _) in others.items():
        report[name] = meter.report()
        if getattr(meter, "error", None):
            report[name]["error"] = meter.error
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["whep", "whip", "roundtrip", "pattern", "sync", "clip"])
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--audio", action="store_true")
    parser.add_argument("--save")
    parser.add_argument("--also", action="append", default=[], help="NAME=URL: another way back to measure (roundtrip)")
    parser.add_argument("--token")
    parser.add_argument("--timeout", type=float, default=30)
    a = parser.parse_args()
    if a.mode == "pattern":
        frame = asyncio.run(PatternTrack(a.width, a.height, 30, counter=True).recv())
        with open(a.urls[0], "wb") as f:
            f.write(rgb_of(frame)[0])
        print(json.dumps({"width": a.width, "height": a.height}))
        return
    if a.mode == "clip":
        print(json.dumps(asyncio.run(write_clip(a.urls[0], a.seconds, a.width, a.height))))
        return
    if a.mode == "sync":
        try:
            print(json.dumps(recording_sync(a.urls[0], a.width)))
        except PeerError as e:
            print(f"webrtc-peer: {e}", file=sys.stderr)
            sys.exit(1)
        return
    if a.mode == "whep":
        job = play(a.urls[0], a.frames, a.save, a.audio, a.token, a.timeout)
    elif a.mode == "whip":
        job = publish(a.urls[0], a.seconds, a.width, a.height, a.audio, a.token, a.timeout)
    else:
        if len(a.urls) != 2:
            fail("roundtrip needs the WHIP URL and the WHEP URL")
        job = roundtrip(a.urls[0], a.urls[1], a.seconds, a.warmup, a.width, a.height, a.audio, a.token, a.timeout, a.also)
    try:
        report = asyncio.run(asyncio.wait_for(job, a.seconds + a.warmup + 3 * a.timeout))
    except asyncio.TimeoutError:
        report = PeerError(f"{a.urls[0]}: gave up after {a.seconds + 3 * a.timeout:.0f} s")
    except PeerError as e:
        report = e
    if isinstance(report, PeerError):
        print(f"webrtc-peer: {report}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
