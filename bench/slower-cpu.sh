#!/usr/bin/env bash
# The built-in real-time networks' speed as the first-generation Zen EPYC (AVX2 only) would run their code:
# `streamd bench` (2 threads) at 640x480 and 1280x720 for the built-in `default` (wave) and `arbitrary-fast`
# (the Great Wave as the painting: the live path for a painting), plus any extra model files, each twice in
# alternating rounds: with OpenBLAS's kernels for this CPU, and with OPENBLAS_CORETYPE=Zen, the AVX2 kernels
# OpenBLAS picks on a first-generation Zen (streamd's own kernels are AVX2 on every CPU). On that CPU the two
# columns are the same run; on a newer one the second shows what the AVX-512 matrix products were worth, so
# that only the clock and the width of the FMA units are left to the 2.5-3x ratio.
#   bench/slower-cpu.sh [STREAMD] [ROUNDS] [-- EXTRA.safetensors[+painting] ...]
# An extra model runs its first style, or with `+painting` appended, the Great Wave as its painting (a network
# that takes any painting).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
streamd="${1:-$root/.build/release/streamd}"; shift || true
rounds="${1:-3}"; shift || true
[ "${1:-}" = "--" ] && shift
shared="${STREAMD_SHARED_DIR:-$(dirname "$root")/shared}"
wave="$shared/media/images/style/wave.jpg"
[ -e "$wave" ] || { echo "slower-cpu: $wave is missing (set STREAMD_SHARED_DIR)" >&2; exit 1; }
cases=("default|--style wave" "arbitrary-fast|--style-image $wave")
for m in "$@"; do
  case "$m" in
    *+painting) cases+=("${m%+painting}|--style-image $wave") ;;
    *) cases+=("$m|--style-index 0") ;;
  esac
done
echo "$(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(grep -m1 -o 'avx512f' /proc/cpuinfo || echo 'no AVX-512'); $rounds alternating rounds; $(date -u '+%Y-%m-%d %H:%M UTC')"
declare -A ms
for round in $(seq "$rounds"); do
  for size in 640x480 1280x720; do
    for c in "${cases[@]}"; do
      model="${c%%|*}"; args="${c#*|}"
      for blas in native Zen; do
        env=(); [ "$blas" = Zen ] && env=(OPENBLAS_CORETYPE=Zen)
        # shellcheck disable=SC2086
        out="$(env "${env[@]}" "$streamd" bench --model "$model" $args --size "$size" --threads 2 --iterations 20 --json)"
        v="$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["ms_per_frame"])' <<<"$out")"
        ms["$model|$size|$blas"]+="$v "
      done
    done
  done
done
echo
echo "| network | frame | ms/frame (OpenBLAS for this CPU) | ms/frame (OpenBLAS's AVX2 kernels) | frames/s (AVX2) | projected on the first-generation Zen (÷2.5–3) |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
for size in 640x480 1280x720; do
  for c in "${cases[@]}"; do
    model="${c%%|*}"
    python3 - "$(basename "$model")" "$size" "${ms[$model|$size|native]}" "${ms[$model|$size|Zen]}" <<'EOF'
import sys, statistics
name, size, native, avx2 = sys.argv[1], sys.argv[2], [float(v) for v in sys.argv[3].split()], [float(v) for v in sys.argv[4].split()]
a, b = statistics.median(native), statistics.median(avx2)
print("| %s | %s | %.1f (%s) | %.1f (%s) | %.1f | %.3g–%.3g fps |" % (name, size, a, " / ".join("%.1f" % v for v in native),
      b, " / ".join("%.1f" % v for v in avx2), 1000 / b, 1000 / b / 3, 1000 / b / 2.5))
EOF
  done
done
