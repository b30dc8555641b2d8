/**
 * Thresholds and `for:` durations of the alert catalogue. The stack config may override any of them;
 * these defaults are what the alerts mean (docs/runbooks.md says it alert by alert).
 */
export interface AlertThresholds {
  /** GPU memory used / total above which `HighGPUMemoryUsage` fires (the article's 90%). @default 0.9 */
  gpuMemoryRatio: number;
  /** @default "5m" */
  gpuMemoryFor: string;
  /** Availability SLO target; the error budget is 1 - this. @default 0.99 */
  sloTarget: number;
  /** Server-error ratio over 5m above which `<Prefix>HighErrorRate` fires. @default 0.05 */
  errorRatio: number;
  /** @default "10m" */
  errorRatioFor: string;
  /** Rate window of `<Prefix>HighErrorRate`; shorter reacts (and recovers) faster, noisier. @default "5m" */
  errorRatioWindow: string;
  /** Below this many requests per hour, ratio alerts stay silent: a quiet hour must not page. @default 10 */
  minRequestsPerHour: number;
  /** p99 of successful request duration (submit to video) above which latency alerts. @default 900 */
  latencyP99Seconds: number;
  /** @default "15m" */
  latencyFor: string;
  /** p95 audio/video offset above which `<Prefix>AudioVideoDesync` fires (the article's 300 ms). @default 0.3 */
  avOffsetSeconds: number;
  /** @default "10m" */
  avOffsetFor: string;
  /** Resident-memory growth per hour that counts as a leak (the article saw ~50 MB/hour). @default 31457280 */
  memoryGrowthBytesPerHour: number;
  /** @default "1h" */
  memoryLeakFor: string;
  /** Share of requests whose audio fails to decode. @default 0.1 */
  decodeFailureRatio: number;
  /** @default "15m" */
  decodeFailureFor: string;
  /** Jobs waiting in the service's shared queue. @default 10 */
  queueBacklog: number;
  /** @default "10m" */
  queueBacklogFor: string;
  /** How long pods may fail to reach the queue store, or its exporter to see it, before paging. @default "2m" */
  queueStoreDownFor: string;
  /** Redis used / maxmemory above which the store warns. @default 0.9 */
  queueStoreMemoryRatio: number;
  /** @default "10m" */
  queueStoreMemoryFor: string;
  /** @default "5m" */
  targetDownFor: string;
  /** @default "10m" */
  metricsAbsentFor: string;
  /** @default "15m" */
  autoscalerMaxedOutFor: string;
  /** Share of slots busy below which allocated GPUs count as idle (`<Prefix>GpuIdle`). @default 0.2 */
  gpuIdleRatio: number;
  /** @default "1h" */
  gpuIdleFor: string;
  /** Page-level burn-rate alerts wait this long before firing. @default "2m" */
  burnRatePageFor: string;
  /** Ticket-level burn-rate alerts wait this long before firing. @default "15m" */
  burnRateTicketFor: string;
}

/** The catalogue's thresholds when a stack sets none (`alerts.*` overrides each). */
export const DEFAULT_THRESHOLDS: AlertThresholds = {
  gpuMemoryRatio: 0.9,
  gpuMemoryFor: "5m",
  sloTarget: 0.99,
  errorRatio: 0.05,
  errorRatioFor: "10m",
  errorRatioWindow: "5m",
  minRequestsPerHour: 10,
  latencyP99Seconds: 900,
  latencyFor: "15m",
  avOffsetSeconds: 0.3,
  avOffsetFor: "10m",
  memoryGrowthBytesPerHour: 30 * 1024 * 1024,
  memoryLeakFor: "1h",
  decodeFailureRatio: 0.1,
  decodeFailureFor: "15m",
  queueBacklog: 10,
  queueBacklogFor: "10m",
  queueStoreDownFor: "2m",
  queueStoreMemoryRatio: 0.9,
  queueStoreMemoryFor: "10m",
  targetDownFor: "5m",
  metricsAbsentFor: "10m",
  autoscalerMaxedOutFor: "15m",
  gpuIdleRatio: 0.2,
  gpuIdleFor: "1h",
  burnRatePageFor: "2m",
  burnRateTicketFor: "15m",
};
