import { envSchema, WORKER_SETTINGS, WorkerSettings } from "../../contract";
import { parseEnv } from "../shared/config";

/** The worker's configuration: the rows of `WORKER_SETTINGS` (contract/worker-settings.ts). */
export type WorkerConfig = WorkerSettings;

const schema = envSchema(WORKER_SETTINGS);

/**
 * Parses the worker's SONIC_* variables (the simulated model server's SONIC_SIM_* are another
 * program's). An API-only variable here is an error like a misspelt one.
 */
export function loadWorkerConfig(env: Record<string, string | undefined> = process.env): WorkerConfig {
  return parseEnv(schema, "SONIC_", env, (k) => k.startsWith("SONIC_SIM_")) as WorkerConfig;
}

/** Slots of one worker pod: jobs its model server runs at once. */
export function slotsOf(config: Pick<WorkerConfig, "SONIC_GPU_COUNT" | "SONIC_CONCURRENCY_PER_GPU">): number {
  return config.SONIC_GPU_COUNT * config.SONIC_CONCURRENCY_PER_GPU;
}
