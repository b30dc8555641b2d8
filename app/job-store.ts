import { Job, Queue } from "bullmq";
import { randomUUID } from "node:crypto";
import IORedis, { RedisOptions } from "ioredis";
import { FAILURE_REASONS, FailureReason } from "./backends/types";

export type JobState = "queued" | "running" | "succeeded" | "failed";

/** A job as clients see it (GET /v1/videos/{id}), whichever replica answers. */
export interface JobView {
  id: string;
  status: JobState;
  audio_seconds: number;
  created_at: string;
  started_at?: string;
  finished_at?: string;
  /** Seconds queued, and seconds generating, once known. */
  timings: { queued_seconds?: number; generation_seconds?: number; total_seconds?: number };
  result?: { location: string; video_seconds: number };
  failure?: { reason: FailureReason; message: string };
}

/** What a queued job carries. The uploads are stored beside it, under a TTL (see `inputKey`). */
export interface JobData {
  audioSeconds: number;
  imageType: "png" | "jpg";
}

/** What a finished job returns: the location comes from the model server. */
export interface JobResult {
  location: string;
  videoSeconds: number;
}

export interface JobInputs {
  audio: Buffer;
  image: Buffer;
}

/** The shared store cannot be reached: submissions answer 503 `queue_unavailable`. */
export class QueueUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`the job queue is unavailable: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = "QueueUnavailableError";
  }
}

export interface JobStoreOptions {
  redisUrl: string;
  redisPassword?: string;
  queueName: string;
  /** Seconds the uploads of a job are kept, whatever becomes of the job. */
  inputTtlSeconds: number;
  /** Finished jobs kept: by count and by age (seconds). */
  history: { count: number; ageSeconds: number };
}

/** The message of a failed job: `<reason>: <message>`, so the reason survives in the store. */
export function failureMessage(reason: FailureReason, message: string): string {
  return `${reason}: ${message}`;
}

/** BullMQ's own reason when stalled-job recovery gives up: the pods running it kept dying. */
const STALLED_LIMIT = "job stalled more than allowable limit";

export function parseFailure(failedReason: string | undefined): { reason: FailureReason; message: string } {
  const text = failedReason ?? "";
  if (text.includes(STALLED_LIMIT))
    return {
      reason: "worker_lost",
      message: "the pods running the job stopped, more often than recovery allows",
    };
  const colon = text.indexOf(": ");
  const reason = text.slice(0, colon) as FailureReason;
  return colon > 0 && (FAILURE_REASONS as readonly string[]).includes(reason)
    ? { reason, message: text.slice(colon + 2) }
    : { reason: "inference_error", message: text || "unknown failure" };
}

/** ioredis options of a connection that fails fast: a submission must not hang on a Redis outage. */
export function failFastRedis(url: string, password?: string): IORedis {
  const options: RedisOptions = {
    password,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  };
  const redis = new IORedis(url, options);
  redis.on("error", () => undefined); // reported through readiness and queue_unavailable, not as a crash
  return redis;
}

/**
 * The shared job queue and job store on Redis (BullMQ): any replica accepts any job and answers any
 * poll. The uploads of a job are a Redis hash beside the BullMQ job, with a TTL, so Redis holds at most
 * backlog limit x (2 x upload cap) of inputs; finished jobs are trimmed by count and age.
 */
export class JobStore {
  readonly queue: Queue<JobData, JobResult>;
  readonly redis: IORedis;

  constructor(private readonly options: JobStoreOptions) {
    this.redis = failFastRedis(options.redisUrl, options.redisPassword);
    this.queue = new Queue<JobData, JobResult>(options.queueName, {
      connection: this.redis,
      defaultJobOptions: {
        attempts: 1, // the model-server client retries what is safe to retry; a failure is final
        removeOnComplete: { count: options.history.count, age: options.history.ageSeconds },
        removeOnFail: { count: options.history.count, age: options.history.ageSeconds },
      },
    });
    this.queue.on("error", () => undefined);
  }

  /** Redis key of a job's uploads. */
  inputKey(id: string): string {
    return `sonic:${this.options.queueName}:inputs:${id}`;
  }

  private get durationsKey(): string {
    return `sonic:${this.options.queueName}:seconds-per-audio-second`;
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === "PONG";
    } catch {
      return false;
    }
  }

  /** Jobs queued (waiting for a slot) and running, across the whole service. */
  async backlog(): Promise<{ queued: number; running: number }> {
    try {
      const c = await this.queue.getJobCounts("waiting", "prioritized", "delayed", "active");
      return { queued: c.waiting + c.prioritized + c.delayed, running: c.active };
    } catch (err) {
      throw new QueueUnavailableError(err);
    }
  }

  /** Stores the uploads, then enqueues the job. Nothing is left behind when either step fails. */
  async submit(data: JobData, inputs: JobInputs): Promise<JobView> {
    const id = randomUUID();
    const key = this.inputKey(id);
    try {
      await this.redis
        .multi()
        .hset(key, "audio", inputs.audio, "image", inputs.image)
        .expire(key, this.options.inputTtlSeconds)
        .exec();
      const job = await this.queue.add("generate", data, { jobId: id });
      return view(job, "queued");
    } catch (err) {
      await this.redis.del(key).catch(() => undefined);
      throw new QueueUnavailableError(err);
    }
  }

  async get(id: string): Promise<JobView | undefined> {
    let job: Job<JobData, JobResult> | undefined;
    let state: string;
    try {
      // State first: a job read before its state could look finished without its result yet.
      state = await this.queue.getJobState(id);
      if (state === "unknown") return undefined;
      job = await Job.fromId<JobData, JobResult>(this.queue, id);
      if (!job) return undefined;
    } catch (err) {
      throw new QueueUnavailableError(err);
    }
    const status: JobState =
      state === "completed"
        ? "succeeded"
        : state === "failed"
          ? "failed"
          : state === "active"
            ? "running"
            : "queued";
    return view(job, status);
  }

  async inputs(id: string): Promise<JobInputs | undefined> {
    const [audio, image] = await this.redis.hmgetBuffer(this.inputKey(id), "audio", "image");
    return audio && image ? { audio, image } : undefined;
  }

  async dropInputs(id: string): Promise<void> {
    await this.redis.del(this.inputKey(id));
  }

  /** Remembers how long a job took per second of audio (the last 50, service-wide), for Retry-After. */
  async recordDuration(seconds: number, audioSeconds: number): Promise<void> {
    if (!(audioSeconds > 0)) return;
    await this.redis
      .multi()
      .lpush(this.durationsKey, String(seconds / audioSeconds))
      .ltrim(this.durationsKey, 0, 49)
      .exec();
  }

  /**
   * Seconds until a slot frees: the soonest expected end of a running job, from its audio length and
   * the recent seconds per audio second. `fallbackSeconds` when nothing runs or nothing is known yet.
   */
  async secondsUntilSlotFrees(fallbackSeconds = 30): Promise<number> {
    const [recent, active] = await Promise.all([
      this.redis.lrange(this.durationsKey, 0, -1),
      this.queue.getActive(0, 99),
    ]);
    const rates = recent.map(Number).filter(Number.isFinite);
    if (rates.length === 0 || active.length === 0) return fallbackSeconds;
    const rate = rates.reduce((a, b) => a + b, 0) / rates.length;
    const now = Date.now();
    const remaining = active.map(
      (job) => rate * job.data.audioSeconds - (now - (job.processedOn ?? now)) / 1000,
    );
    return Math.min(3600, Math.max(1, Math.ceil(Math.min(...remaining))));
  }

  async close(): Promise<void> {
    await this.queue.close().catch(() => undefined);
    this.redis.disconnect();
  }
}

function iso(ms?: number): string | undefined {
  return ms ? new Date(ms).toISOString() : undefined;
}

function view(job: Job<JobData, JobResult>, status: JobState): JobView {
  // A job recovered from a dead pod or handed back at shutdown keeps its old processedOn: show the
  // start only while it runs or once it finished.
  const startedAt = status === "queued" ? undefined : job.processedOn;
  const finishedAt = status === "succeeded" || status === "failed" ? job.finishedOn : undefined;
  const seconds = (from?: number, to?: number) => (from && to ? (to - from) / 1000 : undefined);
  return {
    id: job.id!,
    status,
    audio_seconds: job.data.audioSeconds,
    created_at: iso(job.timestamp)!,
    started_at: iso(startedAt),
    finished_at: iso(finishedAt),
    timings: {
      queued_seconds: seconds(job.timestamp, startedAt),
      generation_seconds: seconds(startedAt, finishedAt),
      total_seconds: seconds(job.timestamp, finishedAt),
    },
    ...(status === "succeeded" && job.returnvalue
      ? { result: { location: job.returnvalue.location, video_seconds: job.returnvalue.videoSeconds } }
      : {}),
    ...(status === "failed" ? { failure: parseFailure(job.failedReason) } : {}),
  };
}
