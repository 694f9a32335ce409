#!/usr/bin/env bash
# Do four shards and one process give the same verdicts? Against a reference server with
# its limits on and 20 tenant keys, each round runs the workload once in one process and
# once as four `--measure-only` shards of one start instant merged by `report merge`, and
# compares every check's verdict (the merge's own `shards`/`clocks` checks and the
# process's `cleanup` aside) and each request name's request count.
#
# Usage: scripts/shard-verdicts.sh [rounds] [duration-scale]     (default 10 and 0.5)
#        SERVE_ARGS="--fault global-limit" scripts/shard-verdicts.sh    (a server that fails)
# Prints one line per round and exits 1 if any round disagreed. Everything runs on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
scale=${2:-0.5}

cargo build --release --locked --quiet
bin=$PWD/target/release/tollgate
tmp=$(mktemp -d)
port=${PORT:-18095}
# shellcheck disable=SC2086 # SERVE_ARGS is a list of arguments
"$bin" serve --tenants 20 --listen "127.0.0.1:$port" ${SERVE_ARGS:-} > "$tmp/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
# The server's throwaway keys (a loopback server's), into this script's environment only.
eval "$(grep '^  export ' "$tmp/serve.log")"
target="http://127.0.0.1:$port"

# "id verdict" per check, and "name requests" per phase, sorted: what must agree.
verdicts() {
  python3 - "$1" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
skip = (".cleanup", ".shards", ".clocks")
for step in report["steps"]:
    for check in step["checks"]:
        if not check["id"].endswith(skip):
            print(check["id"], check["verdict"])
for phase in report["phases"]:
    print("requests", phase["class"], phase["requests"])
EOF
}

disagreed=0
for round in $(seq "$rounds"); do
  dir="$tmp/round-$round"
  "$bin" run --only perf --target "$target" --duration-scale "$scale" \
    --report-dir "$dir/whole" > "$dir.whole.log" 2>&1 || true
  start=$(date -u -d '+4 seconds' +%Y-%m-%dT%H:%M:%SZ)
  shards=()
  for i in 0 1 2 3; do
    "$bin" run --only perf --target "$target" --duration-scale "$scale" --measure-only \
      --shard "$i/4" --start-at "$start" --report-dir "$dir/shard-$i" > "$dir.shard-$i.log" 2>&1 &
    shards+=($!)
  done
  wait "${shards[@]}" || true
  "$bin" report merge "$dir"/shard-{0,1,2,3} --report-dir "$dir/merged" > "$dir.merge.log" 2>&1 || true
  whole=$(verdicts "$dir/whole/latest/report.json" | sort)
  merged=$(verdicts "$dir/merged/latest/report.json" | sort)
  clocks=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(next((c.get("actual") or c["message"]) for s in r["steps"] for c in s["checks"] if c["id"].endswith(".clocks")))' "$dir/merged/latest/report.json")
  if [ "$whole" == "$merged" ]; then
    failed=$(echo "$whole" | grep -c ' failed$' || true)
    echo "round $round: same ($(echo "$whole" | grep -vc '^requests') verdicts, $failed failed; request counts equal; $clocks)"
  else
    disagreed=$((disagreed + 1))
    echo "round $round: DIFFERENT"
    diff <(echo "$whole") <(echo "$merged") || true
  fi
done
echo "$((rounds - disagreed)) of $rounds rounds agreed"
[ "$disagreed" -eq 0 ]
