import { Container, Pod } from "./pod-types";

/**
 * Which images the pod runtime runs, and with what on this machine. Each upstream image is the binary of the
 * same version that `npm run setup:cluster` built from its pinned module (cluster/go/); Sonic's image is this
 * checkout's own programs; Valkey's is Debian's redis-server. Every other image (Grafana, node-exporter, the
 * chart's Job images) is not run: its pod stays as kwok keeps it, Running and Ready with no process.
 *
 * What differs from a container, and why, is said per entry. Common to all: there is no network namespace per
 * pod (this kernel has no veth driver), so a process binds its pod's IP, and the pod's own loopback, which a
 * container's `127.0.0.1:port` and `:port` mean, becomes the pod IP (see container-command.ts).
 */
export interface ImageRule {
  /** The image's repository (no tag, no digest). */
  repository: RegExp;
  /**
   * `binary`: a static upstream binary from .tools/bin, run in a root of its own under the pod's directory,
   * with the pod's volumes mounted at their paths and its service account's token where a pod has it (its
   * own RBAC, as in a cluster). `host`: a program of this machine, run in place, with the volumes' paths in
   * its arguments and environment rewritten to the directories that hold them.
   */
  run: { binary: string } | { host: "sonic" | "valkey" };
  /** Flags that make what the image binds on every address by default bind the pod's IP instead. */
  bindArgs?: (podIp: string) => string[];
  /** Changes to the container's own arguments that running outside a container needs. */
  adjustArgs?: (args: string[], pod: Pod) => string[];
  /** Volumes that may be missing: the container starts without them (a kubelet would wait). */
  optionalVolumes?: string[];
}

export const IMAGE_RULES: ImageRule[] = [
  {
    repository: /^quay\.io\/prometheus-operator\/prometheus-operator$/,
    run: { binary: "prometheus-operator" },
    // The admission webhook's certificate is the Secret that the chart's certgen Job writes; kwok completes
    // Jobs without running them, so the Secret never exists. The operator serves its webhook without TLS
    // then: the API server's calls to it fail, and the webhooks' failurePolicy (Ignore) admits the objects,
    // as it does while that Secret is missing in a real cluster.
    optionalVolumes: ["tls-secret"],
    adjustArgs: (args) => [
      ...args.filter((a) => !/^--web\.(enable-tls|cert-file|key-file|tls-min-version)=/.test(a)),
      "--web.enable-tls=false",
    ],
  },
  {
    repository: /^quay\.io\/prometheus-operator\/prometheus-config-reloader$/,
    run: { binary: "prometheus-config-reloader" },
  },
  { repository: /^quay\.io\/prometheus\/prometheus$/, run: { binary: "prometheus" } },
  { repository: /^quay\.io\/prometheus\/alertmanager$/, run: { binary: "alertmanager" } },
  {
    repository: /^registry\.k8s\.io\/kube-state-metrics\/kube-state-metrics$/,
    run: { binary: "kube-state-metrics" },
    bindArgs: (ip) => [`--host=${ip}`, `--telemetry-host=${ip}`],
  },
  {
    repository: /^registry\.k8s\.io\/prometheus-adapter\/prometheus-adapter$/,
    run: { binary: "prometheus-adapter" },
    bindArgs: (ip) => [`--bind-address=${ip}`],
  },
  {
    repository: /^ghcr\.io\/kedacore\/keda$/,
    run: { binary: "keda-operator" },
    bindArgs: (ip) => [`--health-probe-bind-address=${ip}:8081`, `--metrics-service-bind-address=${ip}:9666`],
  },
  {
    repository: /^ghcr\.io\/kedacore\/keda-metrics-apiserver$/,
    run: { binary: "keda-adapter" },
    bindArgs: (ip) => [`--bind-address=${ip}`],
    // Its Prometheus metrics listen on every address (":<port>", no host flag), which would take port 8080
    // from every other pod's process: a free port instead, so the ServiceMonitor's target for them is down.
    adjustArgs: (args) => [...args.filter((a) => !a.startsWith("--port=")), "--port=0"],
  },
  {
    repository: /^ghcr\.io\/kedacore\/keda-admission-webhooks$/,
    run: { binary: "keda-webhooks" },
  },
  {
    repository: /^oliver006\/redis_exporter$/,
    run: { binary: "redis_exporter" },
    bindArgs: (ip) => [`--web.listen-address=${ip}:9121`],
  },
  { repository: /^valkey\/valkey$/, run: { host: "valkey" } },
  { repository: /(^|\/)sonic-generate-service$/, run: { host: "sonic" } },
];

/** The image's repository: the reference without its tag or digest (a registry port stays). */
export function repositoryOf(image: string): string {
  const noDigest = image.split("@")[0];
  const slash = noDigest.lastIndexOf("/");
  const colon = noDigest.lastIndexOf(":");
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

export function ruleFor(container: Container): ImageRule | undefined {
  const repository = repositoryOf(container.image);
  return IMAGE_RULES.find((rule) => rule.repository.test(repository));
}
