import type { ContainerResources } from "../service/tier-args";

/** kube-prometheus-stack's containers besides Prometheus and Alertmanager (those have settings of their own). */
export type MonitoringAddon =
  | "operator"
  | "configReloader"
  | "admissionJobs"
  | "grafana"
  | "grafanaSidecars"
  | "kubeStateMetrics"
  | "nodeExporter";

/**
 * Requests and memory limits of kube-prometheus-stack's other containers, which the chart leaves
 * BestEffort (the first evicted under memory pressure: a node losing its exporter, or the operator,
 * mid-incident). Sized after kube-prometheus' own manifests (prometheus-operator/kube-prometheus,
 * `manifests/`): the operator 100m/100Mi under 200Mi, kube-state-metrics 10m/190Mi under 250Mi,
 * node-exporter 102m/180Mi under 180Mi; the config-reloader at the operator's own defaults (10m,
 * 50Mi); Grafana and its sidecars as the fleet's Grafana (Pulumi.fleet.yaml). No CPU limits, as for the
 * project's own pods: a busy container is throttled only by its node. kube-state-metrics' memory grows
 * with the cluster's objects: raise it on clusters of thousands of pods.
 */
export const MONITORING_ADDON_RESOURCES: Record<MonitoringAddon, ContainerResources> = {
  operator: { requests: { cpu: "100m", memory: "100Mi" }, limits: { memory: "200Mi" } },
  configReloader: { requests: { cpu: "10m", memory: "50Mi" }, limits: { memory: "50Mi" } },
  admissionJobs: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "64Mi" } },
  grafana: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } },
  grafanaSidecars: { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "128Mi" } },
  kubeStateMetrics: { requests: { cpu: "10m", memory: "190Mi" }, limits: { memory: "250Mi" } },
  nodeExporter: { requests: { cpu: "102m", memory: "180Mi" }, limits: { memory: "180Mi" } },
};
