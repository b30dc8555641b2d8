import { Job, UnrecoverableError, WaitingError, Worker } from "bullmq";
import { setMaxListeners } from "node:events";
import IORedis from "ioredis";
import type { FastifyBaseLogger } from "fastify";
import { hostname } from "node:os";
import { InputStore } from "../queue/input-store";
import { failureMessage, JobData, JobOutcome, JobQueue, JobResult, parseFailure } from "../queue/job-queue";
import type { AppMetrics } from "../shared/metrics";
import { InferenceBackend, JobFailure } from "./backends/types";

export interface JobRunnerOptions {
  queue: JobQueue;
  redisUrl: string;
  redisPassword?: string;
  /** Jobs this pod runs at once: its model server's slots (GPUs x concurrency per GPU). */
  slots: number;
  backend: InferenceBackend;
  metrics: AppMetrics;
  log: FastifyBaseLogger;
  /** Seconds between model-server health checks. */
  checkSeconds: number;
  /** The lock on a running job (renewed while it runs) and the stalled-job check period, in seconds. */
  lockSeconds: number;
  stalledCheckSeconds: number;
  /** Recoveries of a job from a dead runner before it fails with `worker_lost`. */
  maxStalled: number;
  /**
   * This worker's member in the queue's `WorkerRegistry`. @default `<hostname>-<pid>` (the pod name
   * in Kubernetes, unique per process); tests running several workers in one process pass their own.
   */
  member?: string;
}

/** Seconds a worker's announcement outlives its health check period: a missed check or two is no exit. */
const ANNOUNCE_MARGIN_SECONDS = 2;

/**
 * Runs jobs of the shared queue on this pod's model server. It pulls a job only while the model
 * server is ready and one of its slots is free; a job whose pod dies is recovered by another pod once
 * its lock lapses (BullMQ's stalled-job check); at shutdown running jobs finish within the grace, and
 * what cannot finish goes back to the queue for another pod rather than failing.
 */
export class JobRunner {
  private readonly worker: Worker<JobData, JobResult>;
  private readonly shutdown = new AbortController();
  private running = 0;
  private started = false;
  private paused = false;
  /** The model server's readiness at the last check. */
  private modelReady = false;
  private draining = false;
  private healthTimer?: NodeJS.Timeout;
  private returned = 0;
  private readonly connection: IORedis;
  /** The uploads, read over the runner's own connection (it waits out a Redis stall). */
  private readonly inputs: InputStore;
  /** This worker's member in the registry of live workers. */
  readonly member: string;

  constructor(private readonly options: JobRunnerOptions) {
    setMaxListeners(0, this.shutdown.signal);
    const connection = (this.connection = new IORedis(options.redisUrl, {
      password: options.redisPassword,
      maxRetriesPerRequest: null, // BullMQ workers block on Redis and must retry forever
    }));
    connection.on("error", () => undefined);
    this.inputs = options.queue.inputStoreOn(connection);
    this.member = options.member ?? `${process.env.HOSTNAME ?? hostname()}-${process.pid}`;
    this.worker = new Worker<JobData, JobResult>(
      options.queue.queue.name,
      (job, token) => this.process(job, token),
      {
        connection,
        autorun: false,
        concurrency: options.slots,
        lockDuration: options.lockSeconds * 1000,
        stalledInterval: options.stalledCheckSeconds * 1000,
        maxStalledCount: options.maxStalled,
      },
    );
    this.worker.on("error", (err) => options.log.warn({ err, event: "runner_error" }, "job runner error"));
    // A job failed by the stalled check never ran to an end here: count it and free its inputs, unless
    // its outcome was recorded before the lock was lost (then that outcome stands and was counted).
    this.worker.on("failed", (job, err) => {
      if (!job || parseFailure(err.message).reason !== "worker_lost") return;
      void options.queue
        .outcome(job.id!, this.connection)
        .then(async (known) => {
          if (known) return;
          this.recordFailure(job, "worker_lost", err.message);
          await this.inputs.drop(job.id!);
        })
        .catch(() => undefined);
    });
  }

  get inProgress(): number {
    return this.running;
  }

  /** Whether the model server answered ready at the last check (the worker's readiness). */
  get ready(): boolean {
    return this.modelReady;
  }

  /**
   * Starts the model-server health loop; the runner pulls jobs once the model server is ready, and
   * while it is, keeps this worker's member in the registry of live workers (refreshed each check,
   * expiring a few seconds after the next one would be due), so the API knows capacity exists.
   */
  start(): void {
    const ttlMs = (this.options.checkSeconds * 2 + ANNOUNCE_MARGIN_SECONDS) * 1000;
    const check = async () => {
      if (this.draining) return;
      const ready = await this.options.backend.ready();
      this.modelReady = ready;
      if (this.draining) return;
      // Best effort: a Redis that does not answer is reported by the queue's health, not here.
      void (
        ready
          ? this.options.queue.workers.announce(this.member, ttlMs)
          : this.options.queue.workers.withdraw(this.member)
      ).catch(() => undefined);
      if (ready && !this.started) {
        this.started = true;
        this.options.log.info({ event: "runner_started", slots: this.options.slots }, "pulling jobs");
        this.worker.run().catch((err) => this.options.log.error({ err }, "job runner stopped"));
      } else if (ready && this.paused) {
        this.paused = false;
        this.worker.resume();
        this.options.log.info({ event: "runner_resumed" }, "model server ready again: pulling jobs");
      } else if (!ready) {
        await this.pause();
      }
    };
    void check();
    this.healthTimer = setInterval(() => void check(), this.options.checkSeconds * 1000);
    this.healthTimer.unref();
  }

  /** Stops pulling jobs until the health loop sees the model server ready again. */
  private async pause(): Promise<void> {
    this.modelReady = false;
    if (!this.started || this.paused) return;
    this.paused = true;
    await this.worker.pause(true);
    this.options.log.warn({ event: "runner_paused" }, "model server not ready: no new jobs pulled");
  }

  /**
   * Stops pulling, lets running jobs finish for up to `graceMs`, then hands the rest back to the queue
   * (another pod runs them). Returns how many went back.
   */
  async drain(graceMs: number): Promise<{ returned: number }> {
    this.draining = true;
    clearInterval(this.healthTimer);
    // No new jobs from here on: the API must count this worker out at once, not when it expires.
    await this.options.queue.workers.withdraw(this.member).catch(() => undefined);
    const closing = this.worker.close();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<"expired">(
      (resolve) => (timer = setTimeout(() => resolve("expired"), graceMs)),
    );
    if ((await Promise.race([closing, expired])) === "expired") {
      this.shutdown.abort();
      await closing;
    }
    clearTimeout(timer);
    await this.worker.close(true).catch(() => undefined);
    this.connection.disconnect();
    return { returned: this.returned };
  }

  private async process(job: Job<JobData, JobResult>, token?: string): Promise<JobResult> {
    const { queue, backend, metrics, log } = this.options;
    if (!this.modelReady) {
      // Fetched while the model server turned unready (a fetch already waiting on Redis when the
      // runner paused): hand it straight back for a pod that can run it.
      await job.moveToWait(token);
      throw new WaitingError();
    }
    this.running++;
    metrics.setInProgress(this.running);
    try {
      // A re-run of a job that already ended (its lock was lost after the outcome was recorded: Redis
      // stalled, the network split, this event loop stalled) returns that outcome, never renders again.
      const known = await queue.outcome(job.id!, this.connection);
      if (known) return this.replay(job, known);
      const inputs = await this.inputs.get(job.id!);
      if (!inputs && (await queue.withdrawn(job.id!, this.connection))) {
        // Its client was answered 503 and never got this id: nothing to render, count or report.
        log.warn({ job: job.id, event: "job_withdrawn" }, "job of a refused submission dropped");
        throw new UnrecoverableError("withdrawn: the submission was refused before it was stored");
      }
      if (!inputs) {
        const reason = "the uploads expired before the job ran";
        return this.finish(job, {
          status: "failed",
          reason: "input_expired",
          message: reason,
          finishedOn: Date.now(),
        });
      }
      const started = Date.now();
      let result;
      try {
        result = await backend.generate({
          jobId: job.id!,
          audio: inputs.audio,
          image: inputs.image,
          imageType: job.data.imageType,
          audioSeconds: job.data.audioSeconds,
          signal: this.shutdown.signal,
        });
      } catch (err) {
        if (this.shutdown.signal.aborted) {
          // The grace ran out: hand the job back whole; its job_id keeps a re-run idempotent.
          await job.moveToWait(token);
          this.returned++;
          log.warn({ job: job.id, event: "job_returned" }, "grace period over: job returned to the queue");
          throw new WaitingError();
        }
        const failure =
          err instanceof JobFailure ? err : new JobFailure("inference_error", (err as Error).message);
        if (failure.reason === "worker_unavailable" && !(await backend.ready())) {
          // This pod's model server went unready (reloading, crashed): not the job's fault. Hand it
          // back for a pod that can run it, and pull nothing more until ours is ready again.
          await this.pause();
          await job.moveToWait(token);
          log.warn(
            { job: job.id, event: "job_returned", reason: "model_server_unready" },
            "job returned to the queue",
          );
          throw new WaitingError();
        }
        return this.finish(job, {
          status: "failed",
          reason: failure.reason,
          message: failure.message,
          finishedOn: Date.now(),
        });
      }
      const generationSeconds = (Date.now() - started) / 1000;
      await queue.recordDuration(generationSeconds, job.data.audioSeconds).catch(() => undefined);
      return this.finish(
        job,
        {
          status: "succeeded",
          result: { location: result.location, videoSeconds: result.videoSeconds },
          finishedOn: Date.now(),
        },
        () => {
          metrics.videoGenerated({
            audioDecodeSeconds: result.audioDecodeSeconds,
            videoRenderSeconds: result.videoRenderSeconds,
            avOffsetSeconds: Math.abs(result.videoSeconds - job.data.audioSeconds),
            videoSeconds: result.videoSeconds,
          });
          log.info(
            { job: job.id, event: "job_succeeded", generation_seconds: generationSeconds },
            "job succeeded",
          );
        },
      );
    } finally {
      this.running--;
      metrics.setInProgress(this.running);
    }
  }

  /**
   * Records the outcome durably (inputs are deleted in the same step), counts and logs it if it is the
   * one that stands, and hands BullMQ the matching return or error. Whatever becomes of the lock after
   * this, the job's outcome is known: a re-run replays it.
   */
  private async finish(
    job: Job<JobData, JobResult>,
    outcome: JobOutcome,
    onSuccess: () => void = () => undefined,
  ): Promise<JobResult> {
    const stands = await this.options.queue.recordOutcome(job.id!, outcome, this.connection, this.inputs);
    const ours = JSON.stringify(stands) === JSON.stringify(outcome);
    if (ours) {
      if (outcome.status === "succeeded") {
        this.options.metrics.requestFinished("success", (Date.now() - job.timestamp) / 1000);
        onSuccess();
      } else this.recordFailure(job, outcome.reason, outcome.message);
    }
    return this.replay(job, stands, !ours);
  }

  /** BullMQ's ending for a recorded outcome: its result, or an error that is never retried. */
  private replay(job: Job<JobData, JobResult>, outcome: JobOutcome, logged = true): JobResult {
    if (logged)
      this.options.log.info(
        { job: job.id, event: "job_outcome_replayed", status: outcome.status },
        "job already ended: its recorded outcome stands",
      );
    if (outcome.status === "succeeded") return outcome.result;
    throw new UnrecoverableError(failureMessage(outcome.reason, outcome.message));
  }

  private recordFailure(
    job: Job<JobData, JobResult>,
    reason: Parameters<AppMetrics["jobFailed"]>[0],
    message: string,
  ) {
    this.options.metrics.requestFinished("server_error", (Date.now() - job.timestamp) / 1000);
    this.options.metrics.jobFailed(reason);
    this.options.log[reason === "worker_lost" ? "error" : "warn"](
      { job: job.id, event: "job_failed", reason },
      message,
    );
  }
}
