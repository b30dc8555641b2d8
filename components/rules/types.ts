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
  /** Alert name, PascalCase with the service's prefix (`SonicHighErrorRate`). */
  alert: string;
  /** PromQL condition: the alert is pending while it returns series. */
  expr: string;
  /** How long the condition holds before the alert fires (`5m`). */
  for: string;
  /** Labels the alert carries; `severity` picks the Alertmanager route. */
  labels: {
    /** `critical` pages, `warning` and `info` notify (alert-routing.ts). */
    severity: Severity;
  } & Record<string, string>;
  /** Text of the notification. */
  annotations: {
    /** One line: what is wrong. */
    summary: string;
    /** What it means and what to look at first, with the values that fired it. */
    description: string;
    /** `<runbookBaseUrl>#<alertname>`: where on-call reads what to do. */
    runbook_url: string;
  };
}

/** A recording rule named `level:metric:operation`. */
export interface RecordingRule {
  /** Name of the recorded series, `level:metric:operation`. */
  record: string;
  /** PromQL the series is computed from at each evaluation. */
  expr: string;
  /** Labels added to the recorded series. @default none */
  labels?: Record<string, string>;
}

/** One rule of a group: an alert or a recording. */
export type Rule = AlertRule | RecordingRule;

/** A rule group: rules evaluated together, in order, at one interval. */
export interface RuleGroup {
  /** Group name, unique in its rule file. */
  name: string;
  /** Evaluation interval of this group. @default the evaluator's global interval */
  interval?: string;
  /** The group's rules, evaluated in order. */
  rules: Rule[];
}

/** Everything a concern file needs to write its rules for one service. */
export interface CatalogueContext {
  /** Metric prefix (`sonic`). */
  prefix: string;
  /** PascalCase prefix of the service's alert names (`Sonic`). */
  alertPrefix: string;
  /** The contract's metric names under `prefix` (`metricNames(prefix)`). */
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
  /** Every threshold and `for:` of the catalogue, defaults filled in. */
  thresholds: AlertThresholds;
  /** GPU price, when the stack names one: adds the money records. */
  cost?: GpuCost;
  /** The runbook link of one alert. */
  runbookUrl(alert: string): string;
}

/** Whether a rule is an alert (not a recording). */
export function isAlert(rule: Rule): rule is AlertRule {
  return "alert" in rule;
}
