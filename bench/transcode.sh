#!/usr/bin/env bash
# End-to-end transcode speed next to `streamd bench` at the same frame size, and peak resident memory.
# Usage: bench/transcode.sh [MODEL]   (default: ../shared/models/johnson-fns-onnx/candy.onnx)
# Prints a Markdown table. Builds streamd in release mode first. Decode, colour conversion and encode run on
# their own threads beside the stylize workers, so end-to-end fps should approach `streamd bench` fps.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
shared="${STREAMD_SHARED_DIR:-$root/../shared}"
model="${1:-$shared/models/johnson-fns-onnx/candy.onnx}"
export PATH="/opt/swift/usr/bin:$PATH"
(cd "$root" && swift build -c release --product streamd >&2)
streamd="$root/.build/release/streamd"
cores="$(nproc)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "model: $model; $cores cores; transcode uses its defaults (one worker per core, fewer when memory needs it, the cores divided among them as compute threads), bench uses --threads $cores"
echo
echo "| clip | size | frames | end-to-end fps | bench fps (same size) | ratio | peak RSS MB |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
for clip in fox_h264_640x640.mp4 cockatoo_h264_1280x720.mp4 portrait_h264_3840x2160_60fps_rot-90.mp4; do
  in="$shared/media/video/$clip"
  w="$(ffprobe -v error -select_streams v:0 -show_entries stream=width -of default=nw=1:nk=1 "$in" | head -1)"
  h="$(ffprobe -v error -select_streams v:0 -show_entries stream=height -of default=nw=1:nk=1 "$in" | head -1)"
  case "$clip" in *rot-90*) t="$w"; w="$h"; h="$t";; esac
  start=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$work/rss" "$streamd" transcode --model "$model" --overwrite "$in" "$work/out.mp4" 2> "$work/log" || { cat "$work/log" >&2; exit 1; }
  end=$(date +%s.%N)
  frames="$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$work/out.mp4")"
  e2e="$(python3 -c "print(f'{$frames/($end-$start):.2f}')")"
  bench="$("$streamd" bench --model "$model" --size "${w}x${h}" --threads "$cores" --iterations 3 --warmup 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["fps"])')"
  ratio="$(python3 -c "print(f'{$e2e/$bench:.2f}')")"
  rss="$(python3 -c "print(round($(cat "$work/rss")/1024))")"
  echo "| $clip | ${w}x${h} | $frames | $e2e | $bench | $ratio | $rss |"
done

# How to split the cores: stylize workers (frames in flight) × compute threads per worker. The transcode
# defaults (--workers = cores, --threads 1) come from this table.
echo
echo "| fox_h264_640x640.mp4, 5 s | workers × threads | end-to-end fps | peak RSS MB |"
echo "| --- | --- | ---: | ---: |"
in="$shared/media/video/fox_h264_640x640.mp4"
for config in "1 $cores" "$cores 1" "$((cores * 2)) 1"; do
  set -- $config
  start=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$work/rss" "$streamd" transcode --model "$model" --workers "$1" --threads "$2" --duration 5 \
    --overwrite "$in" "$work/out.mp4" 2> "$work/log" || { cat "$work/log" >&2; exit 1; }
  end=$(date +%s.%N)
  frames="$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$work/out.mp4")"
  e2e="$(python3 -c "print(f'{$frames/($end-$start):.2f}')")"
  rss="$(python3 -c "print(round($(cat "$work/rss")/1024))")"
  echo "| | $1 × $2 | $e2e | $rss |"
done
