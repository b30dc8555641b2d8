import { z } from "zod";

// How every program of the image reads its environment: each from its own table in contract/ (the
// API's in app/api/config.ts, the worker's in app/worker/config.ts), which the stack schema and the
// components derive from too. Read once at start-up; a bad value stops the process with the variable
// and the value named.

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
