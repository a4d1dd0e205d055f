#!/usr/bin/env bash
# Stability learned in training against stability added at run time (issue 12, part 4): the same network
# trained without and with `streamd train --temporal-weight` (one or more weights), each run plain and with
# run-time smoothing (flow 0.5), over the three goal clips of bench/temporal.sh. For every clip and style it prints the
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
source "$(dirname "$0")/temporal-common.sh"
styles_list="${STYLES:-0 1 2 3}"

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
for entry in "${temporal_clips[@]:0:3}"; do
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
      if [ "$key" = plain ]; then read -r e _ <<< "$(measure_temporal "$in" "$frames" "$out")"; p=""
      else read -r e p _ <<< "$(measure_temporal "$in" "$frames" "$out" "$base")"; fi
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
