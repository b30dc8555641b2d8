import { matchers } from "./format";
import type { CatalogueContext, RuleGroup } from "./types";

/** Scrape health: a target that fails, and a service Prometheus does not scrape at all. */
export function availabilityRules(c: CatalogueContext): RuleGroup {
  const t = c.thresholds;
  const up = `up${matchers({ job: c.job, namespace: c.namespace })}`;
  return {
    name: `${c.prefix}-availability`,
    rules: [
      {
        alert: `${c.alertPrefix}TargetDown`,
        expr: `${up} == 0`,
        for: t.targetDownFor,
        labels: { severity: "critical" },
        annotations: {
          summary: `Prometheus cannot scrape a ${c.alertPrefix} pod`,
          description: `Scrapes of {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.instance }}) have failed for ${t.targetDownFor}: the pod is down, hung or unreachable.`,
          runbook_url: c.runbookUrl(`${c.alertPrefix}TargetDown`),
        },
      },
      {
        // absent() has no pod to name: it fires exactly when there is no target at all, e.g. a
        // ServiceMonitor whose labels the Prometheus selector ignores, or a renamed Service port.
        alert: `${c.alertPrefix}MetricsAbsent`,
        expr: `absent(${up})`,
        for: t.metricsAbsentFor,
        labels: { severity: "critical" },
        annotations: {
          summary: `Prometheus has no ${c.alertPrefix} target`,
          description: `No target with job="${c.job}" in namespace {{ $labels.namespace }} (no pod at all) for ${t.metricsAbsentFor}: every other ${c.alertPrefix} alert is blind.`,
          runbook_url: c.runbookUrl(`${c.alertPrefix}MetricsAbsent`),
        },
      },
    ],
  };
}
