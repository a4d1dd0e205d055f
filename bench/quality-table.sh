#!/usr/bin/env bash
# The README's quality table: `streamd eval quality` per painting on the held-out photos (../shared/media/images/
# content and examples/parrots.jpg, at most 512 px), the built-in model's style of that painting beside the
# arbitrary-style network with the painting itself and its real-time student (arbitrary-fast), the ml5 network of
# the same painting and, for udnie and la_muse, Johnson's. Then the four paintings arbitrary-fast never saw in
# training (la_muse, rain_princess, matta, matilde_perez: test use only), with the same networks but the built-in
# model, which has no such style. Extra models to compare (e.g. a candidate built-in model) come as arguments:
# FILE (its style of the painting's name is used; public-domain paintings only). Prints Markdown rows.
#   bench/quality-table.sh [STREAMD] [-- EXTRA_MODEL.safetensors ...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
streamd="${1:-$root/.build/release/streamd}"; shift || true
[ "${1:-}" = "--" ] && shift
extra=("$@")
shared="${STREAMD_SHARED_DIR:-$(dirname "$root")/shared}"
photos=("$shared/media/images/content" "$root/examples/parrots.jpg")
echo "| painting | model | structure | colour ΔE | style loss |"
echo "| --- | --- | ---: | ---: | ---: |"
for s in wave scream wreck udnie la_muse rain_princess matta matilde_perez; do
  case "$s" in
    wave|scream|wreck|udnie) models=(--model "default#$s"); for m in "${extra[@]}"; do models+=(--model "$m#$s"); done ;;
    *) models=() ;;
  esac
  models+=(--model arbitrary --model arbitrary-fast --model "$shared/models/ml5/$s")
  [ -e "$shared/models/johnson-fns-onnx/$s.onnx" ] && models+=(--model "$shared/models/johnson-fns-onnx/$s.onnx")
  "$streamd" eval quality --json --style-image "$shared/media/images/style/$s.jpg" "${models[@]}" "${photos[@]}" 2>/dev/null |
    python3 -c '
import json, sys
r = json.load(sys.stdin)
painting = sys.argv[1]
for i, row in enumerate(r["rows"]):
    m = row["mean"]
    name = row["model"].split("/")[-1]
    label = (painting + ("" if painting in ("wave", "scream", "wreck", "udnie") else " (unseen)")) if i == 0 else ""
    print("| %s | %s | %.3f | %.1f | %.3g |" % (label, name, m["structure"], m["colour"], m["style"]))
' "$s"
done
