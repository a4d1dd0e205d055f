#!/usr/bin/env bash
# Writes docs/painting-grid.jpg: rows of paintings (wave, scream, wreck, udnie), and in each row the painting,
# then `streamd image --style-image PAINTING` on three held-out photos (chicago, stata, face), then the built-in
# model's style of the same name on the same photos. Every picture is stylized at 448x336 and shown at 224x168.
# And docs/default-model.jpg: examples/parrots.jpg, then the built-in model's four styles of it (each 384x256).
# And docs/any-painting-grid.jpg: rows of styles (the four paintings arbitrary-fast learnt from, then the wave and
# the scream blended half and half, --style-image twice), and in each row the painting(s), `arbitrary` on chicago
# and stata, then `arbitrary-fast` (--fast) on the same photos. The four paintings it never saw (la_muse,
# rain_princess, matta, matilde_perez) are not public domain, so they are measured (bench/quality-table.sh and
# AnyPaintingStudentTests) but not pictured here.
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
# row OUT TILE...: the tiles side by side, each scaled to 224x168.
row() {
  local out="$1"; shift
  local inputs=() filter="" labels="" i=0 t
  for t in "$@"; do inputs+=(-i "$t"); filter+="[$i]scale=224:168[p$i];"; labels+="[p$i]"; i=$((i + 1)); done
  ffmpeg -v error -y "${inputs[@]}" -filter_complex "$filter${labels}hstack=inputs=$#" "$out"
}
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
  row "$work/row-$s.png" "${tiles[@]}"
  rows+=(-i "$work/row-$s.png")
done
ffmpeg -v error -y "${rows[@]}" -filter_complex "vstack=inputs=${#paintings[@]}" -q:v 3 "$root/docs/painting-grid.jpg"
parrots=(-i "$root/examples/parrots.jpg")
for s in "${paintings[@]}"; do
  "$streamd" image --style "$s" --max-size 384 "$root/examples/parrots.jpg" "$work/parrots-$s.png" 2>/dev/null
  parrots+=(-i "$work/parrots-$s.png")
done
ffmpeg -v error -y "${parrots[@]}" -filter_complex "[0]scale=384:256[p];[p][1][2][3][4]hstack=inputs=5" -q:v 3 "$root/docs/default-model.jpg"
rows=()
dir="$shared/media/images/style"
styles=("$dir/wave.jpg" "$dir/scream.jpg" "$dir/wreck.jpg" "$dir/udnie.jpg" "$dir/wave.jpg+$dir/scream.jpg")
for i in "${!styles[@]}"; do
  IFS=+ read -r -a pictures <<< "${styles[$i]}"
  args=()
  for picture in "${pictures[@]}"; do args+=(--style-image "$picture"); done
  if [ "${#pictures[@]}" = 1 ]; then
    ffmpeg -v error -y -i "${pictures[0]}" -vf "scale=224:168:force_original_aspect_ratio=increase,crop=224:168" "$work/any-$i.png"
  else
    ffmpeg -v error -y -i "${pictures[0]}" -i "${pictures[1]}" -filter_complex \
      "[0]scale=112:168:force_original_aspect_ratio=increase,crop=112:168[a];[1]scale=112:168:force_original_aspect_ratio=increase,crop=112:168[b];[a][b]hstack" \
      "$work/any-$i.png"
  fi
  tiles=("$work/any-$i.png")
  for fast in "" --fast; do
    for p in chicago stata; do
      "$streamd" image $fast "${args[@]}" "$work/$p.png" "$work/any-$i-$p$fast.png" 2>/dev/null
      tiles+=("$work/any-$i-$p$fast.png")
    done
  done
  row "$work/any-row-$i.png" "${tiles[@]}"
  rows+=(-i "$work/any-row-$i.png")
done
ffmpeg -v error -y "${rows[@]}" -filter_complex "vstack=inputs=${#styles[@]}" -q:v 3 "$root/docs/any-painting-grid.jpg"
echo "painting-grid: wrote docs/painting-grid.jpg, docs/default-model.jpg and docs/any-painting-grid.jpg" >&2
