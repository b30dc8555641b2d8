import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CHART_PINS, chartSource } from "../shared/chart-pins";
import { podSecurityLabels } from "../shared/pod-hardening";
import { GRAFANA_STARTUP_PROBE } from "../shared/grafana-startup-probe";
import { MONITORING_ADDON_RESOURCES, type MonitoringAddon } from "./addon-resources";
import { monitoringNetworkPolicySpecs } from "./monitoring-network-policy";
import { childOptions } from "../shared/child-options";
import { ClusterFlavor, controlPlaneValues } from "./cluster-flavor";
import type { ContainerResources } from "../service/tier-args";
import { parseDuration } from "../shared/durations";
import { InputPropertyError, quote } from "../shared/errors";
import { fleetRemoteWriteSpec, heartbeatRuleGroup, RemoteWriteSeries } from "../fleet/fleet-remote-write";

/** A Prometheus remote-write target: the fleet's global store (see fleet-remote-write.ts) or any Mimir-compatible URL. */
export interface RemoteWriteTarget {
  /** Push URL, e.g. `https://fleet.example.com/api/v1/push`. */
  url: string;
  /** Basic-auth user; when set, `password` is stored in a Secret and referenced, never inlined. @default no auth */
  username?: string;
  /** Basic-auth password (a Pulumi secret). Required with `username`. */
  password?: pulumi.Input<string>;
  /** Tenant, sent as the `X-Scope-OrgID` header. @default no header */
  tenant?: string;
  /** `fleet`: only recordings, contract metrics and the heartbeat; `all`: every series. @default "fleet" */
  series?: RemoteWriteSeries;
  /** Services (metric prefixes) whose series go to the fleet. @default ["sonic"] */
  metricPrefixes?: string[];
}

/** Prometheus of the stack: retention, replicas, intervals, resources, volume, remote write. */
export interface PrometheusSettings {
  /** How long samples are kept. @default "10d" */
  retention?: string;
  /**
   * Size cap on the TSDB so Prometheus deletes old blocks before the volume fills.
   * @default 85% of `storage.size`, in GiB
   */
  retentionSize?: string;
  /** Prometheus replicas (2 for HA: both scrape everything, Alertmanager deduplicates). @default 1 */
  replicas?: number;
  /** Default scrape interval for targets that do not set their own. @default "15s" */
  scrapeInterval?: string;
  /** Rule evaluation interval. @default "15s" */
  evaluationInterval?: string;
  /** Container resources of Prometheus. @default { requests: { memory: "400Mi" } } */
  resources?: k8s.types.input.core.v1.ResourceRequirements;
  /** PersistentVolumeClaim (ReadWriteOnce) for the TSDB. @default { size: "50Gi" } on the default class */
  storage?: {
    /** Volume size (`50Gi`). */
    size: string;
    /** StorageClass of the volume. @default the cluster's default class */
    storageClassName?: string;
  };
  /** Labels added to every series and alert leaving this Prometheus (`cluster`, `env`). @default {} */
  externalLabels?: Record<string, string>;
  /** Remote-write targets for long-term storage. @default [] */
  remoteWrite?: RemoteWriteTarget[];
}

/** Arguments of `MonitoringStack`: the chart, Prometheus, Alertmanager, Grafana and the cluster's flavour. */
export interface MonitoringStackArgs {
  /** Namespace for the whole monitoring stack, created by this component. @default "monitoring" */
  namespace?: string;
  /**
   * Helm release name. Pinned (Pulumi would otherwise add a random suffix) because Prometheus selects
   * ServiceMonitors and PrometheusRules by the label `release: <name>`.
   * @default "prometheus-stack"
   */
  releaseName?: string;
  /** kube-prometheus-stack chart version. @default `CHART_PINS.kubePrometheusStack.version` (the pinned version) */
  chartVersion?: string;
  /**
   * Where the chart is fetched from: a mirror for air-gapped networks, either a Helm repository
   * (`https://charts.example.com`: ChartMuseum, Artifactory, Harbor) or an OCI registry
   * (`oci://registry.example.com/charts`, holding the chart at `<that>/<chart>`). See `chartSource`.
   * @default `CHART_PINS.kubePrometheusStack.repository` (the chart's public repository)
   */
  chartRepository?: string;
  /** Prometheus settings. @default see {@link PrometheusSettings} */
  prometheus?: PrometheusSettings;
  /** Alertmanager replicas (3 for HA; they gossip to deduplicate). @default 1 */
  alertmanagerReplicas?: number;
  /** Requests and limits of the Alertmanager container. @default none (the chart's: BestEffort) */
  alertmanagerResources?: ContainerResources;
  /** The whole alertmanager.yaml (see `renderAlertmanagerConfig`); stored in a Secret. */
  alertmanagerConfig: pulumi.Input<string>;
  /** Grafana admin password (a Pulumi secret); stored in a Secret the chart reads. */
  grafanaAdminPassword: pulumi.Input<string>;
  /** Grafana admin user name. @default "admin" */
  grafanaAdminUser?: string;
  /** Namespace of node-exporter, the one workload that needs `privileged`. @default "<namespace>-node-exporter" */
  nodeExporterNamespace?: string;
  /** Labels put on every object of the stack, subcharts included (`team`, `env`). @default {} */
  labels?: Record<string, string>;
  /**
   * The kind of cluster: decides which control-plane targets are monitored (see `controlPlaneValues`),
   * so no rule alerts on a target the cluster does not have.
   * @default "generic" (no scheduler, controller-manager, etcd or kube-proxy monitors)
   */
  clusterFlavor?: ClusterFlavor;
  /**
   * More values of the `kube-state-metrics` subchart, e.g. `KEDA_KUBE_STATE_METRICS_VALUES` so the
   * ScaledObjects' conditions (KEDA's fallback among them) become series.
   * @default {}
   */
  kubeStateMetricsValues?: Record<string, unknown>;
  /**
   * Requests and limits of the chart's other containers (the operator, its config-reloader and
   * admission jobs, Grafana and its sidecars, kube-state-metrics, node-exporter), by container.
   * @default `MONITORING_ADDON_RESOURCES` (addon-resources.ts), for the ones not given
   */
  addonResources?: Partial<Record<MonitoringAddon, ContainerResources>>;
  /**
   * Ingress NetworkPolicies for the chart's pods (see `monitoringNetworkPolicySpecs`); `false` where
   * the cluster's own policies govern the namespace.
   * @default true
   */
  networkPolicies?: boolean;
  /** Namespaces whose pods may query Prometheus besides the monitoring namespace (KEDA's). @default [] */
  prometheusClientNamespaces?: string[];
}

/** Port of the Prometheus Service; prometheus-adapter appends it to the URL itself. */
export const PROMETHEUS_PORT = 9090;

/**
 * kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, Grafana, kube-state-metrics,
 * node-exporter) in its own namespace, installed as a `helm.v3.Release` so the chart's hooks (the
 * admission-webhook certificate jobs) run and Helm tracks the release.
 */
export class MonitoringStack extends pulumi.ComponentResource {
  /** Namespace of the stack. */
  public readonly namespace: pulumi.Output<string>;
  /** Helm release name: the `release` label Prometheus selects monitors and rules by. */
  public readonly releaseName: pulumi.Output<string>;
  /** Labels a ServiceMonitor or PrometheusRule must carry for this Prometheus to load it. */
  public readonly resourceSelectorLabels: Record<string, string>;
  /** Prometheus' Service (port `PROMETHEUS_PORT`). */
  public readonly prometheusServiceName: pulumi.Output<string>;
  /** In-cluster URL of Prometheus without the port, as prometheus-adapter wants it. */
  public readonly prometheusUrl: pulumi.Output<string>;
  /** Alertmanager's Service. */
  public readonly alertmanagerServiceName: pulumi.Output<string>;
  /** Grafana's Service. */
  public readonly grafanaServiceName: pulumi.Output<string>;
  /** The namespace object: what other objects in it wait for. */
  public readonly namespaceResource: k8s.core.v1.Namespace;
  /** The Helm release; custom resources (ServiceMonitor, PrometheusRule) must depend on it for the CRDs. */
  public readonly release: k8s.helm.v3.Release;

  constructor(name: string, args: MonitoringStackArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:MonitoringStack", name, {}, opts);
    const pin = CHART_PINS.kubePrometheusStack;
    const source = chartSource(pin.chart, pin.repository, args.chartRepository);
    const namespaceName = args.namespace ?? "monitoring";
    const releaseName = args.releaseName ?? "prometheus-stack";
    const labels = args.labels ?? {};
    const prometheus = args.prometheus ?? {};
    const storage = prometheus.storage ?? { size: "50Gi" };
    const retentionSize = prometheus.retentionSize ?? defaultRetentionSize(storage.size);
    validatePrometheus(prometheus, storage.size, retentionSize);
    const policySpecs =
      args.networkPolicies === false
        ? {}
        : monitoringNetworkPolicySpecs({
            releaseName,
            prometheusClientNamespaces: args.prometheusClientNamespaces,
          });

    const nodeExporterNamespaceName = args.nodeExporterNamespace ?? `${namespaceName}-node-exporter`;
    const { namespace, nodeExporterNamespace } = monitoringNamespaces(
      name,
      namespaceName,
      nodeExporterNamespaceName,
      labels,
      childOptions(this, opts),
    );
    this.namespaceResource = namespace;
    const inNamespace = childOptions(this, opts, namespace);
    const secrets = monitoringSecrets(name, namespaceName, labels, args, inNamespace);
    const remoteWrite = remoteWriteTargets(name, namespaceName, labels, prometheus, inNamespace);

    this.release = new k8s.helm.v3.Release(
      name,
      {
        name: releaseName,
        namespace: namespaceName,
        ...source,
        version: args.chartVersion ?? pin.version,
        values: kubePrometheusStackValues(args, {
          releaseName,
          labels,
          prometheus,
          storage,
          retentionSize,
          nodeExporterNamespaceName,
          remoteWrite: remoteWrite.specs,
        }),
        // GPU clusters pull large images; give the first install time before Helm gives up.
        timeout: 900,
        cleanupOnFail: true,
      },
      childOptions(this, opts, namespace, nodeExporterNamespace, ...secrets, ...remoteWrite.secrets),
    );

    // Beside the release, not after it: a policy admits nothing until its pods exist.
    for (const [policyName, spec] of Object.entries(policySpecs))
      new k8s.networking.v1.NetworkPolicy(
        `${name}-${policyName}`,
        { metadata: { name: policyName, namespace: namespaceName, labels }, spec },
        inNamespace,
      );

    this.namespace = namespace.metadata.name;
    this.releaseName = this.release.name;
    this.resourceSelectorLabels = { release: releaseName };
    this.prometheusServiceName = pulumi.output(`${releaseName}-prometheus`);
    this.prometheusUrl = pulumi.output(`http://${releaseName}-prometheus.${namespaceName}.svc`);
    this.alertmanagerServiceName = pulumi.output(`${releaseName}-alertmanager`);
    this.grafanaServiceName = pulumi.output(`${releaseName}-grafana`);
    this.registerOutputs({
      namespace: this.namespace,
      releaseName: this.releaseName,
      prometheusServiceName: this.prometheusServiceName,
      prometheusUrl: this.prometheusUrl,
      alertmanagerServiceName: this.alertmanagerServiceName,
      grafanaServiceName: this.grafanaServiceName,
    });
  }
}

/**
 * Everything here passes `restricted` except node-exporter (hostNetwork, hostPID, hostPath), which
 * gets its own `privileged` namespace: one exception, not a whole namespace run privileged.
 */
function monitoringNamespaces(
  name: string,
  namespaceName: string,
  nodeExporterNamespaceName: string,
  labels: Record<string, string>,
  opts: pulumi.CustomResourceOptions,
): { namespace: k8s.core.v1.Namespace; nodeExporterNamespace: k8s.core.v1.Namespace } {
  const namespace = new k8s.core.v1.Namespace(
    name,
    {
      metadata: {
        name: namespaceName,
        labels: { ...labels, ...podSecurityLabels("restricted") },
      },
    },
    opts,
  );
  const nodeExporterNamespace = new k8s.core.v1.Namespace(
    `${name}-node-exporter`,
    {
      metadata: {
        name: nodeExporterNamespaceName,
        labels: { ...labels, ...podSecurityLabels("privileged") },
      },
    },
    opts,
  );
  return { namespace, nodeExporterNamespace };
}

/** Grafana's admin credentials and Alertmanager's configuration, as Secrets the chart is pointed at. */
function monitoringSecrets(
  name: string,
  namespaceName: string,
  labels: Record<string, string>,
  args: MonitoringStackArgs,
  inNamespace: pulumi.CustomResourceOptions,
): k8s.core.v1.Secret[] {
  const grafanaSecret = new k8s.core.v1.Secret(
    `${name}-grafana-admin`,
    {
      metadata: { name: "grafana-admin", namespace: namespaceName, labels },
      stringData: {
        "admin-user": args.grafanaAdminUser ?? "admin",
        "admin-password": pulumi.secret(args.grafanaAdminPassword),
      },
    },
    inNamespace,
  );
  const alertmanagerSecret = new k8s.core.v1.Secret(
    `${name}-alertmanager-config`,
    {
      metadata: { name: "alertmanager-config", namespace: namespaceName, labels },
      stringData: { "alertmanager.yaml": pulumi.secret(args.alertmanagerConfig) },
    },
    inNamespace,
  );
  return [grafanaSecret, alertmanagerSecret];
}

/** Prometheus' remote-write targets (the fleet contract), and a Secret for each one's basic auth. */
function remoteWriteTargets(
  name: string,
  namespaceName: string,
  labels: Record<string, string>,
  prometheus: PrometheusSettings,
  inNamespace: pulumi.CustomResourceOptions,
): { specs: ReturnType<typeof fleetRemoteWriteSpec>[]; secrets: k8s.core.v1.Secret[] } {
  const secrets: k8s.core.v1.Secret[] = [];
  const specs = (prometheus.remoteWrite ?? []).map((target, i) => {
    const secretName = `remote-write-${i}`;
    if (target.username !== undefined) {
      if (target.password === undefined) {
        throw new InputPropertyError(
          `prometheus.remoteWrite[${i}].password`,
          `required with username ${quote(target.username)}`,
        );
      }
      secrets.push(
        new k8s.core.v1.Secret(
          `${name}-${secretName}`,
          {
            metadata: { name: secretName, namespace: namespaceName, labels },
            stringData: { username: target.username, password: pulumi.secret(target.password) },
          },
          inNamespace,
        ),
      );
    }
    // The fleet contract: tenant header, series filter and queue sized for it (fleet-remote-write.ts).
    return fleetRemoteWriteSpec({
      url: target.url,
      tenant: target.tenant,
      series: target.series,
      metricPrefixes: target.metricPrefixes,
      basicAuthSecret: target.username !== undefined ? secretName : undefined,
    });
  });
  return { specs, secrets };
}

/** kube-prometheus-stack's values: pinned names, explicit selectors, the cluster flavour's monitors and rules. */
function kubePrometheusStackValues(
  args: MonitoringStackArgs,
  resolved: {
    releaseName: string;
    labels: Record<string, string>;
    prometheus: PrometheusSettings;
    storage: { size: string; storageClassName?: string };
    retentionSize: string;
    nodeExporterNamespaceName: string;
    remoteWrite: ReturnType<typeof fleetRemoteWriteSpec>[];
  },
) {
  const { releaseName, labels, prometheus, storage, retentionSize, nodeExporterNamespaceName, remoteWrite } =
    resolved;
  // While this cluster writes to a fleet, it records the heartbeat the fleet watches for silence.
  const heartbeat = remoteWrite.length > 0 ? { "fleet-heartbeat": { groups: [heartbeatRuleGroup()] } } : {};
  const selector = { matchLabels: { release: releaseName } };
  const controlPlane = controlPlaneValues(args.clusterFlavor ?? "generic");
  const prometheusReplicas = prometheus.replicas ?? 1;
  const alertmanagerReplicas = args.alertmanagerReplicas ?? 1;
  const addon = { ...MONITORING_ADDON_RESOURCES, ...args.addonResources };
  /** A disruption budget only where there is a replica to spare; unready pods may always go. */
  const pdb = (replicas: number) => ({
    enabled: replicas > 1,
    minAvailable: 1,
    unhealthyPodEvictionPolicy: "AlwaysAllow",
  });
  return {
    // Object names follow the release name ("prometheus-stack-prometheus", ...) instead of the
    // chart's 26-character truncation ("prometheus-stack-kube-prom-..."), so outputs are predictable.
    fullnameOverride: releaseName,
    commonLabels: labels,
    crds: { enabled: true },
    ...controlPlane.values,
    defaultRules: { rules: controlPlane.rules },
    additionalPrometheusRulesMap: heartbeat,
    prometheusOperator: {
      // helm.v3.Release runs the chart's hook jobs, which create and patch the webhook certificate.
      admissionWebhooks: { enabled: true, patch: { enabled: true, resources: addon.admissionJobs } },
      resources: addon.operator,
      // The operator gives these to the config-reloader it adds to Prometheus' and Alertmanager's pods.
      prometheusConfigReloader: { resources: addon.configReloader },
    },
    prometheus: {
      podDisruptionBudget: pdb(prometheusReplicas),
      prometheusSpec: {
        replicas: prometheusReplicas,
        // Two replicas remote-write the same series: Mimir's HA tracker (and Thanos) deduplicate
        // on `cluster` (an external label below) and `__replica__`, which the operator sets to the
        // pod name and drops from alerts, so Alertmanager still sees one alert.
        replicaExternalLabelName: "__replica__",
        podAntiAffinity: "soft",
        retention: prometheus.retention ?? "10d",
        retentionSize,
        scrapeInterval: prometheus.scrapeInterval ?? "15s",
        evaluationInterval: prometheus.evaluationInterval ?? "15s",
        enableAdminAPI: false,
        externalLabels: prometheus.externalLabels ?? {},
        resources: prometheus.resources ?? { requests: { memory: "400Mi" } },
        storageSpec: {
          volumeClaimTemplate: {
            spec: {
              ...(storage.storageClassName ? { storageClassName: storage.storageClassName } : {}),
              accessModes: ["ReadWriteOnce"],
              resources: { requests: { storage: storage.size } },
            },
          },
        },
        // Explicit selectors: without them the chart falls back to its own `release` label only when
        // the *NilUsesHelmValues flags say so, which is easy to break with an unrelated values change.
        serviceMonitorSelectorNilUsesHelmValues: false,
        serviceMonitorSelector: selector,
        serviceMonitorNamespaceSelector: {},
        podMonitorSelectorNilUsesHelmValues: false,
        podMonitorSelector: selector,
        ruleSelectorNilUsesHelmValues: false,
        ruleSelector: selector,
        ruleNamespaceSelector: {},
        remoteWrite,
      },
    },
    alertmanager: {
      podDisruptionBudget: pdb(alertmanagerReplicas),
      alertmanagerSpec: {
        replicas: alertmanagerReplicas,
        ...(args.alertmanagerResources ? { resources: args.alertmanagerResources } : {}),
        podAntiAffinity: "soft",
        // The chart renders no config Secret of its own; ours carries the receivers' credentials.
        useExistingSecret: true,
        configSecret: "alertmanager-config",
      },
    },
    // Subcharts take their own label values: commonLabels stops at kube-prometheus-stack's templates.
    "kube-state-metrics": {
      ...args.kubeStateMetricsValues,
      customLabels: labels,
      resources: addon.kubeStateMetrics,
    },
    "prometheus-node-exporter": {
      commonLabels: labels,
      namespaceOverride: nodeExporterNamespaceName,
      resources: addon.nodeExporter,
    },
    grafana: {
      fullnameOverride: `${releaseName}-grafana`,
      // The chart's `helm test` pod runs as root: it would break `restricted`, and nothing runs it.
      testFramework: { enabled: false },
      extraLabels: labels,
      admin: { existingSecret: "grafana-admin", userKey: "admin-user", passwordKey: "admin-password" },
      resources: addon.grafana,
      startupProbe: GRAFANA_STARTUP_PROBE,
      sidecar: {
        resources: addon.grafanaSidecars,
        dashboards: { enabled: true, label: "grafana_dashboard", labelValue: "1", searchNamespace: "ALL" },
      },
    },
  };
}

const SIZE_PATTERN = /^(\d+)(Gi|Ti)$/;

function sizeInGi(property: string, size: string): number {
  const match = SIZE_PATTERN.exec(size);
  if (!match)
    throw new InputPropertyError(property, `expected a size in Gi or Ti like 50Gi, got ${quote(size)}`);
  return Number(match[1]) * (match[2] === "Ti" ? 1024 : 1);
}

/** 85% of the volume: compaction needs head room, and a full volume stops ingestion entirely. */
function defaultRetentionSize(storageSize: string): string {
  return `${Math.floor(sizeInGi("prometheus.storage.size", storageSize) * 0.85)}GiB`;
}

function validatePrometheus(p: PrometheusSettings, storageSize: string, retentionSize: string): void {
  parseDuration("prometheus.retention", p.retention ?? "10d");
  parseDuration("prometheus.scrapeInterval", p.scrapeInterval ?? "15s");
  parseDuration("prometheus.evaluationInterval", p.evaluationInterval ?? "15s");
  const replicas = p.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1) {
    throw new InputPropertyError("prometheus.replicas", `must be an integer >= 1, got ${quote(replicas)}`);
  }
  const match = /^(\d+)GiB$/.exec(retentionSize);
  if (!match) {
    throw new InputPropertyError(
      "prometheus.retentionSize",
      `expected a size in GiB like 40GiB, got ${quote(retentionSize)}`,
    );
  }
  const volume = sizeInGi("prometheus.storage.size", storageSize);
  if (Number(match[1]) >= volume) {
    throw new InputPropertyError(
      "prometheus.retentionSize",
      `${quote(retentionSize)} must be smaller than 'prometheus.storage.size' (${quote(storageSize)})`,
    );
  }
}
