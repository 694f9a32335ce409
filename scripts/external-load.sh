#!/usr/bin/env bash
# Drives `tollgate serve` with an external load generator (hey) and prints what the
# limiter accepted next to what GCRA maths predicts (burst + rate x time).
# Usage: scripts/external-load.sh   (needs `hey`: apt-get install hey; builds the release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hey >/dev/null || { echo "hey is not installed (apt-get install hey)" >&2; exit 2; }
cargo build --release --quiet
bin=target/release/tollgate
port=${PORT:-18080}

# offered rate = workers x per-worker qps; hey paces each worker on its own ticker.
run() { # label path workers qps seconds rate burst
  local label=$1 path=$2 workers=$3 qps=$4 seconds=$5 rate=$6 burst=$7
  # A fresh key per run (its own buckets); it stays in this script's environment only.
  local key="ext-$RANDOM$RANDOM$RANDOM"
  OURO_API_KEY="$key" "$bin" serve --listen "127.0.0.1:$port" >/dev/null &
  local pid=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  local out
  out=$(hey -z "${seconds}s" -q "$qps" -c "$workers" -H "X-API-KEY: $key" "http://127.0.0.1:$port$path")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local ok limited
  ok=$(awk '/\[200\]/{print $2}' <<<"$out"); ok=${ok:-0}
  limited=$(awk '/\[429\]/{print $2}' <<<"$out"); limited=${limited:-0}
  local offered=$((ok + limited))
  local expected
  expected=$(awk -v b="$burst" -v r="$rate" -v s="$seconds" -v o="$offered" 'BEGIN{e=b+r*s; if (o<e) e=o; printf "%d", e}')
  printf '%-34s offered %5d  accepted %5d  429 %5d  expected %5d  error %+.1f%%\n' \
    "$label" "$offered" "$ok" "$limited" "$expected" \
    "$(awk -v a="$ok" -v e="$expected" 'BEGIN{printf "%f", (a-e)*100/e}')"
}

run "read   at 150/s for 5 s"   /v1/users       3 50 5 100 100
run "read   at  80/s for 5 s"   /v1/users       2 40 5 100 100
run "search at  40/s for 5 s"   "/v1/search?q=a" 2 20 5 20 20
run "files  at  40/s for 5 s"   /v1/files       2 20 5 20 20
