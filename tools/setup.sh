#!/usr/bin/env bash
# npm run setup: everything the tests and the sandbox need, on a fresh Debian/Ubuntu machine:
# Prometheus + promtool, Alertmanager + amtool, Redis (the shared job queue), and node_modules.
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)

if [ ${#need_apt[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: ${need_apt[*]} missing and apt-get is not available on this machine." >&2
    echo "       Install Prometheus 2.x (prometheus, promtool) and Alertmanager 0.25+ from https://prometheus.io/download/" >&2
    echo "       and Redis 7 or Valkey (redis-server), and put them on PATH as prometheus, promtool," >&2
    echo "       prometheus-alertmanager and redis-server." >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need_apt[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
else
  echo "setup: prometheus, promtool, prometheus-alertmanager and redis-server already installed"
fi

if [ -d node_modules ] && [ node_modules -nt package-lock.json ]; then
  echo "setup: node_modules is up to date"
else
  npm ci --no-audit --no-fund
fi
echo "setup: done. Next: npm test, or npm start for the local sandbox."
