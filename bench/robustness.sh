#!/usr/bin/env bash
# Robustness of `streamd transcode` against broadcast-style and damaged input, the long version of
# Tests/CLITests/TranscodeRobustnessTests. Each round builds a transport stream from FFmpeg's lavfi sources out
# of 2–4 pieces that differ at random (channels 1/2/6 and rate 32/44.1/48 kHz of one audio codec, MP2 or AC-3,
# picture size, a timestamp jump), then maybe truncates it or overwrites random bytes, and transcodes it into a random
# container. A round passes when streamd exits 0 with an output ffprobe decodes, or 1 with one error line, within
# the time limit, and leaves no hidden temporary file. Any signal (crash) or time-out fails the run.
# Usage: bench/robustness.sh [ROUNDS] [SEED]   (default 40 rounds, seed 1). STREAMD_BIN overrides the binary
# (default: a release build made here).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
shared="${STREAMD_SHARED_DIR:-$root/../shared}"
rounds="${1:-40}"; seed="${2:-1}"
export PATH="/opt/swift/usr/bin:$PATH"
if [ -z "${STREAMD_BIN:-}" ]; then
  (cd "$root" && swift build -c release --product streamd >&2)
  STREAMD_BIN="$root/.build/release/streamd"
fi
model="$shared/models/johnson-fns-onnx/candy.onnx"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
RANDOM="$seed"
pick() { local a=("$@"); echo "${a[$((RANDOM % ${#a[@]}))]}"; }
ok=0; refused=0; crashed=0; hung=0; leftovers=0; undecodable=0
for round in $(seq "$rounds"); do
  dir="$work/r$round"; mkdir -p "$dir"
  # One audio codec per stream (a transport stream keeps its codec; its layout and rate are what change).
  pieces=$((2 + RANDOM % 3)); offset=0; parts=(); codec=$(pick mp2 ac3)
  for p in $(seq "$pieces"); do
    channels=$(pick 1 2 6); rate=$(pick 32000 44100 48000)
    [ "$codec" = mp2 ] && [ "$channels" = 6 ] && channels=2
    size=$(pick 128x96 160x120 96x64); [ $((RANDOM % 5)) = 0 ] && offset=$((offset + 30))
    ffmpeg -v error -y -f lavfi -i "testsrc2=size=$size:rate=25:duration=1.5" \
      -f lavfi -i "sine=frequency=$((300 + RANDOM % 700)):sample_rate=48000:duration=1.5" \
      -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a "$codec" -ac "$channels" -ar "$rate" \
      -output_ts_offset "$offset" -f mpegts "$dir/p$p.ts"
    parts+=("$dir/p$p.ts"); offset=$((offset + 2))
  done
  cat "${parts[@]}" > "$dir/in.ts"; rm -f "${parts[@]}"
  damage=$(pick none none truncate corrupt)
  case "$damage" in
    truncate) python3 -c "import os,sys,random; random.seed($seed*1000+$round); p=sys.argv[1]; os.truncate(p, random.randint(os.path.getsize(p)//4, os.path.getsize(p)))" "$dir/in.ts" ;;
    corrupt) python3 -c "
import random,sys; random.seed($seed*1000+$round); p=sys.argv[1]; b=bytearray(open(p,'rb').read())
for _ in range(random.randint(5,60)):
    i=random.randrange(len(b)); b[i:i+8]=bytes(random.randrange(256) for _ in range(8))[:len(b)-i]
open(p,'wb').write(b)" "$dir/in.ts" ;;
  esac
  # WebM twice as often: it cannot carry MP2 or AC-3, so its audio goes through the converter.
  ext=$(pick mp4 mkv webm webm avi mov); out="$dir/out.$ext"
  set +e
  timeout -s KILL 300 "$STREAMD_BIN" transcode --model "$model" --max-size 64 "$dir/in.ts" "$out" > /dev/null 2> "$dir/err"
  status=$?
  set -e
  verdict=ok
  if [ "$status" = 137 ]; then hung=$((hung + 1)); verdict=HUNG
  elif [ "$status" -gt 1 ]; then crashed=$((crashed + 1)); verdict="CRASH($status)"
  elif [ "$status" = 1 ]; then refused=$((refused + 1)); verdict="refused: $(tail -1 "$dir/err")"
  elif ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$out" > /dev/null 2>&1; then ok=$((ok + 1))
  else undecodable=$((undecodable + 1)); verdict=UNDECODABLE; fi
  if ls -A "$dir" | grep -q '^\.'; then leftovers=$((leftovers + 1)); verdict="$verdict +LEFTOVER"; fi
  echo "round $round: $pieces pieces, $damage, → .$ext: $verdict"
  rm -rf "$dir"
done
echo
echo "| rounds | exit 0, decodes | exit 1, one-line error | crashes | hangs | undecodable | temporary files left |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
echo "| $rounds | $ok | $refused | $crashed | $hung | $undecodable | $leftovers |"
[ $((crashed + hung + undecodable + leftovers)) = 0 ]
