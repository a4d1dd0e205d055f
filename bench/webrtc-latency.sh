#!/usr/bin/env bash
# Glass-to-glass latency of the WebRTC round trip, beside RTMP and HLS: an aiortc publisher (bench/webrtc-peer.py)
# sends a 640×480 30 fps test pattern carrying a frame counter through WHIP into `streamd serve` built in release
# mode; the pipeline stylizes it with the built-in model and sends it out three ways at once: WHEP (an aiortc
# player), RTMP (nginx-rtmp, read by FFmpeg through PyAV with nobuffer) and HLS (2 s segments, read from the
# playlist as a player would, from the live edge). Each reader decodes the counter from the stylized picture.
# Latency is the time from handing a frame to the publisher's encoder to decoding it at the reader, on one clock;
# p50/p95 over the measured window after a warm-up. Needs scripts/install-deps.sh (nginx, libnginx-mod-rtmp).
# The publisher also sends sound (a beep starting every second with the frame that marks it); the WebRTC player
# reports how far the sound it hears is from the picture it sees (negative: sound early). NO_SOUND=1 sends
# pictures only.
# WEBRTC_ONLY=1 leaves RTMP and HLS out: the pipeline then has no outputs but its WebRTC player (their two x264
# encodes take CPU from stylizing on 2 cores, and every way back waits longer for it).
# Usage: bench/webrtc-latency.sh [SECONDS] [WORKERSxTHREADS...]   (default: 30 s; 2x1)
# STREAMD_BIN runs that binary instead of a release build made here. Both peers run on this machine: their
# H.264 encode and decode (aiortc, Python) share the cores with streamd, as a browser on the same laptop would.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
seconds="${1:-30}"; shift || true
splits=("$@"); [ "${#splits[@]}" -gt 0 ] || splits=(2x1)
warmup=8
export PATH="/opt/swift/usr/bin:$PATH"
if [ -n "${STREAMD_BIN:-}" ]; then streamd="$STREAMD_BIN"; else
  (cd "$root" && swift build -c release --product streamd >&2)
  streamd="$root/.build/release/streamd"
fi
venv="$root/.build/venvs/aiortc"
if [ ! -x "$venv/bin/python" ] || [ ! -e "$venv/.installed-aiortc" ]; then
  python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check aiortc && touch "$venv/.installed-aiortc"
fi
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
. "$here/lib.sh"
port="$(port)"
token="bench-token-0123456789abcdef"

rtmp_port="$(port)"
start_nginx_rtmp "$rtmp_port"

ways=", RTMP and HLS at once"; [ -z "${WEBRTC_ONLY:-}" ] || ways=" only"
sound=" with sound"; sound_flag=(--audio); [ -z "${NO_SOUND:-}" ] || { sound=""; sound_flag=(); }
echo "WHIP 640x480@30${sound} (aiortc) → built-in model → WHEP (aiortc)${ways}; ${seconds} s measured after ${warmup} s warm-up; $(nproc) cores"
echo
echo "| workers×threads | way back | frames back | counter read | glass-to-glass p50 ms | p95 ms | max ms | sound − picture ms |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for split in "${splits[@]}"; do
  workers="${split%x*}"; threads="${split#*x}"
  cat > "$work/streamd.yml" <<YML
server:
  listen: 127.0.0.1
  port: $port
  token: "$token"
  log_level: warning
  webrtc_addresses: [127.0.0.1]
pipelines:
  cam:
    source:
      url: "whip:"
    max_size: 640
    workers: $workers
    threads: $threads
YML
  if [ -z "${WEBRTC_ONLY:-}" ]; then
    cat >> "$work/streamd.yml" <<YML
    outputs:
      - url: rtmp://127.0.0.1:$rtmp_port/live/cam
      - hls: $work/hls
        segment_length: 2s
YML
    also=(--also "rtmp=rtmp://127.0.0.1:$rtmp_port/live/cam" --also "hls=$work/hls/index.m3u8")
  else
    also=()
  fi
  "$streamd" serve --config "$work/streamd.yml" > "$work/serve.log" 2>&1 & serve=$!; pids+=($serve)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break; sleep 0.2; done
  base="http://127.0.0.1:$port/v1/pipelines/cam"
  "$venv/bin/python" "$here/webrtc-peer.py" roundtrip "$base/whip" "$base/whep" --seconds "$seconds" --warmup "$warmup" "${sound_flag[@]}" \
    "${also[@]}" --token "$token" > "$work/report.json" 2> "$work/peer.err" || { cat "$work/peer.err" "$work/serve.log" >&2; exit 1; }
  python3 - "$work/report.json" "$split" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for way, label in (("webrtc", "WebRTC (WHEP)"), ("rtmp", "RTMP"), ("hls", "HLS, 2 s segments")):
    if way not in r:
        continue
    w = r[way]
    note = f" ({w['error']})" if "error" in w else ""
    offset = w.get("soundOffsetSeconds")
    sound = f"{offset * 1000:.0f} ({w['beeps']} beeps)" if offset is not None else "-"
    print(f"| {sys.argv[2]} | {label}{note} | {w['framesReceived']} | {w['readable']} | {w.get('p50ms', '-')} | {w.get('p95ms', '-')} | {w.get('maxms', '-')} | {sound} |")
PY
  kill "$serve"; wait "$serve" 2>/dev/null || true
done
