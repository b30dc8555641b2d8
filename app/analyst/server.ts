import Fastify, { FastifyInstance, LogController } from "fastify";
import { readFileSync } from "node:fs";
import * as client from "prom-client";
import { alertPrefixOf } from "../../contract/metrics";
import { ANALYST_SETTINGS, AnalystSettings, envSchema as settingsSchema } from "../../contract";
import { parseEnv } from "../config";
import { rankHypotheses } from "./attribution";
import { gatherEvidence, WebhookAlert, WebhookPayload } from "./evidence";
import { askModel, ModelSettings } from "./model";
import { Analysis, formatReport, parseRunbooks, reportLinks, runbookFor } from "./report";
import { PrometheusClient } from "./prometheus";

// The table (contract/analyst-settings.ts) is shared with the stack schema and the component.
const envSchema = settingsSchema(ANALYST_SETTINGS);
export type AnalystConfig = AnalystSettings;

export function loadAnalystConfig(env: Record<string, string | undefined> = process.env): AnalystConfig {
  return parseEnv(envSchema, "ANALYST_", env) as AnalystConfig;
}

export interface AlertAnalyst {
  app: FastifyInstance;
  /** Resolves when every analysis started so far has been delivered (tests, shutdown). */
  idle(): Promise<void>;
}

/**
 * The alert analyst: an Alertmanager webhook receiver that, for each new firing alert group, gathers
 * evidence from Prometheus (read-only), ranks likely causes with deterministic rules, optionally asks
 * an OpenAI-compatible model to attribute them (citing the evidence), and posts the report to the
 * same Slack channel or webhook as the alert. It never takes an action.
 */
export async function buildAlertAnalyst(config: AnalystConfig): Promise<AlertAnalyst> {
  const app = Fastify({
    logger: { level: config.ANALYST_LOG_LEVEL },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 4 * 1024 * 1024,
  });
  const prometheus = new PrometheusClient(config.ANALYST_PROMETHEUS_URL);
  const runbooks = parseRunbooks(readFileSync(config.ANALYST_RUNBOOKS, "utf8"));
  const services = config.ANALYST_SERVICES.split(",");
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
  const analyses = new client.Counter({
    name: "alert_analyst_analyses_total",
    help: "Alert groups analysed, by outcome: delivered, failed (evidence or delivery)",
    labelNames: ["outcome"],
    registers: [register],
  });
  const seconds = new client.Histogram({
    name: "alert_analyst_analysis_duration_seconds",
    help: "Time from receiving an alert group to delivering its report",
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
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
  for (const outcome of ["delivered", "failed"]) analyses.inc({ outcome }, 0);
  for (const outcome of ["used", "no_citations", "error", "timeout"]) modelCalls.inc({ outcome }, 0);

  /** Firing sets already analysed, per group: Alertmanager re-sends a group on every interval. */
  const seen = new Map<string, string>();
  const running = new Set<Promise<void>>();

  const analyse = async (payload: WebhookPayload, alert: WebhookAlert): Promise<void> => {
    const started = process.hrtime.bigint();
    const alertname = alert.labels.alertname ?? "";
    const prefix = services.find((p) => alertname.startsWith(alertPrefixOf(p))) ?? services[0];
    const expr = exprOf(alert.generatorURL);
    try {
      const evidence = await gatherEvidence(alert, {
        prometheus,
        prefix,
        expr,
        window: config.ANALYST_WINDOW,
        lookback: config.ANALYST_LOOKBACK,
        stepSeconds: config.ANALYST_STEP_SECONDS,
      });
      const now = Date.now() / 1000;
      const from =
        Math.min(evidence.facts.conditionSince ?? evidence.facts.startsAt, evidence.facts.startsAt) - 15 * 60;
      const base: Omit<Analysis, "model" | "fallback"> = {
        groupKey: payload.groupKey,
        alert,
        evidence,
        hypotheses: rankHypotheses(evidence.facts, {
          releaseWindowSeconds: config.ANALYST_RELEASE_WINDOW_SECONDS,
        }),
        runbook: runbookFor(runbooks, alertname, alertPrefixOf(prefix)),
        runbookUrl:
          alert.annotations.runbook_url && /^https?:\/\//.test(alert.annotations.runbook_url)
            ? alert.annotations.runbook_url
            : config.ANALYST_RUNBOOK_BASE_URL &&
              `${config.ANALYST_RUNBOOK_BASE_URL}#${alertname.toLowerCase()}`,
        links: reportLinks({
          grafanaUrl: config.ANALYST_GRAFANA_URL,
          dashboardUid: `${prefix}-overview`,
          prometheusUrl: config.ANALYST_PROMETHEUS_EXTERNAL_URL ?? config.ANALYST_PROMETHEUS_URL,
          expr,
          from,
          to: now,
          namespace: evidence.facts.namespace,
        }),
      };
      let analysis: Analysis = base;
      if (model) {
        const outcome = await askModel(base, model);
        modelCalls.inc({ outcome: outcome.kind });
        if (outcome.kind === "used") analysis = { ...base, model: { text: outcome.text } };
        else {
          fallbacks.inc();
          analysis = { ...base, fallback: `model not used: ${outcome.reason}` };
        }
      }
      await deliver(config, analysis);
      analyses.inc({ outcome: "delivered" });
      app.log.info(
        {
          event: "analysis_delivered",
          alertname,
          top: analysis.hypotheses[0]?.id ?? null,
          model: !!analysis.model,
        },
        "analysis delivered",
      );
    } catch (err) {
      analyses.inc({ outcome: "failed" });
      app.log.error({ err, event: "analysis_failed", alertname }, "analysis failed");
    } finally {
      seconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  };

  app.post("/v1/alertmanager", async (request, reply) => {
    const payload = request.body as WebhookPayload;
    if (!payload || !Array.isArray(payload.alerts) || typeof payload.groupKey !== "string")
      return reply
        .code(400)
        .send({ error: { code: "bad_request", message: "expected an Alertmanager webhook payload" } });
    const firing = payload.alerts.filter((a) => a.status === "firing");
    request.log.debug(
      { event: "received", groupKey: payload.groupKey, status: payload.status, firing: firing.length },
      "alert group received",
    );
    // A group is analysed again when its firing set changes; an alert that resolved and fires again
    // has a new startsAt, so it counts as new.
    const key = firing
      .map((a) => `${a.fingerprint ?? JSON.stringify(a.labels)}@${a.startsAt}`)
      .sort()
      .join(",");
    if (firing.length > 0 && seen.get(payload.groupKey) !== key) {
      seen.set(payload.groupKey, key);
      if (seen.size > 5000) seen.delete(seen.keys().next().value!);
      // Answer Alertmanager at once; the analysis runs after (its notify timeout is short).
      const job = analyse(payload, firing[0]).finally(() => running.delete(job));
      running.add(job);
    }
    return reply.code(202).send({ accepted: firing.length > 0 });
  });
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/metrics", async (_r, reply) =>
    reply.header("content-type", register.contentType).send(await register.metrics()),
  );

  return {
    app,
    idle: async () => {
      while (running.size > 0) await Promise.all([...running]);
    },
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

/** Posts the report where the alert went: the Slack channel's webhook and/or the generic webhook. */
async function deliver(config: AnalystConfig, analysis: Analysis): Promise<void> {
  const text = formatReport(analysis);
  const posts: Promise<Response>[] = [];
  if (config.ANALYST_SLACK_WEBHOOK_URL)
    posts.push(
      fetch(config.ANALYST_SLACK_WEBHOOK_URL, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          channel: config.ANALYST_SLACK_CHANNEL,
          username: "alert-analyst",
          text,
          mrkdwn: true,
        }),
        signal: AbortSignal.timeout(10_000),
      }),
    );
  if (config.ANALYST_WEBHOOK_URL)
    posts.push(
      fetch(config.ANALYST_WEBHOOK_URL, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          kind: "alert-analysis",
          groupKey: analysis.groupKey,
          alertname: analysis.alert.labels.alertname,
          labels: analysis.alert.labels,
          text,
          hypotheses: analysis.hypotheses,
          evidence: analysis.evidence.items,
          model: analysis.model ?? null,
          fallback: analysis.fallback ?? null,
        }),
        signal: AbortSignal.timeout(10_000),
      }),
    );
  const results = await Promise.all(posts);
  const bad = results.find((r) => !r.ok);
  if (bad) throw new Error(`delivery answered ${bad.status}`);
}
