import multipart from "@fastify/multipart";
import Fastify, { FastifyError, FastifyInstance, FastifyRequest, LogController } from "fastify";
import { createServer } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { decodeAudio, AudioDecodeError } from "./audio";
import { HttpBackend } from "./backends/http";
import type { InferenceBackend } from "./backends/types";
import { AppConfig, slotsOf } from "./config";
import { ApiError } from "./errors";
import { sampleNvidiaSmi } from "./gpu";
import { checkImage, ImageCheckError } from "./image";
import { JobRunner } from "./job-runner";
import { JobStore, QueueUnavailableError } from "./job-store";
import { AppMetrics, createMetrics } from "./metrics";

export interface SonicService {
  app: FastifyInstance;
  store: JobStore;
  runner: JobRunner;
  backend: InferenceBackend;
  metrics: AppMetrics;
  /**
   * Stops taking jobs at once (readiness false, new submissions 503), lets submissions being read finish
   * and running jobs end within the grace, hands the rest back to the queue, then closes every connection.
   */
  shutdown(): Promise<{ returned: number }>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SUBMIT_URL = "/v1/videos";
/** A refused body up to this size is read and dropped rather than cutting the connection. */
const SMALL_BODY_BYTES = 1024 * 1024;

/** The client of this pod's model server. */
export function createBackend(config: AppConfig): InferenceBackend {
  return new HttpBackend({
    url: config.SONIC_MODEL_SERVER_URL,
    timeoutSeconds: config.SONIC_MODEL_SERVER_TIMEOUT_SECONDS,
    retries: config.SONIC_MODEL_SERVER_RETRIES,
  });
}

/** Maps any error (ours, Fastify's, the multipart parser's, the store's) to the API's JSON error. */
function toApiError(err: FastifyError | ApiError | Error): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof QueueUnavailableError)
    return new ApiError("queue_unavailable", "the job queue is unavailable; retry shortly", undefined, {
      "retry-after": "5",
    });
  const status = (err as FastifyError).statusCode ?? 500;
  const code = (err as FastifyError).code;
  // Multipart field and part limits are about the form, not the upload size: the documented 400.
  if (code === "FST_FIELDS_LIMIT" || code === "FST_PARTS_LIMIT" || code === "FST_PROTO_VIOLATION")
    return new ApiError(
      "bad_request",
      `malformed form: ${err.message}; send only the files 'audio' and 'image'`,
    );
  if (status === 413) return new ApiError("payload_too_large", `the upload is too large: ${err.message}`);
  if (status === 415 || code === "FST_INVALID_MULTIPART_CONTENT_TYPE") {
    return new ApiError(
      "unsupported_media_type",
      "send multipart/form-data with the fields 'audio' and 'image'",
    );
  }
  if (status >= 400 && status < 500) return new ApiError("bad_request", err.message);
  return new ApiError("internal", "internal error");
}

/** Builds the Sonic API: HTTP API, the shared job store, the job runner, metrics and GPU memory sampling. */
export async function buildService(
  config: AppConfig,
  backend: InferenceBackend = createBackend(config),
): Promise<SonicService> {
  const metrics = createMetrics(config.SONIC_METRICS, config.SONIC_VERSION);
  const app = Fastify({
    logger: { level: config.SONIC_LOG_LEVEL },
    // Jobs are logged as events of their own; per-request lines for probes and scrapes are noise.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // Shutdown closes every connection; below, a trickled upload is cut off at the request timeout.
    forceCloseConnections: true,
    // Node checks request timeouts every connectionsCheckingInterval (30 s by default): check often
    // enough that the timeout means what it says.
    serverFactory: (handler) =>
      createServer(
        {
          requestTimeout: config.SONIC_REQUEST_TIMEOUT_SECONDS * 1000,
          connectionsCheckingInterval: Math.min(30_000, (config.SONIC_REQUEST_TIMEOUT_SECONDS * 1000) / 4),
        },
        handler,
      ),
  });
  const slots = slotsOf(config);
  const store = new JobStore({
    redisUrl: config.SONIC_REDIS_URL,
    redisPassword: config.SONIC_REDIS_PASSWORD,
    queueName: config.SONIC_QUEUE_NAME,
    inputTtlSeconds: config.SONIC_INPUT_TTL_SECONDS,
    history: { count: config.SONIC_JOB_HISTORY, ageSeconds: config.SONIC_JOB_HISTORY_SECONDS },
  });
  const runner = new JobRunner({
    store,
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
  });
  metrics.setSlots(slots);
  const maxBody = config.SONIC_MAX_UPLOAD_BYTES * 2 + 64 * 1024;
  const uploadBudget = config.SONIC_UPLOAD_BYTES_IN_FLIGHT ?? maxBody * 4;
  let uploadBytesInFlight = 0;
  let submissionsInFlight = 0;
  let draining = false;

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

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const api = toApiError(err);
    if (api.statusCode >= 500 && api.code !== "queue_unavailable")
      request.log.error({ err }, "request failed");
    if (isSubmit(request)) {
      const status =
        api.code === "queue_full" || api.code === "uploads_busy" || api.code === "shutting_down"
          ? "rejected"
          : api.statusCode < 500
            ? "client_error"
            : "server_error";
      metrics.requestFinished(status, reply.elapsedTime / 1000);
      // The rest of a refused large or endless body is not read: close the connection instead of
      // draining it. A small one is drained, so the client reads the answer on a kept-alive connection.
      const length = Number(request.headers["content-length"]);
      if (!request.raw.readableEnded && !(length <= SMALL_BODY_BYTES)) reply.header("connection", "close");
    }
    return reply.code(api.statusCode).headers(api.headers).send(api.toJSON());
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(new ApiError("not_found", `no route ${request.method} ${request.url.split("?")[0]}`).toJSON()),
  );

  app.post(SUBMIT_URL, async (request, reply) => {
    metrics.submissionReceived();
    if (draining)
      throw new ApiError(
        "shutting_down",
        "the service is shutting down; retry on another replica",
        undefined,
        {
          "retry-after": "5",
        },
      );
    if (!request.isMultipart()) {
      throw new ApiError(
        "unsupported_media_type",
        `send multipart/form-data with the fields 'audio' and 'image', not ${request.headers["content-type"] ?? "no content type"}`,
      );
    }
    const declared = Number(request.headers["content-length"]);
    if (declared > maxBody) {
      throw new ApiError(
        "payload_too_large",
        `the upload is ${declared} bytes; the limit is ${config.SONIC_MAX_UPLOAD_BYTES} per file`,
      );
    }
    // Everything that refuses a submission is decided before a byte of the body is read. The upload
    // budget is reserved at once (before any await), so concurrent submissions cannot all slip past it.
    const reserved = Number.isFinite(declared) && declared > 0 ? declared : maxBody;
    if (uploadBytesInFlight + reserved > uploadBudget)
      throw new ApiError(
        "uploads_busy",
        "too many uploads in progress on this replica; retry shortly",
        undefined,
        {
          "retry-after": "1",
        },
      );
    uploadBytesInFlight += reserved;
    submissionsInFlight++;
    try {
      const backlog = await store.backlog();
      if (backlog.queued + backlog.running >= config.SONIC_BACKLOG_LIMIT) {
        const seconds = await store.secondsUntilSlotFrees().catch(() => 30);
        throw new ApiError(
          "queue_full",
          `the service has ${backlog.queued} jobs queued and ${backlog.running} running (limit ${config.SONIC_BACKLOG_LIMIT}); retry later`,
          undefined,
          { "retry-after": String(seconds) },
        );
      }
      const uploads = await readUploads(request);
      let audioSeconds: number;
      try {
        audioSeconds = decodeAudio(uploads.audio, config.SONIC_MAX_AUDIO_SECONDS).durationSeconds;
      } catch (err) {
        if (!(err instanceof AudioDecodeError)) throw err;
        metrics.decodeFailure(err.reason);
        throw new ApiError("invalid_audio", `${err.message} (reason: ${err.reason})`, "audio");
      }
      let imageType: "png" | "jpg";
      try {
        imageType = checkImage(uploads.image, {
          maxSide: config.SONIC_MAX_IMAGE_SIDE,
          maxPixels: config.SONIC_MAX_IMAGE_PIXELS,
        }).type;
      } catch (err) {
        if (!(err instanceof ImageCheckError)) throw err;
        throw new ApiError("invalid_image", err.message, "image");
      }
      // An upload that finishes while this replica drains is still stored: the queue is shared, so
      // another replica runs it, and drain waits for this write before it closes the store.
      const job = await store.submit({ audioSeconds, imageType }, uploads);
      request.log.info({ job: job.id, event: "job_accepted", audio_seconds: audioSeconds }, "job accepted");
      return reply
        .code(202)
        .header("location", `${SUBMIT_URL}/${job.id}`)
        .send({ ...job, status_url: `${SUBMIT_URL}/${job.id}` });
    } finally {
      uploadBytesInFlight -= reserved;
      submissionsInFlight--;
    }
  });

  app.get<{ Params: { id: string } }>(`${SUBMIT_URL}/:id`, async (request) => {
    const { id } = request.params;
    if (!UUID.test(id))
      throw new ApiError("bad_request", `job id must be a UUID, got "${id.slice(0, 64)}"`, "id");
    const job = await store.get(id);
    if (!job)
      throw new ApiError(
        "not_found",
        `no job ${id} (finished jobs are kept for the last ${config.SONIC_JOB_HISTORY}, at most ${config.SONIC_JOB_HISTORY_SECONDS}s)`,
        "id",
      );
    return job;
  });

  app.get("/healthz", async () => ({ status: "ok" }));

  // Ready means "can accept and store jobs". A full backlog is a 429, never unreadiness: the pod must
  // stay in the Service so its jobs can be polled and clients get the 429 with its Retry-After.
  app.get("/readyz", async (_request, reply) => {
    const reasons = [
      ...(draining ? ["shutting down"] : []),
      ...((await store.ping()) ? [] : ["job queue unreachable"]),
    ];
    return reply.code(reasons.length === 0 ? 200 : 503).send({ ready: reasons.length === 0, reasons });
  });

  app.get("/metrics", async (_request, reply) =>
    reply.header("content-type", metrics.contentType).send(await metrics.exposition()),
  );

  const samplers = [
    startGpuSampler(config, backend, metrics, app),
    startQueueSampler(config, store, metrics),
  ];
  app.addHook("onClose", async () => samplers.forEach(clearInterval));
  runner.start();

  return {
    app,
    store,
    runner,
    backend,
    metrics,
    async shutdown() {
      draining = true;
      const deadline = Date.now() + config.SONIC_SHUTDOWN_GRACE_SECONDS * 1000;
      app.log.info(
        { event: "draining", in_progress: runner.inProgress, submissions: submissionsInFlight },
        "draining",
      );
      while (submissionsInFlight > 0 && Date.now() < deadline) await sleep(50);
      const outcome = await runner.drain(Math.max(0, deadline - Date.now()));
      if (outcome.returned > 0)
        app.log.warn(
          { event: "drain_incomplete", returned: outcome.returned },
          "grace ended: jobs returned to the queue",
        );
      await app.close(); // closes every connection, including trickling uploads
      await store.close();
      return outcome;
    },
  };
}

function isSubmit(request: FastifyRequest): boolean {
  return request.method === "POST" && request.routeOptions.url === SUBMIT_URL;
}

/** Reads exactly the two files `audio` and `image` from the multipart body, refusing anything else. */
async function readUploads(request: FastifyRequest): Promise<{ audio: Buffer; image: Buffer }> {
  const files: Partial<Record<"audio" | "image", Buffer>> = {};
  try {
    for await (const part of request.parts()) {
      if (part.type !== "file" || (part.fieldname !== "audio" && part.fieldname !== "image")) {
        if (part.type === "file") part.file.resume();
        throw new ApiError(
          "bad_request",
          `unexpected field "${part.fieldname.slice(0, 64)}": send only the files 'audio' and 'image'`,
          part.fieldname.slice(0, 64),
        );
      }
      if (files[part.fieldname])
        throw new ApiError("bad_request", `field "${part.fieldname}" appears twice`, part.fieldname);
      files[part.fieldname] = await part.toBuffer();
    }
  } catch (err) {
    if (err instanceof ApiError) throw err;
    const api = toApiError(err as FastifyError);
    // The multipart parser reports a broken body as a plain error; that is the client's body, not our fault.
    throw api.statusCode >= 500
      ? new ApiError("bad_request", `malformed multipart body: ${(err as Error).message}`)
      : api;
  }
  for (const field of ["audio", "image"] as const) {
    if (!files[field]) throw new ApiError("bad_request", `missing file field '${field}'`, field);
  }
  return { audio: files.audio!, image: files.image! };
}

/**
 * Samples GPU memory every few seconds: from nvidia-smi where the driver is visible in this container,
 * else from the model server's own health reports. Nothing is set when neither knows: no number is
 * ever invented.
 */
function startGpuSampler(
  config: AppConfig,
  backend: InferenceBackend,
  metrics: AppMetrics,
  app: FastifyInstance,
): NodeJS.Timeout {
  let nvidiaSmi = true;
  const sample = async () => {
    try {
      const fromSmi = nvidiaSmi ? await sampleNvidiaSmi(config.SONIC_NVIDIA_SMI) : undefined;
      if (fromSmi === undefined) nvidiaSmi = false;
      const samples = fromSmi ?? backend.gpuMemory();
      if (samples) metrics.setGpus(samples);
    } catch (err) {
      app.log.warn({ err, event: "gpu_sample_failed" }, "GPU memory sampling failed");
    }
  };
  void sample();
  const timer = setInterval(sample, config.SONIC_GPU_SAMPLE_SECONDS * 1000);
  timer.unref();
  return timer;
}

/** Reads the service-wide queue depth in the background, so a scrape never waits on Redis. */
function startQueueSampler(config: AppConfig, store: JobStore, metrics: AppMetrics): NodeJS.Timeout {
  const sample = async () => {
    try {
      metrics.setQueued((await store.backlog()).queued);
      metrics.setQueueStoreUp(true);
    } catch {
      metrics.setQueueStoreUp(false);
    }
  };
  void sample();
  const timer = setInterval(sample, config.SONIC_QUEUE_SAMPLE_SECONDS * 1000);
  timer.unref();
  return timer;
}
