import * as client from "prom-client";

/** Outcomes of an alert group's report (`alert_analyst_analyses_total`). */
export const ANALYSIS_OUTCOMES = ["delivered", "partial", "no_evidence", "busy", "failed"] as const;
export type AnalysisOutcome = (typeof ANALYSIS_OUTCOMES)[number];

/** The analyst's own metrics, on a registry of its own (prefix `alert_analyst_`). */
export interface AnalystMetrics {
  register: client.Registry;
  analyses: client.Counter<"outcome">;
  resolutions: client.Counter<"outcome">;
  seconds: client.Histogram;
  modelCalls: client.Counter<"outcome">;
  fallbacks: client.Counter;
  refused: client.Counter<"reason">;
}

/** Every series the analyst exposes, each outcome at 0 from the start; `waiting` reads the queue's length. */
export function analystMetrics(waiting: () => number): AnalystMetrics {
  const register = new client.Registry();
  client.collectDefaultMetrics({ register, prefix: "alert_analyst_" });
  const analyses = new client.Counter({
    name: "alert_analyst_analyses_total",
    help: "Alert groups reported, by outcome: delivered (all evidence), partial (some queries failed), no_evidence (every query failed), busy (waited too long: no evidence gathered), failed (the report could not be delivered)",
    labelNames: ["outcome"],
    registers: [register],
  });
  const resolutions = new client.Counter({
    name: "alert_analyst_resolutions_total",
    help: "Resolution lines sent for analysed groups, by outcome: delivered, failed",
    labelNames: ["outcome"],
    registers: [register],
  });
  const seconds = new client.Histogram({
    name: "alert_analyst_analysis_duration_seconds",
    help: "Time from receiving an alert group to delivering its report, queue wait included",
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60],
    registers: [register],
  });
  const modelCalls = new client.Counter({
    name: "alert_analyst_model_calls_total",
    help: "Calls to the model, by outcome: used, no_citations (dropped), error, timeout",
    labelNames: ["outcome"],
    registers: [register],
  });
  const fallbacks = new client.Counter({
    name: "alert_analyst_fallbacks_total",
    help: "Reports sent with the deterministic analysis only although a model is configured",
    registers: [register],
  });
  const refused = new client.Counter({
    name: "alert_analyst_webhooks_refused_total",
    help: "Notifications refused, by reason: unauthorized (401), queue_full and draining (503: Alertmanager retries)",
    labelNames: ["reason"],
    registers: [register],
  });
  new client.Gauge({
    name: "alert_analyst_queue_waiting",
    help: "Alert groups waiting for an analysis slot",
    registers: [register],
    collect() {
      this.set(waiting());
    },
  });
  for (const outcome of ANALYSIS_OUTCOMES) analyses.inc({ outcome }, 0);
  for (const outcome of ["delivered", "failed"]) resolutions.inc({ outcome }, 0);
  for (const outcome of ["used", "no_citations", "error", "timeout"]) modelCalls.inc({ outcome }, 0);
  for (const reason of ["unauthorized", "queue_full"]) refused.inc({ reason }, 0);
  return { register, analyses, resolutions, seconds, modelCalls, fallbacks, refused };
}
