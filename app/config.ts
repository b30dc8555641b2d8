import { z } from "zod";

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const num = (min: number, max: number) => z.coerce.number().min(min).max(max);
const bool = z.enum(["true", "false"]).transform((v) => v === "true");
const redisUrl = z
  .string()
  .regex(/^rediss?:\/\/[^\s]+$/, { message: "expected a URL like redis://host:6379 or rediss://host:6380" });

/**
 * Every environment variable of the API, with its default. Read once at start-up; a bad value stops the
 * process with the variable and the value named. The model server is another process (the real GPU
 * worker, or `app/simulated-model-server-main.ts`): the API always speaks HTTP to it.
 */
const schema = z.object({
  PORT: int(1, 65535).default(8080),
  HOST: z.string().min(1).default("0.0.0.0"),
  /** The model server of this pod (the `model-server` container: same network namespace). */
  SONIC_MODEL_SERVER_URL: z.string().url().default("http://127.0.0.1:9000"),
  SONIC_MODEL_SERVER_TIMEOUT_SECONDS: num(1, 7200).default(1800),
  SONIC_MODEL_SERVER_RETRIES: int(0, 10).default(2),
  /** Seconds between checks of the model server's /healthz (gates job pulling, feeds GPU memory). */
  SONIC_MODEL_SERVER_CHECK_SECONDS: num(0.05, 60).default(2),
  /** The shared job queue and job store. The password may come separately (from a Secret). */
  SONIC_REDIS_URL: redisUrl,
  SONIC_REDIS_PASSWORD: z.string().min(1).optional(),
  /** Queue name: every replica of one service uses the same one. */
  SONIC_QUEUE_NAME: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: "expected a name like sonic-generate" })
    .default("sonic-generate"),
  SONIC_GPU_COUNT: int(1, 64).default(1),
  SONIC_CONCURRENCY_PER_GPU: int(1, 64).default(1),
  /** Jobs queued plus running across the whole service before submissions are answered 429. */
  SONIC_BACKLOG_LIMIT: int(1, 100000).default(16),
  /** Bytes of one uploaded file; a job holds at most two (audio + portrait) in the store. */
  SONIC_MAX_UPLOAD_BYTES: int(1024).default(25 * 1024 * 1024),
  /** Upload bytes this process reads at once (declared lengths); more is answered 429 before reading. */
  SONIC_UPLOAD_BYTES_IN_FLIGHT: int(1024).optional(),
  /**
   * Bytes per second an upload's body must arrive at, over each window of
   * SONIC_UPLOAD_RATE_WINDOW_SECONDS; a slower one is cut with 408 `upload_too_slow` and frees its share
   * of SONIC_UPLOAD_BYTES_IN_FLIGHT. 0 turns the check off (then only the request timeout cuts it).
   */
  SONIC_MIN_UPLOAD_BYTES_PER_SECOND: int(0, 1024 ** 3).default(16 * 1024),
  SONIC_UPLOAD_RATE_WINDOW_SECONDS: num(0.5, 60).default(5),
  SONIC_MAX_AUDIO_SECONDS: num(1, 3600).default(120),
  SONIC_MAX_IMAGE_PIXELS: int(1).default(4096 * 4096),
  SONIC_MAX_IMAGE_SIDE: int(16).default(4096),
  /** Seconds a request (headers and body) may take; a trickled upload is cut off after it. */
  SONIC_REQUEST_TIMEOUT_SECONDS: num(1, 3600).default(120),
  /** Seconds inputs of an accepted job live in the store, whatever happens to the job. */
  SONIC_INPUT_TTL_SECONDS: int(60).default(24 * 3600),
  /** Finished jobs kept for polling: at most this many, and none older than the age. */
  SONIC_JOB_HISTORY: int(1, 1_000_000).default(1000),
  SONIC_JOB_HISTORY_SECONDS: int(60).default(24 * 3600),
  /** A runner's lock on a job: renewed while it runs; a dead pod's jobs are recovered after it lapses. */
  SONIC_JOB_LOCK_SECONDS: num(1, 600).default(30),
  SONIC_STALLED_CHECK_SECONDS: num(1, 600).default(30),
  /** Times a job is recovered from a dead runner before it fails with `worker_lost`. */
  SONIC_MAX_STALLED: int(0, 10).default(1),
  SONIC_SHUTDOWN_GRACE_SECONDS: num(0, 3600).default(540),
  SONIC_METRICS: bool.default(true),
  SONIC_NVIDIA_SMI: z.string().min(1).default("nvidia-smi"),
  SONIC_GPU_SAMPLE_SECONDS: num(0.1, 3600).default(5),
  /** Seconds between reads of the service-wide queue depth for the metrics. */
  SONIC_QUEUE_SAMPLE_SECONDS: num(0.1, 60).default(2),
  SONIC_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  SONIC_VERSION: z
    .string()
    .min(1)
    .default(process.env.npm_package_version ?? "0.1.0"),
});

export type AppConfig = z.infer<typeof schema>;

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
  return parseEnv(schema, "SONIC_", env, (k) => k.startsWith("SONIC_SIM_"));
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
