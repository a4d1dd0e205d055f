#!/usr/bin/env bash
# Builds the streamd container image with podman and stylizes a picture inside it.
# - The base is Debian 12 made with mmdebstrap and imported (there is no image registry here); it is made once
#   and kept as localhost/debian-bookworm.
# - The image holds the release binary built here, the Swift runtime libraries it links, and the Debian
#   libraries it loads (deploy/container/Containerfile).
# - Then `streamd image` runs in a container on a Kodak photo from the shared data, as the unprivileged user.
# Needs: podman, runc, catatonit, mmdebstrap (Debian packages). Podman here runs only with runc and with equal
# soft and hard nofile/nproc limits, so this script points CONTAINERS_CONF at a file that says so.
# Usage: deploy/container/build.sh [TAG]   (default localhost/streamd:latest)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
shared="${STREAMD_SHARED_DIR:-$root/../shared}"
tag="${1:-localhost/streamd:latest}"
export PATH="/opt/swift/usr/bin:$PATH"
for tool in podman runc mmdebstrap; do
  command -v "$tool" > /dev/null || { echo "build.sh: $tool is missing (apt-get install podman runc catatonit mmdebstrap)" >&2; exit 1; }
done
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cat > "$work/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF="$work/containers.conf"

if ! podman image exists localhost/debian-bookworm:latest; then
  echo "== Debian 12 base (mmdebstrap)"
  mmdebstrap --variant=apt --quiet bookworm "$work/rootfs.tar"
  podman import "$work/rootfs.tar" localhost/debian-bookworm:latest > /dev/null
fi

echo "== streamd (release)"
(cd "$root" && swift build -c release --product streamd >&2)
mkdir -p "$work/context/swift-runtime"
cp "$root/.build/release/streamd" "$work/context/streamd"
ldd "$root/.build/release/streamd" | awk '/\/opt\/swift\// {print $3}' | while read -r lib; do cp -L "$lib" "$work/context/swift-runtime/"; done
cp "$here/Containerfile" "$work/context/Containerfile"

echo "== image $tag"
podman build --quiet -t "$tag" "$work/context" > /dev/null
podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$tag"

echo "== a picture stylized inside the container"
mkdir -p "$work/out"; chmod 777 "$work/out"
photo="$shared/media/images/kodak/kodim23.png"
podman run --rm --network none -v "$photo:/in/photo.png:ro" -v "$work/out:/out" "$tag" \
  image --style wave --max-size 384 /in/photo.png /out/photo-wave.png
test -s "$work/out/photo-wave.png"
mkdir -p "$root/.build/container"
cp "$work/out/photo-wave.png" "$root/.build/container/photo-wave.png"
echo "ok: .build/container/photo-wave.png ($(stat -c %s "$work/out/photo-wave.png") bytes), made by $(podman run --rm "$tag" --version 2>/dev/null || echo streamd) in $tag"
