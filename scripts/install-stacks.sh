#!/usr/bin/env bash
# Installs the stock rate-limiting stacks that tests/real_stacks.rs runs tollgate against:
# Debian's nginx (limit_req / limit_conn) and redis-server, express + express-rate-limit
# (+ rate-limit-redis) from the npm lockfile, and Python `limits` in a venv. Idempotent:
# a second run only checks. Nothing is started here; the tests start every process
# themselves on 127.0.0.1 and stop it.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== apt-get install ${need_apt[*]}"
  # Packages must not start their daemons (port 80, 6379): the tests start their own.
  cleanup_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    cleanup_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  [ -n "$cleanup_policy" ] && rm -f /usr/sbin/policy-rc.d
fi
echo "nginx: $(/usr/sbin/nginx -v 2>&1)"
echo "redis: $(redis-server --version)"

command -v node >/dev/null 2>&1 || { echo "node is missing (the machine's Node.js 20 is expected)" >&2; exit 1; }
echo "== npm ci in tests/stacks/express (node $(node --version))"
( cd tests/stacks/express
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi )

echo "== python venv in tests/stacks/limits/.venv"
( cd tests/stacks/limits
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  # Already satisfied pins need no download.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  .venv/bin/python -c 'import limits; print("limits", limits.__version__)' )
echo "stacks installed"
