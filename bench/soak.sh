#!/usr/bin/env bash
# Long run of `streamd serve` under a live source: an RTSP test pattern (GStreamer's RTSP server, 640x480 at
# 25 fps) → the built-in model (at 480x360, one worker: it leaves a core for other work) → a recording rotated
# every minute and an HLS playlist, while a client switches
# the style every 15 s (the built-in styles, strength, smoothing, and two uploaded paintings, which move the
# pipeline to the `arbitrary-fast` network and back). Samples the service's resident memory (VmRSS) every
# 10 s and at the end checks that every finished recording decodes completely with FFmpeg.
# Passes when resident memory after the warm-up (the first tenth of the run, at least 2 minutes) stays within
# ±5% of its median, every style switch is answered 200, and every recording decodes.
# Usage: bench/soak.sh [SECONDS]   (default 3600). STREAMD_BIN overrides the binary (default: a release build
# made here). SOAK_OUT keeps the samples and the log in that directory.
# Needs scripts/install-deps.sh (GStreamer RTSP server, python3-gi).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
shared="${STREAMD_SHARED_DIR:-$root/../shared}"
seconds="${1:-3600}"
export PATH="/opt/swift/usr/bin:$PATH"
if [ -z "${STREAMD_BIN:-}" ]; then
  (cd "$root" && swift build -c release --product streamd >&2)
  STREAMD_BIN="$root/.build/release/streamd"
fi
work="$(mktemp -d)"; chmod 755 "$work"
out="${SOAK_OUT:-$work/out}"; mkdir -p "$out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
. "$here/lib.sh"
rtsp_port="$(port)"; api_port="$(port)"
/usr/bin/python3 "$root/scripts/testing/rtsp-server.py" "$rtsp_port" cam 640x480 25 > "$work/rtsp.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do grep -q ready "$work/rtsp.log" && break; sleep 0.1; done
grep -q ready "$work/rtsp.log" || { echo "RTSP server did not start" >&2; exit 1; }
mkdir -p "$work/rec" "$work/hls"
cat > "$work/streamd.yml" <<YML
server:
  listen: 127.0.0.1
  port: $api_port
  token: soak-token-0123456789
  log_level: warning
pipelines:
  cam:
    source:
      url: rtsp://127.0.0.1:$rtsp_port/cam
      timeout: 5s
    model: default
    style: wave
    max_size: 480
    workers: 1
    threads: 1
    outputs:
      - record: $work/rec/cam.mp4
        preset: veryfast
        rotate_every: 60s
      - hls: $work/hls
        preset: veryfast
YML
"$STREAMD_BIN" serve --config "$work/streamd.yml" 2> "$out/serve.log" & serve=$!; pids+=($serve)
echo "soak: $seconds s of serve (pid $serve) on $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1); binary $STREAMD_BIN"
python3 - "$api_port" "$serve" "$seconds" "$shared" "$out" <<'PY'
import json, os, statistics, sys, time, urllib.error, urllib.request
port, pid, seconds, shared, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
base = f"http://127.0.0.1:{port}"
def call(method, path, body=None, raw=None, ctype="application/json"):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(base + path, method=method, data=data,
                                 headers={"Content-Type": ctype, "Authorization": "Bearer soak-token-0123456789"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r: return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e: return e.code, json.loads(e.read() or b"{}")
def rss_kib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1])
for _ in range(300):
    try:
        if urllib.request.urlopen(base + "/readyz", timeout=2).status == 200: break
    except Exception: time.sleep(0.2)
else: sys.exit("serve did not become ready")
paintings = []
for name in ["scream.jpg", "la_muse.jpg"]:
    path = next((os.path.join(d, f) for d, _, fs in os.walk(os.path.join(shared, "media")) for f in fs if f == name), None)
    if path:
        status, body = call("POST", "/v1/styles?name=" + name, raw=open(path, "rb").read(), ctype="image/jpeg")
        if status == 201: paintings.append(body["id"])
        else: sys.exit(f"uploading {name}: {status} {body}")
changes = [{"model": "default", "style": "udnie"}, {"strength": 0.6}, {"smoothing": 0.5}, {"style": "wave", "strength": 1.0},
           {"smoothing": 0}] + [{"style_image": p} for p in paintings] + [{"model": "default", "style": "wave"}]
start = time.time(); end = start + seconds
samples, answers, unexpected, k = [], 0, [], 0
next_switch, next_sample, next_report = start + 15, start, start + 300
with open(os.path.join(out, "rss.tsv"), "w") as log:
    while time.time() < end:
        now = time.time()
        if now >= next_sample:
            rss = rss_kib(); samples.append((now - start, rss)); log.write(f"{now - start:.0f}\t{rss}\n"); log.flush()
            next_sample += 10
        if now >= next_switch:
            change = changes[k % len(changes)]; k += 1
            status, body = call("POST", "/v1/pipelines/cam/style", change)
            answers += 1
            if status != 200: unexpected.append((change, status, body))
            next_switch += 15
        if now >= next_report:
            _, state = call("GET", "/v1/pipelines/cam")
            frames = state.get("frames", {})
            print(f"  {now - start:5.0f} s: RSS {samples[-1][1] / 1024:.0f} MiB, {frames.get('out')} frames out, "
                  f"{frames.get('dropped')} dropped, {state.get('fps', 0):.1f} fps", flush=True)
            next_report += 300
        time.sleep(0.2)
_, state = call("GET", "/v1/pipelines/cam")
warm = max(120, seconds / 10)
steady = [r for t, r in samples if t >= warm]
median = statistics.median(steady)
low, high = min(steady), max(steady)
print(f"style switches: {answers}, unexpected answers: {len(unexpected)} {unexpected[:3]}")
frames = state.get("frames", {})
print(f"frames: {frames.get('in')} in, {frames.get('out')} out, {frames.get('dropped')} dropped; "
      f"source reconnects {state.get('source_reconnects')}; state {state.get('state')}")
print(f"RSS after {warm:.0f} s warm-up: median {median / 1024:.1f} MiB, min {low / 1024:.1f} ({100 * (low / median - 1):+.1f}%), "
      f"max {high / 1024:.1f} ({100 * (high / median - 1):+.1f}%); first sample {samples[0][1] / 1024:.1f} MiB, last {samples[-1][1] / 1024:.1f} MiB")
ok = not unexpected and high <= 1.05 * median and low >= 0.95 * median and state.get("state") == "running"
open(os.path.join(out, "verdict"), "w").write("pass" if ok else "fail")
PY
kill -TERM "$serve"; wait "$serve" || true
recordings=("$work"/rec/*.mp4)
bad=0
for f in "${recordings[@]}"; do
  # Every frame demuxed and decoded (ffprobe, as bench/api-stress.sh checks). Not `ffmpeg -f null`: its
  # encoder counts in the nominal frame rate and complains of equal timestamps for a live recording's frames
  # that came closer than 1/25 s after a drop, which is its output's problem, not the file's.
  if ! ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$f" > /dev/null 2> "$work/decode.err" \
     || [ -s "$work/decode.err" ]; then
    echo "recording does not decode cleanly: $(basename "$f"): $(head -c 300 "$work/decode.err")"; bad=$((bad + 1))
  fi
done
frames=$(for f in "${recordings[@]}"; do ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$f"; done | awk '{s += $1} END {print s}')
echo "recordings: ${#recordings[@]} files, $bad that do not decode cleanly, $frames frames in all"
ls "$work/hls" | grep -c '\.ts$' | sed 's/^/HLS segments on disk: /'
verdict="$(cat "$out/verdict")"
[ "$bad" -eq 0 ] || verdict=fail
echo "soak: $verdict"
[ "$verdict" = pass ]
