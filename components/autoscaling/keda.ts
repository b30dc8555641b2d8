import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CHART_PINS, chartSource } from "../shared/chart-pins";
import { childOptions } from "../shared/child-options";
import { parseDuration } from "../shared/durations";
import { InputPropertyError, requireInteger } from "../shared/errors";
import { restrictedNamespace } from "../shared/restricted-namespace";
import { DEFAULT_PROMETHEUS_SELECTOR } from "../shared/selectors";
import { kedaNetworkPolicySpecs } from "./keda-network-policy";

/** The chart's three workloads, by the keys its values use for them. */
export type KedaPart = "operator" | "metricServer" | "webhooks";

/** Container resources of one KEDA workload. */
export interface KedaResources {
  /** What the scheduler reserves. */
  requests: {
    /** CPU request, a Kubernetes quantity. */
    cpu: string;
    /** Memory request, a Kubernetes quantity. */
    memory: string;
  };
  /** Ceilings of the container. */
  limits: {
    /** CPU limit, a Kubernetes quantity. */
    cpu: string;
    /** Memory limit, a Kubernetes quantity: the container is OOM-killed above it. */
    memory: string;
  };
}

/**
 * keda.sh's documented sizing (the chart's defaults), stated so a chart upgrade cannot change it
 * unseen. The CPU limit stays: Pulumi's `helm.v3.Release` drops `null` values
 * (pulumi-kubernetes#2034, #3811), so a chart default cannot be removed, only replaced.
 */
export const KEDA_DEFAULT_RESOURCES: Record<KedaPart, KedaResources> = {
  operator: { requests: { cpu: "100m", memory: "100Mi" }, limits: { cpu: "1", memory: "1000Mi" } },
  metricServer: { requests: { cpu: "100m", memory: "100Mi" }, limits: { cpu: "1", memory: "1000Mi" } },
  webhooks: { requests: { cpu: "100m", memory: "100Mi" }, limits: { cpu: "1", memory: "1000Mi" } },
};

/** Arguments of `Keda`: where KEDA runs, its chart, replicas and resources, how Prometheus scrapes it. */
export interface KedaArgs {
  /** Namespace KEDA is installed into, created by the component with Pod Security `restricted`. @default "keda" */
  namespace?: string;
  /** Create the namespace (labelled `restricted`); `false` when it exists already. @default true */
  createNamespace?: boolean;
  /** Helm release name. @default "keda" */
  releaseName?: string;
  /** KEDA chart version; the CRDs, metric names and the ScaledObject fields used here are 2.20's. @default `CHART_PINS.keda.version` (the pinned version) */
  chartVersion?: string;
  /**
   * Where the chart is fetched from: a mirror for air-gapped networks, either a Helm repository
   * (`https://charts.example.com`: ChartMuseum, Artifactory, Harbor) or an OCI registry
   * (`oci://registry.example.com/charts`, holding the chart at `<that>/<chart>`). See `chartSource`.
   * @default `CHART_PINS.keda.repository` (the chart's public repository)
   */
  chartRepository?: string;
  /**
   * Replicas of each of the operator, the metrics server and the webhooks. Only one operator leads and
   * one metrics server serves at a time (keda.sh, "High availability"), so more than one shortens a
   * failover; with 2+ each gets a PDB (`minAvailable: 1`) and is spread over nodes. 2 in production.
   * @default 1
   */
  replicas?: number;
  /**
   * Labels on the chart's ServiceMonitors, the ones Prometheus selects ServiceMonitors by
   * (kube-prometheus-stack: `release: <its release name>`).
   * @default { release: "prometheus-stack" }
   */
  prometheusSelectorLabels?: Record<string, string>;
  /** Scrape interval of KEDA's ServiceMonitors, a Prometheus duration. @default "30s" */
  scrapeInterval?: string;
  /** Resources per workload, replacing the defaults of that workload. @default KEDA_DEFAULT_RESOURCES */
  resources?: Partial<Record<KedaPart, KedaResources>>;
  /** Labels on KEDA's objects and namespace. @default {} */
  labels?: Record<string, string>;
  /**
   * Run KEDA's metrics API server, which registers `v1beta1.external.metrics.k8s.io`. `false` while
   * prometheus-adapter still serves external metrics (a migration's standby: the operator and
   * webhooks only, ScaledObjects paused); the HPAs KEDA creates read their metrics from it.
   * @default true
   */
  metricsServer?: boolean;
  /** Namespace of the Prometheus that scrapes KEDA: its NetworkPolicies admit it to the metrics ports. @default "monitoring" */
  prometheusNamespace?: string;
}

/** Names the chart gives its workloads and Services (with the default `operator.name`). */
export const KEDA_WORKLOADS: Record<KedaPart, string> = {
  operator: "keda-operator",
  metricServer: "keda-operator-metrics-apiserver",
  webhooks: "keda-admission-webhooks",
};

/**
 * KEDA's metrics label the ScaledObject's namespace `namespace`, which collides with the target label
 * Prometheus sets (KEDA's own namespace): Prometheus keeps the former as `exported_namespace`. The
 * chart has no `honorLabels`, so these metric relabelings put the ScaledObject's namespace back in
 * `namespace` (KEDA's own series, which have none, keep `keda`), as every alert of ours expects.
 */
export const KEDA_NAMESPACE_RELABELINGS = [
  {
    sourceLabels: ["exported_namespace"],
    regex: "(.+)",
    targetLabel: "namespace",
    replacement: "$1",
    action: "replace",
  },
  { regex: "exported_namespace", action: "labeldrop" },
];

/** The chart values of {@link Keda}, validated; tests render exactly these with `helm template`. */
export function kedaValues(args: KedaArgs = {}): Record<string, unknown> {
  const replicas = args.replicas ?? 1;
  requireInteger("replicas", replicas, 1, 5);
  const interval = args.scrapeInterval ?? "30s";
  parseDuration("scrapeInterval", interval);
  const selector = args.prometheusSelectorLabels ?? DEFAULT_PROMETHEUS_SELECTOR;
  if (Object.keys(selector).length === 0) {
    throw new InputPropertyError(
      "prometheusSelectorLabels",
      "must name at least one label: Prometheus selects ServiceMonitors by label, got {}",
    );
  }
  const resources = { ...KEDA_DEFAULT_RESOURCES, ...args.resources };
  const ha = replicas > 1;
  const spread = (part: KedaPart) =>
    ha
      ? [
          {
            maxSkew: 1,
            topologyKey: "kubernetes.io/hostname",
            whenUnsatisfiable: "ScheduleAnyway",
            labelSelector: { matchLabels: { "app.kubernetes.io/name": KEDA_WORKLOADS[part] } },
          },
        ]
      : [];
  const serviceMonitor = (extra: Record<string, unknown> = {}) => ({
    enabled: true,
    additionalLabels: selector,
    interval,
    ...extra,
  });
  return {
    crds: { install: true },
    additionalLabels: args.labels ?? {},
    operator: { replicaCount: replicas },
    metricsServer: { enabled: args.metricsServer ?? true, replicaCount: replicas },
    webhooks: { enabled: true, replicaCount: replicas },
    podDisruptionBudget: ha
      ? { operator: { minAvailable: 1 }, metricServer: { minAvailable: 1 }, webhooks: { minAvailable: 1 } }
      : {},
    topologySpreadConstraints: {
      operator: spread("operator"),
      metricsServer: spread("metricServer"),
      webhooks: spread("webhooks"),
    },
    resources,
    // Pod Security `restricted`: the chart's own contexts already drop ALL, forbid escalation, run as
    // non-root with RuntimeDefault seccomp and a read-only root; stated here so a chart default that
    // changes cannot loosen them unseen.
    podSecurityContext: {
      operator: { runAsNonRoot: true },
      metricServer: { runAsNonRoot: true },
      webhooks: { runAsNonRoot: true },
    },
    securityContext: {
      operator: restrictedContainer,
      metricServer: restrictedContainer,
      webhooks: restrictedContainer,
    },
    prometheus: {
      operator: {
        enabled: true,
        serviceMonitor: serviceMonitor({ metricRelabelings: KEDA_NAMESPACE_RELABELINGS }),
      },
      metricServer: { enabled: args.metricsServer ?? true, serviceMonitor: serviceMonitor() },
      webhooks: { enabled: true, serviceMonitor: serviceMonitor() },
    },
  };
}

const restrictedContainer = {
  capabilities: { drop: ["ALL"] },
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  seccompProfile: { type: "RuntimeDefault" },
};

/**
 * KEDA (operator, metrics API server, admission webhooks, and its CRDs: ScaledObject, ScaledJob,
 * TriggerAuthentication, …) through the kedacore/keda chart, with its Prometheus metrics on and
 * ServiceMonitors labelled for the Prometheus selector. ScaledObjects ({@link ScaledObject}) need it.
 *
 * One per cluster, and not beside an adapter that serves external metrics: KEDA's metrics server
 * registers the `v1beta1.external.metrics.k8s.io` APIService, the one prometheus-adapter registers
 * for external metrics, and an APIService has one owner (kubernetes-sigs/prometheus-adapter#705), so
 * whichever is applied last takes every external metric of the cluster. During a migration the
 * adapter keeps serving custom metrics only (`custom.metrics.k8s.io`) or is removed.
 */
export class Keda extends pulumi.ComponentResource {
  /** The Helm release: ScaledObjects must depend on it (the CRDs). */
  public readonly release: k8s.helm.v3.Release;
  /** The namespace, when this component creates it: what objects in it must wait for. */
  public readonly namespaceResource?: k8s.core.v1.Namespace;
  /** The namespace KEDA runs in. */
  public readonly namespace: pulumi.Output<string>;

  constructor(name: string, args: KedaArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:Keda", name, {}, opts);
    const pin = CHART_PINS.keda;
    const source = chartSource(pin.chart, pin.repository, args.chartRepository);
    const values = kedaValues(args);
    const policies = kedaNetworkPolicySpecs(args.prometheusNamespace ?? "monitoring", KEDA_WORKLOADS);
    const ns = args.namespace ?? "keda";
    const dependsOn: pulumi.Resource[] = [];
    if (args.createNamespace ?? true) {
      this.namespaceResource = restrictedNamespace(name, ns, args.labels, childOptions(this, opts));
      dependsOn.push(this.namespaceResource);
    }
    this.release = new k8s.helm.v3.Release(
      name,
      {
        name: args.releaseName ?? "keda",
        namespace: this.namespaceResource?.metadata.name ?? ns,
        ...source,
        version: args.chartVersion ?? pin.version,
        values,
      },
      childOptions(this, opts, ...dependsOn),
    );
    for (const [policyName, spec] of Object.entries(policies))
      new k8s.networking.v1.NetworkPolicy(
        `${name}-${policyName}`,
        {
          metadata: {
            name: policyName,
            namespace: this.namespaceResource?.metadata.name ?? ns,
            labels: args.labels ?? {},
          },
          spec,
        },
        childOptions(this, opts, ...dependsOn),
      );
    this.namespace = pulumi.output(this.namespaceResource?.metadata.name ?? ns);
    this.registerOutputs({ namespace: this.namespace });
  }
}
