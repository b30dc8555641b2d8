import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import type { FastifyBaseLogger } from "fastify";
import { FailureReason, InferenceBackend, JobFailure } from "./backends/types";
import { ApiError } from "./errors";
import type { AppMetrics } from "./metrics";

export type JobState = "queued" | "running" | "succeeded" | "failed";

/** A job as clients see it (GET /v1/videos/{id}). */
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

interface Job {
  id: string;
  state: JobState;
  audioSeconds: number;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  input?: { audio: Buffer; image: Buffer; imageType: "png" | "jpg" };
  result?: { location: string; videoSeconds: number };
  failure?: { reason: FailureReason; message: string };
}

export interface JobServiceOptions {
  /** Jobs generating at once: GPUs x concurrency per GPU. */
  concurrency: number;
  /** Jobs allowed to wait; one more is answered 429. */
  capacity: number;
  /** Finished jobs remembered for polling; older ones are forgotten first. */
  history: number;
  backend: InferenceBackend;
  metrics: AppMetrics;
  log: FastifyBaseLogger;
}

/**
 * The bounded job queue: accepts jobs while there is room, runs `concurrency` at once on the backend,
 * records each job's outcome in the metrics, and drains on shutdown without dropping what it accepted.
 */
export class JobService {
  private readonly jobs = new Map<string, Job>();
  private readonly waiting: Job[] = [];
  private running = 0;
  private readonly abort = new AbortController();
  private idleWaiters: (() => void)[] = [];
  /** Moving average of generation seconds, for Retry-After. */
  private averageSeconds = 30;

  constructor(private readonly options: JobServiceOptions) {
    // Every running job listens for shutdown on this one signal; more than 10 is normal, not a leak.
    setMaxListeners(0, this.abort.signal);
  }

  get queued(): number {
    return this.waiting.length;
  }

  get inProgress(): number {
    return this.running;
  }

  /** True when one more job would be refused. */
  get saturated(): boolean {
    return this.running >= this.options.concurrency && this.waiting.length >= this.options.capacity;
  }

  submit(input: { audio: Buffer; image: Buffer; imageType: "png" | "jpg"; audioSeconds: number }): JobView {
    if (this.saturated) {
      const seconds = Math.max(
        1,
        Math.ceil((this.averageSeconds * (this.waiting.length + 1)) / this.options.concurrency),
      );
      throw new ApiError(
        "queue_full",
        `the queue is full (${this.waiting.length} waiting); retry later`,
        undefined,
        {
          "retry-after": String(seconds),
        },
      );
    }
    const job: Job = {
      id: randomUUID(),
      state: "queued",
      audioSeconds: input.audioSeconds,
      createdAt: Date.now(),
      input: { audio: input.audio, image: input.image, imageType: input.imageType },
    };
    this.jobs.set(job.id, job);
    this.waiting.push(job);
    this.pump();
    return view(job);
  }

  get(id: string): JobView | undefined {
    const job = this.jobs.get(id);
    return job && view(job);
  }

  /**
   * Waits until every accepted job has finished, or `graceMs` has passed; then aborts what remains,
   * which fails those jobs with reason `shutdown` (each one logged, none silently lost).
   */
  async drain(graceMs: number): Promise<{ unfinished: number }> {
    if (this.running > 0 || this.waiting.length > 0) {
      const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<"expired">(
        (resolve) => (timer = setTimeout(() => resolve("expired"), graceMs)),
      );
      const outcome = await Promise.race([idle, expired]);
      clearTimeout(timer);
      if (outcome === "expired") {
        const unfinished = this.running + this.waiting.length;
        for (const job of this.waiting.splice(0))
          this.finish(
            job,
            undefined,
            new JobFailure("shutdown", "the service shut down before the job started"),
          );
        this.abort.abort();
        await idle;
        return { unfinished };
      }
    }
    return { unfinished: 0 };
  }

  private pump(): void {
    while (this.running < this.options.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.running++;
      job.state = "running";
      job.startedAt = Date.now();
      void this.run(job);
    }
    this.options.metrics.setJobs(this.waiting.length, this.running);
    if (this.running === 0 && this.waiting.length === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private async run(job: Job): Promise<void> {
    const input = job.input!;
    try {
      const result = await this.options.backend.generate({
        jobId: job.id,
        audio: input.audio,
        image: input.image,
        imageType: input.imageType,
        audioSeconds: job.audioSeconds,
        signal: this.abort.signal,
      });
      this.finish(job, result);
    } catch (err) {
      const failure =
        err instanceof JobFailure
          ? err
          : this.abort.signal.aborted
            ? new JobFailure("shutdown", "the service shut down during generation")
            : new JobFailure("inference_error", (err as Error).message);
      this.finish(job, undefined, failure);
    } finally {
      this.running--;
      this.pump();
    }
  }

  private finish(
    job: Job,
    result?: {
      location: string;
      videoSeconds: number;
      audioDecodeSeconds: number;
      videoRenderSeconds: number;
    },
    failure?: JobFailure,
  ): void {
    job.finishedAt = Date.now();
    job.input = undefined; // release the upload as soon as the job is done
    const totalSeconds = (job.finishedAt - job.createdAt) / 1000;
    const { metrics, log } = this.options;
    if (result) {
      job.state = "succeeded";
      job.result = { location: result.location, videoSeconds: result.videoSeconds };
      metrics.requestFinished("success", totalSeconds);
      metrics.videoGenerated({
        audioDecodeSeconds: result.audioDecodeSeconds,
        videoRenderSeconds: result.videoRenderSeconds,
        avOffsetSeconds: Math.abs(result.videoSeconds - job.audioSeconds),
      });
      if (job.startedAt)
        this.averageSeconds = 0.8 * this.averageSeconds + 0.2 * ((job.finishedAt - job.startedAt) / 1000);
      log.info({ job: job.id, event: "job_succeeded", total_seconds: totalSeconds }, "job succeeded");
    } else {
      job.state = "failed";
      job.failure = { reason: failure!.reason, message: failure!.message };
      metrics.requestFinished("server_error", totalSeconds);
      log[failure!.reason === "shutdown" ? "error" : "warn"](
        { job: job.id, event: "job_failed", reason: failure!.reason, total_seconds: totalSeconds },
        failure!.message,
      );
    }
    this.forgetOldest();
  }

  private forgetOldest(): void {
    if (this.jobs.size <= this.options.history + this.running + this.waiting.length) return;
    for (const [id, job] of this.jobs) {
      if (job.state === "succeeded" || job.state === "failed") {
        this.jobs.delete(id);
        return;
      }
    }
  }
}

function iso(ms?: number): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

function view(job: Job): JobView {
  const seconds = (from?: number, to?: number) =>
    from !== undefined && to !== undefined ? (to - from) / 1000 : undefined;
  return {
    id: job.id,
    status: job.state,
    audio_seconds: job.audioSeconds,
    created_at: iso(job.createdAt)!,
    started_at: iso(job.startedAt),
    finished_at: iso(job.finishedAt),
    timings: {
      queued_seconds: seconds(job.createdAt, job.startedAt),
      generation_seconds: seconds(job.startedAt, job.finishedAt),
      total_seconds: seconds(job.createdAt, job.finishedAt),
    },
    ...(job.result
      ? { result: { location: job.result.location, video_seconds: job.result.videoSeconds } }
      : {}),
    ...(job.failure ? { failure: job.failure } : {}),
  };
}
