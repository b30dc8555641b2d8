import { z } from "zod";
import { API_SETTINGS, ApiSettings, envSchema, WORKER_SETTINGS } from "../contract";

/**
 * Every environment variable of the API and its job runner, with its default: the tables in
 * contract/api-settings.ts, which the stack schema and the component derive from too. Read once at
 * start-up; a bad value stops the process with the variable and the value named. The model server is
 * another process (the real GPU worker, or `app/simulated-model-server-main.ts`): the API always
 * speaks HTTP to it.
 */
const schema = envSchema({ ...WORKER_SETTINGS, ...API_SETTINGS });

export type AppConfig = ApiSettings;

/** Thrown for bad environment variables; the message lists each one with its value. */
export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/**
 * Parses a process's configuration from its environment variables: only those starting with `prefix`,
 * plus PORT and HOST. Unknown prefixed variables are errors (a misspelt name must not be ignored).
 * Secrets (`*_PASSWORD`) are never echoed.
 */
export function parseEnv<S extends z.ZodObject>(
  schema: S,
  prefix: string,
  env: Record<string, string | undefined>,
  ignore: (key: string) => boolean = () => false,
): z.infer<S> {
  const known = Object.fromEntries(
    Object.entries(env).filter(
      ([k, v]) =>
        v !== undefined && v !== "" && !ignore(k) && (k.startsWith(prefix) || k === "PORT" || k === "HOST"),
    ),
  );
  const shown = (key: string, value: unknown) =>
    /PASSWORD|SECRET|TOKEN|API_KEY|WEBHOOK_URL/.test(key)
      ? "(secret, not shown)"
      : value === undefined
        ? "nothing"
        : JSON.stringify(value);
  const unknown = Object.keys(known).filter((k) => k.startsWith(prefix) && !(k in schema.shape));
  const result = schema.safeParse(known, { reportInput: true });
  const problems = unknown.map((k) => `${k}: unknown variable (misspelt?), got ${shown(k, known[k])}`);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = issue.path.join(".");
      problems.push(`${key}: ${issue.message}, got ${shown(key, issue.input)}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return result.data!;
}

/** The API's configuration (SONIC_* variables except the simulated model server's SONIC_SIM_*). */
export function loadAppConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  return parseEnv(schema, "SONIC_", env, (k) => k.startsWith("SONIC_SIM_")) as AppConfig;
}

/** Slots of one pod: jobs its model server runs at once. */
export function slotsOf(config: Pick<AppConfig, "SONIC_GPU_COUNT" | "SONIC_CONCURRENCY_PER_GPU">): number {
  return config.SONIC_GPU_COUNT * config.SONIC_CONCURRENCY_PER_GPU;
}

/** Loads a process's configuration, or prints the problems and exits 2 (an entrypoint's first step). */
export function configOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
