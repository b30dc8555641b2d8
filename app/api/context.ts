import { FastifyReply, FastifyRequest } from "fastify";
import { IncomingMessage } from "node:http";
import { JobQueue, JobView, StoreFullError } from "../queue/job-queue";
import { ApiError } from "../shared/errors";
import { AppMetrics } from "../shared/metrics";
import { ApiConfig } from "./config";
import { UploadBudget, UploadHold } from "./upload-budget";

export const SUBMIT_URL = "/v1/videos";

export function isSubmit(request: FastifyRequest): boolean {
  return request.method === "POST" && request.routeOptions.url === SUBMIT_URL;
}

/** What an admitted submission holds until its response is over. */
export interface Admission {
  release(): Promise<void>;
  /** Its place in the service-wide backlog, handed to the store with the job. */
  backlog?: { release(): Promise<void> };
  /** What it holds of this replica's upload budget: what has arrived of its body. */
  hold?: UploadHold;
}

/** What the API's error handling and routes share: one replica's store client, metrics and admission state. */
export interface ApiContext {
  config: ApiConfig;
  queue: JobQueue;
  metrics: AppMetrics;
  /** This replica's upload budget. */
  uploads: UploadBudget;
  /** Requests that sent `Expect: 100-continue` and have not been told to send their body yet. */
  awaitingContinue: WeakSet<IncomingMessage>;
  /** Admissions of the submissions being read, released when their response ends. */
  admissions: WeakMap<FastifyRequest, Admission>;
  /** Submissions being read, and whether this replica drains (then it takes no new one). */
  state: { submissionsInFlight: number; draining: boolean };
  /**
   * The cold start estimate while no worker is live (the tier is at zero, or every worker's model
   * server is loading), else undefined. Unknown (Redis did not answer) counts as live: no claim made.
   */
  coldStart(): Promise<number | undefined>;
  /** A queued job's view while no worker is live says so; the client is told to come back after the cold start. */
  withCapacity(job: JobView, reply: FastifyReply): Promise<JobView>;
  /** Seconds until a running job ends (its slot and its inputs' memory free up), plus a cold start. */
  secondsUntilRoom(): Promise<number>;
  /** The answer to a store at maxmemory: like a full backlog, a 429 with the time until a job ends. */
  storeFull(err: StoreFullError): Promise<ApiError>;
}

/** The context of one replica, with no submission in flight. */
export function apiContext(
  config: ApiConfig,
  queue: JobQueue,
  metrics: AppMetrics,
  uploads: UploadBudget,
  awaitingContinue: WeakSet<IncomingMessage>,
): ApiContext {
  const coldStart = async (): Promise<number | undefined> => {
    const live = await queue.health.run(() => queue.workers.live()).catch(() => 1);
    return live === 0 ? config.SONIC_COLD_START_SECONDS : undefined;
  };
  const secondsUntilRoom = async (): Promise<number> =>
    (await queue.secondsUntilSlotFrees().catch(() => 30)) + ((await coldStart()) ?? 0);
  return {
    config,
    queue,
    metrics,
    uploads,
    awaitingContinue,
    admissions: new WeakMap(),
    state: { submissionsInFlight: 0, draining: false },
    coldStart,
    secondsUntilRoom,
    async withCapacity(job, reply) {
      if (job.status !== "queued") return job;
      const seconds = await coldStart();
      if (seconds === undefined) return job;
      reply.header("retry-after", String(seconds));
      return { ...job, waiting_for: "capacity" };
    },
    async storeFull(err) {
      return Object.assign(
        new ApiError(
          "store_full",
          "the job store is full; retry once jobs ahead of this one have finished",
          undefined,
          { "retry-after": String(await secondsUntilRoom()) },
        ),
        { cause: err },
      );
    },
  };
}
