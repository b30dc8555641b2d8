import { promqlString } from "./promql";

/**
 * What the alert analyst gathers for each alert, as data beside the rule catalogue: named PromQL
 * signals, and for each alert the signals that usually move with it. A signal is scoped to the
 * alert's namespace (and pod where it has one); `window` is the analyst's look-back for rates.
 */
export type SignalName =
  | "gpu_memory_ratio"
  | "gpu_memory_growth"
  | "gpu_memory_jump"
  | "failures_by_reason"
  | "error_ratio"
  | "queue_depth"
  | "queue_depth_before"
  | "queue_store_up"
  | "redis_up"
  | "restarts"
  | "oom_killed"
  | "not_ready"
  | "crash_looping"
  | "waiting"
  | "pod_start"
  | "pod_versions"
  | "hpa_desired"
  | "hpa_current"
  | "hpa_max"
  | "hpa_current_min"
  | "autoscaler_alerts"
  | "scaled_object_paused"
  | "deployment_replicas"
  | "pod_created"
  | "pod_scheduled"
  | "pods_unschedulable"
  | "pods_pending"
  | "pod_ready"
  | "gpu_requests"
  | "gpus_allocatable"
  | "gpus_requested"
  | "versions"
  | "resident_memory_slope"
  | "submission_rate"
  | "submission_rate_before"
  | "targets_down";

/** Whether the pods found a node: when they were created and bound, what they wait for, the GPUs left. */
const SCHEDULING: SignalName[] = [
  "pod_created",
  "pod_scheduled",
  "pods_unschedulable",
  "pods_pending",
  "pod_ready",
  "gpu_requests",
  "gpus_allocatable",
  "gpus_requested",
];

/** Signals that read only Kubernetes' and Prometheus' own series: usable for any alert, any service. */
export const GENERIC_SIGNALS: SignalName[] = [
  "restarts",
  "oom_killed",
  "not_ready",
  "crash_looping",
  "waiting",
  "pod_start",
  "targets_down",
  ...SCHEDULING,
];

/**
 * KEDA's alerts (components/rules/keda.ts) under which a ScaledObject does not wake its Deployment from
 * zero. `KedaScaledObjectFallbackActive` is not one: a fallback holds replicas.
 */
export const AUTOSCALER_STUCK_ALERTS = [
  "KedaScaledObjectPaused",
  "KedaScalerErrors",
  "KedaScaledObjectNotReady",
  "KedaDown",
] as const;

/**
 * `nvidia.com/gpu` as kube-state-metrics labels it: the `resource` label of its resource series is the
 * resource name with every character outside `[a-zA-Z0-9_]` replaced by `_` (SanitizeLabelName).
 */
const GPU_RESOURCE = "nvidia_com_gpu";

/** Where the analyst's signals look: one service's metrics, in one namespace, over one window. */
export interface SignalScope {
  /** Metric prefix of the service (`sonic`). */
  prefix: string;
  /** The alert's namespace: any text, written as a PromQL string (a label value is untrusted). */
  namespace: string;
  /** Rate and increase window, e.g. "15m". */
  window: string;
  /** How far back "before" is, e.g. "1h". */
  lookback: string;
}

/** The PromQL of each signal for one scope. */
export function signalQueries(s: SignalScope): Record<SignalName, string> {
  const ns = `namespace=${promqlString(s.namespace)}`;
  const p = s.prefix;
  const used = `${p}_gpu_memory_used_bytes{${ns}}`;
  const total = `${p}_gpu_memory_total_bytes{${ns}}`;
  return {
    gpu_memory_ratio: `max by (pod) (${used} / ${total})`,
    // A leak climbs steadily (a slope over the look-back); oversized inputs jump when a large job starts.
    gpu_memory_growth: `max by (pod) (deriv(${used}[${s.lookback}]) * 3600 / ${total})`,
    gpu_memory_jump: `max by (pod) (max_over_time((clamp_min(idelta(${used}[5m]), 0) / ${total})[${s.lookback}:]))`,
    failures_by_reason: `sum by (reason) (increase(${p}_job_failures_total{${ns}}[${s.window}]))`,
    error_ratio: `sum(rate(${p}_request_total{${ns},status="server_error"}[${s.window}])) / sum(rate(${p}_request_total{${ns},status!="client_error"}[${s.window}]))`,
    queue_depth: `max(${p}_jobs_queued{${ns}})`,
    queue_depth_before: `max(${p}_jobs_queued{${ns}} offset ${s.window})`,
    queue_store_up: `min by (pod) (${p}_queue_store_up{${ns}})`,
    redis_up: `max by (pod, instance) (redis_up{${ns}})`,
    restarts: `sum by (pod, container) (increase(kube_pod_container_status_restarts_total{${ns}}[${s.window}]))`,
    oom_killed: `max by (pod, container) (kube_pod_container_status_last_terminated_reason{${ns},reason="OOMKilled"})`,
    not_ready: `max by (pod, container) (kube_pod_container_status_ready{${ns}}) == 0`,
    crash_looping: `max by (pod, container) (kube_pod_container_status_waiting_reason{${ns},reason="CrashLoopBackOff"}) == 1`,
    // Every waiting reason, not CrashLoopBackOff alone: ImagePullBackOff and config errors keep a tier down too.
    waiting: `max by (pod, container, reason) (kube_pod_container_status_waiting_reason{${ns}}) == 1`,
    pod_start: `max by (pod) (kube_pod_start_time{${ns}})`,
    pod_versions: `max by (pod, version) (${p}_build_info{${ns}})`,
    // kube-state-metrics' HPA series; KEDA's HPA for a ScaledObject carries the Deployment's name here.
    hpa_desired: `max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_desired_replicas{${ns}})`,
    hpa_current: `max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_current_replicas{${ns}})`,
    hpa_max: `max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_max_replicas{${ns}})`,
    // 0 when the tier was scaled to zero within the look-back: a cold start, not a crash.
    hpa_current_min: `min by (horizontalpodautoscaler) (min_over_time(kube_horizontalpodautoscaler_status_current_replicas{${ns}}[${s.lookback}]))`,
    // KedaDown fires in KEDA's own namespace and stops every ScaledObject: it counts wherever it fires.
    autoscaler_alerts: `max by (alertname, namespace, scaledObject, scaler, job) (ALERTS{alertstate="firing", alertname=~"${AUTOSCALER_STUCK_ALERTS.filter((a) => a !== "KedaDown").join("|")}", ${ns}} or ALERTS{alertstate="firing", alertname="KedaDown"})`,
    // KEDA's own series (pkg/metricscollector, `namespace` restored to the ScaledObject's by
    // KEDA_NAMESPACE_RELABELINGS): paused now, before KedaScaledObjectPaused's `for:` has run out.
    scaled_object_paused: `max by (scaledObject) (keda_scaled_object_paused{${ns}})`,
    // KEDA deletes a paused ScaledObject's HPA: the Deployment's own replicas are what is left to read.
    deployment_replicas: `max by (deployment) (kube_deployment_spec_replicas{${ns}})`,
    // kube-state-metrics' scheduling series: a pod waiting for a node is Pending with PodScheduled
    // False (kube_pod_status_unschedulable 1), and has no start time or container series until bound.
    pod_created: `max by (pod) (kube_pod_created{${ns}})`,
    pod_scheduled: `max by (pod) (kube_pod_status_scheduled_time{${ns}})`,
    pods_unschedulable: `max by (pod) (max_over_time(kube_pod_status_unschedulable{${ns}}[${s.lookback}]))`,
    pods_pending: `max by (pod) (kube_pod_status_phase{${ns},phase="Pending"}) == 1`,
    pod_ready: `max by (pod) (kube_pod_status_ready{${ns},condition="true"})`,
    // Extended resources are requested whole (a limit alone is copied to the request); the node
    // label is empty until the pod is bound.
    gpu_requests: `sum by (pod) (max by (pod, container) (kube_pod_container_resource_requests{${ns},resource="${GPU_RESOURCE}"}))`,
    // Nodes are cluster-wide (no namespace of their own): what every pod of the cluster competes for.
    gpus_allocatable: `sum by (node) (kube_node_status_allocatable{resource="${GPU_RESOURCE}"})`,
    gpus_requested: `sum by (node) (kube_pod_container_resource_requests{resource="${GPU_RESOURCE}",node!=""} * on (namespace, pod) group_left () max by (namespace, pod) (kube_pod_status_phase{phase=~"Pending|Running"} == 1))`,
    versions: `count by (version) (${p}_build_info{${ns}})`,
    resident_memory_slope: `deriv(${p}_process_resident_memory_bytes{${ns}}[${s.lookback}]) * 3600`,
    submission_rate: `sum(rate(${p}_job_submissions_total{${ns}}[${s.window}]))`,
    submission_rate_before: `sum(rate(${p}_job_submissions_total{${ns}}[${s.window}] offset ${s.lookback}))`,
    targets_down: `count(up{${ns}} == 0)`,
  };
}

const ALWAYS: SignalName[] = [
  "failures_by_reason",
  "versions",
  "pod_versions",
  "restarts",
  "oom_killed",
  "not_ready",
  "crash_looping",
  "waiting",
  "pod_start",
];
const TRAFFIC: SignalName[] = ["submission_rate", "submission_rate_before"];
const BACKLOG: SignalName[] = ["queue_depth", "queue_depth_before"];
const STORE: SignalName[] = ["queue_store_up", "redis_up", "targets_down"];
/** What scales the worker tier: its HPA (the adapter's or KEDA's) and KEDA's own alerts. */
const SCALING: SignalName[] = [
  "hpa_desired",
  "hpa_current",
  "hpa_max",
  "hpa_current_min",
  "autoscaler_alerts",
  "scaled_object_paused",
  "deployment_replicas",
];
/** What a KEDA alert about one ScaledObject is read with: is the backlog waiting on it. */
const KEDA_STUCK: SignalName[] = [...ALWAYS, ...BACKLOG, ...TRAFFIC, ...SCALING];

/** The signals gathered for an alert, by the alert name's suffix after the service prefix. */
export const RELATED_SIGNALS: Record<string, SignalName[]> = {
  HighGPUMemoryUsage: [
    ...ALWAYS,
    "gpu_memory_ratio",
    "gpu_memory_growth",
    "gpu_memory_jump",
    ...BACKLOG,
    ...TRAFFIC,
  ],
  HighErrorRate: [...ALWAYS, "error_ratio", "gpu_memory_ratio", ...BACKLOG],
  ErrorBudgetBurn: [...ALWAYS, "error_ratio", "gpu_memory_ratio", ...BACKLOG],
  HighLatencyP99: [...ALWAYS, ...BACKLOG, "gpu_memory_ratio", ...TRAFFIC, ...SCALING, ...SCHEDULING],
  MemoryLeak: [...ALWAYS, "resident_memory_slope", ...TRAFFIC],
  TargetDown: [...ALWAYS, "targets_down"],
  QueueBacklog: [...ALWAYS, ...BACKLOG, ...TRAFFIC, "targets_down", ...SCALING, ...SCHEDULING],
  AutoscalerMaxedOut: [...ALWAYS, ...BACKLOG, ...TRAFFIC, ...SCALING, ...SCHEDULING],
  QueueStoreUnreachable: [...ALWAYS, ...STORE, ...BACKLOG],
  QueueStoreDown: [...ALWAYS, ...STORE, ...BACKLOG],
  JobsLost: [...ALWAYS, "targets_down", ...BACKLOG],
  // KEDA's alerts of one ScaledObject fire in its namespace, under KEDA's names (no service prefix).
  KedaScaledObjectPaused: KEDA_STUCK,
  KedaScalerErrors: KEDA_STUCK,
  KedaScaledObjectNotReady: KEDA_STUCK,
};

/** Signals for an alert: its own list, else the ones every alert gets. */
export function relatedSignals(alertname: string, alertPrefix: string): SignalName[] {
  const suffix = alertname.startsWith(alertPrefix) ? alertname.slice(alertPrefix.length) : alertname;
  return RELATED_SIGNALS[suffix] ?? RELATED_SIGNALS[alertname] ?? ALWAYS;
}
