import { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { createHash, timingSafeEqual } from "node:crypto";
import type { AnalystSettings } from "../../../contract";
import { AnalystMetrics } from "../analyst-metrics";
import { WebhookAlert, WebhookPayload } from "../evidence";
import { GroupTracker } from "../group-tracker";
import { QueuedWork } from "../reporter";
import { WorkQueue } from "../work-queue";

export interface WebhookRouteOptions {
  config: AnalystSettings;
  tokenDigest: Buffer;
  metrics: AnalystMetrics;
  tracker: GroupTracker;
  queue: WorkQueue<QueuedWork>;
  /** Set when the analyst drains: notifications are then refused (503) for the next pod. */
  state: { draining: boolean };
}

/**
 * `POST /v1/alertmanager`: a bearer token, an Alertmanager payload, and room in the queue, else a
 * refusal Alertmanager retries; then a new firing group queues an analysis and resolved alerts a line.
 */
export const webhookRoute: FastifyPluginAsync<WebhookRouteOptions> = async (
  app,
  { config, tokenDigest, metrics: { refused }, tracker, queue, state },
) => {
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
    if (state.draining) {
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
};

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
