import { promqlSelectors } from "../components/autoscaling/promql";

/** Parses PromQL with Prometheus' own grammar (the one its UI uses); throws with the offending position. */
export const selectorsOf = promqlSelectors;

/** Series from outside the metric contract that rules and dashboards may read, and where they come from. */
export const EXTERNAL_SERIES: Record<string, string> = {
  up: "Prometheus, per scrape target",
  kube_horizontalpodautoscaler_status_current_replicas: "kube-state-metrics",
  kube_horizontalpodautoscaler_spec_max_replicas: "kube-state-metrics",
  kube_horizontalpodautoscaler_spec_min_replicas: "kube-state-metrics",
  kube_horizontalpodautoscaler_status_desired_replicas: "kube-state-metrics",
  redis_up: "redis_exporter beside the in-cluster job queue",
  redis_memory_used_bytes: "redis_exporter beside the in-cluster job queue",
  redis_memory_max_bytes: "redis_exporter beside the in-cluster job queue",
  redis_rejected_connections_total: "redis_exporter beside the in-cluster job queue",
};
