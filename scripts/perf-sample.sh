#!/usr/bin/env bash
# Makes docs/perf-report-sample.png: the latency-over-time charts (p50/p95/p99 per slice)
# of each request name of the shipped workload, from report.html of `tollgate run --only
# perf` against the embedded reference server (tenant keys generated, nothing to export).
# Needs bash, python3 (standard library only) and chromium.
#
#   scripts/perf-sample.sh                        # builds the release binary first
#   TOLLGATE=target/debug/tollgate scripts/perf-sample.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${TOLLGATE:-}" ]]; then
  cargo build --release --quiet
  TOLLGATE=target/release/tollgate
fi
CHROMIUM=$(command -v chromium || command -v chromium-browser)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$TOLLGATE" run --only perf --report-dir "$WORK/reports" >"$WORK/run.log" 2>&1 \
  || { cat "$WORK/run.log" >&2; exit 1; }

python3 - "$WORK/reports/latest/report.html" "$WORK/sample.html" <<'PY'
import re, sys
html = open(sys.argv[1], encoding="utf-8").read()
start = html.index("<h2>Performance workloads</h2>")
charts = re.findall(r'<figure class="chart" id="(latency-[^"]+)">(.*?)</figure>', html[start:], re.S)
if not charts:
    sys.exit("no workload latency chart in " + sys.argv[1])
parts = [svg for _, svg in charts if "noisy" not in _][:4]
page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><style>"
        "body{margin:8px;font-family:sans-serif;display:grid;grid-template-columns:1fr 1fr;gap:4px}"
        "svg{width:100%;height:auto}</style></head><body>" + "".join(parts) + "</body></html>")
open(sys.argv[2], "w", encoding="utf-8").write(page)
PY

"$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
  --user-data-dir="$WORK/profile" --hide-scrollbars --window-size=1200,640 \
  --screenshot="$PWD/docs/perf-report-sample.png" "file://$WORK/sample.html" 2>/dev/null
echo "wrote docs/perf-report-sample.png"
