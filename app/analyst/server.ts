import Fastify, { FastifyInstance, LogController } from "fastify";
import { ANALYST_SETTINGS, AnalystSettings, envSchema as settingsSchema } from "../../contract";
import { parseEnv } from "../shared/config";
import { analystMetrics } from "./analyst-metrics";
import { GroupTracker } from "./group-tracker";
import { QueuedWork, reporter } from "./reporter";
import { webhookRoute } from "./routes/webhook";
import { analystSources } from "./sources";
import { WorkQueue } from "./work-queue";

export { exprOf } from "./reporter";

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
 *
 * A composition: what it reads at start (sources.ts), its metrics (analyst-metrics.ts), the reports
 * (reporter.ts) behind a bounded queue, and the webhook route (routes/webhook.ts).
 */
export async function buildAlertAnalyst(config: AnalystConfig): Promise<AlertAnalyst> {
  const app = Fastify({
    logger: { level: config.ANALYST_LOG_LEVEL },
    logController: new LogController({ disableRequestLogging: true }),
    // Alertmanager's notifications are kilobytes; a megabyte is generous and bounds what one costs.
    bodyLimit: 1024 * 1024,
  });
  const sources = analystSources(config);
  const metrics = analystMetrics(() => queue.size);
  const { report, resolve } = reporter({ config, sources, metrics, log: app.log, waiting: () => queue.size });
  const tracker = new GroupTracker();
  const queue: WorkQueue<QueuedWork> = new WorkQueue<QueuedWork>({
    concurrency: config.ANALYST_CONCURRENCY,
    limit: config.ANALYST_QUEUE_LIMIT,
    run: (work, waitedMs) => (work.kind === "analysis" ? report(work, waitedMs) : resolve(work)),
    onError: (err) =>
      app.log.error({ err, event: "analysis_bug" }, "unexpected error in the analyst's queue"),
  });
  const state = { draining: false };

  await app.register(webhookRoute, {
    config,
    tokenDigest: sources.tokenDigest,
    metrics,
    tracker,
    queue,
    state,
  });
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/metrics", async (_r, reply) =>
    reply.header("content-type", metrics.register.contentType).send(await metrics.register.metrics()),
  );

  return {
    app,
    idle: () => queue.idle(),
    drain: () => {
      state.draining = true;
      return queue.idle();
    },
  };
}
