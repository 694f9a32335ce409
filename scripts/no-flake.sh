#!/usr/bin/env bash
# Runs the whole default check (contract + load against the embedded reference server)
# N times in a row and counts failures: proof that the rate checks do not cry wolf.
# Usage: scripts/no-flake.sh [N] [path/to/tollgate]   (default: 20 runs, target/debug/tollgate)
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
bin=${2:-target/debug/tollgate}
[ -x "$bin" ] || cargo build --quiet
log_dir=${NOFLAKE_LOGS:-target/no-flake}
mkdir -p "$log_dir"
passed=0 failed=0
for i in $(seq "$runs"); do
  start=$(date +%s)
  if NO_COLOR=1 "$bin" run --seed "$i" >"$log_dir/run-$i.log" 2>&1; then
    passed=$((passed + 1)); verdict=passed
  else
    failed=$((failed + 1)); verdict="FAILED (see $log_dir/run-$i.log)"
    grep -E "^(FAIL|      ✗)" "$log_dir/run-$i.log" | head -20
  fi
  echo "run $i/$runs: $verdict in $(( $(date +%s) - start )) s"
done
echo "no-flake: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
