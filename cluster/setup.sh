#!/usr/bin/env bash
# npm run setup:cluster: builds the local control plane and the Pulumi engine from upstream Go modules into
# .tools/bin, for npm run cluster, npm run deploy and npm run test:cluster. Nothing here is a prebuilt download:
# the Go module proxy is the one source, and every version is pinned in cluster/go/<tool>/go.mod (+ go.sum).
#
#   tool                        module (pinned in cluster/go/...)                  cold build, 2 cores
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
#                               k8s.io/kubernetes v1.34.2             (kubernetes/)       ~7 min, 1.8 GB
#   etcd                        go.etcd.io/etcd/server/v3 v3.6.16     (etcd/)             ~1 min
#   kwok                        sigs.k8s.io/kwok v0.8.0               (kwok/)             ~3 min, 0.9 GB
#   pulumi                      github.com/pulumi/pulumi/pkg/v3 v3.248.0 (pulumi/)        ~8 min, 2.1 GB
#   pulumi-resource-kubernetes  pulumi-kubernetes/provider/v4 = v4.25.0 (kubernetes-provider/) ~10 min, 4.6 GB
#
# The controllers that act on what the program deploys (npm run cluster -- up --controllers), each the version the
# pinned chart runs:
#   prometheus-operator         github.com/prometheus-operator/prometheus-operator v0.93.1 (prometheus-operator/)
#   prometheus, promtool        github.com/prometheus/prometheus v0.314.0 = 3.14 (prometheus/): kubernetes SD only
#   alertmanager                github.com/prometheus/alertmanager v0.34.0 (alertmanager/)
#   prometheus-adapter          sigs.k8s.io/prometheus-adapter v0.12.0 (prometheus-adapter/)
#   keda-operator, keda-adapter, keda-webhooks  github.com/kedacore/keda/v2 v2.20.2 (keda/, with KEDA's own replaces)
#   kube-state-metrics          k8s.io/kube-state-metrics/v2 v2.20.0 (kube-state-metrics/)
#   kube-proxy                  k8s.io/kubernetes v1.34.2, the control plane's pins (kube-proxy/)
#   coredns                     github.com/coredns/coredns v1.15.0 (coredns/)
#   redis_exporter              github.com/oliver006/redis_exporter v1.74.0 (redis-exporter/), the queue's sidecar
# Their build times are in docs/operate.md#the-real-controllers-npm-run-cluster----up---controllers.
#
# The rule engines npm test proves the rules on (npm run setup builds only these two: bash cluster/setup.sh prometheus
# victoria-metrics):
#   promtool                    the prometheus build above (3.14): every promtool suite
#   victoria-metrics, vmalert, vmalert-tool
#                               github.com/VictoriaMetrics/VictoriaMetrics v1.150.0 (victoria-metrics/), the fleet
#                               charts' appVersion: the fleet rules' suites through vmalert-tool unittest   ~1.5 min, 0.5 GB
#
# With tool names as arguments (names from the TOOLS table below), only those are built.
#
# Cached and idempotent: a tool is rebuilt only when its go.mod, go.sum or main file changed. Finished binaries are
# also kept in $SONIC_TOOLS_CACHE (default ~/.cache/sonic-observability/cluster-tools), keyed by those files, so a
# fresh clone on the same machine (CI) copies them instead of building. A module that cannot be built is named with
# the reason from its log, and the others still build; the exit status is 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.tools/bin
LOGS=$ROOT/.tools/logs
CACHE=${SONIC_TOOLS_CACHE:-$HOME/.cache/sonic-observability/cluster-tools}
GO_DIR=$ROOT/cluster/go
mkdir -p "$BIN" "$LOGS" "$CACHE"
export GOFLAGS=${GOFLAGS:--buildvcs=false} CGO_ENABLED=0

if ! command -v go >/dev/null 2>&1; then
  echo "setup:cluster: go is not on PATH; install Go 1.26 (https://go.dev/dl) and run again" >&2
  exit 1
fi

# The provider's version as the suite really runs it; the SDK asks for its own (@pulumi/kubernetes), and the
# plugin is installed under that version by cluster/plugins.ts.
PROVIDER_VERSION=4.25.0
PULUMI_VERSION=v3.248.0
# The version the API server reports: without it, go build leaves v0.0.0-master, and every chart with a
# kubeVersion constraint (kube-prometheus-stack's >=1.25) refuses to install.
KUBERNETES_VERSION=v1.34.2
PROVIDER_MODULE=github.com/pulumi/pulumi-kubernetes/provider/v4

# name|module dir|peak build memory in MB|binaries|(optional) a tool whose build must end first
TOOLS=(
  "etcd|etcd|900|etcd"
  "kwok|kwok|1000|kwok"
  "kubernetes|kubernetes|1900|kube-apiserver kube-controller-manager kube-scheduler kubectl"
  "pulumi|pulumi|2200|pulumi"
  "kubernetes-provider|kubernetes-provider|4700|pulumi-resource-kubernetes"
  "prometheus-operator|prometheus-operator|1400|prometheus-operator prometheus-config-reloader"
  "prometheus-adapter|prometheus-adapter|1300|prometheus-adapter"
  "keda|keda|2900|keda-operator keda-adapter keda-webhooks"
  "prometheus|prometheus|2500|prometheus promtool"
  "alertmanager|alertmanager|1200|alertmanager"
  "kube-state-metrics|kube-state-metrics|1200|kube-state-metrics"
  "coredns|coredns|1500|coredns"
  "redis-exporter|redis-exporter|900|redis_exporter"
  "victoria-metrics|victoria-metrics|700|victoria-metrics vmalert vmalert-tool"
  # Last, and only once kubernetes is built: the same k8s.io/kubernetes packages then come from the Go build
  # cache instead of being compiled twice at once (about 2 min, not a second kubernetes build).
  "kube-proxy|kube-proxy|1900|kube-proxy|kubernetes"
)

key_of() { # the cache key of a tool: its pinned files and this script's build recipe
  (
    cd "$GO_DIR/$1" && cat go.mod go.sum ./*.go 2>/dev/null
    go env GOVERSION
    grep -E '^(PROVIDER|PULUMI)_VERSION=' "$ROOT/cluster/setup.sh"
    [ "$1" != kubernetes ] && [ "$1" != kube-proxy ] || grep -E '^KUBERNETES_VERSION=' "$ROOT/cluster/setup.sh"
    # The controllers' keys hold their build recipe too (tags, ldflags); the first five tools' recipes are covered
    # by the version lines above, and their keys stay as they were so that existing caches still hold.
    case $1 in etcd | kwok | kubernetes | pulumi | kubernetes-provider) ;; *) sed -n "/^      $1)/,/;;\$/p" "$ROOT/cluster/setup.sh" ;; esac
  ) | sha256sum | cut -c1-16
}

module_dir() { # the source directory of a module required by the current directory's go.mod, downloaded if need be
  go mod download "$1" >&2 || return 1
  local dir; dir=$(go list -m -f '{{.Dir}}' "$1")
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    echo "setup:cluster: module $1 has no source directory after go mod download" >&2
    return 1
  fi
  echo "$dir"
}

build_tool() { # name dir bins...
  local name=$1 dir=$2; shift 2
  local key; key=$(key_of "$dir")
  local cached=$CACHE/$name-$key
  local log=$LOGS/$name.log
  if [ -f "$BIN/.$name.key" ] && [ "$(cat "$BIN/.$name.key")" = "$key" ] && for b in "$@"; do [ -x "$BIN/$b" ] || exit 1; done; then
    echo "setup:cluster: $name is up to date ($*)"
    return 0
  fi
  if [ -d "$cached" ] && for b in "$@"; do [ -x "$cached/$b" ] || exit 1; done; then
    for b in "$@"; do install -m 0755 "$cached/$b" "$BIN/$b"; done
    echo "$key" > "$BIN/.$name.key"
    echo "setup:cluster: $name copied from the cache $cached"
    return 0
  fi
  local start=$SECONDS
  echo "setup:cluster: building $name ($*), log in .tools/logs/$name.log"
  (
    set -e
    cd "$GO_DIR/$dir"
    case $name in
      kubernetes)
        minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
        version_flags=""
        for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
          version_flags="$version_flags -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
        done
        go build -trimpath -ldflags "$version_flags" -o "$cached.tmp/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
          k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl ;;
      kube-proxy)
        minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
        go build -trimpath -ldflags "-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
          -o "$cached.tmp/kube-proxy" k8s.io/kubernetes/cmd/kube-proxy ;;
      prometheus-operator)
        go build -trimpath -ldflags "-X github.com/prometheus/common/version.Version=0.93.1" \
          -o "$cached.tmp/prometheus-operator" github.com/prometheus-operator/prometheus-operator/cmd/operator
        go build -trimpath -ldflags "-X github.com/prometheus/common/version.Version=0.93.1" \
          -o "$cached.tmp/prometheus-config-reloader" github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader ;;
      prometheus-adapter) go build -trimpath -o "$cached.tmp/prometheus-adapter" sigs.k8s.io/prometheus-adapter/cmd/adapter ;;
      keda)
        for c in operator adapter webhooks; do
          go build -trimpath -ldflags "-X github.com/kedacore/keda/v2/version.Version=2.20.2" \
            -o "$cached.tmp/keda-$c" "github.com/kedacore/keda/v2/cmd/$c"
        done ;;
      prometheus)
        # Upstream's release tags (netgo), minus every service discovery but Kubernetes, the one the operator's
        # configuration uses: the cloud SDKs are most of the build. The web UI's assets stay out (no builtinassets):
        # the API and /graph's redirect are all the tests read.
        go build -trimpath -tags netgo,remove_all_sd,enable_kubernetes_sd \
          -ldflags "-X github.com/prometheus/common/version.Version=3.14.0" -o "$cached.tmp/" \
          github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool ;;
      alertmanager)
        # The module leaves out the web UI's build output, which ui/web.go embeds (go:embed app/dist) and upstream
        # makes with npm. Build from a copy of the module whose app/dist holds one page that says so: the API v2,
        # all that the operator's configuration and the tests use, is untouched.
        src=$(module_dir github.com/prometheus/alertmanager)
        work=$ROOT/.tools/src/alertmanager
        rm -rf "$work" && mkdir -p "$work" && cp -r "$src" "$work/module" && chmod -R u+w "$work/module"
        mkdir -p "$work/module/ui/app/dist"
        echo '<!doctype html><title>Alertmanager</title><p>The web UI is not built by npm run setup:cluster; the API is at /api/v2.</p>' \
          > "$work/module/ui/app/dist/index.html"
        cp go.mod go.sum tools.go "$work/"
        (cd "$work" && go mod edit -replace "github.com/prometheus/alertmanager=./module" &&
          go build -trimpath -tags netgo -ldflags "-X github.com/prometheus/common/version.Version=0.34.0" \
            -o "$cached.tmp/alertmanager" github.com/prometheus/alertmanager/cmd/alertmanager) ;;
      kube-state-metrics)
        go build -trimpath -ldflags "-X github.com/prometheus/common/version.Version=v2.20.0" \
          -o "$cached.tmp/kube-state-metrics" k8s.io/kube-state-metrics/v2 ;;
      redis-exporter) go build -trimpath -o "$cached.tmp/redis_exporter" github.com/oliver006/redis_exporter ;;
      victoria-metrics)
        # Pure Go, as upstream's *-pure targets (CGO off: zstd from klauspost/compress instead of gozstd); the version
        # stamped as upstream's Makefile stamps it (lib/buildinfo: -version, vm_app_version), minus the build date.
        for app in victoria-metrics vmalert vmalert-tool; do
          go build -trimpath -ldflags "-X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=$app-v1.150.0" \
            -o "$cached.tmp/$app" "github.com/VictoriaMetrics/VictoriaMetrics/app/$app"
        done ;;
      coredns) go build -trimpath -o "$cached.tmp/coredns" github.com/coredns/coredns ;;
      kwok) go build -trimpath -o "$cached.tmp/kwok" sigs.k8s.io/kwok/cmd/kwok ;;
      etcd) go build -trimpath -o "$cached.tmp/etcd" . ;;
      pulumi)
        go build -trimpath -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
          -o "$cached.tmp/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi ;;
      kubernetes-provider)
        # The published module leaves out the two files upstream's main embeds: write them with upstream's own
        # generator, from the module's own schema.json and terraform-mapping.json.
        # On an empty module cache `go list -m -f '{{.Dir}}'` prints nothing (the module is not downloaded yet), and
        # the cp below would read /cmd/...: download it first, and stop with its name if it still has no directory.
        src=$(module_dir "$PROVIDER_MODULE")/cmd/pulumi-resource-kubernetes
        cp "$src/schema.json" "$src/terraform-mapping.json" .
        chmod u+w schema.json terraform-mapping.json
        VERSION=$PROVIDER_VERSION go run "$src/generate.go"
        rm -f schema.json terraform-mapping.json
        go build -trimpath -ldflags "-X $PROVIDER_MODULE/pkg/version.Version=$PROVIDER_VERSION" \
          -o "$cached.tmp/pulumi-resource-kubernetes" . ;;
    esac
  ) > "$log" 2>&1
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "setup:cluster: FAILED $name after $((SECONDS - start)) s: $(grep -m1 -E 'not found|unknown revision|no matching versions|refused|error|cannot' "$log" || tail -1 "$log")" >&2
    echo "setup:cluster:        the whole log: .tools/logs/$name.log" >&2
    rm -rf "$cached.tmp"
    return 1
  fi
  rm -rf "$cached" && mv "$cached.tmp" "$cached"
  # For npm run bench:deploy: how long this build took, when, and how busy the machine was.
  echo "$((SECONDS - start)) $(date -u +%FT%TZ) $(cut -d' ' -f1 /proc/loadavg)" > "$cached/.build-seconds"
  for b in "$@"; do install -m 0755 "$cached/$b" "$BIN/$b"; done
  echo "$key" > "$BIN/.$name.key"
  echo "setup:cluster: built $name in $((SECONDS - start)) s"
}

# Only the tools named as arguments, when there are any: each must be a name of the TOOLS table.
if [ $# -gt 0 ]; then
  selected=()
  for want in "$@"; do
    match=""
    for t in "${TOOLS[@]}"; do [ "${t%%|*}" != "$want" ] || match=$t; done
    if [ -z "$match" ]; then
      echo "setup:cluster: no tool named '$want'; the tools: ${TOOLS[*]%%|*}" >&2
      exit 1
    fi
    selected+=("$match")
  done
  TOOLS=("${selected[@]}")
fi

# Parallel where memory allows: start a build while the peaks of those running fit in what the machine has free.
avail_mb=$(awk '/MemAvailable/ {print int($2/1024)}' /proc/meminfo)
budget=$((avail_mb * 8 / 10))
declare -A running_mb=()
failed=()
total_start=$SECONDS
wait_one() {
  local pid
  wait -n -p pid
  local rc=$?
  local entry=${running_mb[$pid]}
  unset "running_mb[$pid]"
  [ $rc -eq 0 ] || failed+=("${entry#*:}")
}
in_use() { local s=0 v; for v in "${running_mb[@]}"; do s=$((s + ${v%%:*})); done; echo $s; }
running_name() { local v; for v in "${running_mb[@]}"; do [ "${v#*:}" != "$1" ] || return 0; done; return 1; }
for t in "${TOOLS[@]}"; do
  IFS='|' read -r name dir mb bins after <<<"$t"
  while [ -n "$after" ] && running_name "$after"; do wait_one; done
  while [ ${#running_mb[@]} -gt 0 ] && [ $(($(in_use) + mb)) -gt $budget ]; do wait_one; done
  # shellcheck disable=SC2086
  build_tool "$name" "$dir" $bins &
  running_mb[$!]="$mb:$name"
done
while [ ${#running_mb[@]} -gt 0 ]; do wait_one; done

# kwok's own Stage files (node and pod lifecycles), from the pinned module: the cluster composes them with its own.
if [ $# -gt 0 ] && ! [[ " $* " == *" kwok "* ]]; then
  : # kwok is not among the tools asked for
elif kwok_dir=$(cd "$GO_DIR/kwok" && module_dir sigs.k8s.io/kwok); then
  mkdir -p "$ROOT/.tools/share/kwok-stages"
  install -m 0644 "$kwok_dir/kustomize/stage/node/fast/node-initialize.yaml" \
    "$kwok_dir/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
    "$kwok_dir"/kustomize/stage/pod/fast/pod-*.yaml "$ROOT/.tools/share/kwok-stages/"
else
  failed+=("kwok-stages")
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "setup:cluster: ${#failed[@]} tool(s) could not be built: ${failed[*]} ($((SECONDS - total_start)) s in all)" >&2
  exit 1
fi
if [ $# -gt 0 ]; then
  echo "setup:cluster: $* done in $((SECONDS - total_start)) s; tools in .tools/bin"
else
  echo "setup:cluster: done in $((SECONDS - total_start)) s; tools in .tools/bin. Next: npm run cluster -- up"
fi
