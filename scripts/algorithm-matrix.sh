#!/usr/bin/env bash
# The full algorithm matrix: every limiter family of the reference server, with and without
# a burst, against each rate fault; prints one line per cell with the verdict and the
# failing check ids, and exits 1 when any cell gives the wrong verdict.
# Usage: scripts/algorithm-matrix.sh [classes...]   (default class: read; builds the release binary unless BIN= names one)
#        RUNS=20 FAULTS=conformant ALGORITHMS="gcra fixed-window" scripts/algorithm-matrix.sh
#        FAULTS=all scripts/algorithm-matrix.sh    (every rate fault, not only the six listed)
#        BURSTS="0 1 q/4 q/2 q" FAULTS=conformant scripts/algorithm-matrix.sh read write files_read files_write search
#          (every burst from none to a whole window's quota, per class: q is the class's quota,
#           100 for read and write, 20 for files and search, at the published 1 s windows)
set -euo pipefail
cd "$(dirname "$0")/.."
# BIN=target/debug/tollgate skips the release build (the phases are bound by time, not CPU).
bin=${BIN:-target/release/tollgate}
[[ -n ${BIN:-} ]] || cargo build --release --quiet
classes=("${@:-read}")
runs=${RUNS:-1}
algorithms=(${ALGORITHMS:-gcra token-bucket leaky-bucket fixed-window sliding-log sliding-window-counter})
faults=(${FAULTS:-conformant limit-150 limit-60 global-limit shared-read-write counts-rejected})
bursts=(${BURSTS:-default 0})
port=${PORT:-18181}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The check each fault must fail (conformant: none may fail). FAULTS=all adds the rate
# faults whose catch does not depend on the algorithm.
if [[ ${FAULTS:-} == all ]]; then
  faults=(conformant limit-150 limit-60 global-limit shared-read-write counts-rejected
          test-live-shared sticky-429 html-429 no-retry-after 5xx-under-load remaining-lies)
fi
expected_failure() {
  case $1 in
    conformant) echo "" ;;
    limit-150|limit-60|counts-rejected) echo "rate.%s.enforced" ;;
    global-limit) echo "rate.isolation.key" ;;
    shared-read-write) echo "rate.isolation.class" ;;
    test-live-shared) echo "rate.isolation.mode" ;;
    sticky-429) echo "rate.%s.backoff" ;;
    html-429|5xx-under-load) echo "rate.%s.429-shape" ;;
    no-retry-after) echo "rate.%s.retry-after" ;;
    remaining-lies) echo "rate.%s.headers" ;;
  esac
}

wrong=0
for algorithm in "${algorithms[@]}"; do
  for burst in "${bursts[@]}"; do
    # Window algorithms have no burst setting: one column is enough.
    if [[ $burst != default && $algorithm != gcra && $algorithm != token-bucket && $algorithm != leaky-bucket ]]; then continue; fi
    for fault in "${faults[@]}"; do
      for run in $(seq "$runs"); do
        args=(serve --listen "127.0.0.1:$port" --algorithm "$algorithm")
        case $burst in
          default) ;;
          q*) # A fraction of each class's own quota (the default profile's limits).
            for spec in read=100 write=100 files_read=20 files_write=20 search=20; do
              class=${spec%=*} quota=${spec#*=}
              case $burst in q) b=$quota ;; q/2) b=$((quota / 2)) ;; q/4) b=$((quota / 4)) ;; esac
              args+=(--limit "$class=$quota/s,burst=$b")
            done ;;
          *) args+=(--burst "$burst") ;;
        esac
        [[ $fault != conformant ]] && args+=(--fault "$fault")
        # Fresh keys per cell, in this script's environment only.
        export OURO_API_KEY="m-$RANDOM$RANDOM" OURO_API_KEY_2="m2-$RANDOM$RANDOM" \
          OURO_TEST_API_KEY="mt-$RANDOM$RANDOM" OURO_API_KEY_READONLY="mr-$RANDOM$RANDOM" \
          OURO_API_KEY_REVOKED="mv-$RANDOM$RANDOM"
        "$bin" "${args[@]}" >/dev/null &
        pid=$!
        for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
        class_args=()
        for c in "${classes[@]}"; do class_args+=(--class "$c"); done
        status=0
        # Each run writes into a folder of its own (no `ls | head`: under pipefail a
        # SIGPIPE from ls would end the script).
        cell="$out/$algorithm-$burst-$fault-$run"
        "$bin" run --target "http://127.0.0.1:$port" --only load "${class_args[@]}" \
          --report-dir "$cell" >"$out/stdout" 2>&1 || status=$?
        kill "$pid"; wait "$pid" 2>/dev/null || true
        report=$(find "$cell" -name report.json -print -quit)
        [[ -n $report ]] || { echo "$algorithm $burst $fault: no report (exit $status)"; wrong=$((wrong + 1)); continue; }
        failed=$(jq -r '[.. | objects | select(.id? and .verdict? == "failed") | .id] | unique | join(",")' "$report")
        fingerprint=$(jq -r '[.. | objects | select(.family?) | "\(.family) burst≈\(.burst|round) worst=\(.worst_case)"] | first // "-"' "$report")
        want=$(expected_failure "$fault")
        ok=yes
        if [[ -z $want ]]; then
          [[ $status -eq 0 && -z $failed ]] || ok=no
        else
          for c in "${classes[@]}"; do
            # shellcheck disable=SC2059
            id=$(printf "$want" "$c")
            [[ ",$failed," == *",$id,"* ]] || ok=no
          done
          [[ $status -eq 1 ]] || ok=no
        fi
        [[ $ok == yes ]] || wrong=$((wrong + 1))
        printf '%-24s burst=%-8s %-18s %-4s exit %d  failed: %-40s %s\n' \
          "$algorithm" "$burst" "$fault" "$ok" "$status" "${failed:--}" "$fingerprint"
      done
    done
  done
done
echo "wrong verdicts: $wrong"
[[ $wrong -eq 0 ]]
