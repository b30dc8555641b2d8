import type { Severity } from "../monitoring/alert-routing";
import type { MetricNames } from "../../contract/metrics";
import type { AlertThresholds } from "./thresholds";

/** What one GPU costs, to price videos and idle time in money rather than GPU-hours. */
export interface GpuCost {
  /** Price of one GPU for one hour, as billed (node price / GPUs per node). */
  gpuHourly: number;
  /** ISO 4217 code the price is in; recorded as the `currency` label. @default "USD" */
  currency?: string;
}

/** A Prometheus alerting rule, exactly as it appears in a rule file and a PrometheusRule. */
export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: Severity } & Record<string, string>;
  annotations: { summary: string; description: string; runbook_url: string };
}

/** A recording rule named `level:metric:operation`. */
export interface RecordingRule {
  record: string;
  expr: string;
  labels?: Record<string, string>;
}

export type Rule = AlertRule | RecordingRule;

export interface RuleGroup {
  name: string;
  /** Evaluation interval of this group. @default the evaluator's global interval */
  interval?: string;
  rules: Rule[];
}

/** Everything a concern file needs to write its rules for one service. */
export interface CatalogueContext {
  /** Metric prefix (`sonic`). */
  prefix: string;
  /** PascalCase prefix of the service's alert names (`Sonic`). */
  alertPrefix: string;
  names: MetricNames;
  /** `job` label Prometheus gives the service's targets: the Service name. */
  job: string;
  /** Namespace the service runs in. */
  namespace: string;
  /** HorizontalPodAutoscaler of the GPU tier (the one that holds GPUs), for kube-state-metrics series. */
  hpaName: string;
  /** Every HorizontalPodAutoscaler of the service (one per tier), for kube-state-metrics series. */
  hpaNames: string[];
  /** Job slots of one GPU pod as deployed (GPUs x concurrency); undefined: read `job_slots`. */
  slotsPerPod?: number;
  thresholds: AlertThresholds;
  /** GPU price, when the stack names one: adds the money records. */
  cost?: GpuCost;
  /** The runbook link of one alert. */
  runbookUrl(alert: string): string;
}

export function isAlert(rule: Rule): rule is AlertRule {
  return "alert" in rule;
}
