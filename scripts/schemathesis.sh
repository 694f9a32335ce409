#!/usr/bin/env bash
# Runs Schemathesis (a property-based API tester nobody here wrote) against `tollgate serve`
# in every server profile, with its default checks, driven by the server's own
# GET /openapi.json. Any failure it finds fails this script.
#
#   scripts/schemathesis.sh [path/to/tollgate] [max-examples]
#
# Schemathesis is installed from PyPI into tests/stacks/schemathesis/.venv (pinned in
# requirements.txt). Servers listen on 127.0.0.1 port 0 and are stopped on exit; each run
# is bounded by `timeout`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/debug/tollgate}"
examples="${2:-30}"

venv=tests/stacks/schemathesis/.venv
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r tests/stacks/schemathesis/requirements.txt
echo "schemathesis $("$venv/bin/python" -c 'import schemathesis; print(schemathesis.__version__)')"

work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Fresh random keys for this run only; Schemathesis sends the primary one.
key="tg_live_$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export OURO_API_KEY="$key"

# profile → the header that carries its key (the profile's own scheme).
declare -A header=(
  [ouro]="X-API-KEY: $key"
  [x-api-key]="X-API-KEY: $key"
  [bearer-v1]="Authorization: Bearer $key"
  [apikey]="Authorization: apikey $key"
)

failed=()
for profile in ouro x-api-key bearer-v1 apikey; do
  banner="$work/$profile.banner"
  # The limits are lifted: Schemathesis explores the API, not its quotas (tollgate's own
  # load phase and tests/server_openapi.rs hold the 429s to the document).
  "$bin" serve --listen 127.0.0.1:0 --profile "$profile" --unlimited >"$banner" 2>&1 &
  server=$!
  url=""
  for _ in $(seq 100); do
    url="$(sed -n 's/^tollgate serve: listening on \(http:[^ ]*\).*/\1/p' "$banner")"
    [ -n "$url" ] && break
    sleep 0.1
  done
  if [ -z "$url" ]; then
    cat "$banner" >&2
    echo "tollgate serve --profile $profile did not start" >&2
    exit 1
  fi
  echo "== schemathesis against $url (profile $profile)"
  # A profile's own settings, where its document needs them (each file says why).
  config=()
  if [ -f "tests/stacks/schemathesis/$profile.toml" ]; then
    config=(--config-file "tests/stacks/schemathesis/$profile.toml")
  fi
  if ! timeout 300 "$venv/bin/st" "${config[@]}" run "$url/openapi.json" \
      --header "${header[$profile]}" \
      --max-examples "$examples" \
      --seed "${SCHEMATHESIS_SEED:-1}" \
      --no-color; then
    failed+=("$profile")
  fi
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "schemathesis found failures in: ${failed[*]}" >&2
  exit 1
fi
echo "schemathesis: no failures in any profile"
