/**
 * What kind of cluster the platform runs on. Managed control planes (EKS, GKE, AKS) expose no
 * scheduler, controller-manager or etcd metrics, and their kube-proxy (or its replacement) is not
 * reachable at the chart's port: monitors for those targets only ever read "down", and the chart's
 * critical rules on them (KubeSchedulerDown, KubeControllerManagerDown, etcd*) page forever.
 */
export const CLUSTER_FLAVORS = ["eks", "gke", "aks", "kubeadm", "generic"] as const;
/** One of `CLUSTER_FLAVORS`. */
export type ClusterFlavor = (typeof CLUSTER_FLAVORS)[number];

/** Control-plane targets kube-prometheus-stack can monitor, and the chart keys that own them. */
interface ControlPlaneTarget {
  /** Top-level values key of the monitor (`kubeScheduler`, ...). */
  values: string;
  /** `defaultRules.rules.*` switches of its alerting and recording rules. */
  rules: string[];
}

const TARGETS: Record<string, ControlPlaneTarget> = {
  scheduler: { values: "kubeScheduler", rules: ["kubeSchedulerAlerting", "kubeSchedulerRecording"] },
  controllerManager: { values: "kubeControllerManager", rules: ["kubeControllerManager"] },
  etcd: { values: "kubeEtcd", rules: ["etcd"] },
  kubeProxy: { values: "kubeProxy", rules: ["kubeProxy"] },
  coreDns: { values: "coreDns", rules: [] },
  kubeDns: { values: "kubeDns", rules: [] },
};

/**
 * Which control-plane targets exist on each flavour, where the chart can reach them:
 * - kubeadm: all four, on the ports kubeadm uses (the chart picks 10257/10259 over HTTPS for 1.22+,
 *   2381 for etcd metrics). kubeadm binds them to 127.0.0.1 by default: set `bind-address: 0.0.0.0`
 *   for the scheduler and controller-manager, `listen-metrics-urls: http://0.0.0.0:2381` for etcd and
 *   `metricsBindAddress: 0.0.0.0:10249` for kube-proxy (docs/operate.md#cluster-flavour-what-the-control-plane-exposes).
 * - eks, aks: none of the four (managed); CoreDNS runs in kube-system and is scraped.
 * - gke: none, and GKE's kube-dns exposes neither CoreDNS' nor the chart's kube-dns metrics port.
 * - generic: none of the four, CoreDNS kept: a cluster we know nothing about must not page on day one.
 */
const PRESENT: Record<ClusterFlavor, (keyof typeof TARGETS)[]> = {
  kubeadm: ["scheduler", "controllerManager", "etcd", "kubeProxy", "coreDns"],
  eks: ["coreDns"],
  aks: ["coreDns"],
  gke: [],
  generic: ["coreDns"],
};

/** `job` labels of the control-plane targets a flavour monitors (the chart's Service names' jobs). */
export const CONTROL_PLANE_JOBS: Record<keyof typeof TARGETS, string> = {
  scheduler: "kube-scheduler",
  controllerManager: "kube-controller-manager",
  etcd: "kube-etcd",
  kubeProxy: "kube-proxy",
  coreDns: "coredns",
  kubeDns: "kube-dns",
};

/** kube-prometheus-stack values that monitor exactly the control-plane targets a flavour has. */
export function controlPlaneValues(flavor: ClusterFlavor): {
  values: Record<string, { enabled: boolean }>;
  rules: Record<string, boolean>;
} {
  const present = new Set(PRESENT[flavor]);
  const values: Record<string, { enabled: boolean }> = {};
  const rules: Record<string, boolean> = {};
  for (const [key, target] of Object.entries(TARGETS)) {
    values[target.values] = { enabled: present.has(key) };
    for (const rule of target.rules) rules[rule] = present.has(key);
  }
  return { values, rules };
}

/** The control-plane jobs a flavour scrapes. */
export function controlPlaneJobs(flavor: ClusterFlavor): string[] {
  return PRESENT[flavor].map((key) => CONTROL_PLANE_JOBS[key]);
}

/**
 * Storage classes each managed provider ships. Unset `storageClassName` means the cluster's default
 * class (works everywhere); naming another provider's class leaves the PVC Pending forever, so the
 * stack refuses it at preview.
 */
export const PROVIDER_STORAGE_CLASSES: Record<"eks" | "gke" | "aks", readonly string[]> = {
  eks: ["gp2", "gp3", "io1", "io2", "sc1", "st1", "ebs-sc"],
  gke: ["standard", "standard-rwo", "premium-rwo", "balanced-rwo", "hyperdisk-balanced"],
  aks: ["default", "managed", "managed-csi", "managed-csi-premium", "managed-premium", "azurefile-csi"],
};

/** The provider whose class `storageClassName` is, when that is not the flavour's own; else undefined. */
export function foreignStorageClass(flavor: ClusterFlavor, storageClassName: string): string | undefined {
  if (flavor !== "eks" && flavor !== "gke" && flavor !== "aks") return undefined;
  if (PROVIDER_STORAGE_CLASSES[flavor].includes(storageClassName)) return undefined;
  return (Object.keys(PROVIDER_STORAGE_CLASSES) as (keyof typeof PROVIDER_STORAGE_CLASSES)[]).find((p) =>
    PROVIDER_STORAGE_CLASSES[p].includes(storageClassName),
  );
}

/**
 * Flavours whose DNS answers from NodeLocal DNSCache (169.254.20.10, host network) by default: an
 * egress policy that admits DNS only to kube-system pods blocks it there. GKE Autopilot enables it.
 */
export const NODE_LOCAL_DNS_BY_DEFAULT: Record<ClusterFlavor, boolean> = {
  eks: false,
  gke: true,
  aks: false,
  kubeadm: false,
  generic: false,
};
