import { apiEnv, type ApiDeploymentSettings } from "../contract";

// The two tiers' environments, from the contract's writers. Kept to this one file so the split of the
// settings tables (an `apiEnv` for the API program and a `workerEnv` for the job runner) is one edit.

/** What a deployment decides of the API tier (the rest keeps the app's defaults). */
export interface ApiTierSettings {
  /** `PORT`. @default 8080 */
  port?: number;
  /** The pod's grace; `SONIC_SHUTDOWN_GRACE_SECONDS` is 15 s less. @default 150 */
  terminationGracePeriodSeconds?: number;
  /** `SONIC_BACKLOG_LIMIT`. @default the app's (16) */
  backlogLimit?: number;
  /** `SONIC_MAX_UPLOAD_BYTES`. @default the app's (25 MiB) */
  maxUploadBytes?: number;
  /** `SONIC_JOB_HISTORY`. @default the app's (1000) */
  jobHistory?: number;
  /** `SONIC_VERSION`. @default the app's (the package version) */
  version?: string;
  /** `SONIC_COLD_START_SECONDS`: node + image pull + model load, what a job waits with no worker up. @default the app's (600) */
  coldStartSeconds?: number;
}

/** What a deployment decides of the worker tier (the job runner beside its model server). */
export interface WorkerTierSettings {
  /** `PORT` of `/metrics`, `/healthz`, `/readyz`. @default 8080 */
  port?: number;
  /** Port of the model server on the pod's localhost (`SONIC_MODEL_SERVER_URL`). @default 9000 */
  modelServerPort?: number;
  /** `SONIC_GPU_COUNT`. @default 1 */
  gpuCount?: number;
  /** `SONIC_CONCURRENCY_PER_GPU`. @default 1 */
  concurrencyPerGpu?: number;
  /** The pod's grace; `SONIC_SHUTDOWN_GRACE_SECONDS` is 15 s less. @default 600 */
  terminationGracePeriodSeconds?: number;
  /** `SONIC_JOB_HISTORY`. @default the app's (1000) */
  jobHistory?: number;
  /** `SONIC_VERSION`. @default the app's (the package version) */
  version?: string;
}

/** Variables of today's `apiEnv` that belong to the worker tier's settings table. */
const WORKER_KEYS = [
  "PORT",
  "SONIC_MODEL_SERVER_URL",
  "SONIC_GPU_COUNT",
  "SONIC_CONCURRENCY_PER_GPU",
  "SONIC_SHUTDOWN_GRACE_SECONDS",
  "SONIC_JOB_HISTORY",
  "SONIC_VERSION",
];

/**
 * The `api` container's environment: `apiEnv` of contract/api-settings.ts. `coldStartSeconds` reaches
 * it for `SONIC_COLD_START_SECONDS`, which it writes once the API's table has that setting (the app
 * refuses variables it does not know, so nothing here writes it ahead of the table).
 */
export function apiTierEnv(s: ApiTierSettings): Record<string, string> {
  const settings: ApiDeploymentSettings = {
    ...s,
    terminationGracePeriodSeconds: s.terminationGracePeriodSeconds ?? 150,
  };
  return apiEnv(settings);
}

/**
 * The `worker` container's environment. Until the contract has its own writer (`workerEnv` of
 * contract/worker-settings.ts), the worker's variables of today's `apiEnv`; swap the body for
 * `workerEnv(s)` then.
 */
export function workerTierEnv(s: WorkerTierSettings): Record<string, string> {
  const settings: ApiDeploymentSettings = s;
  const env = apiEnv(settings);
  return Object.fromEntries(Object.entries(env).filter(([k]) => WORKER_KEYS.includes(k)));
}
