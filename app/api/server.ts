import multipart from "@fastify/multipart";
import Fastify, { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, LogController } from "fastify";
import { createServer, IncomingMessage } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { JobQueue, JobView, QueueUnavailableError, queueOptionsOf, StoreFullError } from "../queue/job-queue";
import { startQueueSampler } from "../queue/queue-sampler";
import { AudioDecodeError, decodeAudio } from "../shared/audio";
import { ApiError } from "../shared/errors";
import { AppMetrics, createMetrics } from "../shared/metrics";
import { ApiConfig, largestSubmissionBytes, uploadBudgetOf } from "./config";
import { checkImage, ImageCheckError } from "./image";
import {
  ClientAddressError,
  clientAddress,
  shortageMessage,
  UploadBudget,
  UploadHold,
  UploadShortage,
  watchReceiveRate,
} from "./upload-budget";

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

/** What an admitted submission holds until its response is over. */
interface Admission {
  release(): Promise<void>;
  /** Its place in the service-wide backlog, handed to the store with the job. */
  backlog?: { release(): Promise<void> };
  /** What it holds of this replica's upload budget: what has arrived of its body. */
  hold?: UploadHold;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SUBMIT_URL = "/v1/videos";
/** A refused body up to this size is read and dropped rather than cutting the connection. */
const SMALL_BODY_BYTES = 1024 * 1024;

/** The 429 of an upload that found no room in this replica's budget or its client's share. */
function uploadsBusy(shortage: UploadShortage): ApiError {
  return new ApiError("uploads_busy", shortageMessage(shortage), undefined, { "retry-after": "1" });
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

/** Builds the Sonic API: HTTP API, input checks, admission to the shared job queue, metrics. */
export async function buildApi(config: ApiConfig): Promise<ApiService> {
  const metrics = createMetrics("api", config.SONIC_METRICS, config.SONIC_VERSION);
  /** Requests that sent `Expect: 100-continue` and have not been told to send their body yet. */
  const awaitingContinue = new WeakSet<IncomingMessage>();
  const app = Fastify({
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
      // would be told to send a body that is then refused. The submission decides first (below).
      server.on("checkContinue", (req, res) => {
        awaitingContinue.add(req);
        handler(req, res);
      });
      return server;
    },
  });
  const queue = new JobQueue(queueOptionsOf(config));
  /**
   * The cold start estimate while no worker is live (the tier is at zero, or every worker's model
   * server is loading), else undefined. Unknown (Redis did not answer) counts as live: no claim made.
   */
  const coldStart = async (): Promise<number | undefined> => {
    const live = await queue.health.run(() => queue.workers.live()).catch(() => 1);
    return live === 0 ? config.SONIC_COLD_START_SECONDS : undefined;
  };
  /** A queued job's view while no worker is live says so; the client is told to come back after the cold start. */
  const withCapacity = async (job: JobView, reply: FastifyReply): Promise<JobView> => {
    if (job.status !== "queued") return job;
    const seconds = await coldStart();
    if (seconds === undefined) return job;
    reply.header("retry-after", String(seconds));
    return { ...job, waiting_for: "capacity" };
  };
  const maxBody = largestSubmissionBytes(config);
  const budget = uploadBudgetOf(config);
  const uploads = new UploadBudget(budget.bytes, budget.perClientBytes);
  const addressHeader = config.SONIC_CLIENT_ADDRESS_HEADER?.toLowerCase();
  /** Seconds until a running job ends (its slot and its inputs' memory free up), plus a cold start. */
  const secondsUntilRoom = async (): Promise<number> =>
    (await queue.secondsUntilSlotFrees().catch(() => 30)) + ((await coldStart()) ?? 0);
  /** The answer to a store at maxmemory: like a full backlog, a 429 with the time until a job ends. */
  const storeFull = async (err: StoreFullError): Promise<ApiError> =>
    Object.assign(
      new ApiError(
        "store_full",
        "the job store is full; retry once jobs ahead of this one have finished",
        undefined,
        { "retry-after": String(await secondsUntilRoom()) },
      ),
      { cause: err },
    );
  queue.health.watch((down) =>
    down
      ? app.log.warn({ event: "queue_store_down", reason: down }, "job queue marked down")
      : app.log.info({ event: "queue_store_up" }, "job queue answers again"),
  );
  // A backlog reservation outlives no request: the request timeout cuts every upload before it lapses.
  const holdSeconds = config.SONIC_REQUEST_TIMEOUT_SECONDS + 30;
  /** Admissions of the submissions being read, released when their response ends. */
  const admissions = new WeakMap<FastifyRequest, Admission>();
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
        api.code === "queue_full" ||
        api.code === "uploads_busy" ||
        api.code === "store_full" ||
        api.code === "shutting_down"
          ? "rejected"
          : api.statusCode < 500
            ? "client_error"
            : "server_error";
      metrics.requestFinished(status, reply.elapsedTime / 1000);
      // Every refusal is logged with its reason: what the client was told, or the store's own answer.
      const cause = (api === (err as Error) ? api.cause : err) as Error | undefined;
      request.log[api.statusCode >= 500 || api.code === "store_full" ? "warn" : "info"](
        {
          event: "submission_refused",
          status: api.statusCode,
          code: api.code,
          reason: cause?.message ?? api.message,
          ...(queue.health.down ? { store_down: queue.health.down } : {}),
        },
        "submission refused",
      );
      // The rest of a refused large or endless body is not read: close the connection instead of
      // draining it. A small one is drained, so the client reads the answer on a kept-alive connection.
      // A client still waiting for `100 Continue` may send its body anyway: never read it as a request.
      const length = Number(request.headers["content-length"]);
      if (awaitingContinue.has(request.raw) || (!request.raw.readableEnded && !(length <= SMALL_BODY_BYTES)))
        reply.header("connection", "close");
    }
    return reply.code(api.statusCode).headers(api.headers).send(api.toJSON());
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(new ApiError("not_found", `no route ${request.method} ${request.url.split("?")[0]}`).toJSON()),
  );

  // Any other request that expects `100 Continue` gets it as Node would have sent it.
  app.addHook("onRequest", async (request, reply) => {
    if (!isSubmit(request) && awaitingContinue.delete(request.raw)) reply.raw.writeContinue();
  });

  /**
   * Everything that refuses a submission is decided here, before a byte of the body is read and before
   * `100 Continue`, and the most binding reason wins: what the client must change (415, 413), then the
   * service-wide backlog (429 `queue_full` with the time until a slot frees), then this replica's
   * drain (503) and its upload budget (429 `uploads_busy`, 1 s).
   */
  const admit = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    metrics.submissionReceived();
    // The multipart plugin marks a request multipart only when its body parser runs, after this hook.
    if (!/^multipart\/form-data\s*(;|$)/i.test(request.headers["content-type"] ?? "")) {
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
    let client: string;
    try {
      client = clientAddress(request.raw, addressHeader);
    } catch (err) {
      if (!(err instanceof ClientAddressError)) throw err;
      throw new ApiError("bad_request", err.message, err.header);
    }
    submissionsInFlight++;
    const admission: Admission = { release: async () => undefined };
    admissions.set(request, admission);
    // Released once the response is over, whatever ended it (answer, refusal, cut connection).
    reply.raw.once("close", () => {
      submissionsInFlight--;
      void admission.release();
    });
    const backlog = await queue.reserveBacklog(config.SONIC_BACKLOG_LIMIT, holdSeconds).catch(async (err) => {
      throw err instanceof StoreFullError ? await storeFull(err) : err;
    });
    if (!backlog.admitted) {
      // With no worker live the wait includes a worker's cold start.
      const seconds = await secondsUntilRoom();
      const uploading = backlog.reserved > 0 ? `; ${backlog.reserved} more are being uploaded` : "";
      throw new ApiError(
        "queue_full",
        `the service has ${backlog.queued} jobs queued and ${backlog.running} running (limit ${config.SONIC_BACKLOG_LIMIT})${uploading}; retry later`,
        undefined,
        { "retry-after": String(seconds) },
      );
    }
    admission.release = backlog.release;
    admission.backlog = backlog;
    if (draining) {
      throw new ApiError(
        "shutting_down",
        "the service is shutting down; retry on another replica",
        undefined,
        {
          "retry-after": "5",
        },
      );
    }
    // The upload holds what arrives of its body (at least a first step), never a whole body ahead.
    const hold = uploads.open(client, Number.isFinite(declared) ? declared : undefined);
    if (!(hold instanceof UploadHold)) throw uploadsBusy(hold);
    admission.hold = hold;
    admission.release = async () => {
      hold.release();
      await backlog.release();
    };
    if (awaitingContinue.delete(request.raw)) reply.raw.writeContinue();
  };

  app.post(SUBMIT_URL, { onRequest: admit }, async (request, reply) => {
    const admission = admissions.get(request)!;
    // The body must keep arriving: a client below the minimum rate is cut and frees its reservation.
    let stopWatching = () => undefined as void;
    const tooSlow = new Promise<never>((_, reject) => {
      stopWatching = watchReceiveRate(
        request.raw,
        {
          minBytesPerSecond: config.SONIC_MIN_UPLOAD_BYTES_PER_SECOND,
          windowSeconds: config.SONIC_UPLOAD_RATE_WINDOW_SECONDS,
        },
        (received, seconds) =>
          reject(
            new ApiError(
              "upload_too_slow",
              `the upload arrived at ${Math.floor(received / seconds)} bytes/s; the minimum is ${config.SONIC_MIN_UPLOAD_BYTES_PER_SECOND}`,
            ),
          ),
      );
    });
    const reading = readUploads(request, config.SONIC_MAX_UPLOAD_BYTES, (bytes) => {
      const shortage = admission.hold!.arrived(bytes);
      if (shortage) throw uploadsBusy(shortage);
    });
    reading.catch(() => undefined); // a cut upload's parser fails after the answer: nothing to report
    let files: { audio: Buffer; image: Buffer };
    try {
      files = await Promise.race([reading, tooSlow]);
    } finally {
      stopWatching();
    }
    let audioSeconds: number;
    try {
      audioSeconds = decodeAudio(files.audio, config.SONIC_MAX_AUDIO_SECONDS).durationSeconds;
    } catch (err) {
      if (!(err instanceof AudioDecodeError)) throw err;
      metrics.decodeFailure(err.reason);
      throw new ApiError("invalid_audio", `${err.message} (reason: ${err.reason})`, "audio");
    }
    let imageType: "png" | "jpg";
    try {
      imageType = checkImage(files.image, {
        maxSide: config.SONIC_MAX_IMAGE_SIDE,
        maxPixels: config.SONIC_MAX_IMAGE_PIXELS,
      }).type;
    } catch (err) {
      if (!(err instanceof ImageCheckError)) throw err;
      throw new ApiError("invalid_image", err.message, "image");
    }
    // An upload that finishes while this replica drains is still stored: the queue is shared, so
    // another replica runs it, and drain waits for this write before it closes the store.
    const stored = await queue
      .submit({ audioSeconds, imageType }, files, admission.backlog)
      .catch(async (err) => {
        throw err instanceof StoreFullError ? await storeFull(err) : err;
      });
    request.log.info({ job: stored.id, event: "job_accepted", audio_seconds: audioSeconds }, "job accepted");
    const job = await withCapacity(stored, reply);
    return reply
      .code(202)
      .header("location", `${SUBMIT_URL}/${job.id}`)
      .send({ ...job, status_url: `${SUBMIT_URL}/${job.id}` });
  });

  app.get<{ Params: { id: string } }>(`${SUBMIT_URL}/:id`, async (request, reply) => {
    const { id } = request.params;
    if (!UUID.test(id))
      throw new ApiError("bad_request", `job id must be a UUID, got "${id.slice(0, 64)}"`, "id");
    const job = await queue.get(id);
    if (!job)
      throw new ApiError(
        "not_found",
        `no job ${id} (finished jobs are kept for the last ${config.SONIC_JOB_HISTORY}, at most ${config.SONIC_JOB_HISTORY_SECONDS}s)`,
        "id",
      );
    return withCapacity(job, reply);
  });

  app.get("/healthz", async () => ({ status: "ok" }));

  // Ready means "can accept and store jobs": not draining, and Redis answers and takes a write (a
  // read-only replica answers PING and refuses every job). A full backlog and a full store (maxmemory)
  // are 429s, never unreadiness: both are service-wide, so no other pod would do better, and the pod
  // must stay in the Service so its jobs can be polled and clients get the 429 with its Retry-After.
  // While Redis is known to be down this answers at once.
  app.get("/readyz", async (_request, reply) => {
    const store = await queue.storeState();
    const reasons = [
      ...(draining ? ["shutting down"] : []),
      ...(store.cannotStore ? [store.cannotStore] : []),
    ];
    return reply.code(reasons.length === 0 ? 200 : 503).send({
      ready: reasons.length === 0,
      reasons,
      ...(store.full ? { notes: ["job store full: submissions are answered 429 store_full"] } : {}),
    });
  });

  app.get("/metrics", async (_request, reply) =>
    reply.header("content-type", metrics.contentType).send(await metrics.exposition()),
  );

  const sampler = startQueueSampler(queue, metrics, config.SONIC_QUEUE_SAMPLE_SECONDS);
  app.addHook("onClose", async () => clearInterval(sampler));

  return {
    app,
    queue,
    metrics,
    uploads,
    async shutdown() {
      draining = true;
      const deadline = Date.now() + config.SONIC_SHUTDOWN_GRACE_SECONDS * 1000;
      app.log.info({ event: "draining", submissions: submissionsInFlight }, "draining");
      while (submissionsInFlight > 0 && Date.now() < deadline) await sleep(50);
      await app.close(); // closes every connection, including trickling uploads
      await queue.close();
    },
  };
}

function isSubmit(request: FastifyRequest): boolean {
  return request.method === "POST" && request.routeOptions.url === SUBMIT_URL;
}

/**
 * Reads exactly the two files `audio` and `image` from the multipart body, refusing anything else.
 * `arrived` is told each piece of a file as it arrives, before it is kept, and may refuse it (throw).
 */
async function readUploads(
  request: FastifyRequest,
  maxFileBytes: number,
  arrived: (bytes: number) => void,
): Promise<{ audio: Buffer; image: Buffer }> {
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
      const chunks: Buffer[] = [];
      for await (const chunk of part.file as AsyncIterable<Buffer>) {
        arrived(chunk.length);
        chunks.push(chunk);
      }
      // busboy stops a file at the size limit and marks it truncated (toBuffer's check, done here).
      if (part.file.truncated)
        throw new ApiError(
          "payload_too_large",
          `the upload is too large: file '${part.fieldname}' is over the limit of ${maxFileBytes} bytes per file`,
          part.fieldname,
        );
      files[part.fieldname] = Buffer.concat(chunks);
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
