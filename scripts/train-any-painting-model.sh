#!/usr/bin/env bash
# Reproduces streamd's built-in `arbitrary-fast` model: a light network that takes any painting (its norms
# follow the painting's 100-value style embedding from the built-in predictor), distilled from the built-in
# Magenta transformer (`arbitrary`). The built-in `default`'s shape at 8/16/32 channels (depthwise-separable
# residual blocks and sampling, 3x3 strided edges: 1,121 multiply-adds per pixel), so it runs in real time even on
# the first-generation Zen.
#
#   scripts/train-any-painting-model.sh [--work DIR] [--steps N] [--wider-from N] [--image-size N]
#                                       [--width-multiplier W] [--install]
#
# The styles it learns (TrainingEmbeddings): the four public-domain paintings and Kodak photos, each whole and in
# 5 random crops (every other one hue-turned), and as many blends between two of those. Up to --wider-from
# (default 5000) with eight of the photos (12 x 6 = 72 embeddings + 72 blends), then up to --steps (default
# 12000) with all 24 (28 x 6 = 168 + 168 blends): the wider second set reaches more of the space that unseen
# paintings fall in. The four other paintings in ../shared (la_muse, rain_princess, matta, matilde_perez: not
# public domain, test use only) are never seen and measure how it generalises.
# --width-multiplier scales johnson's 32/64/128 channels (default 0.25, the 8/16/32 above; 0.5 gives the 16/32/64
# network shipped before, 3,458 multiply-adds per pixel, which paints a little more of each painting at a third of
# the speed; at 8,000 steps the 8/16/32 one painted only two of the four unseen paintings nearest the teacher's
# own, at 12,000 all four: see the README, "Quality against speed").
# It checkpoints every 100 steps into DIR (default .build/any-painting-model) and, run again with the same DIR,
# resumes from the newest checkpoint.
# --install copies the result to Sources/BundledModels/arbitrary_fast.safetensors (rebuild streamd to link it in).
# Inputs, from ../shared (or STREAMD_SHARED_DIR):
#   photos  media/images/kodak/kodim01..24.png (Kodak suite, "released for unrestricted usage")
#   styles  media/images/style/{wave,scream,wreck,udnie}.jpg (public domain) and kodim01,04,07,10,13,16,19,22
#   teacher the built-in arbitrary-style network and its predictor (Magenta, Apache-2.0)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
work="$root/.build/any-painting-model"; steps=12000; wider_from=5000; image_size=256; width=0.25; install=0
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --wider-from) wider_from="$2"; shift 2 ;;
    --image-size) image_size="$2"; shift 2 ;;
    --width-multiplier) width="$2"; shift 2 ;;
    --install) install=1; shift ;;
    *) echo "train-any-painting-model: unknown option $1" >&2; exit 2 ;;
  esac
done
. "$here/lib/training-inputs.sh"
training_inputs train-any-painting-model
mkdir -p "$work/style-photos" "$work/style-photos-all"
for n in 01 04 07 10 13 16 19 22; do ln -sf "$shared/media/images/kodak/kodim$n.png" "$work/style-photos/kodim$n.png"; done
for f in "$shared"/media/images/kodak/kodim*.png; do ln -sf "$f" "$work/style-photos-all/$(basename "$f")"; done
styles="$shared/media/images/style"
start=$(date +%s)
train_to() {  # target-step style-folder
  local target="$1" folder="$2"
  resume_from "$work/arbitrary_fast-checkpoints" "$target" || return 0
  "$STREAMD_BIN" train --dataset-path "$shared/media/images/kodak" --teacher arbitrary --any-painting \
    --style-image "$styles/wave.jpg" --style-image "$styles/scream.jpg" --style-image "$styles/wreck.jpg" --style-image "$styles/udnie.jpg" \
    --style-folder "$folder" --style-crops 5 \
    --arch light --edge-kernel 3 --depthwise-sampling --strided-edges --width-multiplier "$width" --image-size "$image_size" --batch-size 4 --max-steps "$target" \
    --checkpoint-interval 100 --sample-interval 500 --seed 1 --threads 2 \
    --out "$work/arbitrary_fast.safetensors" --overwrite "${resume[@]}"
}
if [ "$wider_from" -lt "$steps" ]; then
  train_to "$wider_from" "$work/style-photos"
  train_to "$steps" "$work/style-photos-all"
else
  train_to "$steps" "$work/style-photos"
fi
echo "train-any-painting-model: done in $(( $(date +%s) - start )) s (this run)" >&2
if [ "$install" = 1 ]; then install_bundled "$work/arbitrary_fast.safetensors" arbitrary_fast.safetensors; fi
