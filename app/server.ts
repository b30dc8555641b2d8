import multipart from "@fastify/multipart";
import Fastify, { FastifyError, FastifyInstance, FastifyRequest, LogController } from "fastify";
import { z } from "zod";
import { decodeAudio, AudioDecodeError } from "./audio";
import { HttpBackend } from "./backends/http";
import { SimulatedBackend } from "./backends/simulated";
import type { InferenceBackend } from "./backends/types";
import type { AppConfig } from "./config";
import { ApiError } from "./errors";
import { sampleNvidiaSmi } from "./gpu";
import { checkImage, ImageCheckError } from "./image";
import { JobService } from "./jobs";
import { AppMetrics, createMetrics } from "./metrics";

export interface SonicService {
  app: FastifyInstance;
  jobs: JobService;
  backend: InferenceBackend;
  metrics: AppMetrics;
  /** Stops taking jobs at once (readiness false, 503), finishes accepted ones within the grace, then closes. */
  shutdown(): Promise<{ unfinished: number }>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SUBMIT_URL = "/v1/videos";

const faultsSchema = z
  .object({
    errorRate: z.number().min(0).max(1),
    gpuMemoryPressure: z.number().min(0).max(1),
    avOffsetSeconds: z.number().min(0).max(60),
    memoryGrowthBytesPerJob: z
      .number()
      .int()
      .min(0)
      .max(1024 ** 3),
  })
  .partial()
  .strict();

/** The backend the configuration names: the real worker client, or the simulation. */
export function createBackend(config: AppConfig): InferenceBackend {
  switch (config.SONIC_BACKEND) {
    case "http":
      return new HttpBackend({
        url: config.SONIC_WORKER_URL!,
        timeoutSeconds: config.SONIC_WORKER_TIMEOUT_SECONDS,
        retries: config.SONIC_WORKER_RETRIES,
      });
    case "simulated":
      return new SimulatedBackend({
        realTimeFactor: config.SONIC_SIM_RTF,
        gpuCount: config.SONIC_GPU_COUNT,
        gpuMemoryBytes: config.SONIC_SIM_GPU_MEMORY_BYTES,
        faults: {
          errorRate: config.SONIC_SIM_ERROR_RATE,
          gpuMemoryPressure: config.SONIC_SIM_GPU_MEMORY_PRESSURE,
          avOffsetSeconds: config.SONIC_SIM_AV_OFFSET_SECONDS,
          memoryGrowthBytesPerJob: config.SONIC_SIM_MEMORY_GROWTH_BYTES_PER_JOB,
        },
      });
    default: {
      const unreachable: never = config.SONIC_BACKEND;
      throw new Error(`unknown backend ${String(unreachable)}`);
    }
  }
}

/** Maps any error (ours, Fastify's, the multipart parser's) to the API's JSON error. */
function toApiError(err: FastifyError | ApiError | Error): ApiError {
  if (err instanceof ApiError) return err;
  const status = (err as FastifyError).statusCode ?? 500;
  const code = (err as FastifyError).code;
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

/** Builds the Sonic generate service: HTTP API, job queue, metrics and GPU memory sampling. */
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
  });
  const jobs = new JobService({
    concurrency: config.SONIC_GPU_COUNT * config.SONIC_CONCURRENCY_PER_GPU,
    capacity: config.SONIC_QUEUE_CAPACITY,
    history: config.SONIC_JOB_HISTORY,
    backend,
    metrics,
    log: app.log,
  });
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
    if (api.statusCode >= 500) request.log.error({ err }, "request failed");
    if (isSubmit(request)) {
      const status =
        api.code === "queue_full" || api.code === "shutting_down"
          ? "rejected"
          : api.statusCode < 500
            ? "client_error"
            : "server_error";
      metrics.requestFinished(status, reply.elapsedTime / 1000);
    }
    return reply.code(api.statusCode).headers(api.headers).send(api.toJSON());
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(new ApiError("not_found", `no route ${request.method} ${request.url.split("?")[0]}`).toJSON()),
  );

  app.post(SUBMIT_URL, async (request, reply) => {
    if (draining)
      throw new ApiError(
        "shutting_down",
        "the service is shutting down; retry on another replica",
        undefined,
        { "retry-after": "5" },
      );
    if (!request.isMultipart()) {
      throw new ApiError(
        "unsupported_media_type",
        `send multipart/form-data with the fields 'audio' and 'image', not ${request.headers["content-type"] ?? "no content type"}`,
      );
    }
    const length = Number(request.headers["content-length"]);
    if (length > config.SONIC_MAX_UPLOAD_BYTES * 2) {
      throw new ApiError(
        "payload_too_large",
        `the upload is ${length} bytes; the limit is ${config.SONIC_MAX_UPLOAD_BYTES} per file`,
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
    const job = jobs.submit({ audio: uploads.audio, image: uploads.image, imageType, audioSeconds });
    request.log.info({ job: job.id, event: "job_accepted", audio_seconds: audioSeconds }, "job accepted");
    return reply
      .code(202)
      .header("location", `${SUBMIT_URL}/${job.id}`)
      .send({ ...job, status_url: `${SUBMIT_URL}/${job.id}` });
  });

  app.get<{ Params: { id: string } }>(`${SUBMIT_URL}/:id`, async (request) => {
    const { id } = request.params;
    if (!UUID.test(id))
      throw new ApiError("bad_request", `job id must be a UUID, got "${id.slice(0, 64)}"`, "id");
    const job = jobs.get(id);
    if (!job)
      throw new ApiError(
        "not_found",
        `no job ${id} (finished jobs are kept for the last ${config.SONIC_JOB_HISTORY})`,
        "id",
      );
    return job;
  });

  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_request, reply) => {
    const reasons = [
      ...(draining ? ["shutting down"] : []),
      ...(jobs.saturated ? ["queue full"] : []),
      ...((await backend.ready()) ? [] : ["inference backend not ready"]),
    ];
    return reply.code(reasons.length === 0 ? 200 : 503).send({ ready: reasons.length === 0, reasons });
  });

  app.get("/metrics", async (_request, reply) =>
    reply.header("content-type", metrics.contentType).send(await metrics.exposition()),
  );

  if (backend instanceof SimulatedBackend) {
    // Fault switches exist only with the simulated backend: the sandbox and the end-to-end test use
    // them to make alerts fire. The cluster runs SONIC_BACKEND=http, where this route does not exist.
    app.put("/v1/simulation/faults", async (request) => {
      const parsed = faultsSchema.safeParse(request.body, { reportInput: true });
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new ApiError(
          "bad_request",
          `${issue.path.join(".") || "body"}: ${issue.message}`,
          String(issue.path[0] ?? "body"),
        );
      }
      return backend.setFaults(parsed.data);
    });
  }

  const gpuSampler = startGpuSampler(config, backend, metrics, app);
  app.addHook("onClose", async () => clearInterval(gpuSampler));

  return {
    app,
    jobs,
    backend,
    metrics,
    async shutdown() {
      draining = true;
      app.log.info({ event: "draining", queued: jobs.queued, in_progress: jobs.inProgress }, "draining jobs");
      const outcome = await jobs.drain(config.SONIC_SHUTDOWN_GRACE_SECONDS * 1000);
      if (outcome.unfinished > 0)
        app.log.error(
          { event: "drain_incomplete", unfinished: outcome.unfinished },
          "grace period ended with jobs unfinished",
        );
      await app.close();
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
 * Samples GPU memory every few seconds: from nvidia-smi where the driver is installed, else from the
 * backend's own reports. Nothing is set when neither knows: no number is ever invented.
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
