# Sourced by bench/temporal.sh and bench/temporal-training.sh: the release build they measure, a scratch folder
# removed on exit, the shared clips, and the warping-error measure. Not run on its own.
# Sets: root, shared, streamd, work, temporal_clips ("name|file|transcode options"; the last, the dashcam, is
# the hard case outside the goal's three).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
shared="${STREAMD_SHARED_DIR:-$root/../shared}"
build="${STREAMD_BUILD_DIR:-$root/.build}"
export PATH="/opt/swift/usr/bin:$PATH"
(cd "$root" && swift build -c release --product streamd --scratch-path "$build" >&2)
streamd="$build/release/streamd"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

temporal_clips=(
  "static camera|cockatoo_h264_1280x720.mp4|--width 640 --duration 3"
  "moving camera|bear_vp9_320x240.webm|"
  "webcam-like|asl_again_h264_640x480.mkv|"
  "dashcam (hard)|roadtrip_vp9-10bit_426x240.webm|"
)

# `streamd eval temporal` of the frame folder $3 (PNG, %06d) against the original clip $1, over its first $2
# frames (the evaluator scales the original to the stylized size; the count matches a --duration cut), and with
# a fourth argument against that reference folder too. Prints "ERROR [PSNR WORST]".
measure_temporal() {
  local in="$1" frames="$2" out="$3" ref="${4:-}"
  local args=("$in" "$out/%06d.png" --max-frames "$frames")
  [ -n "$ref" ] && args+=(--reference "$ref/%06d.png")
  "$streamd" eval temporal "${args[@]}" > "$work/eval"
  local error psnr
  error="$(awk -F': ' '/^warping error/ {print $2}' "$work/eval")"
  psnr="$(sed -n 's/^psnr vs reference: \([0-9.inf]*\) dB (worst frame \([0-9.inf]*\) dB)/\1 \2/p' "$work/eval")"
  echo "$error ${psnr:-}"
}
