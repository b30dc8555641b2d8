import { Job, Queue } from "bullmq";
import { randomUUID } from "node:crypto";
import IORedis, { RedisOptions } from "ioredis";
import {
  JOB_FAILURE_REASONS as FAILURE_REASONS,
  JobFailureReason as FailureReason,
} from "../../contract/metrics";
import { RedisHealth } from "../shared/redis-health";
import { InputStore, JobInputs, RedisInputStore } from "./input-store";
import { WorkerRegistry } from "./worker-registry";

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
  /**
   * What a queued job waits for when it is not a free slot: `capacity` while no worker is live (the
   * worker tier scaled to zero and is starting: node, image pull, model load).
   */
  waiting_for?: "capacity";
}

/** What a queued job carries. The uploads are stored beside it, under a TTL (an `InputStore`). */
export interface JobData {
  audioSeconds: number;
  imageType: "png" | "jpg";
}

/** What a finished job returns: the location comes from the model server. */
export interface JobResult {
  location: string;
  videoSeconds: number;
}

/**
 * How a job ended, recorded in the job's own hash before its inputs are deleted. It is the truth about
 * the job: BullMQ's state can lag behind it (a `moveToFinished` refused after the lock was lost, a
 * stalled check that failed or re-queued a job whose render had returned), and it travels and is
 * trimmed with the job.
 */
export type JobOutcome =
  | { status: "succeeded"; result: JobResult; finishedOn: number }
  | { status: "failed"; reason: FailureReason; message: string; finishedOn: number };

/** Field of the BullMQ job hash that holds the recorded outcome (BullMQ ignores fields it does not know). */
const OUTCOME_FIELD = "sonicOutcome";

/**
 * Records an outcome once (the first one recorded wins, whichever run or pod it came from); answers the
 * outcome that stands. KEYS: job hash. ARGV: outcome JSON. A job hash that no longer exists (trimmed,
 * removed) is not recreated.
 */
const RECORD_OUTCOME = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSETNX', KEYS[1], '${OUTCOME_FIELD}', ARGV[1]) end
return redis.call('HGET', KEYS[1], '${OUTCOME_FIELD}') or ARGV[1]
`;

/**
 * Admits one submission against the service-wide backlog limit, atomically across replicas: jobs
 * queued + running + submissions admitted but not yet enqueued must stay below the limit. An admitted
 * submission holds a reservation (a member of a sorted set scored by its expiry, in Redis' own clock)
 * until its job is enqueued or it is refused; a replica that dies mid-upload leaves one that expires.
 * KEYS: wait, prioritized, delayed, active, reservations. ARGV: limit, reservation id, lifetime (ms).
 * Returns { admitted (1|0), queued, running, reserved } as counted before admitting.
 */
const RESERVE_BACKLOG = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
local queued = redis.call('LLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[3])
local running = redis.call('LLEN', KEYS[4])
local reserved = redis.call('ZCARD', KEYS[5])
if queued + running + reserved >= tonumber(ARGV[1]) then return {0, queued, running, reserved} end
redis.call('ZADD', KEYS[5], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[5], tonumber(ARGV[3]))
return {1, queued, running, reserved}
`;

/** The answer of `reserveBacklog`: admitted with a reservation to release, or refused with the counts. */
export type BacklogAdmission =
  | { admitted: true; release(): Promise<void> }
  | { admitted: false; queued: number; running: number; reserved: number };

export type { JobInputs } from "./input-store";

/** The shared store cannot be reached: submissions answer 503 `queue_unavailable`. */
export class QueueUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`the job queue is unavailable: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = "QueueUnavailableError";
  }
}

/**
 * The store answers but is at `maxmemory` (with `noeviction`): it refuses a job's inputs, perhaps
 * while it still takes small writes. Every replica shares the store, so every one is as full: this is
 * a 429 `store_full` with a Retry-After, never unreadiness.
 */
export class StoreFullError extends Error {
  constructor(cause: unknown) {
    super(`the job store is full: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = "StoreFullError";
  }
}

/** Whether Redis refused a command (or a MULTI, or a script's write) for lack of memory. */
export function isStoreFull(err: unknown): boolean {
  const oom = (e: unknown) => /\bOOM\b/.test((e as Error)?.message ?? "");
  return oom(err) || ((err as { previousErrors?: unknown[] })?.previousErrors ?? []).some(oom);
}

/** The error a refused store call becomes: full (429) or unavailable (503). */
function refusal(err: unknown): StoreFullError | QueueUnavailableError {
  return isStoreFull(err) ? new StoreFullError(err) : new QueueUnavailableError(err);
}

export interface JobQueueOptions {
  redisUrl: string;
  redisPassword?: string;
  queueName: string;
  /** Seconds the uploads of a job are kept, whatever becomes of the job. */
  inputTtlSeconds: number;
  /** Finished jobs kept: by count and by age (seconds). */
  history: { count: number; ageSeconds: number };
}

/** The queue options both programs read from the settings they share (contract/shared-settings.ts). */
export function queueOptionsOf(s: {
  SONIC_REDIS_URL: string;
  SONIC_REDIS_PASSWORD?: string;
  SONIC_QUEUE_NAME: string;
  SONIC_INPUT_TTL_SECONDS: number;
  SONIC_JOB_HISTORY: number;
  SONIC_JOB_HISTORY_SECONDS: number;
}): JobQueueOptions {
  return {
    redisUrl: s.SONIC_REDIS_URL,
    redisPassword: s.SONIC_REDIS_PASSWORD,
    queueName: s.SONIC_QUEUE_NAME,
    inputTtlSeconds: s.SONIC_INPUT_TTL_SECONDS,
    history: { count: s.SONIC_JOB_HISTORY, ageSeconds: s.SONIC_JOB_HISTORY_SECONDS },
  };
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
 * The shared job queue and job store on Redis (BullMQ), and admission to it: any API replica accepts
 * any job and answers any poll, any worker runs it. The uploads of a job wait in an `InputStore`
 * beside it, with a TTL; finished jobs are trimmed by count and age; live workers are counted in a
 * `WorkerRegistry`.
 */
export class JobQueue {
  readonly queue: Queue<JobData, JobResult>;
  readonly redis: IORedis;
  /** Whether Redis answers: while it does not, every call below fails at once (503). */
  readonly health: RedisHealth;
  /** The uploads of jobs, over this queue's fail-fast connection. */
  readonly inputs: InputStore;
  /** The workers that announced themselves live. */
  readonly workers: WorkerRegistry;

  constructor(private readonly options: JobQueueOptions) {
    this.redis = failFastRedis(options.redisUrl, options.redisPassword);
    this.health = new RedisHealth(this.redis);
    this.inputs = this.inputStoreOn(this.redis);
    this.workers = new WorkerRegistry(this.redis, options.queueName);
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

  /**
   * The input store over a given connection (the worker reads with its own, which waits out a stall).
   * Storing inputs elsewhere is a change here and a new `InputStore`.
   */
  inputStoreOn(redis: IORedis): InputStore {
    return new RedisInputStore(redis, this.options.queueName);
  }

  private get durationsKey(): string {
    return `sonic:${this.options.queueName}:seconds-per-audio-second`;
  }

  /**
   * Why this pod cannot store a job now, or undefined when it can: Redis must answer and accept a
   * write (a read-only replica after a failover or one whose AOF cannot be written answers PING but
   * refuses every job). A Redis at `maxmemory` is not one of them: it is shared, so no other pod could
   * do better, and polls still work; submissions get 429 `store_full` (`full` says so).
   */
  async cannotStore(): Promise<string | undefined> {
    return (await this.storeState()).cannotStore;
  }

  /** `cannotStore`, and whether the store is full (it refused the probe's write for lack of memory). */
  async storeState(): Promise<{ cannotStore?: string; full: boolean }> {
    try {
      await this.health.run(() => this.redis.set(this.probeKey, String(Date.now()), "PX", 60_000));
      return { full: false };
    } catch (err) {
      if (isStoreFull(err)) return { full: true };
      return {
        full: false,
        cannotStore: /^(READONLY|MISCONF|NOREPLICAS)/.test((err as Error).message)
          ? "job queue refuses writes"
          : "job queue unreachable",
      };
    }
  }

  private get probeKey(): string {
    return `sonic:${this.options.queueName}:write-probe`;
  }

  /** Jobs queued (waiting for a slot) and running, across the whole service. */
  async backlog(): Promise<{ queued: number; running: number }> {
    try {
      const c = await this.health.run(() =>
        this.queue.getJobCounts("waiting", "prioritized", "delayed", "active"),
      );
      return { queued: c.waiting + c.prioritized + c.delayed, running: c.active };
    } catch (err) {
      throw new QueueUnavailableError(err);
    }
  }

  private get reservationsKey(): string {
    return `sonic:${this.options.queueName}:backlog-reservations`;
  }

  /**
   * Admits a submission against `limit` (jobs queued + running + admitted uploads), atomically across
   * every replica, holding a reservation for at most `holdSeconds`. Release it once the job is
   * enqueued (`submit` takes it and does) or the submission is refused.
   */
  async reserveBacklog(limit: number, holdSeconds: number): Promise<BacklogAdmission> {
    const id = randomUUID();
    const k = this.queue.keys;
    let answer: number[];
    try {
      answer = (await this.health.run(() =>
        this.redis.eval(
          RESERVE_BACKLOG,
          5,
          k.wait,
          k.prioritized,
          k.delayed,
          k.active,
          this.reservationsKey,
          String(limit),
          id,
          String(Math.ceil(holdSeconds * 1000)),
        ),
      )) as number[];
    } catch (err) {
      throw refusal(err);
    }
    const [admitted, queued, running, reserved] = answer.map(Number);
    if (!admitted) return { admitted: false, queued, running, reserved };
    let released = false;
    return {
      admitted: true,
      // Once released, a reservation is gone for good; a failed release expires with its lifetime.
      release: async () => {
        if (released) return;
        released = true;
        await this.redis.zrem(this.reservationsKey, id).catch(() => undefined);
      },
    };
  }

  /**
   * Stores the uploads, then enqueues the job, then releases the submission's backlog reservation (the
   * job now counts itself). Nothing is left behind when either step fails: it throws `StoreFullError`
   * when Redis refused for lack of memory, else `QueueUnavailableError`.
   */
  async submit(
    data: JobData,
    inputs: JobInputs,
    reservation?: { release(): Promise<void> },
  ): Promise<JobView> {
    const id = randomUUID();
    try {
      const job = await this.health.run(async () => {
        await this.inputs.put(id, inputs, this.options.inputTtlSeconds);
        return this.queue.add("generate", data, { jobId: id });
      });
      await reservation?.release();
      return view(job, "queued");
    } catch (err) {
      // In a stall the writes were sent and only their answers are late: Redis runs them once it
      // resumes. Withdraw them behind them, in order (inputs first, then the job), so a refused
      // submission never becomes a job; a runner that took it in between finds it withdrawn.
      void this.inputs.drop(id).catch(() => undefined);
      void this.redis
        .set(this.withdrawnKey(id), "1", "EX", this.options.inputTtlSeconds)
        .catch(() => undefined);
      void this.queue.remove(id).catch(() => undefined);
      throw refusal(err);
    }
  }

  private withdrawnKey(id: string): string {
    return `sonic:${this.options.queueName}:withdrawn:${id}`;
  }

  /** Whether a job belongs to a submission that was refused (its enqueue ran after the API gave up). */
  async withdrawn(id: string, redis: IORedis = this.redis): Promise<boolean> {
    return (await redis.exists(this.withdrawnKey(id))) === 1;
  }

  async get(id: string): Promise<JobView | undefined> {
    let job: Job<JobData, JobResult> | undefined;
    let state: string;
    let outcome: JobOutcome | undefined;
    try {
      // State first: a job read before its state could look finished without its result yet.
      state = await this.health.run(() => this.queue.getJobState(id));
      if (state === "unknown") return undefined;
      job = await this.health.run(() => Job.fromId<JobData, JobResult>(this.queue, id));
      if (!job) return undefined;
      outcome = await this.health.run(() => this.outcome(id));
    } catch (err) {
      throw new QueueUnavailableError(err);
    }
    const status: JobState =
      outcome?.status ??
      (state === "completed"
        ? "succeeded"
        : state === "failed"
          ? "failed"
          : state === "active"
            ? "running"
            : "queued");
    return view(job, status, outcome);
  }

  /** The recorded outcome of a job, if it has one. */
  async outcome(id: string, redis: IORedis = this.redis): Promise<JobOutcome | undefined> {
    return parseOutcome(await redis.hget(this.queue.toKey(id), OUTCOME_FIELD));
  }

  /**
   * Records how a job ended and only then deletes its inputs from `inputs`, so a re-run after a lost
   * lock finds the outcome instead of missing inputs (a crash between the two leaves inputs that
   * expire with their TTL). Returns the outcome that stands: an earlier one recorded by another run of
   * the same job wins over `outcome`.
   */
  async recordOutcome(
    id: string,
    outcome: JobOutcome,
    redis: IORedis = this.redis,
    inputs: InputStore = this.inputs,
  ): Promise<JobOutcome> {
    const stored = (await redis.eval(
      RECORD_OUTCOME,
      1,
      this.queue.toKey(id),
      JSON.stringify(outcome),
    )) as string;
    await inputs.drop(id);
    return parseOutcome(stored) ?? outcome;
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
    const [recent, active] = await this.health.run(() =>
      Promise.all([this.redis.lrange(this.durationsKey, 0, -1), this.queue.getActive(0, 99)]),
    );
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
    this.health.close();
    await this.queue.close().catch(() => undefined);
    this.redis.disconnect();
  }
}

function iso(ms?: number): string | undefined {
  return ms ? new Date(ms).toISOString() : undefined;
}

function parseOutcome(text: string | null | undefined): JobOutcome | undefined {
  if (!text) return undefined;
  try {
    const outcome = JSON.parse(text) as JobOutcome;
    return outcome.status === "succeeded" || outcome.status === "failed" ? outcome : undefined;
  } catch {
    return undefined;
  }
}

function view(job: Job<JobData, JobResult>, status: JobState, outcome?: JobOutcome): JobView {
  // A job recovered from a dead pod or handed back at shutdown keeps its old processedOn: show the
  // start only while it runs or once it finished.
  const startedAt = status === "queued" ? undefined : job.processedOn;
  const finishedAt =
    outcome?.finishedOn ?? (status === "succeeded" || status === "failed" ? job.finishedOn : undefined);
  // The recorded outcome is the truth; BullMQ's own fields are the fallback for jobs without one.
  const result = outcome?.status === "succeeded" ? outcome.result : job.returnvalue;
  const failure =
    outcome?.status === "failed"
      ? { reason: outcome.reason, message: outcome.message }
      : parseFailure(job.failedReason);
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
    ...(status === "succeeded" && result
      ? { result: { location: result.location, video_seconds: result.videoSeconds } }
      : {}),
    ...(status === "failed" ? { failure } : {}),
  };
}
