#!/usr/bin/env bash
# The same benchmarks on two builds of streamd, alternating in one run so that the machine's drift hits both
# alike: `bench/peers.py` (streamd bench beside ONNX Runtime, multistyle26 at 640x480, 2 threads) and
# `bench/live.sh` (RTSP → multistyle26 → RTMP, 2 workers × 1 thread). For a change that must not change speed.
# Usage: bench/before-after.sh BEFORE_BINARY AFTER_BINARY [ROUNDS] [LIVE_SECONDS]   (default 3 rounds, 30 s)
# Needs what peers.sh and live.sh need (bench/.venv with onnxruntime: run bench/peers.sh once).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
before="$1"; after="$2"; rounds="${3:-3}"; live_seconds="${4:-30}"
[ -x "$here/.venv/bin/python" ] || { echo "bench/.venv is missing: run bench/peers.sh once" >&2; exit 1; }
echo "before: $before"
echo "after:  $after"
echo "$(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1); $rounds alternating rounds"
for round in $(seq "$rounds"); do
  for side in before after; do
    bin="$before"; [ "$side" = after ] && bin="$after"
    echo
    echo "## round $round, $side"
    "$here/.venv/bin/python" "$here/peers.py" --streamd "$bin" --network multistyle26 --sizes 640x480 --rounds 2 | grep -E '^\|'
    STREAMD_BIN="$bin" "$here/live.sh" "$live_seconds" 2x1 | grep -E '^\| [0-9]'
  done
done
