#!/usr/bin/env bash
# Writes docs/painting-grid.jpg: rows of paintings (wave, scream, wreck, udnie), and in each row the painting,
# then `streamd image --style-image PAINTING` on three held-out photos (chicago, stata, face), then the built-in
# model's style of the same name on the same photos. Every picture is stylized at 448x336 and shown at 224x168.
# And docs/default-model.jpg: examples/parrots.jpg, then the built-in model's four styles of it (each 384x256).
#   scripts/painting-grid.sh [STREAMD] [SHARED]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
streamd="${1:-$root/.build/release/streamd}"
shared="${2:-$(dirname "$root")/shared}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
photos=(chicago stata face)
paintings=(wave scream wreck udnie)
for p in "${photos[@]}"; do
  ffmpeg -v error -y -i "$shared/media/images/content/$p.jpg" -vf "scale=448:336:force_original_aspect_ratio=increase,crop=448:336" "$work/$p.png"
done
rows=()
for s in "${paintings[@]}"; do
  tiles=("$work/painting-$s.png")
  ffmpeg -v error -y -i "$shared/media/images/style/$s.jpg" -vf "scale=224:168:force_original_aspect_ratio=increase,crop=224:168" "$work/painting-$s.png"
  for p in "${photos[@]}"; do
    "$streamd" image --style-image "$shared/media/images/style/$s.jpg" "$work/$p.png" "$work/a-$s-$p.png" 2>/dev/null
    tiles+=("$work/a-$s-$p.png")
  done
  for p in "${photos[@]}"; do
    "$streamd" image --style "$s" "$work/$p.png" "$work/b-$s-$p.png" 2>/dev/null
    tiles+=("$work/b-$s-$p.png")
  done
  inputs=()
  for t in "${tiles[@]}"; do inputs+=(-i "$t"); done
  ffmpeg -v error -y "${inputs[@]}" -filter_complex \
    "[0]null[p0];[1]scale=224:168[p1];[2]scale=224:168[p2];[3]scale=224:168[p3];[4]scale=224:168[p4];[5]scale=224:168[p5];[6]scale=224:168[p6];[p0][p1][p2][p3][p4][p5][p6]hstack=inputs=7" \
    "$work/row-$s.png"
  rows+=(-i "$work/row-$s.png")
done
ffmpeg -v error -y "${rows[@]}" -filter_complex "vstack=inputs=${#paintings[@]}" -q:v 3 "$root/docs/painting-grid.jpg"
parrots=(-i "$root/examples/parrots.jpg")
for s in "${paintings[@]}"; do
  "$streamd" image --style "$s" --max-size 384 "$root/examples/parrots.jpg" "$work/parrots-$s.png" 2>/dev/null
  parrots+=(-i "$work/parrots-$s.png")
done
ffmpeg -v error -y "${parrots[@]}" -filter_complex "[0]scale=384:256[p];[p][1][2][3][4]hstack=inputs=5" -q:v 3 "$root/docs/default-model.jpg"
echo "painting-grid: wrote docs/painting-grid.jpg and docs/default-model.jpg" >&2
