import { promqlString } from "./format";
import type { CatalogueContext, RuleGroup } from "./types";

/** A literal inside a PromQL regular expression. */
const regexQuote = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Recorded submissions per second per pod: the series behind the HPA's demand metric and the dashboards. */
export const requestQpsRecord = (c: CatalogueContext, rateWindow: string) =>
  `${c.prefix}:request_qps:rate${rateWindow}`;

/** Capacity: per-pod submission rate, and an HPA of any tier pinned at its ceiling. */
export function autoscalingRules(c: CatalogueContext, rateWindow: string): RuleGroup {
  const t = c.thresholds;
  // Every tier's HPA (the API's and the GPU worker's, or KEDA's keda-hpa-<name> for each).
  const hpa = `{namespace=${promqlString(c.namespace)}, horizontalpodautoscaler=~${promqlString(c.hpaNames.map(regexQuote).join("|"))}}`;
  return {
    name: `${c.prefix}-autoscaling`,
    rules: [
      {
        record: requestQpsRecord(c, rateWindow),
        expr: `sum by (namespace, pod) (rate(${c.names.jobSubmissions}[${rateWindow}]))`,
      },
      {
        // kube-state-metrics series; the min < max guard keeps a fixed-size HPA from alerting forever.
        alert: `${c.alertPrefix}AutoscalerMaxedOut`,
        expr:
          `kube_horizontalpodautoscaler_status_current_replicas${hpa} >= on (namespace, horizontalpodautoscaler) kube_horizontalpodautoscaler_spec_max_replicas${hpa}` +
          ` and on (namespace, horizontalpodautoscaler) kube_horizontalpodautoscaler_spec_max_replicas${hpa} > on (namespace, horizontalpodautoscaler) kube_horizontalpodautoscaler_spec_min_replicas${hpa}`,
        for: t.autoscalerMaxedOutFor,
        labels: { severity: "warning" },
        annotations: {
          summary: `${c.alertPrefix} autoscaler is at its maximum`,
          description: `HPA {{ $labels.namespace }}/{{ $labels.horizontalpodautoscaler }} has run at its maximum of {{ $value }} replicas for ${t.autoscalerMaxedOutFor}; more load will queue or be rejected.`,
          runbook_url: c.runbookUrl(`${c.alertPrefix}AutoscalerMaxedOut`),
        },
      },
    ],
  };
}
