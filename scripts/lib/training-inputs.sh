# Sourced by the scripts that train streamd's built-in networks (with $root set to the package root).
# training_inputs NAME (the script's name, for messages): sets $shared to ../shared (or STREAMD_SHARED_DIR),
# checked for the Kodak photos and the paintings, and $STREAMD_BIN to a release build of streamd unless given.
training_inputs() {
  local name="$1" f
  training_name="$name"
  shared="${STREAMD_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}"
  for f in media/images/kodak/kodim01.png media/images/style/wave.jpg; do
    [ -e "$shared/$f" ] || { echo "$name: $shared/$f is missing (set STREAMD_SHARED_DIR)" >&2; exit 1; }
  done
  if [ -z "${STREAMD_BIN:-}" ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
    (cd "$root" && swift build -c release --product streamd >&2)
    STREAMD_BIN="$(cd "$root" && swift build -c release --show-bin-path)/streamd"
  fi
}

# resume_from DIR TARGET: sets the array $resume to `--checkpoint-model NEWEST` when DIR holds a step-N checkpoint
# (and says so), to nothing when it holds none; returns 1 when the newest is at TARGET or past it (nothing to do).
resume_from() {
  local dir="$1" target="$2" latest
  resume=()
  latest="$(for d in "$dir"/step-*; do if [ -d "$d" ]; then echo "${d##*step-} $d"; fi; done | sort -n | tail -1)"
  [ -n "$latest" ] || return 0
  [ "${latest%% *}" -lt "$target" ] || return 1
  resume=(--checkpoint-model "${latest#* }")
  echo "$training_name: resuming from ${latest#* }" >&2
}

# install_bundled FILE NAME: copies a trained model to Sources/BundledModels/NAME and makes the next build link it
# (SwiftPM does not see the files .incbin reads).
install_bundled() {
  cp "$1" "$root/Sources/BundledModels/$2"
  touch "$root/Sources/BundledModels/bundled_models.S"
  echo "$training_name: installed as Sources/BundledModels/$2" >&2
}
