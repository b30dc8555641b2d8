import { formatDuration, parseDuration } from "../shared/durations";
import { InputPropertyError, quote } from "../shared/errors";
import { metricNames } from "../../contract/metrics";

/** One prometheus-adapter rule (the chart's `rules.custom[]` or `rules.external[]` entry). */
export interface AdapterRule {
  /** Series the adapter discovers the metric from (a selector). */
  seriesQuery: string;
  /** Which labels name Kubernetes objects, so the HPA's object selects the right series. */
  resources: {
    /** Label -> the resource it names (`namespace` -> `namespace`, `pod` -> `pod`). */
    overrides: Record<
      string,
      {
        /** Kubernetes resource (lower case, singular). */
        resource: string;
      }
    >;
  };
  /** How the discovered series' name becomes the served metric's name. */
  name: {
    /** Regular expression over the series name. */
    matches: string;
    /** Name the metrics API serves it as (`sonic_request_qps`). */
    as: string;
  };
  /** The query the adapter runs per request (Go template: `<<.Series>>`, `<<.LabelMatchers>>`, `<<.GroupBy>>`). */
  metricsQuery: string;
}

/** Arguments of `requestQpsRule`. */
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
    // Submissions as they arrive: a saturated GPU pod completes a job every few minutes whatever the
    // demand, so completions (`request_total`) would never scale it up.
    seriesQuery: `${names.jobSubmissions}{namespace!="",pod!=""}`,
    resources: { overrides: { namespace: { resource: "namespace" }, pod: { resource: "pod" } } },
    name: { matches: `^${names.jobSubmissions}$`, as: names.requestQps },
    metricsQuery: `sum(rate(<<.Series>>{<<.LabelMatchers>>}[${rateWindow}])) by (<<.GroupBy>>)`,
  };
}

/**
 * The backlog signal, an external metric (with `fromRecording`, served from the rule catalogue's
 * recording of the same quantity, which divides by the configured slots and reads with no pod up): jobs queued plus running across the service, divided by the
 * slots of one pod, i.e. how many pods the work in hand needs. `<prefix>_jobs_queued` is the same on
 * every pod (the shared queue), so it is read with `max`; running jobs are summed over pods. The HPA
 * selects its service with `job`.
 */
export function jobBacklogRule(args: { metricPrefix?: string; fromRecording?: boolean } = {}): AdapterRule {
  const prefix = args.metricPrefix ?? "sonic";
  const n = metricNames(prefix);
  const by = "by (namespace, job)";
  if (args.fromRecording) {
    // The catalogue's recording (`<prefix>:job_backlog:ratio`), the series a KEDA trigger reads too:
    // one definition for both engines, and one that knows the configured slots per pod.
    const recorded = `${prefix}:job_backlog:ratio`;
    return {
      seriesQuery: `${recorded}{namespace!="",job!=""}`,
      resources: { overrides: { namespace: { resource: "namespace" } } },
      name: { matches: `^${recorded}$`, as: n.jobBacklog },
      metricsQuery: `max ${by} (<<.Series>>{<<.LabelMatchers>>})`,
    };
  }
  return {
    seriesQuery: `${n.jobSlots}{namespace!="",job!=""}`,
    resources: { overrides: { namespace: { resource: "namespace" } } },
    name: { matches: `^${n.jobSlots}$`, as: n.jobBacklog },
    metricsQuery: `(max ${by} (${n.jobsQueued}{<<.LabelMatchers>>}) + sum ${by} (${n.jobsInProgress}{<<.LabelMatchers>>})) / max ${by} (<<.Series>>{<<.LabelMatchers>>})`,
  };
}

/** The prometheus-adapter rules of one service: custom (per pod) and external (service-wide). */
export interface ServiceAdapterRules {
  /** Per-pod metrics (`custom.metrics.k8s.io`): the request rate. */
  custom: AdapterRule[];
  /** Service-wide metrics (`external.metrics.k8s.io`): the backlog. */
  external: AdapterRule[];
}

/**
 * The adapter rules of one service on the metric contract, from its prefix alone: what the platform's
 * one `PrometheusAdapter` needs to serve that service's HPA (`InferenceObservability` uses the same).
 */
export function serviceAdapterRules(
  args: RequestQpsRuleArgs & {
    /** Serve the backlog from the catalogue's recording `<prefix>:job_backlog:ratio` (see jobBacklogRule). @default false */
    backlogFromRecording?: boolean;
  } = {},
): ServiceAdapterRules {
  return {
    custom: [requestQpsRule(args)],
    external: [jobBacklogRule({ metricPrefix: args.metricPrefix, fromRecording: args.backlogFromRecording })],
  };
}
