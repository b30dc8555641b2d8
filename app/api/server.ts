import multipart from "@fastify/multipart";
import Fastify, { FastifyInstance, LogController } from "fastify";
import { createServer, IncomingMessage } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { JobQueue, queueOptionsOf } from "../queue/job-queue";
import { startQueueSampler } from "../queue/queue-sampler";
import { AppMetrics, createMetrics } from "../shared/metrics";
import { ApiConfig, uploadBudgetOf } from "./config";
import { apiContext, isSubmit } from "./context";
import { handleErrors } from "./errors";
import { jobRoute } from "./routes/jobs";
import { probeRoutes } from "./routes/probes";
import { submitRoute } from "./routes/submit";
import { UploadBudget } from "./upload-budget";

/** The API tier: HTTP, input checks, admission and the job store client. It never runs a job. */
export interface ApiService {
  app: FastifyInstance;
  queue: JobQueue;
  metrics: AppMetrics;
  /** This replica's upload budget: what the uploads being read hold, in all and per client address. */
  uploads: UploadBudget;
  /**
   * Stops taking jobs at once (readiness false, new submissions 503), lets submissions being read
   * finish within the grace (their jobs are stored: a worker runs them), then closes every connection.
   */
  shutdown(): Promise<void>;
}

/**
 * Builds the Sonic API: HTTP API, input checks, admission to the shared job queue, metrics. A
 * composition: the HTTP server, the multipart parser, one error handler, then the routes
 * (routes/: submit, job, probes), which share one replica's {@link ApiContext}.
 */
export async function buildApi(config: ApiConfig): Promise<ApiService> {
  const metrics = createMetrics("api", config.SONIC_METRICS, config.SONIC_VERSION);
  /** Requests that sent `Expect: 100-continue` and have not been told to send their body yet. */
  const awaitingContinue = new WeakSet<IncomingMessage>();
  const app = httpServer(config, awaitingContinue);
  const queue = new JobQueue(queueOptionsOf(config));
  const budget = uploadBudgetOf(config);
  const uploads = new UploadBudget(budget.bytes, budget.perClientBytes);
  const ctx = apiContext(config, queue, metrics, uploads, awaitingContinue);
  queue.health.watch((down) =>
    down
      ? app.log.warn({ event: "queue_store_down", reason: down }, "job queue marked down")
      : app.log.info({ event: "queue_store_up" }, "job queue answers again"),
  );

  await app.register(multipart, {
    // One part more than needed, so a stray third file is answered "unexpected field", not "too large".
    limits: {
      fileSize: config.SONIC_MAX_UPLOAD_BYTES,
      files: 3,
      fields: 0,
      parts: 3,
      fieldNameSize: 64,
      headerPairs: 50,
    },
  });
  handleErrors(app, ctx);
  // Any other request that expects `100 Continue` gets it as Node would have sent it.
  app.addHook("onRequest", async (request, reply) => {
    if (!isSubmit(request) && awaitingContinue.delete(request.raw)) reply.raw.writeContinue();
  });
  await app.register(submitRoute, ctx);
  await app.register(jobRoute, ctx);
  await app.register(probeRoutes, ctx);

  const sampler = startQueueSampler(queue, metrics, config.SONIC_QUEUE_SAMPLE_SECONDS);
  app.addHook("onClose", async () => clearInterval(sampler));

  return {
    app,
    queue,
    metrics,
    uploads,
    async shutdown() {
      ctx.state.draining = true;
      const deadline = Date.now() + config.SONIC_SHUTDOWN_GRACE_SECONDS * 1000;
      app.log.info({ event: "draining", submissions: ctx.state.submissionsInFlight }, "draining");
      while (ctx.state.submissionsInFlight > 0 && Date.now() < deadline) await sleep(50);
      await app.close(); // closes every connection, including trickling uploads
      await queue.close();
    },
  };
}

/**
 * The Fastify instance on Node's HTTP server, which cuts a trickled upload at the request timeout and
 * leaves `100 Continue` to the submission's admission.
 */
function httpServer(config: ApiConfig, awaitingContinue: WeakSet<IncomingMessage>): FastifyInstance {
  return Fastify({
    logger: { level: config.SONIC_LOG_LEVEL },
    // Jobs are logged as events of their own; per-request lines for probes and scrapes are noise.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // Shutdown closes every connection; below, a trickled upload is cut off at the request timeout.
    forceCloseConnections: true,
    // Node checks request timeouts every connectionsCheckingInterval (30 s by default): check often
    // enough that the timeout means what it says.
    serverFactory: (handler) => {
      const server = createServer(
        {
          requestTimeout: config.SONIC_REQUEST_TIMEOUT_SECONDS * 1000,
          connectionsCheckingInterval: Math.min(30_000, (config.SONIC_REQUEST_TIMEOUT_SECONDS * 1000) / 4),
        },
        handler,
      );
      // Without this listener Node answers `100 Continue` by itself before any route runs: a client
      // would be told to send a body that is then refused. The submission decides first (routes/submit.ts).
      server.on("checkContinue", (req, res) => {
        awaitingContinue.add(req);
        handler(req, res);
      });
      return server;
    },
  });
}
