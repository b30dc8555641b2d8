import { envText, LOG_LEVEL_SETTING } from "./setting";

/**
 * What both programs of the Sonic image read (the API, `app/api/main.ts`, and the worker,
 * `app/worker/main.ts`): where the shared queue is, how long inputs and finished jobs live, how they
 * listen, drain, log and report. `API_SETTINGS` and `WORKER_SETTINGS` both spread this table, so a
 * row changes in one place for both.
 */
export const SHARED_SETTINGS = {
  PORT: {
    kind: "int",
    min: 1,
    max: 65535,
    default: 8080,
    doc: "Port of the program's HTTP server and /metrics (named web).",
  },
  HOST: { kind: "text", default: "0.0.0.0", doc: "Address the program listens on." },
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
    doc: "Seconds to drain after SIGTERM (the API: uploads being read; the worker: running jobs), before the kubelet's SIGKILL.",
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
 * Seconds the kubelet's grace exceeds a program's drain: it stops 15 s before SIGKILL, so the largest
 * grace the stack may set is the drain's maximum plus this.
 */
export const DRAIN_MARGIN_SECONDS = 15;

/** `SONIC_SHUTDOWN_GRACE_SECONDS` for a pod's `terminationGracePeriodSeconds`. */
export function shutdownGraceOf(terminationGracePeriodSeconds: number): number {
  return Math.max(0, terminationGracePeriodSeconds - DRAIN_MARGIN_SECONDS);
}

/** Drops unset values and writes the rest as environment text. */
export function envRecord(env: Record<string, number | string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [[k, envText(v)]])),
  );
}
