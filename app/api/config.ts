import { API_SETTINGS, ApiSettings, envSchema } from "../../contract";
import { parseEnv } from "../shared/config";

/** The API's configuration: the rows of `API_SETTINGS` (contract/api-settings.ts). */
export type ApiConfig = ApiSettings;

const schema = envSchema(API_SETTINGS);

/**
 * Parses the API's SONIC_* variables (the simulated model server's SONIC_SIM_* are another program's).
 * A worker-only variable here is an error like a misspelt one: the API would silently ignore it.
 */
export function loadApiConfig(env: Record<string, string | undefined> = process.env): ApiConfig {
  return parseEnv(schema, "SONIC_", env, (k) => k.startsWith("SONIC_SIM_")) as ApiConfig;
}

/** Bytes of the largest body a submission may have: two files at the cap, and the form around them. */
export function largestSubmissionBytes(config: Pick<ApiConfig, "SONIC_MAX_UPLOAD_BYTES">): number {
  return config.SONIC_MAX_UPLOAD_BYTES * 2 + 64 * 1024;
}

/** The upload budget of a replica and one client address's share of it, from the settings' defaults. */
export function uploadBudgetOf(config: ApiConfig): { bytes: number; perClientBytes: number } {
  const largest = largestSubmissionBytes(config);
  const bytes = config.SONIC_UPLOAD_BYTES_IN_FLIGHT ?? largest * 4;
  return {
    bytes,
    // Never below one largest submission: a client must always be able to send one.
    perClientBytes: Math.max(largest, config.SONIC_UPLOAD_BYTES_PER_CLIENT ?? Math.floor(bytes / 2)),
  };
}
