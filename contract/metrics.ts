/**
 * The metric contract every inference service on the platform exposes (docs/onboard.md#metric-contract).
 * Names are built from one prefix (`sonic` for Sonic, `tts` for a TTS service...), so the alert
 * catalogue, the adapter rule, the dashboards and the app all derive them from here.
 */

/** `status` label of `<prefix>_request_total` and `<prefix>_request_duration_seconds`. */
export const REQUEST_STATUSES = ["success", "client_error", "server_error", "rejected"] as const;
/** One of `REQUEST_STATUSES`. */
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

/** `reason` label of `<prefix>_audio_decode_failure_total`: a closed set, never free text. */
export const DECODE_FAILURE_REASONS = [
  "empty",
  "truncated",
  "corrupt",
  "unsupported_format",
  "too_long",
] as const;
/** One of `DECODE_FAILURE_REASONS`. */
export type DecodeFailureReason = (typeof DECODE_FAILURE_REASONS)[number];

/**
 * `reason` label of `<prefix>_job_failures_total`: why an accepted job failed, a closed set.
 * `worker_lost`: the pods running it died more often than stalled-job recovery allows;
 * `input_expired`: its uploads outlived their TTL in the store before a slot freed.
 */
export const JOB_FAILURE_REASONS = [
  "inference_error",
  "gpu_out_of_memory",
  "worker_unavailable",
  "worker_timeout",
  "worker_rejected",
  "shutdown",
  "worker_lost",
  "input_expired",
] as const;
/** One of `JOB_FAILURE_REASONS`. */
export type JobFailureReason = (typeof JOB_FAILURE_REASONS)[number];

/** A Prometheus metric name prefix: lower snake case, as in `sonic` or `tts_v2`. */
export const METRIC_PREFIX_PATTERN = /^[a-z][a-z0-9_]*[a-z0-9]$/;

/** The contract's metric names for one service prefix. */
export function metricNames(prefix: string) {
  return {
    requestTotal: `${prefix}_request_total`,
    requestDuration: `${prefix}_request_duration_seconds`,
    videoGenerationSuccess: `${prefix}_video_generation_success_total`,
    audioDecodeFailure: `${prefix}_audio_decode_failure_total`,
    audioDecodeDuration: `${prefix}_audio_decode_duration_seconds`,
    videoRenderDuration: `${prefix}_video_render_duration_seconds`,
    avSyncOffset: `${prefix}_av_sync_offset_seconds`,
    gpuMemoryUsed: `${prefix}_gpu_memory_used_bytes`,
    gpuMemoryTotal: `${prefix}_gpu_memory_total_bytes`,
    cpuUsageRatio: `${prefix}_cpu_usage_ratio`,
    jobsInProgress: `${prefix}_jobs_in_progress`,
    /** Service-wide: the same value on every pod, aggregate with `max`. */
    jobsQueued: `${prefix}_jobs_queued`,
    /** Every submission as it arrives (before validation): the demand the HPA reads. */
    jobSubmissions: `${prefix}_job_submissions_total`,
    jobFailures: `${prefix}_job_failures_total`,
    /** Jobs one pod runs at once (GPUs x concurrency per GPU). */
    jobSlots: `${prefix}_job_slots`,
    /** Slot-seconds spent generating (summed over the pod's slots): busy time, the numerator of GPU efficiency. */
    slotBusySeconds: `${prefix}_slot_busy_seconds_total`,
    /** Seconds of video delivered: the unit the cost of a video is counted in. */
    videoOutputSeconds: `${prefix}_video_output_seconds_total`,
    /** 1 while this pod reaches the shared job store. */
    queueStoreUp: `${prefix}_queue_store_up`,
    buildInfo: `${prefix}_build_info`,
    residentMemory: `${prefix}_process_resident_memory_bytes`,
    /** The per-pod custom metric prometheus-adapter serves and the HPA scales on. */
    requestQps: `${prefix}_request_qps`,
    /** External metric: jobs queued + running across the service, divided by the slots of one pod. */
    jobBacklog: `${prefix}_job_backlog`,
  } as const;
}

/** The contract's metric names of one service, by role (`metricNames(prefix)`). */
export type MetricNames = ReturnType<typeof metricNames>;

/** `sonic` -> `Sonic`, `tts_v2` -> `TtsV2`: the prefix of a service's alert names. */
export function alertPrefixOf(metricPrefix: string): string {
  return metricPrefix
    .split("_")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
}

/** The two programs of a service's image: `api` (HTTP, admission) and `worker` (runs jobs on the GPU). */
export const TIERS = ["api", "worker"] as const;
/** One of `TIERS`. */
export type Tier = (typeof TIERS)[number];

/**
 * Which tier exports which contract metric (each program registers only its own; both export the
 * process metrics). `request_total` and `request_duration_seconds` are on both: the API counts what
 * it answers itself (`client_error`, `rejected`), the worker what a job ends with (`success`,
 * `server_error`), so `sum by (namespace, job)` over both gives every request once. The audio decode
 * *stage* histogram is the worker's (the model server times it); the API counts decode failures.
 * `jobs_queued` and `queue_store_up` are on both: read the queue depth with `max`.
 */
export const TIER_METRICS: Record<Tier, readonly Exclude<keyof MetricNames, "requestQps" | "jobBacklog">[]> =
  {
    api: [
      "requestTotal",
      "requestDuration",
      "audioDecodeFailure",
      "jobSubmissions",
      "jobsQueued",
      "queueStoreUp",
      "buildInfo",
      "cpuUsageRatio",
      "residentMemory",
    ],
    worker: [
      "requestTotal",
      "requestDuration",
      "videoGenerationSuccess",
      "audioDecodeDuration",
      "videoRenderDuration",
      "avSyncOffset",
      "gpuMemoryUsed",
      "gpuMemoryTotal",
      "jobsInProgress",
      "jobSlots",
      "slotBusySeconds",
      "videoOutputSeconds",
      "jobFailures",
      "jobsQueued",
      "queueStoreUp",
      "buildInfo",
      "cpuUsageRatio",
      "residentMemory",
    ],
  };

/** The `status` values of `<prefix>_request_total` each tier counts (and pre-initialises to 0). */
export const TIER_REQUEST_STATUSES: Record<Tier, readonly RequestStatus[]> = {
  api: ["client_error", "rejected"],
  worker: ["success", "server_error"],
};
