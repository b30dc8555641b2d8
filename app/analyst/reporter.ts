import type { FastifyBaseLogger } from "fastify";
import type { AnalystSettings } from "../../contract";
import { AnalysisOutcome, AnalystMetrics } from "./analyst-metrics";
import { Hypothesis, rankHypotheses } from "./attribution";
import { deliver, WebhookMessage } from "./delivery";
import { alertFacts, Evidence, gatherEvidence, WebhookAlert } from "./evidence";
import { askModel } from "./model";
import { Analysis, formatReport, formatResolution, reportLinks, runbookFor } from "./report";
import { AnalysedService, profileFor, serviceFor } from "./services";
import { codeSpan, safeLinkUrl } from "./slack-text";
import { AnalystSources } from "./sources";

/** One notification's work, as it waits in the queue: only what the report needs, trimmed. */
export type QueuedWork =
  | { kind: "analysis"; groupKey: string; firing: WebhookAlert[]; total: number; received: number }
  | { kind: "resolution"; groupKey: string; resolved: WebhookAlert[]; stillFiring: number };
type AnalysisWork = Extract<QueuedWork, { kind: "analysis" }>;
type ResolutionWork = Extract<QueuedWork, { kind: "resolution" }>;

/** One alert of a group, analysed (or, when the analyst was busy, only identified). */
interface AlertResult {
  alert: WebhookAlert;
  evidence: Evidence;
  hypotheses: Hypothesis[];
  service?: AnalysedService;
  expr?: string;
}

/** What a report is written with. `waiting` reads how many groups wait behind this one. */
export interface ReporterOptions {
  config: AnalystSettings;
  sources: AnalystSources;
  metrics: AnalystMetrics;
  log: FastifyBaseLogger;
  waiting: () => number;
}

/** Writes and delivers the queue's work: a report per new firing group, a line per resolution. */
export function reporter(options: ReporterOptions): {
  report(work: AnalysisWork, waitedMs: number): Promise<void>;
  resolve(work: ResolutionWork): Promise<void>;
} {
  return {
    report: (work, waitedMs) => report(options, work, waitedMs),
    resolve: (work) => resolve(options, work),
  };
}

async function report(options: ReporterOptions, work: AnalysisWork, waitedMs: number): Promise<void> {
  const { config, sources, metrics, log } = options;
  const busy = waitedMs > config.ANALYST_MAX_WAIT_SECONDS * 1000;
  const signal = AbortSignal.timeout(sources.evidenceMs);
  const cache = new Map<string, Promise<unknown>>();
  const results = busy
    ? work.firing.map((alert) => unanalysed(alert, sources))
    : await Promise.all(work.firing.map((alert) => analyseAlert(options, alert, signal, cache)));
  const head = headline(results);
  const base = analysisOf(options, work, head, busy, waitedMs);
  const analysis =
    sources.model && !busy && base.evidence.items.length > 0 ? await withModel(options, base) : base;
  const outcome: AnalysisOutcome = busy
    ? "busy"
    : base.evidence.unavailable.length === 0
      ? "delivered"
      : base.evidence.items.length === 0
        ? "no_evidence"
        : "partial";
  const alertname = head.alert.labels.alertname ?? "";
  try {
    await deliver(sources.delivery, { kind: "alert-analysis", analysis, text: formatReport(analysis) });
    metrics.analyses.inc({ outcome });
    log.info(
      {
        event: "analysis_delivered",
        alertname,
        outcome,
        top: analysis.hypotheses[0]?.id ?? null,
        unavailable: analysis.evidence.unavailable.length,
        model: !!analysis.model,
        waitedMs,
      },
      "analysis delivered",
    );
  } catch (err) {
    metrics.analyses.inc({ outcome: "failed" });
    log.error({ err, event: "analysis_failed", alertname }, "analysis could not be delivered");
  } finally {
    metrics.seconds.observe(Date.now() / 1000 - work.received / 1000);
  }
}

/** One alert's evidence and causes; a bug here costs this alert's evidence, not the report. */
async function analyseAlert(
  { config, sources }: ReporterOptions,
  alert: WebhookAlert,
  signal: AbortSignal,
  cache: Map<string, Promise<unknown>>,
): Promise<AlertResult> {
  const expr = exprOf(alert.generatorURL);
  const service = serviceFor(alert, sources.services, expr);
  const profile = profileFor(service, sources.profiles);
  let evidence: Evidence;
  try {
    evidence = await gatherEvidence(alert, {
      prometheus: sources.prometheus,
      prefix: service?.prefix,
      profile,
      expr,
      window: config.ANALYST_WINDOW,
      lookback: config.ANALYST_LOOKBACK,
      stepSeconds: config.ANALYST_STEP_SECONDS,
      signal,
      cache,
    });
  } catch (err) {
    evidence = {
      facts: alertFacts(alert),
      items: [],
      unavailable: [{ name: "evidence", reason: (err as Error).message }],
    };
  }
  const hypotheses = rankHypotheses(evidence.facts, {
    releaseWindowSeconds: config.ANALYST_RELEASE_WINDOW_SECONDS,
    profile,
  });
  return { alert, evidence, hypotheses, service, expr };
}

/** An alert of a group that waited too long: identified, no evidence gathered. */
function unanalysed(alert: WebhookAlert, sources: AnalystSources): AlertResult {
  return {
    alert,
    evidence: { facts: alertFacts(alert), items: [], unavailable: [] } as Evidence,
    hypotheses: [] as Hypothesis[],
    service: serviceFor(alert, sources.services, exprOf(alert.generatorURL)),
    expr: exprOf(alert.generatorURL),
  };
}

/**
 * The headline: the most confident cause, then a cause whose facts name the alert's own pod (not
 * a neighbour's), then the most evidence; the group's order breaks ties.
 */
function headline(results: AlertResult[]): AlertResult {
  const strength = (r: AlertResult) => {
    const top = r.hypotheses[0];
    const pod = r.alert.labels.pod;
    const aboutThisPod = !!top && !!pod && top.facts.some((fact) => fact.includes(codeSpan(pod)));
    return (top?.confidence ?? 0) * 1000 + (aboutThisPod ? 100 : 0) + r.evidence.items.length;
  };
  return results.reduce((best, r) => (strength(r) > strength(best) ? r : best), results[0]);
}

/** The deterministic analysis of a group around its headline alert: runbook, links, the group's size. */
function analysisOf(
  { config, sources, waiting }: ReporterOptions,
  work: AnalysisWork,
  head: AlertResult,
  busy: boolean,
  waitedMs: number,
): Analysis {
  const alertname = head.alert.labels.alertname ?? "";
  const f = head.evidence.facts;
  const now = Date.now() / 1000;
  const headProfile = profileFor(head.service, sources.profiles);
  const runbookUrl =
    safeLinkUrl(head.alert.annotations.runbook_url) !== undefined
      ? head.alert.annotations.runbook_url
      : config.ANALYST_RUNBOOK_BASE_URL && `${config.ANALYST_RUNBOOK_BASE_URL}#${alertname.toLowerCase()}`;
  return {
    groupKey: work.groupKey,
    alert: head.alert,
    evidence: head.evidence,
    hypotheses: head.hypotheses,
    // The service's own runbook, else the analyst's file by the alert's exact name: never another
    // service's steps under a similar name.
    runbook:
      runbookFor(headProfile && sources.ownRunbooks.get(headProfile), alertname) ??
      runbookFor(sources.runbooks, alertname),
    runbookUrl,
    links: reportLinks({
      grafanaUrl: config.ANALYST_GRAFANA_URL,
      dashboardUid: head.service ? `${head.service.prefix}-overview` : undefined,
      prometheusUrl: config.ANALYST_PROMETHEUS_EXTERNAL_URL ?? config.ANALYST_PROMETHEUS_URL,
      expr: head.expr,
      from: Math.min(f.conditionSince ?? f.startsAt, f.startsAt) - 15 * 60,
      to: now,
      namespace: f.namespace,
    }),
    group: {
      firing: work.total,
      analysed: busy ? 0 : work.firing.length,
      alertnames: [...new Set(work.firing.map((a) => a.labels.alertname ?? ""))],
      pods: [...new Set(work.firing.flatMap((a) => (a.labels.pod ? [a.labels.pod] : [])))],
    },
    ...(busy
      ? {
          degraded: `the analyst was busy (this group waited ${(waitedMs / 1000).toFixed(1)} s, ${waiting()} more waiting); evidence was skipped so the report is on time`,
        }
      : {}),
  };
}

/** The analysis with the model's attribution when it cited the evidence, else with why it was not used. */
async function withModel({ sources, metrics }: ReporterOptions, base: Analysis): Promise<Analysis> {
  const outcome = await askModel(base, sources.model!);
  metrics.modelCalls.inc({ outcome: outcome.kind });
  if (outcome.kind === "used") return { ...base, model: { text: outcome.text, dropped: outcome.dropped } };
  metrics.fallbacks.inc();
  return { ...base, fallback: `model not used: ${outcome.reason}` };
}

async function resolve({ sources, metrics, log }: ReporterOptions, work: ResolutionWork): Promise<void> {
  const message: WebhookMessage = {
    kind: "alert-resolution",
    groupKey: work.groupKey,
    alertnames: work.resolved.map((a) => a.labels.alertname ?? ""),
    text: formatResolution(work),
  };
  try {
    await deliver(sources.delivery, message);
    metrics.resolutions.inc({ outcome: "delivered" });
  } catch (err) {
    metrics.resolutions.inc({ outcome: "failed" });
    log.error(
      { err, event: "resolution_failed", groupKey: work.groupKey },
      "resolution could not be delivered",
    );
  }
}

/** The rule expression Prometheus puts in an alert's generatorURL (`/graph?g0.expr=...`). */
export function exprOf(generatorURL?: string): string | undefined {
  if (!generatorURL) return undefined;
  try {
    return new URL(generatorURL).searchParams.get("g0.expr") ?? undefined;
  } catch {
    return undefined;
  }
}
