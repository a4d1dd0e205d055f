#!/usr/bin/env bash
# Installs every Debian package streamd needs to build, test and run, on a fresh Debian 12 machine that
# has only Swift (at /opt/swift or on PATH). The single list of system dependencies: .ci/run and the
# README's commands call this script.
set -euo pipefail

packages=(
  pkg-config
  # FFmpeg 5.1 libraries (decode, encode, scale) and the CLI the tests use to make and probe media.
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libavdevice-dev libswresample-dev ffmpeg
  # BLAS for the convolutions (the pthread build is selected by update-alternatives).
  libopenblas-dev
  # OpenCV's optical flow (DIS) for temporal smoothing and the warping-error measure (pulls core and imgproc).
  libopencv-video-dev
  # Webcam access: V4L2 headers (linux/videodev2.h for `streamd devices`).
  libv4l-dev linux-libc-dev
  # A fake V4L2 camera in userspace for the tests (the kernel here has no V4L2): PipeWire's pw-v4l2 preload,
  # with WirePlumber, a private D-Bus session and a GStreamer test pattern as the video source.
  pipewire pipewire-bin pipewire-v4l2 wireplumber dbus
  gstreamer1.0-pipewire gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  # `systemd-analyze verify` lints configs/streamd.service in the tests; its ExecReload runs /bin/kill.
  systemd procps
  # Real streaming servers on loopback for the `serve` tests: GStreamer's RTSP server through python3-gi
  # (x264enc is in plugins-ugly) as a source, nginx with the RTMP module as a sink.
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-ugly
  nginx libnginx-mod-rtmp
  # Loopback HTTP(S) servers for the `models pull` and HLS-source tests (openssl makes the test certificate),
  # and the interpreter of bench/ scripts; python3-venv for the tests' PyPI peers (kubernetes-validate, aiortc),
  # each in a virtual environment under .build/venvs.
  python3 python3-venv openssl
  ca-certificates
  # The web page's end-to-end tests: a real headless Chromium driven over WebDriver on loopback.
  chromium chromium-driver
  # WebRTC (WHIP and WHEP): GStreamer's webrtcbin with libnice for ICE, x264 to send and libav to decode H.264.
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev libnice-dev
  gstreamer1.0-plugins-bad gstreamer1.0-nice gstreamer1.0-libav
  # Camera outputs: a PipeWire video source node made with libpipewire's stream API.
  libpipewire-0.3-dev
  # A real Slurm cluster on loopback for the scale-out tests (a controller and two compute nodes, each in its own
  # PID namespace through util-linux's unshare), with munge for its authentication.
  slurmctld slurmd slurm-client munge util-linux
)

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $sudo apt-get update -o DPkg::Lock::Timeout=300
  $sudo apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}"
fi
