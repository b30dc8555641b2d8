import { SettingsOf } from "./setting";
import { envRecord, SHARED_SETTINGS, shutdownGraceOf } from "./shared-settings";

/**
 * The worker's environment (`app/worker/main.ts`: the job runner beside the `model-server` container,
 * serving only /metrics, /healthz and /readyz): its model server, GPU slots, job locks.
 */
export const WORKER_SETTINGS = {
  ...SHARED_SETTINGS,
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

export type WorkerSettings = SettingsOf<typeof WORKER_SETTINGS>;

/** What a deployment decides of the worker tier: the rest keeps the program's defaults. */
export interface WorkerDeploymentSettings {
  /** `PORT` (/metrics and the probes only). @default 8080 */
  port?: number;
  /** Port of the model server on the pod's localhost (`SONIC_MODEL_SERVER_URL`). @default 9000 */
  modelServerPort?: number;
  /** `SONIC_GPU_COUNT`. @default 1 */
  gpuCount?: number;
  /** `SONIC_CONCURRENCY_PER_GPU`. @default 1 */
  concurrencyPerGpu?: number;
  /** The pod's grace; `SONIC_SHUTDOWN_GRACE_SECONDS` is 15 s less. @default 600 */
  terminationGracePeriodSeconds?: number;
  /** `SONIC_JOB_HISTORY`. @default 1000 */
  jobHistory?: number;
  /** `SONIC_VERSION`. @default the app's (the package version) */
  version?: string;
}

/** The worker container's environment for a deployment's settings (the component writes exactly this). */
export function workerEnv(s: WorkerDeploymentSettings): Record<string, string> {
  return envRecord({
    PORT: s.port ?? WORKER_SETTINGS.PORT.default,
    SONIC_MODEL_SERVER_URL: `http://127.0.0.1:${s.modelServerPort ?? 9000}`,
    SONIC_GPU_COUNT: s.gpuCount ?? WORKER_SETTINGS.SONIC_GPU_COUNT.default,
    SONIC_CONCURRENCY_PER_GPU: s.concurrencyPerGpu ?? WORKER_SETTINGS.SONIC_CONCURRENCY_PER_GPU.default,
    // Finish draining before the kubelet's SIGKILL at the end of terminationGracePeriodSeconds.
    SONIC_SHUTDOWN_GRACE_SECONDS: shutdownGraceOf(s.terminationGracePeriodSeconds ?? 600),
    SONIC_JOB_HISTORY: s.jobHistory,
    SONIC_VERSION: s.version,
  });
}
