#!/usr/bin/env bash
# Reproduces streamd's built-in `default` model from scratch with `streamd train`: one light multi-style network
# (8/16/32 channels, 3 depthwise-separable residual blocks, depthwise-separable sampling, 3x3 strided edges: the
# "strided3" shape of the architecture sweep at a quarter of johnson's widths, 1,121 multiply-adds per pixel; tanh
# output) for four public-domain paintings, trained on the 24 photographs of the Kodak Lossless True Color Image
# Suite.
#
#   scripts/train-default-model.sh [--work DIR] [--steps N] [--phases LIST] [--average N] [--width-multiplier W]
#                                  [--image-size N] [--style-size N] [--install]
#
# The network is distilled from the built-in arbitrary-style network (Magenta's, painting with each of the four
# paintings) in phases, each a line of LIST (comma-separated UNTIL:STYLE:COLOUR:CONTENT, the step it trains to
# and the weights of the style, colour and content losses beside the pixel loss against the teacher's pictures).
# The default, the shipped weights' recipe:
#   2000:0:0:0        the pixel loss alone: the teacher's colours and shapes, its strokes averaged away;
#   2400:0.3:0:0      the style loss (paintings at --style-size 512) brings the painting's textures back;
#   2800:0.3:5:5e-4   the colour loss (the paintings' colours as distributions) pulls the palette to the
#                     painting's, which the pixel loss, keeping more of the photo's own colours than the teacher
#                     does, and the style loss do not; the content loss (VGG19 relu2_2 against the photo) holds
#                     the photo's shapes meanwhile;
#   3200:0.5:8:1e-3   and
#   3600:1:8:1e-3     stronger style and colour, for the textures a network this narrow loses first.
# Last, the weights of the last --average N checkpoints (default 4: steps 3450, 3500, 3550 and 3600) are averaged
# (`streamd models average`): each step's weights carry the noise of its last batches (over the last phase's
# checkpoints udnie's colour ranged over 4.7-5.8 dE); the mean is steadier than any one of them (1 keeps the last).
# --steps N stops at step N (default: the last phase's end). --width-multiplier scales johnson's 32/64/128 channels
# (default 0.25; 0.5 is the 16/32/64 network, 3,458 multiply-adds per pixel, shipped before).
# It checkpoints every 50 steps into DIR (default .build/default-model) and, run again with the same DIR,
# resumes from the newest checkpoint, so a stopped run loses at most 50 steps.
# --install copies the result to Sources/BundledModels/default.safetensors (rebuild streamd to link it in).
# Inputs, from ../shared (or STREAMD_SHARED_DIR), none of them downloaded at run time because this machine has no
# internet beyond package registries; each file's origin is in ../shared/media/README.md:
#   photos  media/images/kodak/kodim01..24.png  (Kodak suite, "released for unrestricted usage")
#   styles  media/images/style/{wave,scream,wreck,udnie}.jpg  (Hokusai c. 1831, Munch 1893, Turner c. 1810,
#           Picabia 1913: public domain)
#   teacher the built-in arbitrary-style network (Sources/BundledModels: Magenta, Apache-2.0)
#   loss    the built-in VGG19 (CC BY; for the style and content losses)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
work="$root/.build/default-model"; steps=""; average=4; phases="2000:0:0:0,2400:0.3:0:0,2800:0.3:5:5e-4,3200:0.5:8:1e-3,3600:1:8:1e-3"
width=0.25; image_size=256; style_size=512; install=0
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --phases) phases="$2"; shift 2 ;;
    --average) average="$2"; shift 2 ;;
    --width-multiplier) width="$2"; shift 2 ;;
    --image-size) image_size="$2"; shift 2 ;;
    --style-size) style_size="$2"; shift 2 ;;
    --install) install=1; shift ;;
    *) echo "train-default-model: unknown option $1" >&2; exit 2 ;;
  esac
done
IFS=, read -r -a phase_list <<<"$phases"
for phase in "${phase_list[@]}"; do
  [[ "$phase" =~ ^[0-9]+:[0-9.e+-]+:[0-9.e+-]+:[0-9.e+-]+$ ]] || { echo "train-default-model: phase '$phase' is not UNTIL:STYLE:COLOUR:CONTENT" >&2; exit 2; }
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
    --out "$work/last-step.safetensors" --checkpoint-dir "$work/default-checkpoints" --overwrite "${resume[@]}"
}
start=$(date +%s)
for phase in "${phase_list[@]}"; do
  IFS=: read -r until style colour content <<<"$phase"
  if [ -n "$steps" ] && [ "$steps" -lt "$until" ]; then until="$steps"; fi
  train_to "$until" "$style" "$colour" "$content"
  if [ -n "$steps" ] && [ "$until" -ge "$steps" ]; then break; fi
done
if [ "$average" -gt 1 ]; then
  # The last step (with the run's description) first, then the checkpoints before it.
  mapfile -t earlier < <(for d in "$work"/default-checkpoints/step-*; do if [ -d "$d" ]; then echo "${d##*step-} $d"; fi; done |
                           sort -n | tail -n "$average" | head -n "$((average - 1))" | cut -d' ' -f2-)
  "$STREAMD_BIN" models average --name default -o "$work/default.safetensors" --overwrite "$work/last-step.safetensors" "${earlier[@]}"
else
  cp "$work/last-step.safetensors" "$work/default.safetensors"
fi
echo "train-default-model: wrote $work/default.safetensors in $(( $(date +%s) - start )) s (this run)" >&2
if [ "$install" = 1 ]; then install_bundled "$work/default.safetensors" default.safetensors; fi
