#!/usr/bin/env bash
# Reproduces streamd's built-in `default` model from scratch with `streamd train`: one light multi-style network
# (16/32/64 channels, 3 depthwise-separable residual blocks, depthwise-separable sampling, 3x3 strided edges: the
# "strided3" shape the architecture sweep picked, 3,458 multiply-adds per pixel; tanh output) for four
# public-domain paintings, trained on the 24 photographs of the Kodak Lossless True Color Image Suite.
#
#   scripts/train-default-model.sh [--work DIR] [--steps N] [--style-from STEP] [--lambda-style W]
#                                  [--colour-from STEP] [--lambda-colour W] [--lambda-content W] [--width-multiplier W]
#                                  [--image-size N] [--style-size N] [--install]
#
# Three phases. First the network is distilled from the built-in arbitrary-style network (Magenta's, painting
# with each of the four paintings): the pixel loss alone up to --style-from (default 2000). Then the style loss
# of weight --lambda-style (default 0.3, the paintings at --style-size 512) joins the pixel loss up to
# --colour-from (default 2400): the pixel loss alone learns the teacher's colours and shapes but averages its
# strokes away, the style loss brings the painting's textures back. Last the colour loss of weight
# --lambda-colour (default 5: the paintings' colours as distributions) joins both up to --steps (default 2800):
# the pixel loss keeps more of the photo's own colours than the teacher does, and neither it nor the style loss
# pulls the palette to the painting's. The shipped weights are exactly these defaults.
# It checkpoints every 50 steps into DIR (default .build/default-model) and, run again with the same DIR,
# resumes from the newest checkpoint, so a stopped run loses at most 50 steps.
# --install copies the result to Sources/BundledModels/default.safetensors (rebuild streamd to link it in).
# Inputs, from ../shared (or STREAMD_SHARED_DIR), none of them downloaded at run time because this machine has no
# internet beyond package registries; each file's origin is in ../shared/media/README.md:
#   photos  media/images/kodak/kodim01..24.png  (Kodak suite, "released for unrestricted usage")
#   styles  media/images/style/{wave,scream,wreck,udnie}.jpg  (Hokusai c. 1831, Munch 1893, Turner c. 1810,
#           Picabia 1913: public domain)
#   teacher the built-in arbitrary-style network (Sources/BundledModels: Magenta, Apache-2.0)
#   loss    the built-in VGG19 (CC BY; used for the second phase's style loss)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
work="$root/.build/default-model"; steps=2800; style_from=2000; lambda_style=0.3; colour_from=2400; lambda_colour=5
lambda_content=0; width=0.5
image_size=256; style_size=512; install=0
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --style-from) style_from="$2"; shift 2 ;;
    --lambda-style) lambda_style="$2"; shift 2 ;;
    --colour-from) colour_from="$2"; shift 2 ;;
    --lambda-colour) lambda_colour="$2"; shift 2 ;;
    --lambda-content) lambda_content="$2"; shift 2 ;;
    --width-multiplier) width="$2"; shift 2 ;;
    --image-size) image_size="$2"; shift 2 ;;
    --style-size) style_size="$2"; shift 2 ;;
    --install) install=1; shift ;;
    *) echo "train-default-model: unknown option $1" >&2; exit 2 ;;
  esac
done
. "$here/lib/training-inputs.sh"
training_inputs train-default-model
mkdir -p "$work"
styles="$shared/media/images/style"
train_to() {  # target-step style-weight colour-weight content-weight
  local target="$1" weight="$2" colour="$3" content="$4"
  resume_from "$work/default-checkpoints" "$target" || return 0
  "$STREAMD_BIN" train --dataset-path "$shared/media/images/kodak" --teacher arbitrary \
    --style-image "$styles/wave.jpg" --style-image "$styles/scream.jpg" --style-image "$styles/wreck.jpg" --style-image "$styles/udnie.jpg" \
    --style-names wave,scream,wreck,udnie --style-size "$style_size" --lambda-style "$weight" --lambda-colour "$colour" \
    --lambda-content "$content" --arch light --edge-kernel 3 --depthwise-sampling --strided-edges --width-multiplier "$width" --image-size "$image_size" --batch-size 4 --epochs 100000 --max-steps "$target" \
    --checkpoint-interval 50 --sample-interval 500 --seed 1 --threads 2 \
    --out "$work/default.safetensors" --overwrite "${resume[@]}"
}
start=$(date +%s)
min() { [ "$1" -lt "$2" ] && echo "$1" || echo "$2"; }
train_to "$(min "$style_from" "$steps")" 0 0 0
[ "$style_from" -ge "$steps" ] || train_to "$(min "$colour_from" "$steps")" "$lambda_style" 0 0
[ "$colour_from" -ge "$steps" ] || train_to "$steps" "$lambda_style" "$lambda_colour" "$lambda_content"
echo "train-default-model: wrote $work/default.safetensors in $(( $(date +%s) - start )) s (this run)" >&2
if [ "$install" = 1 ]; then install_bundled "$work/default.safetensors" default.safetensors; fi
