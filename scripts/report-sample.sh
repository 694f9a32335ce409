#!/usr/bin/env bash
# Makes docs/report-sample.png: the read class's rate chart from report.html for a run
# against a fixed-window limiter above one against a token bucket, so the difference is
# visible at a glance (a whole window's quota at once, then nothing until the window
# turns; against the burst, then a flat refill at the limit).
#
# Each run starts `tollgate serve --algorithm …` on a free loopback port with keys made up
# here, loads only the read class, and takes the chart's <figure> out of its report.html;
# one small HTML page shows both and headless Chromium screenshots it. Needs bash,
# python3 (standard library only) and chromium.
#
#   scripts/report-sample.sh                      # builds the release binary first
#   TOLLGATE=target/debug/tollgate scripts/report-sample.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${TOLLGATE:-}" ]]; then
  cargo build --release --quiet
  TOLLGATE=target/release/tollgate
fi
CHROMIUM=$(command -v chromium || command -v chromium-browser)
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Made-up keys for a throwaway local server: the same values for the server and the run.
key() { python3 -c "import secrets; print('tg_$1_' + secrets.token_hex(20))"; }
export OURO_API_KEY=$(key live) OURO_API_KEY_2=$(key live) OURO_TEST_API_KEY=$(key test)
export OURO_API_KEY_READONLY=$(key live) OURO_API_KEY_REVOKED=$(key live)

# Runs the read class against a server with limiter $1; leaves $WORK/$1.svg.
sample() {
  local algorithm=$1 log="$WORK/$1.serve.log" url=""
  "$TOLLGATE" serve --listen 127.0.0.1:0 --algorithm "$algorithm" >"$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -1 || true)
    [[ -n "$url" ]] && break
    sleep 0.1
  done
  [[ -n "$url" ]] || { cat "$log" >&2; exit 1; }
  "$TOLLGATE" run --target "$url" --only load --class read \
    --report-dir "$WORK/$algorithm" >"$WORK/$algorithm.run.log" 2>&1 || true
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  python3 - "$WORK/$algorithm/latest/report.html" "$WORK/$algorithm.svg" <<'EOF'
import re, sys
html = open(sys.argv[1], encoding="utf-8").read()
figure = re.search(r'<figure class="chart" id="chart-read">(.*?)</figure>', html, re.S)
if not figure:
    sys.exit("no read chart in " + sys.argv[1])
open(sys.argv[2], "w", encoding="utf-8").write(figure.group(1))
EOF
}

sample fixed-window
sample token-bucket

python3 - "$WORK" <<'EOF'
import sys
work = sys.argv[1]
parts = []
for algorithm, title in [("fixed-window", "fixed window"), ("token-bucket", "token bucket")]:
    svg = open(f"{work}/{algorithm}.svg", encoding="utf-8").read()
    command = f"tollgate serve --algorithm {algorithm}"
    parts.append(f"<h2>against a {title} limiter ({command})</h2>{svg}")
page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><style>"
        "body{margin:8px;font-family:sans-serif}h2{font-size:15px;margin:4px 0}"
        "</style></head><body>" + "".join(parts) + "</body></html>")
open(f"{work}/sample.html", "w", encoding="utf-8").write(page)
EOF

"$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
  --user-data-dir="$WORK/profile" --hide-scrollbars --window-size=780,760 \
  --screenshot="$PWD/docs/report-sample.png" "file://$WORK/sample.html" 2>/dev/null
echo "wrote docs/report-sample.png"
