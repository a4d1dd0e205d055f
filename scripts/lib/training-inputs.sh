# Sourced by the scripts that train streamd's built-in networks (with $root set to the package root and the
# script's name as the argument): sets $shared to ../shared (or STREAMD_SHARED_DIR), checked for the Kodak photos
# and the paintings, and $STREAMD_BIN to a release build of streamd unless given.
training_inputs() {
  local name="$1" f
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
