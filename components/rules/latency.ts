import { num } from "./format";
import { trafficGuard } from "./errors";
import type { CatalogueContext, RuleGroup } from "./types";

/** Recorded request-duration quantile of successful jobs (submit to finished video), per namespace. */
export const latencyRecord = (c: CatalogueContext, quantile: "p50" | "p95" | "p99") =>
  `${c.prefix}:request_duration_seconds:${quantile}_rate30m`;

const QUANTILES = { p50: 0.5, p95: 0.95, p99: 0.99 } as const;

/** Latency: quantiles over 30 minutes (jobs take minutes, shorter windows hold too few samples). */
export function latencyRules(c: CatalogueContext): RuleGroup {
  const t = c.thresholds;
  return {
    name: `${c.prefix}-latency`,
    rules: [
      ...(Object.keys(QUANTILES) as (keyof typeof QUANTILES)[]).map((q) => ({
        record: latencyRecord(c, q),
        expr: `histogram_quantile(${QUANTILES[q]}, sum by (namespace, le) (rate(${c.names.requestDuration}_bucket{status="success"}[30m])))`,
      })),
      {
        alert: `${c.alertPrefix}HighLatencyP99`,
        expr: `${latencyRecord(c, "p99")} > ${num(t.latencyP99Seconds)} ${trafficGuard(c)}`,
        for: t.latencyFor,
        labels: { severity: "warning" },
        annotations: {
          summary: `${c.alertPrefix} p99 job latency is above ${num(t.latencyP99Seconds)}s`,
          description: `p99 time from submission to finished video in namespace {{ $labels.namespace }} (all pods) is {{ $value | humanizeDuration }} over 30m.`,
          runbook_url: c.runbookUrl(`${c.alertPrefix}HighLatencyP99`),
        },
      },
    ],
  };
}
