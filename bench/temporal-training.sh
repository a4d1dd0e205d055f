#!/usr/bin/env bash
# Stability learned in training against stability added at run time (issue 12, part 4): the same network
# trained without and with `streamd train --temporal-weight` (one or more weights), each run plain and with
# run-time smoothing (flow 0.5), over the clips of bench/temporal.sh. For every clip and style it prints the
# warping error (Lai et al. 2018, `streamd eval temporal`) of each, and how far each is from the plain run of
# the network trained without the loss (PSNR): how much steadier, and how much the picture changed for it.
# Usage: bench/temporal-training.sh WITHOUT.safetensors WITH.safetensors [WITH2.safetensors ...]
# Environment: STYLES (default "0 1 2 3"), ONLY (clips whose file name contains it), STREAMD_BUILD_DIR.
# Prints a Markdown table. Builds streamd in release mode first.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: bench/temporal-training.sh WITHOUT.safetensors WITH.safetensors [WITH2.safetensors ...]" >&2; exit 2; }
without="$1"; shift
withs=("$@")
for m in "$without" "${withs[@]}"; do [ -f "$m" ] || { echo "temporal-training: $m: no such model file" >&2; exit 1; }; done
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
shared="${STREAMD_SHARED_DIR:-$root/../shared}"
build="${STREAMD_BUILD_DIR:-$root/.build}"
export PATH="/opt/swift/usr/bin:$PATH"
(cd "$root" && swift build -c release --product streamd --scratch-path "$build" >&2)
streamd="$build/release/streamd"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# name | file | transcode options (as bench/temporal.sh)
clips=(
  "static camera|cockatoo_h264_1280x720.mp4|--width 640 --duration 3"
  "moving camera|bear_vp9_320x240.webm|"
  "webcam-like|asl_again_h264_640x480.mkv|"
)
styles_list="${STYLES:-0 1 2 3}"

# Warping error of a frame folder, or "error psnr" with a reference folder.
measure() {
  local in="$1" frames="$2" out="$3" ref="${4:-}"
  local args=("$in" "$out/%06d.png" --max-frames "$frames")
  [ -n "$ref" ] && args+=(--reference "$ref/%06d.png")
  "$streamd" eval temporal "${args[@]}" > "$work/eval"
  local error psnr
  error="$(awk -F': ' '/^warping error/ {print $2}' "$work/eval")"
  psnr="$(sed -n 's/^psnr vs reference: \([0-9.inf]*\) dB.*/\1/p' "$work/eval")"
  echo "$error ${psnr:-}"
}

echo "without: $without"
header="| clip | style | plain | + flow 0.5 |"; rule="| --- | --- | ---: | ---: |"; psnr_header="+ flow 0.5"
for i in "${!withs[@]}"; do
  echo "trained $((i + 1)): ${withs[$i]}"
  header+=" trained $((i + 1)) | trained $((i + 1)) + flow 0.5 |"; rule+=" ---: | ---: |"; psnr_header+=" / trained $((i + 1)) / both"
done
echo "$(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "$header PSNR vs plain (dB): $psnr_header |"
echo "$rule ---: |"
for entry in "${clips[@]}"; do
  IFS='|' read -r name file options <<< "$entry"
  case "$file" in *"${ONLY:-}"*) ;; *) continue;; esac
  in="$shared/media/video/$file"
  for style in $styles_list; do
    declare -A err=() psnr=()
    base=""
    runs=("plain|$without|" "flow|$without|--smooth 0.5 --smooth-mode flow")
    for i in "${!withs[@]}"; do runs+=("t$i|${withs[$i]}|" "b$i|${withs[$i]}|--smooth 0.5 --smooth-mode flow"); done
    for run in "${runs[@]}"; do
      IFS='|' read -r key model smooth <<< "$run"
      out="$work/$key/"
      rm -rf "$out"
      # shellcheck disable=SC2086
      "$streamd" transcode --model "$model" --style-index "$style" $options $smooth "$in" "$out" 2> "$work/log" \
        || { cat "$work/log" >&2; exit 1; }
      if [ -z "$base" ]; then base="$work/base"; rm -rf "$base"; cp -r "$out" "$base"; frames="$(ls "$base" | wc -l)"; fi
      if [ "$key" = plain ]; then read -r e _ <<< "$(measure "$in" "$frames" "$out")"; p=""
      else read -r e p <<< "$(measure "$in" "$frames" "$out" "$base")"; fi
      err[$key]="$e"; psnr[$key]="$p"
      rm -rf "$out"
    done
    pct() { python3 -c "print(f'{$1:.5f} ({100*($1/$2-1):+.0f}%)')"; }
    row="| $name | $style | ${err[plain]} | $(pct "${err[flow]}" "${err[plain]}") |"
    psnrs="${psnr[flow]}"
    for i in "${!withs[@]}"; do
      row+=" $(pct "${err[t$i]}" "${err[plain]}") | $(pct "${err[b$i]}" "${err[plain]}") |"
      psnrs+=" / ${psnr[t$i]} / ${psnr[b$i]}"
    done
    echo "$row $psnrs |"
  done
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
