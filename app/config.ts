import { z } from "zod";

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const num = (min: number, max: number) => z.coerce.number().min(min).max(max);
const bool = z.enum(["true", "false"]).transform((v) => v === "true");

/**
 * Every environment variable of the service, with its default. Read once at start-up; a bad value
 * stops the process with the variable and the value named.
 */
const schema = z
  .object({
    PORT: int(1, 65535).default(8080),
    HOST: z.string().min(1).default("0.0.0.0"),
    /** `simulated` models the GPU worker in-process (local runs, tests); `http` calls the real worker. */
    SONIC_BACKEND: z.enum(["simulated", "http"]).default("simulated"),
    SONIC_WORKER_URL: z.string().url().optional(),
    SONIC_WORKER_TIMEOUT_SECONDS: num(1, 7200).default(1800),
    SONIC_WORKER_RETRIES: int(0, 10).default(2),
    SONIC_GPU_COUNT: int(1, 64).default(1),
    SONIC_CONCURRENCY_PER_GPU: int(1, 64).default(1),
    SONIC_QUEUE_CAPACITY: int(0, 100000).default(16),
    SONIC_MAX_UPLOAD_BYTES: int(1024).default(50 * 1024 * 1024),
    SONIC_MAX_AUDIO_SECONDS: num(1, 3600).default(120),
    SONIC_MAX_IMAGE_PIXELS: int(1).default(4096 * 4096),
    SONIC_MAX_IMAGE_SIDE: int(16).default(4096),
    SONIC_SHUTDOWN_GRACE_SECONDS: num(0, 3600).default(540),
    SONIC_JOB_HISTORY: int(1, 1_000_000).default(1000),
    SONIC_METRICS: bool.default(true),
    SONIC_NVIDIA_SMI: z.string().min(1).default("nvidia-smi"),
    SONIC_GPU_SAMPLE_SECONDS: num(0.1, 3600).default(5),
    SONIC_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    SONIC_VERSION: z
      .string()
      .min(1)
      .default(process.env.npm_package_version ?? "0.1.0"),
    /** Simulated backend: seconds of generation per second of audio (Sonic runs at about 18x). */
    SONIC_SIM_RTF: num(0, 1000).default(18),
    SONIC_SIM_GPU_MEMORY_BYTES: int(1).default(24 * 1024 ** 3),
    SONIC_SIM_ERROR_RATE: num(0, 1).default(0),
    SONIC_SIM_GPU_MEMORY_PRESSURE: num(0, 1).default(0),
    SONIC_SIM_AV_OFFSET_SECONDS: num(0, 60).default(0),
    SONIC_SIM_MEMORY_GROWTH_BYTES_PER_JOB: int(0).default(0),
  })
  .superRefine((env, ctx) => {
    if (env.SONIC_BACKEND === "http" && !env.SONIC_WORKER_URL) {
      ctx.addIssue({
        code: "custom",
        path: ["SONIC_WORKER_URL"],
        message: "required when SONIC_BACKEND=http",
        input: undefined,
      });
    }
  });

export type AppConfig = z.infer<typeof schema>;

/** Thrown for bad environment variables; the message lists each one with its value. */
export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** Parses the service's configuration from environment variables (only the SONIC_*, PORT and HOST ones). */
export function loadAppConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const known = Object.fromEntries(
    Object.entries(env).filter(
      ([k, v]) => v !== undefined && v !== "" && (k.startsWith("SONIC_") || k === "PORT" || k === "HOST"),
    ),
  );
  const unknown = Object.keys(known).filter((k) => k.startsWith("SONIC_") && !(k in schema.shape));
  const result = schema.safeParse(known, { reportInput: true });
  const problems = unknown.map((k) => `${k}: unknown variable (misspelt?), got "${known[k]}"`);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const value = issue.input === undefined ? "nothing" : JSON.stringify(issue.input);
      problems.push(`${issue.path.join(".")}: ${issue.message}, got ${value}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return result.data!;
}
