import { envText, LOG_LEVEL_SETTING, SettingsOf } from "./setting";

/**
 * The API's environment (`app/main.ts`: HTTP, validation, the shared queue and job store). Read
 * once at start-up; a bad value stops the process with the variable and the value named.
 */
export const API_SETTINGS = {
  PORT: { kind: "int", min: 1, max: 65535, default: 8080, doc: "Port of the API and /metrics (named web)." },
  HOST: { kind: "text", default: "0.0.0.0", doc: "Address the API listens on." },
  SONIC_REDIS_URL: {
    kind: "text",
    required: true,
    pattern: /^rediss?:\/\/[^\s]+$/,
    example: "a URL like redis://host:6379 or rediss://host:6380",
    doc: "The shared job queue and job store; the password may come separately.",
  },
  SONIC_REDIS_PASSWORD: { kind: "text", secret: true, doc: "Password of the store (from a Secret)." },
  SONIC_QUEUE_NAME: {
    kind: "text",
    pattern: /^[a-z0-9][a-z0-9-]{0,62}$/,
    example: "a name like sonic-generate",
    default: "sonic-generate",
    doc: "Queue name: every replica of one service uses the same one.",
  },
  SONIC_BACKLOG_LIMIT: {
    kind: "int",
    min: 1,
    max: 100_000,
    default: 16,
    doc: "Jobs queued plus running across the whole service before submissions are answered 429.",
  },
  SONIC_MAX_UPLOAD_BYTES: {
    kind: "int",
    min: 1024,
    max: 1024 ** 3,
    default: 25 * 1024 * 1024,
    doc: "Bytes of one uploaded file; a job holds at most two (audio + portrait) in the store.",
  },
  SONIC_UPLOAD_BYTES_IN_FLIGHT: {
    kind: "int",
    min: 1024,
    max: 64 * 1024 ** 3,
    doc: "Upload bytes this process reads at once (declared lengths); more is answered 429 before reading.",
  },
  SONIC_MIN_UPLOAD_BYTES_PER_SECOND: {
    kind: "int",
    min: 0,
    max: 1024 ** 3,
    default: 16 * 1024,
    doc: "Bytes per second an upload's body must arrive at, over each window; slower is cut with 408 upload_too_slow (0: off).",
  },
  SONIC_UPLOAD_RATE_WINDOW_SECONDS: {
    kind: "number",
    min: 0.5,
    max: 60,
    default: 5,
    doc: "Window over which the minimum upload rate is judged.",
  },
  SONIC_MAX_AUDIO_SECONDS: {
    kind: "number",
    min: 1,
    max: 3600,
    default: 120,
    doc: "Longest audio accepted.",
  },
  SONIC_MAX_IMAGE_PIXELS: {
    kind: "int",
    min: 1,
    max: 2 ** 31,
    default: 4096 * 4096,
    doc: "Most pixels of a portrait.",
  },
  SONIC_MAX_IMAGE_SIDE: {
    kind: "int",
    min: 16,
    max: 65535,
    default: 4096,
    doc: "Longest side of a portrait.",
  },
  SONIC_REQUEST_TIMEOUT_SECONDS: {
    kind: "number",
    min: 1,
    max: 3600,
    default: 120,
    doc: "Seconds a request (headers and body) may take; a trickled upload is cut off after it.",
  },
  SONIC_INPUT_TTL_SECONDS: {
    kind: "int",
    min: 60,
    max: 30 * 86400,
    default: 24 * 3600,
    doc: "Seconds inputs of an accepted job live in the store, whatever happens to the job.",
  },
  SONIC_JOB_HISTORY: {
    kind: "int",
    min: 1,
    max: 1_000_000,
    default: 1000,
    doc: "Finished jobs kept for polling, at most this many.",
  },
  SONIC_JOB_HISTORY_SECONDS: {
    kind: "int",
    min: 60,
    max: 30 * 86400,
    default: 24 * 3600,
    doc: "Finished jobs kept for polling, none older than this.",
  },
  SONIC_SHUTDOWN_GRACE_SECONDS: {
    kind: "number",
    min: 0,
    max: 3600,
    default: 540,
    doc: "Seconds to drain running jobs after SIGTERM, before the kubelet's SIGKILL.",
  },
  SONIC_METRICS: { kind: "bool", default: true, doc: "Serve /metrics." },
  SONIC_QUEUE_SAMPLE_SECONDS: {
    kind: "number",
    min: 0.1,
    max: 60,
    default: 2,
    doc: "Seconds between reads of the service-wide queue depth for the metrics.",
  },
  SONIC_LOG_LEVEL: LOG_LEVEL_SETTING,
  SONIC_VERSION: {
    kind: "text",
    default: process.env.npm_package_version ?? "0.1.0",
    doc: "Version in sonic_build_info (the image tag).",
  },
} as const;

/**
 * The job runner's settings (the worker side: the model server of its pod, GPU slots, job locks). Today
 * the runner runs in the API's process, which parses both tables.
 */
export const WORKER_SETTINGS = {
  SONIC_MODEL_SERVER_URL: {
    kind: "text",
    url: true,
    default: "http://127.0.0.1:9000",
    doc: "The model server of this pod (the model-server container: same network namespace).",
  },
  SONIC_MODEL_SERVER_TIMEOUT_SECONDS: {
    kind: "number",
    min: 1,
    max: 7200,
    default: 1800,
    doc: "Seconds one generation may take.",
  },
  SONIC_MODEL_SERVER_RETRIES: { kind: "int", min: 0, max: 10, default: 2, doc: "Retries of a refused call." },
  SONIC_MODEL_SERVER_CHECK_SECONDS: {
    kind: "number",
    min: 0.05,
    max: 60,
    default: 2,
    doc: "Seconds between checks of the model server's /healthz (gates job pulling, feeds GPU memory).",
  },
  SONIC_GPU_COUNT: { kind: "int", min: 1, max: 64, default: 1, doc: "GPUs of the pod's model server." },
  SONIC_CONCURRENCY_PER_GPU: {
    kind: "int",
    min: 1,
    max: 64,
    default: 1,
    doc: "Jobs per GPU at once; slots per pod = GPUs x this.",
  },
  SONIC_JOB_LOCK_SECONDS: {
    kind: "number",
    min: 1,
    max: 600,
    default: 30,
    doc: "A runner's lock on a job: renewed while it runs; a dead pod's jobs are recovered after it lapses.",
  },
  SONIC_STALLED_CHECK_SECONDS: {
    kind: "number",
    min: 1,
    max: 600,
    default: 30,
    doc: "Seconds between checks for jobs whose runner died.",
  },
  SONIC_MAX_STALLED: {
    kind: "int",
    min: 0,
    max: 10,
    default: 1,
    doc: "Times a job is recovered from a dead runner before it fails with worker_lost.",
  },
  SONIC_NVIDIA_SMI: {
    kind: "text",
    default: "nvidia-smi",
    doc: "nvidia-smi binary (GPU memory when the model server reports none).",
  },
  SONIC_GPU_SAMPLE_SECONDS: {
    kind: "number",
    min: 0.1,
    max: 3600,
    default: 5,
    doc: "Seconds between GPU memory samples.",
  },
} as const;

export type ApiSettings = SettingsOf<typeof API_SETTINGS & typeof WORKER_SETTINGS>;

/**
 * Seconds the kubelet's grace exceeds the app's drain: the app stops 15 s before SIGKILL, so the
 * largest grace the stack may set is the drain's maximum plus this.
 */
export const DRAIN_MARGIN_SECONDS = 15;

/** `SONIC_SHUTDOWN_GRACE_SECONDS` for a pod's `terminationGracePeriodSeconds`. */
export function shutdownGraceOf(terminationGracePeriodSeconds: number): number {
  return Math.max(0, terminationGracePeriodSeconds - DRAIN_MARGIN_SECONDS);
}

/** What a deployment decides of the API and runner: the rest keeps the app's defaults. */
export interface ApiDeploymentSettings {
  /** `PORT`. @default 8080 */
  port?: number;
  /** Port of the model server on the pod's localhost (`SONIC_MODEL_SERVER_URL`). @default 9000 */
  modelServerPort?: number;
  /** `SONIC_GPU_COUNT`. @default 1 */
  gpuCount?: number;
  /** `SONIC_CONCURRENCY_PER_GPU`. @default 1 */
  concurrencyPerGpu?: number;
  /** The pod's grace; `SONIC_SHUTDOWN_GRACE_SECONDS` is 15 s less. @default 600 */
  terminationGracePeriodSeconds?: number;
  /** `SONIC_BACKLOG_LIMIT`. @default 16 */
  backlogLimit?: number;
  /** `SONIC_MAX_UPLOAD_BYTES`. @default 26214400 */
  maxUploadBytes?: number;
  /** `SONIC_JOB_HISTORY`. @default 1000 */
  jobHistory?: number;
  /** `SONIC_VERSION`. @default the app's (the package version) */
  version?: string;
}

/** The API container's environment for a deployment's settings (the component writes exactly this). */
export function apiEnv(s: ApiDeploymentSettings): Record<string, string> {
  const env: Record<string, number | string | undefined> = {
    PORT: s.port ?? API_SETTINGS.PORT.default,
    SONIC_MODEL_SERVER_URL: `http://127.0.0.1:${s.modelServerPort ?? 9000}`,
    SONIC_GPU_COUNT: s.gpuCount ?? WORKER_SETTINGS.SONIC_GPU_COUNT.default,
    SONIC_CONCURRENCY_PER_GPU: s.concurrencyPerGpu ?? WORKER_SETTINGS.SONIC_CONCURRENCY_PER_GPU.default,
    // Finish draining before the kubelet's SIGKILL at the end of terminationGracePeriodSeconds.
    SONIC_SHUTDOWN_GRACE_SECONDS: shutdownGraceOf(s.terminationGracePeriodSeconds ?? 600),
    SONIC_BACKLOG_LIMIT: s.backlogLimit,
    SONIC_MAX_UPLOAD_BYTES: s.maxUploadBytes,
    SONIC_JOB_HISTORY: s.jobHistory,
    SONIC_VERSION: s.version,
  };
  return Object.fromEntries(
    Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [[k, envText(v)]])),
  );
}
