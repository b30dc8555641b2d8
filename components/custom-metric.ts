import { formatDuration, parseDuration } from "./durations";
import { InputPropertyError, quote } from "./errors";
import { metricNames } from "./metric-contract";

/** One prometheus-adapter custom-metrics rule (the chart's `rules.custom[]` entry). */
export interface AdapterRule {
  seriesQuery: string;
  resources: { overrides: Record<string, { resource: string }> };
  name: { matches: string; as: string };
  metricsQuery: string;
}

export interface RequestQpsRuleArgs {
  /** Metric prefix of the service. @default "sonic" */
  metricPrefix?: string;
  /** Rate window; at least 4x the scrape interval so a missed scrape does not zero the rate. @default "2m" */
  rateWindow?: string;
  /** The service's scrape interval, to check `rateWindow` against. @default "15s" */
  scrapeInterval?: string;
}

/**
 * The autoscaling signal, defined independently of the engine that serves it: `<prefix>_request_qps`
 * per pod, from `<prefix>_request_total`. prometheus-adapter serves it today; a KEDA Prometheus
 * trigger could use the same query.
 */
export function requestQpsRule(args: RequestQpsRuleArgs = {}): AdapterRule {
  const names = metricNames(args.metricPrefix ?? "sonic");
  const rateWindow = args.rateWindow ?? "2m";
  const scrapeInterval = args.scrapeInterval ?? "15s";
  const window = parseDuration("rateWindow", rateWindow);
  const scrape = parseDuration("scrapeInterval", scrapeInterval);
  if (window < 4 * scrape) {
    throw new InputPropertyError(
      "rateWindow",
      `${quote(rateWindow)} must be at least 4x 'scrapeInterval' (${quote(scrapeInterval)}), i.e. >= ${formatDuration(4 * scrape)}`,
    );
  }
  return {
    seriesQuery: `${names.requestTotal}{namespace!="",pod!=""}`,
    resources: { overrides: { namespace: { resource: "namespace" }, pod: { resource: "pod" } } },
    name: { matches: `^${names.requestTotal}$`, as: names.requestQps },
    metricsQuery: `sum(rate(<<.Series>>{<<.LabelMatchers>>}[${rateWindow}])) by (<<.GroupBy>>)`,
  };
}
