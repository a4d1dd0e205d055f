#!/usr/bin/env bash
# Runs the whole test suite after `swift build --build-tests` (the README's test command and .ci/run call it), in
# two shards at once, and ends with what the suite cost: its wall time, the ten slowest tests, and one closing line
# `N passed, N failed`. Exits non-zero when a test failed, a shard's test process crashed, or a test listed by
# `swift test list` did not run.
#
# Why two shards: on two cores the serve, browser and streaming tests spend much of their time waiting (paced
# live sources, HTTP deadlines, sockets), while the kernel, training and transcode tests keep a core busy. The
# shard split is by module or class (scripts/test-shards.txt names the first shard; everything else
# runs in the second); each shard is one test process, so classes keep their shared fixtures.
#
# Environment: STREAMD_TEST_SHARDS=1 runs everything in one process (serially, as `swift test` alone does);
# STREAMD_TEST_LOGS=DIR keeps the shards' logs there (default: .build/test-logs); STREAMD_TEST_LIMIT=SECONDS
# bounds each shard (default 2100: 35 minutes, CI's budget on the slowest CPU this project runs on, where the whole
# suite takes about 17). A shard over its limit is killed and the tests it was running are named as failed, so a
# hang costs minutes and says where it is instead of running into CI's own limit without a word.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

logs=${STREAMD_TEST_LOGS:-.build/test-logs}
rm -rf "$logs"
mkdir -p "$logs"
started=$(date +%s)

# Every test the build holds, as Module.Class/test (the list the run is checked against).
if ! swift test list --skip-build > "$logs/all-tests.txt" 2> "$logs/list.err"; then
  cat "$logs/list.err" >&2
  echo "scripts/run-tests.sh: swift test list failed: run swift build --build-tests first" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
expected=$(grep -c . "$logs/all-tests.txt")

# The first shard: one extended regular expression over Module.Class/test.
first=$(grep -v '^#' scripts/test-shards.txt | grep . | sed 's|^|^|; s|$|[./]|' | paste -sd'|')
grep -E "$first" "$logs/all-tests.txt" > "$logs/shard1.tests"
grep -vE "$first" "$logs/all-tests.txt" > "$logs/shard2.tests"
cp "$logs/all-tests.txt" "$logs/all.tests"

# Each shard runs the test bundle itself (two `swift test` processes would wait on each other's lock of .build),
# given its tests by name, line-buffered so the progress lines count tests as they finish.
bundle="$(swift build --show-bin-path)/streamdPackageTests.xctest"
limit=${STREAMD_TEST_LIMIT:-2100}
run_shard() {  # shard name
  stdbuf -oL -eL timeout -s KILL "$limit" "$bundle" "$(paste -sd, "$logs/$1.tests")" > "$logs/$1.log" 2>&1
  status=$?
  echo $status > "$logs/$1.status"
  if [ "$status" = 137 ]; then
    # The test that started and never finished: the one that hung.
    hung=$(sed -nE "s/^Test Case '([^']+)' started.*/\1/p" "$logs/$1.log" | tail -1)
    echo "scripts/run-tests.sh: $1 killed after its limit of $limit s, in $hung" | tee -a "$logs/$1.log" >&2
  fi
}

if [ "${STREAMD_TEST_SHARDS:-2}" = 1 ]; then
  run_shard all
  shards=(all)
else
  run_shard shard1 &
  one=$!
  run_shard shard2 &
  two=$!
  # Progress while they run: a line a minute with the count of finished tests.
  ticks=0
  while kill -0 "$one" 2>/dev/null || kill -0 "$two" 2>/dev/null; do
    sleep 2
    ticks=$((ticks + 1))
    if [ $((ticks % 30)) = 0 ]; then
      done_count=$(cat "$logs"/shard1.log "$logs"/shard2.log | grep -c "^Test Case '.*' \(passed\|failed\) (")
      echo "tests: $done_count of $expected finished after $(( $(date +%s) - started )) s"
    fi
  done
  wait "$one" "$two"
  shards=(shard1 shard2)
fi

# Each shard's output in full, one after the other (failures are read where they happened).
for shard in "${shards[@]}"; do
  echo "=== $shard ==="
  cat "$logs/$shard.log"
done

results="$logs/results.txt"   # seconds, status, Class.test
for shard in "${shards[@]}"; do cat "$logs/$shard.log"; done \
  | sed -nE "s/^Test Case '([^']+)' (passed|failed) \(([0-9.]+) seconds\).*/\3 \2 \1/p" > "$results"
passed=$(grep -c ' passed ' "$results")
failed=$(grep -c ' failed ' "$results")
crashed=0
for shard in "${shards[@]}"; do
  status=$(cat "$logs/$shard.status" 2>/dev/null || echo 1)
  if [ "$status" != 0 ] && ! grep -q "^Test Case '.*' failed (" "$logs/$shard.log"; then
    echo "scripts/run-tests.sh: $shard's test process exited with status $status without a failed test (a crash?)" >&2
    crashed=$((crashed + 1))
  fi
done
# Every listed test ran (a crash ends a shard early).
ran=$(awk '{print $3}' "$results" | sed 's/\./\//' | sort -u)
missing=$(sed -E 's/^[^.]+\.//' "$logs/all-tests.txt" | sort -u | comm -23 - <(echo "$ran"))
missing_count=$(printf '%s' "$missing" | grep -c . || true)

elapsed=$(( $(date +%s) - started ))
echo
echo "Slowest tests:"
sort -rn "$results" | head -10 | awk '{printf "  %8.1f s  %s\n", $1, $3}'
# The CPU by name, family and model: "AMD EPYC" alone does not tell a first-generation Zen from a Zen 4.
cpu="$(lscpu | sed -nE 's/^Model name: +//p') (family $(lscpu | sed -nE 's/^CPU family: +//p'), model $(lscpu | sed -nE 's/^Model: +//p'))"
printf 'Test suite: %d tests in %d min %02d s of wall time (%s shard(s)) on %s\n' "$((passed + failed))" \
  $((elapsed / 60)) $((elapsed % 60)) "${#shards[@]}" "$cpu"
if [ "$missing_count" -gt 0 ]; then
  echo "Did not run ($missing_count):"
  echo "$missing" | head -20 | sed 's/^/  /'
fi
failed_total=$((failed + missing_count + crashed))
echo "$passed passed, $failed_total failed"
[ "$failed_total" = 0 ]
