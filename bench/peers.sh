#!/usr/bin/env bash
# Builds streamd (release), installs ONNX Runtime into bench/.venv from PyPI, and prints the speed table of
# bench/peers.py. Arguments are passed on to peers.py (e.g. --sizes 640x480 --rounds 5).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --product streamd >&2
if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv" >&2 || /usr/bin/python3 -m venv "$here/.venv" >&2
fi
"$here/.venv/bin/pip" install --quiet --disable-pip-version-check onnxruntime onnx numpy >&2
exec "$here/.venv/bin/python" "$here/peers.py" "$@"
