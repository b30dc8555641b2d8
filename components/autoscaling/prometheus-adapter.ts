import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CHART_PINS, chartSource } from "../shared/chart-pins";
import { childOptions } from "../shared/child-options";
import type { ServiceAdapterRules } from "./custom-metric";
import { InputPropertyError, quote } from "../shared/errors";
import { PROMETHEUS_PORT } from "../monitoring/monitoring-stack";
import type { ContainerResources } from "../service/tier-args";

/** Port the adapter serves on: the kubelet's, which every managed control plane can reach. */
export const ADAPTER_LISTEN_PORT = 10250;

/** Arguments of `PrometheusAdapter`: the Prometheus it reads, the rules it serves, its chart and replicas. */
export interface PrometheusAdapterArgs {
  /** Namespace to install into (usually the monitoring namespace). */
  namespace: pulumi.Input<string>;
  /** In-cluster Prometheus URL *without* the port: the chart appends `:<prometheusPort>` itself. */
  prometheusUrl: pulumi.Input<string>;
  /** Prometheus Service port. @default 9090 */
  prometheusPort?: number;
  /** Adapter rules of every onboarded service (`InferenceObservability.adapterRules`), merged. */
  rules: ServiceAdapterRules[];
  /** Helm release name. @default "prometheus-adapter" */
  releaseName?: string;
  /** prometheus-adapter chart version. @default `CHART_PINS.prometheusAdapter.version` (the pinned version) */
  chartVersion?: string;
  /**
   * Where the chart is fetched from: a mirror for air-gapped networks, either a Helm repository
   * (`https://charts.example.com`: ChartMuseum, Artifactory, Harbor) or an OCI registry
   * (`oci://registry.example.com/charts`, holding the chart at `<that>/<chart>`). See `chartSource`.
   * @default `CHART_PINS.prometheusAdapter.repository` (the chart's public repository)
   */
  chartRepository?: string;
  /** Adapter replicas; it serves the HPA's metrics API, so 2 in production. @default 1 */
  replicas?: number;
  /** Requests and limits of the adapter's container. @default none (the chart's: BestEffort) */
  resources?: ContainerResources;
  /**
   * Serve `external.metrics.k8s.io` (the backlog metrics). Only one owner can hold
   * `v1beta1.external.metrics.k8s.io`: turn it off where KEDA or Datadog already serves it.
   * @default true
   */
  externalMetrics?: boolean;
  /** Labels on the adapter's objects. @default {} */
  labels?: Record<string, string>;
}

/**
 * prometheus-adapter serving `custom.metrics.k8s.io` and `external.metrics.k8s.io` for the HPAs of
 * every onboarded service. It is one per cluster (it owns both APIServices), so it takes the rules of
 * all services. The chart's default rules are off: they expose hundreds of metrics nobody scales on
 * and slow every discovery round.
 */
export class PrometheusAdapter extends pulumi.ComponentResource {
  /** The Helm release (the adapter's Deployment and APIServices). */
  public readonly release: k8s.helm.v3.Release;
  /** Metric names served, custom then external, e.g. `sonic_request_qps`, `sonic_job_backlog`. */
  public readonly metricNames: string[];

  constructor(name: string, args: PrometheusAdapterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:PrometheusAdapter", name, {}, opts);
    const pin = CHART_PINS.prometheusAdapter;
    const source = chartSource(pin.chart, pin.repository, args.chartRepository);
    const checkUrl = (url: string) => {
      if (/:\d+\/?$/.test(url)) {
        throw new InputPropertyError(
          "prometheusUrl",
          `must not carry a port (the chart appends prometheusPort), got ${quote(url)}`,
        );
      }
      return url;
    };
    // A plain string fails at once; an Output fails when it resolves, still before the release is sent.
    const url =
      typeof args.prometheusUrl === "string"
        ? checkUrl(args.prometheusUrl)
        : pulumi.output(args.prometheusUrl).apply(checkUrl);
    const externalMetrics = args.externalMetrics ?? true;
    const releaseName = args.releaseName ?? "prometheus-adapter";
    this.release = new k8s.helm.v3.Release(
      name,
      {
        name: releaseName,
        namespace: args.namespace,
        ...source,
        version: args.chartVersion ?? pin.version,
        values: {
          prometheus: { url, port: args.prometheusPort ?? PROMETHEUS_PORT, path: "" },
          replicas: args.replicas ?? 1,
          ...(args.resources ? { resources: args.resources } : {}),
          // Control planes that reach nodes only on 443/10250 (GKE private clusters, minimal EKS node
          // security groups) cannot reach the chart's 6443: the APIServices read unavailable.
          listenPort: ADAPTER_LISTEN_PORT,
          // The chart's probes both ask /healthz, so an adapter whose first discovery against a slow
          // Prometheus outlasts the liveness budget is restarted and starts over: liveness asks only
          // whether the server runs (/livez), readiness whether it serves (/readyz, the API server
          // library's checks, which include its informers' sync).
          livenessProbe: { httpGet: { path: "/livez" } },
          readinessProbe: { httpGet: { path: "/readyz" } },
          customLabels: args.labels ?? {},
          // It serves the HPAs' metrics APIs: keep one replica through a drain, on separate nodes.
          podDisruptionBudget: {
            enabled: (args.replicas ?? 1) > 1,
            minAvailable: 1,
            // The chart defaults maxUnavailable to 1, and a PDB with both is refused by the API server. null
            // would unset it under `helm template`, but Pulumi drops nulls from a Release's values before Helm
            // sees them (found by the live suite: prod's adapter release failed). 0 is falsy in the chart's
            // `if`, so the field is left out.
            maxUnavailable: 0,
            unhealthyPodEvictionPolicy: "AlwaysAllow",
          },
          affinity:
            (args.replicas ?? 1) > 1
              ? {
                  podAntiAffinity: {
                    preferredDuringSchedulingIgnoredDuringExecution: [
                      {
                        weight: 100,
                        podAffinityTerm: {
                          topologyKey: "kubernetes.io/hostname",
                          labelSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus-adapter" } },
                        },
                      },
                    ],
                  },
                }
              : {},
          rules: {
            default: false,
            custom: args.rules.flatMap((r) => r.custom),
            // No external rules: the chart renders no external APIService at all.
            external: externalMetrics ? args.rules.flatMap((r) => r.external) : [],
          },
        },
      },
      childOptions(this, opts),
    );
    // The API server's aggregation layer calls it from the control plane, which is no pod a selector
    // could name: its port from anywhere, and nothing else.
    new k8s.networking.v1.NetworkPolicy(
      name,
      {
        metadata: { name: releaseName, namespace: args.namespace, labels: args.labels ?? {} },
        spec: {
          podSelector: {
            matchLabels: {
              "app.kubernetes.io/name": "prometheus-adapter",
              "app.kubernetes.io/instance": releaseName,
            },
          },
          policyTypes: ["Ingress"],
          ingress: [{ ports: [{ protocol: "TCP", port: ADAPTER_LISTEN_PORT }] }],
        },
      },
      childOptions(this, opts),
    );
    this.metricNames = [
      ...args.rules.flatMap((r) => r.custom),
      ...(externalMetrics ? args.rules.flatMap((r) => r.external) : []),
    ].map((r) => r.name.as);
    this.registerOutputs({ metricNames: this.metricNames });
  }
}
