#!/usr/bin/env bash
# Randomized API stress of `streamd serve`, the long version of LifecycleHardeningTests' stress test: CLIENTS
# threads send random starts, stops, reloads (SIGHUP too) and style changes (model and strength) to one recording
# pipeline for SECONDS. Checked throughout and at the end: at most one run of the pipeline at any time (its
# "source" stage threads, read from /proc), every request answered (a style change on a stopped pipeline may be
# 404), a final stop leaves no run, SIGTERM exits 0, and every visible recording decodes with nothing hidden left.
# Usage: bench/api-stress.sh [SECONDS] [CLIENTS]   (default 300 s, 4 clients). STREAMD_BIN overrides the binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
shared="${STREAMD_SHARED_DIR:-$root/../shared}"
seconds="${1:-300}"; clients="${2:-4}"
export PATH="/opt/swift/usr/bin:$PATH"
if [ -z "${STREAMD_BIN:-}" ]; then
  (cd "$root" && swift build -c release --product streamd >&2)
  STREAMD_BIN="$root/.build/release/streamd"
fi
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
token="stress-token-0123456789"
cat > "$work/streamd.yml" <<YAML
server:
  listen: 127.0.0.1
  port: $port
  token: "$token"
  model_dirs:
    - $shared/models/ml5
pipelines:
  cam:
    source:
      url: $shared/media/video/carphone_h264_176x144.mp4
      loop: true
    model: wave
    max_size: 64
    workers: 1
    outputs:
      - record: $work/rec/cam.mp4
        preset: ultrafast
        rotate_every: 5s
YAML
"$STREAMD_BIN" serve --config "$work/streamd.yml" > "$work/serve.log" 2>&1 &
pid=$!
python3 - "$port" "$token" "$pid" "$seconds" "$clients" "$work/rec" <<'PY'
import json, os, random, signal, subprocess, sys, threading, time, urllib.error, urllib.request
port, token, pid, seconds, clients, rec = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
base = f"http://127.0.0.1:{port}"
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r: return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e: return e.code, json.loads(e.read() or b"{}")
def sources():
    n = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            if open(f"/proc/{pid}/task/{t}/comm").read().strip() == "source": n += 1
        except OSError: pass
    return n
for _ in range(300):
    try:
        if urllib.request.urlopen(base + "/readyz", timeout=2).status == 200: break
    except Exception: time.sleep(0.2)
else: sys.exit("serve did not become ready")
end = time.time() + seconds
lock = threading.Lock(); stats = {"requests": 0, "unexpected": [], "max_sources": 0, "samples": 0}
def monitor():
    while time.time() < end:
        n = sources()
        with lock: stats["max_sources"] = max(stats["max_sources"], n); stats["samples"] += 1
        time.sleep(0.02)
def client(k):
    rnd = random.Random(k)
    while time.time() < end:
        op = rnd.randrange(7)
        if op == 6:
            os.kill(pid, signal.SIGHUP); status, path = 200, "SIGHUP"
        else:
            method, path, body = [("POST", "/v1/pipelines/cam/start", None), ("POST", "/v1/pipelines/cam/start", None),
                                  ("POST", "/v1/pipelines/cam/stop", None), ("POST", "/v1/reload", None),
                                  ("POST", "/v1/pipelines/cam/style", {"model": rnd.choice(["wave", "udnie"])}),
                                  ("POST", "/v1/pipelines/cam/style", {"strength": rnd.choice([0.3, 0.6, 1.0])})][op]
            status, _ = call(method, path, body)
        with lock:
            stats["requests"] += 1
            if status != 200 and not (status == 404 and path.endswith("/style")): stats["unexpected"].append((path, status))
        time.sleep(rnd.random() * 0.2)
threads = [threading.Thread(target=monitor)] + [threading.Thread(target=client, args=(k,)) for k in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
call("POST", "/v1/pipelines/cam/start")
status, body = call("POST", "/v1/pipelines/cam/stop")
time.sleep(0.2)
left = sources()
os.kill(pid, signal.SIGTERM)
t0 = time.time()
def running():
    try: return "\tZ" not in open(f"/proc/{pid}/status").read().split("State:")[1][:4]
    except (OSError, IndexError): return False
while time.time() - t0 < 60 and running(): time.sleep(0.1)
print(f"SIGTERM took {time.time() - t0:.1f} s")
files = sorted(os.listdir(rec)) if os.path.isdir(rec) else []
hidden = [f for f in files if f.startswith(".")]
visible = [f for f in files if not f.startswith(".")]
bad = [f for f in visible if subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
        "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", os.path.join(rec, f)], capture_output=True).returncode != 0]
print(f"| seconds | clients | requests | unexpected answers | max runs at once ({stats['samples']} samples) | stop state | runs left after stop | recordings | undecodable | temporary left |")
print("| ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
print(f"| {seconds:.0f} | {clients} | {stats['requests']} | {len(stats['unexpected'])} | {stats['max_sources']} | {body.get('state')} | {left} | {len(visible)} | {len(bad)} | {len(hidden)} |")
if stats["unexpected"]: print("unexpected:", stats["unexpected"][:10])
ok = not stats["unexpected"] and stats["max_sources"] <= 1 and body.get("state") == "stopped" and left == 0 and not bad and not hidden
sys.exit(0 if ok else 1)
PY
status=$?
wait "$pid"; serve_status=$?; pid=""
echo "serve exit status after SIGTERM: $serve_status"
[ "$status" = 0 ] && [ "$serve_status" = 0 ]
