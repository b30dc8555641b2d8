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
