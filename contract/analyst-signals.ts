/**
 * What the alert analyst gathers for each alert, as data beside the rule catalogue: named PromQL
 * signals, and for each alert the signals that usually move with it. A signal is scoped to the
 * alert's namespace (and pod where it has one); `window` is the analyst's look-back for rates.
 */
export type SignalName =
  | "gpu_memory_ratio"
  | "failures_by_reason"
  | "error_ratio"
  | "queue_depth"
  | "restarts"
  | "oom_killed"
  | "versions"
  | "resident_memory_slope"
  | "submission_rate"
  | "submission_rate_before"
  | "targets_down";

export interface SignalScope {
  prefix: string;
  namespace: string;
  /** Rate and increase window, e.g. "15m". */
  window: string;
  /** How far back "before" is, e.g. "1h". */
  lookback: string;
}

/** The PromQL of each signal for one scope. */
export function signalQueries(s: SignalScope): Record<SignalName, string> {
  const ns = `namespace="${s.namespace}"`;
  const p = s.prefix;
  return {
    gpu_memory_ratio: `max by (pod) (${p}_gpu_memory_used_bytes{${ns}} / ${p}_gpu_memory_total_bytes{${ns}})`,
    failures_by_reason: `sum by (reason) (increase(${p}_job_failures_total{${ns}}[${s.window}]))`,
    error_ratio: `sum(rate(${p}_request_total{${ns},status="server_error"}[${s.window}])) / sum(rate(${p}_request_total{${ns},status!="client_error"}[${s.window}]))`,
    queue_depth: `max(${p}_jobs_queued{${ns}})`,
    restarts: `sum by (pod) (increase(kube_pod_container_status_restarts_total{${ns}}[${s.window}]))`,
    oom_killed: `max by (pod) (kube_pod_container_status_last_terminated_reason{${ns},reason="OOMKilled"})`,
    versions: `count by (version) (${p}_build_info{${ns}})`,
    resident_memory_slope: `deriv(${p}_process_resident_memory_bytes{${ns}}[${s.lookback}]) * 3600`,
    submission_rate: `sum(rate(${p}_job_submissions_total{${ns}}[${s.window}]))`,
    submission_rate_before: `sum(rate(${p}_job_submissions_total{${ns}}[${s.window}] offset ${s.lookback}))`,
    targets_down: `count(up{${ns}} == 0)`,
  };
}

const ALWAYS: SignalName[] = ["failures_by_reason", "versions", "restarts", "oom_killed"];

/** The signals gathered for an alert, by the alert name's suffix after the service prefix. */
export const RELATED_SIGNALS: Record<string, SignalName[]> = {
  HighGPUMemoryUsage: [...ALWAYS, "gpu_memory_ratio", "queue_depth"],
  HighErrorRate: [...ALWAYS, "error_ratio", "gpu_memory_ratio", "queue_depth"],
  ErrorBudgetBurn: [...ALWAYS, "error_ratio", "gpu_memory_ratio", "queue_depth"],
  HighLatencyP99: [...ALWAYS, "queue_depth", "gpu_memory_ratio", "submission_rate", "submission_rate_before"],
  MemoryLeak: [...ALWAYS, "resident_memory_slope", "submission_rate", "submission_rate_before"],
  TargetDown: [...ALWAYS, "targets_down"],
  QueueBacklog: [...ALWAYS, "queue_depth", "submission_rate", "submission_rate_before", "targets_down"],
  JobsLost: [...ALWAYS, "targets_down"],
};

/** Signals for an alert: its own list, else the ones every alert gets. */
export function relatedSignals(alertname: string, alertPrefix: string): SignalName[] {
  const suffix = alertname.startsWith(alertPrefix) ? alertname.slice(alertPrefix.length) : alertname;
  return RELATED_SIGNALS[suffix] ?? RELATED_SIGNALS[alertname] ?? ALWAYS;
}
