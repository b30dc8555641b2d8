import type { RuleGroup } from "./types";

/**
 * The alert analyst's own alert: it failing means pages arrive without their analysis (the pages
 * themselves still arrive: the analyst is a `continue: true` side branch).
 */
export function analystRules(options: {
  namespace: string;
  runbookBaseUrl: string;
  job?: string;
}): RuleGroup {
  const job = options.job ?? "alert-analyst";
  const sel = `{job="${job}", namespace="${options.namespace}"}`;
  return {
    name: "alert-analyst",
    rules: [
      {
        alert: "AlertAnalystFailing",
        // no_evidence: reports went out, but with every Prometheus query failing (unreachable from it).
        expr: `sum by (namespace, job) (increase(alert_analyst_analyses_total${sel.replace("}", ', outcome=~"failed|no_evidence"}')}[15m])) > 0`,
        for: "0m",
        labels: { severity: "warning" },
        annotations: {
          summary: "The alert analyst fails to analyse or deliver",
          description:
            "{{ $value }} alert groups of {{ $labels.namespace }}/{{ $labels.job }} got no analysis in 15m: Prometheus unreachable from it, or its Slack/webhook delivery refused. Pages themselves are unaffected.",
          runbook_url: `${options.runbookBaseUrl}#alertanalystfailing`,
        },
      },
      {
        alert: "AlertAnalystModelFallingBack",
        expr: `sum by (namespace, job) (increase(alert_analyst_fallbacks_total${sel}[1h])) > 3`,
        for: "0m",
        labels: { severity: "info" },
        annotations: {
          summary: "The alert analyst's model answers are not being used",
          description:
            "{{ $value }} reports of {{ $labels.namespace }}/{{ $labels.job }} in 1h went out without the model's analysis (errors, timeouts or answers citing no evidence).",
          runbook_url: `${options.runbookBaseUrl}#alertanalystmodelfallingback`,
        },
      },
    ],
  };
}
