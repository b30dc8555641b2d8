import { availableParallelism } from "node:os";
import * as client from "prom-client";
import {
  DECODE_FAILURE_REASONS,
  DecodeFailureReason,
  JOB_FAILURE_REASONS,
  JobFailureReason,
  metricNames,
  RequestStatus,
  Tier,
  TIER_METRICS,
  TIER_REQUEST_STATUSES,
} from "../../contract/metrics";

/** One GPU's memory, as nvidia-smi or the worker reports it. */
export interface GpuMemorySample {
  index: number;
  usedBytes: number;
  totalBytes: number;
}

/** Stage timings and quality of one finished video. */
export interface JobOutcome {
  audioDecodeSeconds: number;
  videoRenderSeconds: number;
  avOffsetSeconds: number;
  /** Length of the delivered video: what its GPU time is divided by to price it. */
  videoSeconds: number;
}

/** What the service records; `createMetrics(false)` gives a no-op twin for the overhead benchmark. */
export interface AppMetrics {
  readonly contentType: string;
  requestFinished(status: RequestStatus, seconds: number): void;
  /** A submission arrived (counted before anything is read or checked: demand, for the HPA). */
  submissionReceived(): void;
  jobFailed(reason: JobFailureReason): void;
  decodeFailure(reason: DecodeFailureReason): void;
  videoGenerated(outcome: JobOutcome): void;
  /** Jobs waiting in the shared queue: service-wide, the same on every pod. */
  setQueued(queued: number): void;
  /** Jobs this pod is generating. */
  setInProgress(inProgress: number): void;
  setSlots(slots: number): void;
  setQueueStoreUp(up: boolean): void;
  setGpus(samples: GpuMemorySample[]): void;
  exposition(): Promise<string>;
}

/** Jobs take minutes (about 18x real time): buckets reach 30 minutes. */
export const REQUEST_DURATION_BUCKETS = [
  0.05, 0.25, 1, 5, 15, 30, 60, 120, 180, 300, 450, 600, 900, 1200, 1800,
];
const STAGE_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200];
/** Fine below 300 ms, where desync becomes visible and the alert fires. */
const AV_OFFSET_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2];

/**
 * The metric contract (contract/metrics.ts, docs/onboard.md#metric-contract) in prom-client, on a registry of its own (so tests can
 * run several services in one process), holding only the metrics `tier` exports (`TIER_METRICS`):
 * a call that records another tier's metric does nothing. Label values come only from closed sets,
 * pre-initialised to 0 so ratios and `rate()` exist before the first failure.
 */
export function createMetrics(
  tier: Tier,
  enabled: boolean,
  version: string,
  prefix = "sonic",
  /** Monotonic seconds; tests pass a fake clock to check busy time exactly. */
  now: () => number = () => performance.now() / 1000,
): AppMetrics {
  const register = new client.Registry();
  if (!enabled) return noopMetrics(register);
  const n = metricNames(prefix);
  const mine = new Set<string>(TIER_METRICS[tier]);
  /** The registry of this tier's metrics; another tier's are created on a registry never exposed. */
  const on: On = (key) => [mine.has(key) ? register : new client.Registry()];
  client.collectDefaultMetrics({ register, prefix: `${prefix}_` });
  // Registered in the order the exposition lists them.
  const r = requestMetrics(n, on);
  const v = videoMetrics(n, on);
  const g = gpuMetrics(n, on);
  const j = jobMetrics(n, on, now);
  processMetrics(n, on, version);
  for (const status of TIER_REQUEST_STATUSES[tier]) {
    r.requests.inc({ status }, 0);
    r.duration.zero({ status });
  }
  for (const reason of DECODE_FAILURE_REASONS) v.decodeFailures.inc({ reason }, 0);
  for (const reason of JOB_FAILURE_REASONS) j.failures.inc({ reason }, 0);

  return {
    contentType: register.contentType,
    requestFinished(status, seconds) {
      r.requests.inc({ status });
      r.duration.observe({ status }, seconds);
    },
    submissionReceived() {
      j.submissions.inc();
    },
    jobFailed(reason) {
      j.failures.inc({ reason });
    },
    decodeFailure(reason) {
      v.decodeFailures.inc({ reason });
    },
    videoGenerated(outcome) {
      v.videos.inc();
      v.decodeStage.observe(outcome.audioDecodeSeconds);
      v.renderStage.observe(outcome.videoRenderSeconds);
      v.avOffset.observe(outcome.avOffsetSeconds);
      j.videoSeconds.inc(outcome.videoSeconds);
    },
    setQueued(n) {
      j.queued.set(n);
    },
    setInProgress(n) {
      j.busy.set(n);
      j.inProgress.set(n);
    },
    setSlots(n) {
      j.slots.set(n);
    },
    setQueueStoreUp(up) {
      j.storeUp.set(up ? 1 : 0);
    },
    setGpus(samples) {
      for (const s of samples) {
        g.gpuUsed.set({ gpu: String(s.index) }, s.usedBytes);
        g.gpuTotal.set({ gpu: String(s.index) }, s.totalBytes);
      }
    },
    exposition: () => register.metrics(),
  };
}

type MetricNames = ReturnType<typeof metricNames>;
/** The registries a metric is created on: this tier's registry, or one never exposed. */
type On = (key: keyof MetricNames) => client.Registry[];

/** The twin of `createMetrics` that records nothing (`SONIC_METRICS=false`, the overhead benchmark). */
function noopMetrics(register: client.Registry): AppMetrics {
  const noop = () => undefined;
  return {
    contentType: register.contentType,
    requestFinished: noop,
    submissionReceived: noop,
    jobFailed: noop,
    decodeFailure: noop,
    videoGenerated: noop,
    setQueued: noop,
    setInProgress: noop,
    setSlots: noop,
    setQueueStoreUp: noop,
    setGpus: noop,
    exposition: () => register.metrics(),
  };
}

/** Generate requests: outcomes and their duration. */
function requestMetrics(n: MetricNames, on: On) {
  const requests = new client.Counter({
    name: n.requestTotal,
    help: "Generate requests by final outcome: success, client_error (bad input), server_error (job failed), rejected (backpressure)",
    labelNames: ["status"],
    registers: on("requestTotal"),
  });
  const duration = new client.Histogram({
    name: n.requestDuration,
    help: "Time from submission to the final outcome of a generate request",
    labelNames: ["status"],
    buckets: REQUEST_DURATION_BUCKETS,
    registers: on("requestDuration"),
  });
  return { requests, duration };
}

/** Finished videos: count, stage timings, A/V offset, and audio that could not be used. */
function videoMetrics(n: MetricNames, on: On) {
  const videos = new client.Counter({
    name: n.videoGenerationSuccess,
    help: "Videos generated",
    registers: on("videoGenerationSuccess"),
  });
  const decodeFailures = new client.Counter({
    name: n.audioDecodeFailure,
    help: "Uploads whose audio could not be used, by reason",
    labelNames: ["reason"],
    registers: on("audioDecodeFailure"),
  });
  const decodeStage = new client.Histogram({
    name: n.audioDecodeDuration,
    help: "Audio decode stage of generation",
    buckets: STAGE_BUCKETS,
    registers: on("audioDecodeDuration"),
  });
  const renderStage = new client.Histogram({
    name: n.videoRenderDuration,
    help: "Video render stage of generation",
    buckets: STAGE_BUCKETS,
    registers: on("videoRenderDuration"),
  });
  const avOffset = new client.Histogram({
    name: n.avSyncOffset,
    help: "Absolute difference between audio length and video length of a generated video",
    buckets: AV_OFFSET_BUCKETS,
    registers: on("avSyncOffset"),
  });
  return { videos, decodeFailures, decodeStage, renderStage, avOffset };
}

/** GPU memory, per GPU. */
function gpuMetrics(n: MetricNames, on: On) {
  const gpuUsed = new client.Gauge({
    name: n.gpuMemoryUsed,
    help: "GPU memory in use",
    labelNames: ["gpu"],
    registers: on("gpuMemoryUsed"),
  });
  const gpuTotal = new client.Gauge({
    name: n.gpuMemoryTotal,
    help: "GPU memory in total",
    labelNames: ["gpu"],
    registers: on("gpuMemoryTotal"),
  });
  return { gpuUsed, gpuTotal };
}

/** Jobs: the queue, this pod's slots and their busy time, demand, failures, the store's reachability. */
function jobMetrics(n: MetricNames, on: On, now: () => number) {
  const queued = new client.Gauge({
    name: n.jobsQueued,
    help: "Accepted jobs waiting for a GPU slot, across the whole service (the same on every pod: aggregate with max)",
    registers: on("jobsQueued"),
  });
  const inProgress = new client.Gauge({
    name: n.jobsInProgress,
    help: "Jobs this pod is generating",
    registers: on("jobsInProgress"),
  });
  // Busy time is the integral of jobs in progress over time, counted up to the scrape itself, so a
  // job that runs for an hour shows as busy during that hour rather than all at once when it ends.
  const busy = new BusyClock(now);
  new client.Counter({
    name: n.slotBusySeconds,
    help: "Slot-seconds spent generating, summed over this pod's slots: divided by slots x time, the share of its GPUs doing work",
    registers: on("slotBusySeconds"),
    collect() {
      this.inc(busy.take());
    },
  });
  const videoSeconds = new client.Counter({
    name: n.videoOutputSeconds,
    help: "Seconds of video generated: GPU-seconds per video-second prices a video",
    registers: on("videoOutputSeconds"),
  });
  const submissions = new client.Counter({
    name: n.jobSubmissions,
    help: "Generate submissions as they arrive, before any check: the demand the autoscaler reads",
    registers: on("jobSubmissions"),
  });
  const failures = new client.Counter({
    name: n.jobFailures,
    help: "Accepted jobs that failed, by reason (closed set)",
    labelNames: ["reason"],
    registers: on("jobFailures"),
  });
  const slots = new client.Gauge({
    name: n.jobSlots,
    help: "Jobs this pod runs at once: GPUs x concurrency per GPU",
    registers: on("jobSlots"),
  });
  const storeUp = new client.Gauge({
    name: n.queueStoreUp,
    help: "1 while this pod reaches the shared job store (Redis), else 0",
    registers: on("queueStoreUp"),
  });
  return { queued, inProgress, busy, videoSeconds, submissions, failures, slots, storeUp };
}

/** The build and the process' CPU use. */
function processMetrics(n: MetricNames, on: On, version: string): void {
  new client.Gauge({
    name: n.buildInfo,
    help: "Build of the running service",
    labelNames: ["version"],
    registers: on("buildInfo"),
  }).set({ version }, 1);
  const cores = availableParallelism();
  let lastCpu = process.cpuUsage();
  let lastTime = process.hrtime.bigint();
  new client.Gauge({
    name: n.cpuUsageRatio,
    help: "Share of the available CPU cores this process used since the previous scrape (0..1)",
    registers: on("cpuUsageRatio"),
    collect() {
      const now = process.hrtime.bigint();
      const cpu = process.cpuUsage();
      const usedMicros = cpu.user - lastCpu.user + (cpu.system - lastCpu.system);
      const elapsedMicros = Number(now - lastTime) / 1000;
      lastCpu = cpu;
      lastTime = now;
      if (elapsedMicros > 0) this.set(Math.min(1, usedMicros / elapsedMicros / cores));
    },
  });
}

/** Slot-seconds accumulated since the last `take()`, for a level that changes at arbitrary times. */
class BusyClock {
  private level = 0;
  private since: number;
  private pending = 0;
  constructor(private readonly now: () => number) {
    this.since = now();
  }
  set(level: number): void {
    this.advance();
    this.level = level;
  }
  take(): number {
    this.advance();
    const taken = this.pending;
    this.pending = 0;
    return taken;
  }
  private advance(): void {
    const t = this.now();
    this.pending += this.level * Math.max(0, t - this.since);
    this.since = t;
  }
}
