import Fastify, { FastifyInstance, FastifyReply, FastifyRequest, LogController } from "fastify";
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import * as client from "prom-client";
import { ANALYST_SETTINGS, AnalystSettings, envSchema as settingsSchema } from "../../contract";
import { parseEnv } from "../shared/config";
import { Hypothesis, rankHypotheses } from "./attribution";
import { deliver, DeliverySettings, WebhookMessage } from "./delivery";
import { alertFacts, Evidence, gatherEvidence, WebhookAlert, WebhookPayload } from "./evidence";
import { GroupTracker } from "./group-tracker";
import { askModel, ModelSettings } from "./model";
import { PrometheusClient } from "./prometheus";
import { Analysis, formatReport, formatResolution, parseRunbooks, reportLinks, runbookFor } from "./report";
import { parseServiceProfiles } from "../../contract/analyst-service-profile";
import { AnalysedService, parseServices, profileFor, serviceFor } from "./services";
import { codeSpan, safeLinkUrl } from "./slack-text";
import { WorkQueue } from "./work-queue";

// The table (contract/analyst-settings.ts) is shared with the stack schema and the component.
const envSchema = settingsSchema(ANALYST_SETTINGS);
export type AnalystConfig = AnalystSettings;

export function loadAnalystConfig(env: Record<string, string | undefined> = process.env): AnalystConfig {
  return parseEnv(envSchema, "ANALYST_", env) as AnalystConfig;
}

export interface AlertAnalyst {
  app: FastifyInstance;
  /** Resolves when every report queued so far has been delivered (tests, shutdown). */
  idle(): Promise<void>;
  /**
   * Shutdown's first step: refuse new notifications (503, so Alertmanager retries them against the
   * next pod) and resolve once every report already accepted is delivered. Without it a busy analyst
   * keeps accepting through SIGTERM and its queue never empties before the kubelet's SIGKILL.
   */
  drain(): Promise<void>;
}

/** One notification's work, as it waits in the queue: only what the report needs, trimmed. */
type QueuedWork =
  | { kind: "analysis"; groupKey: string; firing: WebhookAlert[]; total: number; received: number }
  | { kind: "resolution"; groupKey: string; resolved: WebhookAlert[]; stillFiring: number };

/**
 * The alert analyst: an Alertmanager webhook receiver that, for each new firing alert group, gathers
 * evidence from Prometheus (read-only), ranks likely causes with deterministic rules, optionally asks
 * an OpenAI-compatible model to attribute them (citing the evidence), and posts the report to the
 * same Slack channel or webhook as the alert. It never takes an action.
 *
 * Every new group gets a report, whatever Prometheus does: at most `ANALYST_CONCURRENCY` groups are
 * analysed at once; a group's evidence is cut off after `ANALYST_EVIDENCE_TIMEOUT_SECONDS` (what did
 * not come back is listed with the reason); a group that waited over `ANALYST_MAX_WAIT_SECONDS` is
 * reported without evidence. So a report is posted within max wait + evidence timeout (+ the model's
 * timeout when one is configured) of the notification, and delivered within the delivery timeout
 * after that.
 */
export async function buildAlertAnalyst(config: AnalystConfig): Promise<AlertAnalyst> {
  const app = Fastify({
    logger: { level: config.ANALYST_LOG_LEVEL },
    logController: new LogController({ disableRequestLogging: true }),
    // Alertmanager's notifications are kilobytes; a megabyte is generous and bounds what one costs.
    bodyLimit: 1024 * 1024,
  });
  const token = readFileSync(config.ANALYST_WEBHOOK_TOKEN_FILE, "utf8").trim();
  if (token.length < 16)
    throw new Error(
      `ANALYST_WEBHOOK_TOKEN_FILE: the token in ${config.ANALYST_WEBHOOK_TOKEN_FILE} must be at least 16 characters, got ${token.length}`,
    );
  const tokenDigest = createHash("sha256").update(token).digest();
  const evidenceMs = config.ANALYST_EVIDENCE_TIMEOUT_SECONDS * 1000;
  const prometheus = new PrometheusClient(config.ANALYST_PROMETHEUS_URL, evidenceMs);
  const runbooks = parseRunbooks(readFileSync(config.ANALYST_RUNBOOKS, "utf8"));
  const services = parseServices(config.ANALYST_SERVICES);
  const profiles = parseServiceProfiles(config.ANALYST_SERVICE_PROFILES);
  // A service's own runbooks, read once at start: a missing file stops the start, not a report.
  const ownRunbooks = new Map(
    profiles.flatMap((p) =>
      p.runbooks ? [[p, parseRunbooks(readFileSync(p.runbooks, "utf8"))] as const] : [],
    ),
  );
  const delivery: DeliverySettings = {
    slackWebhookUrl: config.ANALYST_SLACK_WEBHOOK_URL,
    slackChannel: config.ANALYST_SLACK_CHANNEL,
    webhookUrl: config.ANALYST_WEBHOOK_URL,
    timeoutMs: config.ANALYST_DELIVERY_TIMEOUT_SECONDS * 1000,
  };
  const model: ModelSettings | undefined = config.ANALYST_MODEL_URL
    ? {
        url: config.ANALYST_MODEL_URL,
        model: config.ANALYST_MODEL_NAME,
        apiKey: config.ANALYST_MODEL_API_KEY,
        timeoutMs: config.ANALYST_MODEL_TIMEOUT_SECONDS * 1000,
      }
    : undefined;

  const register = new client.Registry();
  client.collectDefaultMetrics({ register, prefix: "alert_analyst_" });
  const OUTCOMES = ["delivered", "partial", "no_evidence", "busy", "failed"] as const;
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
      this.set(queue.size);
    },
  });
  for (const outcome of OUTCOMES) analyses.inc({ outcome }, 0);
  for (const outcome of ["delivered", "failed"]) resolutions.inc({ outcome }, 0);
  for (const outcome of ["used", "no_citations", "error", "timeout"]) modelCalls.inc({ outcome }, 0);
  for (const reason of ["unauthorized", "queue_full"]) refused.inc({ reason }, 0);

  const tracker = new GroupTracker();
  const queue: WorkQueue<QueuedWork> = new WorkQueue<QueuedWork>({
    concurrency: config.ANALYST_CONCURRENCY,
    limit: config.ANALYST_QUEUE_LIMIT,
    run: (work, waitedMs) => (work.kind === "analysis" ? report(work, waitedMs) : resolve(work)),
    onError: (err) =>
      app.log.error({ err, event: "analysis_bug" }, "unexpected error in the analyst's queue"),
  });

  /** One alert's evidence and causes; a bug here costs this alert's evidence, not the report. */
  const analyseAlert = async (
    alert: WebhookAlert,
    signal: AbortSignal,
    cache: Map<string, Promise<unknown>>,
  ): Promise<{
    alert: WebhookAlert;
    evidence: Evidence;
    hypotheses: Hypothesis[];
    service?: AnalysedService;
    expr?: string;
  }> => {
    const expr = exprOf(alert.generatorURL);
    const service = serviceFor(alert, services, expr);
    const profile = profileFor(service, profiles);
    let evidence: Evidence;
    try {
      evidence = await gatherEvidence(alert, {
        prometheus,
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
  };

  const report = async (work: Extract<QueuedWork, { kind: "analysis" }>, waitedMs: number): Promise<void> => {
    const busy = waitedMs > config.ANALYST_MAX_WAIT_SECONDS * 1000;
    const signal = AbortSignal.timeout(evidenceMs);
    const cache = new Map<string, Promise<unknown>>();
    const results = busy
      ? work.firing.map((alert) => ({
          alert,
          evidence: { facts: alertFacts(alert), items: [], unavailable: [] } as Evidence,
          hypotheses: [] as Hypothesis[],
          service: serviceFor(alert, services, exprOf(alert.generatorURL)),
          expr: exprOf(alert.generatorURL),
        }))
      : await Promise.all(work.firing.map((alert) => analyseAlert(alert, signal, cache)));
    // The headline: the most confident cause, then a cause whose facts name the alert's own pod (not
    // a neighbour's), then the most evidence; the group's order breaks ties.
    const strength = (r: (typeof results)[number]) => {
      const top = r.hypotheses[0];
      const pod = r.alert.labels.pod;
      const aboutThisPod = !!top && !!pod && top.facts.some((fact) => fact.includes(codeSpan(pod)));
      return (top?.confidence ?? 0) * 1000 + (aboutThisPod ? 100 : 0) + r.evidence.items.length;
    };
    const head = results.reduce((best, r) => (strength(r) > strength(best) ? r : best), results[0]);
    const alertname = head.alert.labels.alertname ?? "";
    const f = head.evidence.facts;
    const now = Date.now() / 1000;
    const headProfile = profileFor(head.service, profiles);
    const runbookUrl =
      safeLinkUrl(head.alert.annotations.runbook_url) !== undefined
        ? head.alert.annotations.runbook_url
        : config.ANALYST_RUNBOOK_BASE_URL && `${config.ANALYST_RUNBOOK_BASE_URL}#${alertname.toLowerCase()}`;
    const base: Analysis = {
      groupKey: work.groupKey,
      alert: head.alert,
      evidence: head.evidence,
      hypotheses: head.hypotheses,
      // The service's own runbook, else the analyst's file by the alert's exact name: never another
      // service's steps under a similar name.
      runbook:
        runbookFor(headProfile && ownRunbooks.get(headProfile), alertname) ?? runbookFor(runbooks, alertname),
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
            degraded: `the analyst was busy (this group waited ${(waitedMs / 1000).toFixed(1)} s, ${queue.size} more waiting); evidence was skipped so the report is on time`,
          }
        : {}),
    };
    let analysis = base;
    if (model && !busy && base.evidence.items.length > 0) {
      const outcome = await askModel(base, model);
      modelCalls.inc({ outcome: outcome.kind });
      if (outcome.kind === "used")
        analysis = { ...base, model: { text: outcome.text, dropped: outcome.dropped } };
      else {
        fallbacks.inc();
        analysis = { ...base, fallback: `model not used: ${outcome.reason}` };
      }
    }
    const outcome = busy
      ? "busy"
      : base.evidence.unavailable.length === 0
        ? "delivered"
        : base.evidence.items.length === 0
          ? "no_evidence"
          : "partial";
    try {
      await deliver(delivery, { kind: "alert-analysis", analysis, text: formatReport(analysis) });
      analyses.inc({ outcome });
      app.log.info(
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
      analyses.inc({ outcome: "failed" });
      app.log.error({ err, event: "analysis_failed", alertname }, "analysis could not be delivered");
    } finally {
      seconds.observe(Date.now() / 1000 - work.received / 1000);
    }
  };

  const resolve = async (work: Extract<QueuedWork, { kind: "resolution" }>): Promise<void> => {
    const message: WebhookMessage = {
      kind: "alert-resolution",
      groupKey: work.groupKey,
      alertnames: work.resolved.map((a) => a.labels.alertname ?? ""),
      text: formatResolution(work),
    };
    try {
      await deliver(delivery, message);
      resolutions.inc({ outcome: "delivered" });
    } catch (err) {
      resolutions.inc({ outcome: "failed" });
      app.log.error(
        { err, event: "resolution_failed", groupKey: work.groupKey },
        "resolution could not be delivered",
      );
    }
  };

  let draining = false;
  const authorized = (request: FastifyRequest): boolean => {
    const header = request.headers.authorization ?? "";
    const match = /^Bearer (.+)$/i.exec(header);
    if (!match) return false;
    return timingSafeEqual(createHash("sha256").update(match[1].trim()).digest(), tokenDigest);
  };

  app.post("/v1/alertmanager", async (request: FastifyRequest, reply: FastifyReply) => {
    if (!authorized(request)) {
      refused.inc({ reason: "unauthorized" });
      return reply
        .code(401)
        .header("www-authenticate", "Bearer")
        .send({ error: { code: "unauthorized", message: "a bearer token is required" } });
    }
    const payload = request.body as WebhookPayload;
    if (!isPayload(payload))
      return reply
        .code(400)
        .send({ error: { code: "bad_request", message: "expected an Alertmanager webhook payload" } });
    if (draining) {
      refused.inc({ reason: "draining" });
      return reply
        .code(503)
        .header("retry-after", "10")
        .send({ error: { code: "draining", message: "this analyst is shutting down; retry" } });
    }
    // Full: refuse before recording anything, so Alertmanager's retry is analysed like the first try.
    if (queue.full) {
      refused.inc({ reason: "queue_full" });
      return reply
        .code(503)
        .header("retry-after", "10")
        .send({ error: { code: "queue_full", message: "too many alert groups waiting; retry" } });
    }
    const change = tracker.observe(payload);
    request.log.debug(
      { event: "received", groupKey: payload.groupKey, status: payload.status, firing: change.firing.length },
      "alert group received",
    );
    if (change.analyse)
      queue.push({
        kind: "analysis",
        groupKey: trim(payload.groupKey, 1000),
        firing: change.firing.slice(0, config.ANALYST_GROUP_ALERTS).map(trimAlert),
        total: change.firing.length,
        received: Date.now(),
      });
    // The analysis took the last place: the resolution line is the one dropped, and counted.
    if (change.resolved.length > 0 && queue.full) refused.inc({ reason: "queue_full" });
    else if (change.resolved.length > 0)
      queue.push({
        kind: "resolution",
        groupKey: trim(payload.groupKey, 1000),
        resolved: change.resolved.slice(0, 20).map(trimAlert),
        stillFiring: change.firing.length,
      });
    return reply.code(202).send({ accepted: change.analyse, resolved: change.resolved.length });
  });
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/metrics", async (_r, reply) =>
    reply.header("content-type", register.contentType).send(await register.metrics()),
  );

  return {
    app,
    idle: () => queue.idle(),
    drain: () => {
      draining = true;
      return queue.idle();
    },
  };
}

function isPayload(p: unknown): p is WebhookPayload {
  const payload = p as WebhookPayload;
  return (
    !!payload &&
    typeof payload.groupKey === "string" &&
    Array.isArray(payload.alerts) &&
    payload.alerts.every(
      (a) =>
        !!a &&
        (a.status === "firing" || a.status === "resolved") &&
        typeof a.labels === "object" &&
        a.labels !== null &&
        typeof a.startsAt === "string",
    )
  );
}

const trim = (text: unknown, max: number): string => {
  const s = String(text ?? "");
  return s.length > max ? s.slice(0, max) : s;
};

/** An alert as it waits in the queue: at most 64 labels and annotations of 2000 characters each. */
function trimAlert(a: WebhookAlert): WebhookAlert {
  const record = (r: Record<string, string> | undefined) =>
    Object.fromEntries(
      Object.entries(r ?? {})
        .slice(0, 64)
        .map(([k, v]) => [trim(k, 200), trim(v, 2000)]),
    );
  return {
    status: a.status,
    labels: record(a.labels),
    annotations: record(a.annotations),
    startsAt: trim(a.startsAt, 64),
    ...(a.generatorURL ? { generatorURL: trim(a.generatorURL, 8000) } : {}),
    ...(a.fingerprint ? { fingerprint: trim(a.fingerprint, 64) } : {}),
  };
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
