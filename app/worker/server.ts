import Fastify, { FastifyInstance, LogController } from "fastify";
import { JobQueue, queueOptionsOf } from "../queue/job-queue";
import { startQueueSampler } from "../queue/queue-sampler";
import { ApiError } from "../shared/errors";
import { AppMetrics, createMetrics } from "../shared/metrics";
import { HttpBackend } from "./backends/http";
import type { InferenceBackend } from "./backends/types";
import { slotsOf, WorkerConfig } from "./config";
import { startGpuSampler } from "./gpu";
import { JobRunner } from "./job-runner";

/** The worker tier: the job runner beside its pod's model server. It serves no API route. */
export interface WorkerService {
  app: FastifyInstance;
  queue: JobQueue;
  runner: JobRunner;
  backend: InferenceBackend;
  metrics: AppMetrics;
  /**
   * Stops pulling jobs at once (readiness false, withdrawn from the live workers), lets running jobs end
   * within the grace, hands the rest back to the queue, then closes every connection.
   */
  shutdown(): Promise<{ returned: number }>;
}

/** The client of this pod's model server. */
export function createBackend(config: WorkerConfig): InferenceBackend {
  return new HttpBackend({
    url: config.SONIC_MODEL_SERVER_URL,
    timeoutSeconds: config.SONIC_MODEL_SERVER_TIMEOUT_SECONDS,
    retries: config.SONIC_MODEL_SERVER_RETRIES,
  });
}

/** Options of `buildWorker` that only tests and the sandbox set. */
export interface WorkerOptions {
  /** The model server's client. @default `createBackend(config)` */
  backend?: InferenceBackend;
  /** This worker's member among the live workers. @default `<hostname>-<pid>` */
  member?: string;
}

/**
 * Builds the Sonic worker: the job runner on the shared queue, GPU memory sampling, and an HTTP server
 * for the kubelet and Prometheus only (/healthz, /readyz, /metrics): every other path is 404.
 */
export async function buildWorker(config: WorkerConfig, options: WorkerOptions = {}): Promise<WorkerService> {
  const backend = options.backend ?? createBackend(config);
  const metrics = createMetrics("worker", config.SONIC_METRICS, config.SONIC_VERSION);
  const app = Fastify({
    logger: { level: config.SONIC_LOG_LEVEL },
    // Jobs are logged as events of their own; per-request lines for probes and scrapes are noise.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
  });
  const slots = slotsOf(config);
  const queue = new JobQueue(queueOptionsOf(config));
  const runner = new JobRunner({
    queue,
    redisUrl: config.SONIC_REDIS_URL,
    redisPassword: config.SONIC_REDIS_PASSWORD,
    slots,
    backend,
    metrics,
    log: app.log,
    checkSeconds: config.SONIC_MODEL_SERVER_CHECK_SECONDS,
    lockSeconds: config.SONIC_JOB_LOCK_SECONDS,
    stalledCheckSeconds: config.SONIC_STALLED_CHECK_SECONDS,
    maxStalled: config.SONIC_MAX_STALLED,
    member: options.member,
  });
  metrics.setSlots(slots);
  let draining = false;

  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(
        new ApiError(
          "not_found",
          `no route ${request.method} ${request.url.split("?")[0]} (a worker serves only /healthz, /readyz and /metrics)`,
        ).toJSON(),
      ),
  );
  app.get("/healthz", async () => ({ status: "ok" }));
  // Ready means "runs jobs": its model server answered ready at the last check, the queue answers, and
  // it is not draining. No Service routes traffic by it; it tells the rollout and the operator.
  app.get("/readyz", async (_request, reply) => {
    const reasons = [
      ...(draining ? ["shutting down"] : []),
      ...(runner.ready ? [] : ["model server not ready"]),
      ...(queue.health.down ? ["job queue unreachable"] : []),
    ];
    return reply.code(reasons.length === 0 ? 200 : 503).send({ ready: reasons.length === 0, reasons });
  });
  app.get("/metrics", async (_request, reply) =>
    reply.header("content-type", metrics.contentType).send(await metrics.exposition()),
  );

  const samplers = [
    startGpuSampler(config.SONIC_NVIDIA_SMI, config.SONIC_GPU_SAMPLE_SECONDS, backend, metrics, app.log),
    startQueueSampler(queue, metrics, config.SONIC_QUEUE_SAMPLE_SECONDS),
  ];
  app.addHook("onClose", async () => samplers.forEach(clearInterval));
  runner.start();

  return {
    app,
    queue,
    runner,
    backend,
    metrics,
    async shutdown() {
      draining = true;
      app.log.info({ event: "draining", in_progress: runner.inProgress }, "draining");
      const outcome = await runner.drain(config.SONIC_SHUTDOWN_GRACE_SECONDS * 1000);
      if (outcome.returned > 0)
        app.log.warn(
          { event: "drain_incomplete", returned: outcome.returned },
          "grace ended: jobs returned to the queue",
        );
      await app.close();
      await queue.close();
      return outcome;
    },
  };
}
