import { parseDuration } from "../shared/durations";
import { InputPropertyError, quote } from "../shared/errors";
import { CLUSTER_LABEL, HEARTBEAT_RECORD } from "../fleet/fleet-remote-write";
import { metricNames, METRIC_PREFIX_PATTERN } from "../../contract/metrics";
import { num } from "./format";
import type { RuleGroup } from "./types";

/**
 * Thresholds and `for:` durations of the fleet rules, evaluated by the global store's ruler over every
 * cluster's series. The fleet stack config may override any of them.
 */
export interface FleetThresholds {
  /** No heartbeat within this window means "not sending now" (>= 3 heartbeats, so one late batch is no gap). @default "2m" */
  clusterSilenceWindow: string;
  /** How long a cluster stays silent before the page: silence window + this, plus up to one evaluation to the next tick. @default "5m" */
  clusterSilentFor: string;
  /** Window over which heartbeat samples are counted against the heartbeat interval. @default "10m" */
  duplicateWindow: string;
  /** Samples received / samples expected above which a cluster's replicas are not deduplicated. @default 1.5 */
  duplicateRatio: number;
  /** @default "15m" */
  duplicateFor: string;
  /** Availability SLO of each service across the fleet. @default 0.995 */
  sloTarget: number;
  /** @default "2m" */
  burnRatePageFor: string;
  /** Below this many requests per hour fleet-wide, the burn alert stays silent. @default 10 */
  minRequestsPerHour: number;
  /** Share of the fleet's model slots that are free, below which capacity warns. @default 0.1 */
  gpuHeadroomRatio: number;
  /** @default "15m" */
  gpuHeadroomFor: string;
}

/** The fleet rules' thresholds when `fleet.thresholds` sets none. */
export const DEFAULT_FLEET_THRESHOLDS: FleetThresholds = {
  clusterSilenceWindow: "2m",
  clusterSilentFor: "5m",
  duplicateWindow: "10m",
  duplicateRatio: 1.5,
  duplicateFor: "15m",
  sloTarget: 0.995,
  burnRatePageFor: "2m",
  minRequestsPerHour: 10,
  gpuHeadroomRatio: 0.1,
  gpuHeadroomFor: "15m",
};

/** Arguments of the fleet rule catalogue: the clusters that must send, the services, thresholds. */
export interface FleetRuleOptions {
  /** Clusters expected to send (their `cluster` external label). A listed cluster that never arrives pages too. */
  clusters: string[];
  /** Metric prefixes of the services judged fleet-wide. @default ["sonic"] */
  services?: string[];
  /** Overrides of {@link DEFAULT_FLEET_THRESHOLDS}. @default {} */
  thresholds?: Partial<FleetThresholds>;
  /** Base of runbook links (`<base>#<alertname lower-cased>`). */
  runbookBaseUrl: string;
  /** How far back a cluster that is not listed still counts as "was sending". @default "1d" */
  rememberFor?: string;
}

/** Alert names of the fleet rules (contract: the runbooks and routes use them). */
export const FLEET_ALERTS = [
  "FleetClusterNotSending",
  "FleetReplicasNotDeduplicated",
  "FleetErrorBudgetBurn",
  "FleetGpuHeadroomLow",
] as const;

/**
 * The fleet's rules, as data, in the catalogue style: cluster silence and replica duplication read the
 * heartbeat every cluster records (fleet-remote-write.ts); error budget and GPU headroom aggregate the
 * contract metrics the clusters send, across clusters, per service.
 */
export function fleetRules(options: FleetRuleOptions): RuleGroup[] {
  const t: FleetThresholds = { ...DEFAULT_FLEET_THRESHOLDS, ...options.thresholds };
  validate(options, t);
  const services = options.services ?? ["sonic"];
  const runbook = (alert: string) => `${options.runbookBaseUrl}#${alert.toLowerCase()}`;
  const hb = HEARTBEAT_RECORD;
  const by = `by (${CLUSTER_LABEL})`;
  const window = t.clusterSilenceWindow;
  const remember = options.rememberFor ?? "1d";
  // Listed clusters: absent_over_time keeps the equality matcher's label, so each names its cluster,
  // even one that never sent. Unlisted ones: sent within `remember`, not within the window.
  const listed = options.clusters.map((c) => `absent_over_time(${hb}{${CLUSTER_LABEL}="${c}"}[${window}])`);
  const unlisted = `(group ${by} (max_over_time(${hb}[${remember}])) unless on (${CLUSTER_LABEL}) group ${by} (max_over_time(${hb}[${window}])))`;
  const duplicateSeconds = parseDuration("thresholds.duplicateWindow", t.duplicateWindow);

  const availability: RuleGroup = {
    name: "fleet-clusters",
    rules: [
      {
        alert: "FleetClusterNotSending",
        expr: [...listed, unlisted].join(" or "),
        for: t.clusterSilentFor,
        labels: { severity: "critical" },
        annotations: {
          summary: "A cluster stopped sending to the fleet",
          description: `Cluster {{ $labels.${CLUSTER_LABEL} }} has sent no heartbeat for ${window} plus ${t.clusterSilentFor}: its Prometheus, its remote write or the link to the fleet is down, and every fleet panel and alert is blind to it.`,
          runbook_url: runbook("FleetClusterNotSending"),
        },
      },
      {
        // The heartbeat's value is its own interval: samples over the window against the samples one
        // sender makes. Two replicas kept apart (a replica label the store does not drop) or merged
        // without deduplication both show as about twice the expected count.
        alert: "FleetReplicasNotDeduplicated",
        expr: `sum ${by} (count_over_time(${hb}[${t.duplicateWindow}])) / on (${CLUSTER_LABEL}) (${duplicateSeconds} / max ${by} (${hb})) > ${num(t.duplicateRatio)}`,
        for: t.duplicateFor,
        labels: { severity: "warning" },
        annotations: {
          summary: "A cluster's Prometheus replicas reach the fleet twice",
          description: `The fleet stores {{ $value | humanize }}x the heartbeat samples cluster {{ $labels.${CLUSTER_LABEL} }} sends: its HA pair is not deduplicated, so fleet sums of its series are doubled.`,
          runbook_url: runbook("FleetReplicasNotDeduplicated"),
        },
      },
    ],
  };

  const budget = 1 - t.sloTarget;
  const perService = services.flatMap((prefix) => {
    const n = metricNames(prefix);
    const ratio = (w: string) =>
      `(sum(rate(${n.requestTotal}{status="server_error"}[${w}])) or sum(rate(${n.requestTotal}[${w}])) * 0) / sum(rate(${n.requestTotal}{status!="client_error"}[${w}]))`;
    const burn = ([long, short, factor]: [string, string, number]) =>
      `(${ratio(long)} > ${num(factor * budget)} and ${ratio(short)} > ${num(factor * budget)})`;
    const slots = `sum(${n.jobSlots})`;
    return [
      {
        alert: "FleetErrorBudgetBurn",
        // The SRE workbook's page rows over every cluster's requests at once: a service failing in one
        // small cluster burns less of the fleet budget than the same ratio in the busiest one.
        expr: `(${burn(["1h", "5m", 14.4])} or ${burn(["6h", "30m", 6])}) and sum(rate(${n.requestTotal}[1h])) > ${num(t.minRequestsPerHour / 3600)}`,
        for: t.burnRatePageFor,
        labels: { severity: "critical" as const, service: prefix },
        annotations: {
          summary: `${prefix} is burning its fleet-wide error budget fast enough to page`,
          description: `Across every cluster, {{ $value | humanizePercentage }} of ${prefix} requests fail over the long window: the ${num(t.sloTarget * 100)}% SLO's budget is going too fast. The fleet dashboard's error row shows which clusters.`,
          runbook_url: runbook("FleetErrorBudgetBurn"),
        },
      },
      {
        alert: "FleetGpuHeadroomLow",
        expr: `(${slots} - sum(${n.jobsInProgress})) / ${slots} < ${num(t.gpuHeadroomRatio)}`,
        for: t.gpuHeadroomFor,
        labels: { severity: "warning" as const, service: prefix },
        annotations: {
          summary: `Less than ${num(t.gpuHeadroomRatio * 100)}% of the fleet's ${prefix} model slots are free`,
          description: `Only {{ $value | humanizePercentage }} of ${prefix}'s model slots across every cluster are free: the next burst queues everywhere. Raise an autoscaler's maxReplicas or add GPU nodes.`,
          runbook_url: runbook("FleetGpuHeadroomLow"),
        },
      },
    ];
  });
  return [availability, { name: "fleet-services", rules: perService }];
}

function validate(options: FleetRuleOptions, t: FleetThresholds): void {
  if (options.clusters.length === 0)
    throw new InputPropertyError("clusters", "expected at least one cluster, got []");
  for (const [i, c] of options.clusters.entries()) {
    if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(c))
      throw new InputPropertyError(
        `clusters[${i}]`,
        `expected a label value like gpu-prod-1, got ${quote(c)}`,
      );
  }
  for (const [i, p] of (options.services ?? []).entries()) {
    if (!METRIC_PREFIX_PATTERN.test(p))
      throw new InputPropertyError(`services[${i}]`, `expected lower snake case like sonic, got ${quote(p)}`);
  }
  for (const [key, value] of Object.entries(t)) {
    if (typeof DEFAULT_FLEET_THRESHOLDS[key as keyof FleetThresholds] === "string")
      parseDuration(`thresholds.${key}`, String(value));
  }
  for (const key of ["sloTarget", "gpuHeadroomRatio"] as const) {
    if (!(t[key] > 0 && t[key] < 1))
      throw new InputPropertyError(
        `thresholds.${key}`,
        `must be between 0 and 1 exclusive, got ${quote(t[key])}`,
      );
  }
  if (!(t.duplicateRatio > 1))
    throw new InputPropertyError(
      "thresholds.duplicateRatio",
      `must be above 1, got ${quote(t.duplicateRatio)}`,
    );
}
