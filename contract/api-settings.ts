import { SettingsOf } from "./setting";
import { envRecord, SHARED_SETTINGS, shutdownGraceOf } from "./shared-settings";

/**
 * The API's environment (`app/api/main.ts`: HTTP, input checks, admission, the job store client; it
 * never runs jobs). Read once at start-up; a bad value stops the process with the variable and the
 * value named.
 */
export const API_SETTINGS = {
  ...SHARED_SETTINGS,
  SONIC_BACKLOG_LIMIT: {
    kind: "int",
    min: 1,
    max: 100_000,
    default: 16,
    doc: "Jobs queued plus running across the whole service before submissions are answered 429.",
  },
  SONIC_MAX_UPLOAD_BYTES: {
    kind: "int",
    min: 1024,
    max: 1024 ** 3,
    default: 25 * 1024 * 1024,
    doc: "Bytes of one uploaded file; a job holds at most two (audio + portrait) in the store.",
  },
  SONIC_UPLOAD_BYTES_IN_FLIGHT: {
    kind: "int",
    min: 1024,
    max: 64 * 1024 ** 3,
    doc: "Upload bytes this process holds at once (what has arrived of each body, at least its first 64 KiB); an upload that does not fit is answered 429 uploads_busy. Default: four largest submissions.",
  },
  SONIC_UPLOAD_BYTES_PER_CLIENT: {
    kind: "int",
    min: 1024,
    max: 64 * 1024 ** 3,
    doc: "Upload bytes one client address holds at once on this process; more is answered 429 uploads_busy. Default: half of SONIC_UPLOAD_BYTES_IN_FLIGHT. Never less than one largest submission (2 x SONIC_MAX_UPLOAD_BYTES + 64 KiB): a smaller value counts as that.",
  },
  SONIC_CLIENT_ADDRESS_HEADER: {
    kind: "text",
    pattern: /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/,
    example: "a header name like x-forwarded-for",
    doc: "Header the trusted proxy in front sets to the client's address (x-real-ip) or appends it to (x-forwarded-for: its last entry counts); the per-client upload cap counts by it. Unset: the connection's address.",
  },
  SONIC_MIN_UPLOAD_BYTES_PER_SECOND: {
    kind: "int",
    min: 0,
    max: 1024 ** 3,
    default: 16 * 1024,
    doc: "Bytes per second an upload's body must arrive at, over each window; slower is cut with 408 upload_too_slow (0: off).",
  },
  SONIC_UPLOAD_RATE_WINDOW_SECONDS: {
    kind: "number",
    min: 0.5,
    max: 60,
    default: 5,
    doc: "Window over which the minimum upload rate is judged.",
  },
  SONIC_MAX_AUDIO_SECONDS: {
    kind: "number",
    min: 1,
    max: 3600,
    default: 120,
    doc: "Longest audio accepted.",
  },
  SONIC_MAX_IMAGE_PIXELS: {
    kind: "int",
    min: 1,
    max: 2 ** 31,
    default: 4096 * 4096,
    doc: "Most pixels of a portrait.",
  },
  SONIC_MAX_IMAGE_SIDE: {
    kind: "int",
    min: 16,
    max: 65535,
    default: 4096,
    doc: "Longest side of a portrait.",
  },
  SONIC_REQUEST_TIMEOUT_SECONDS: {
    kind: "number",
    min: 1,
    max: 3600,
    default: 120,
    doc: "Seconds a request (headers and body) may take; a trickled upload is cut off after it.",
  },
  SONIC_COLD_START_SECONDS: {
    kind: "int",
    min: 0,
    max: 7200,
    default: 600,
    doc: "Estimate of a worker's cold start (node, image pull, model load): the Retry-After of a job while no worker is live.",
  },
} as const;

export type ApiSettings = SettingsOf<typeof API_SETTINGS>;

/** What a deployment decides of the API tier: the rest keeps the program's defaults. */
export interface ApiDeploymentSettings {
  /** `PORT`. @default 8080 */
  port?: number;
  /** The pod's grace; `SONIC_SHUTDOWN_GRACE_SECONDS` is 15 s less. @default 600 */
  terminationGracePeriodSeconds?: number;
  /** `SONIC_BACKLOG_LIMIT`. @default 16 */
  backlogLimit?: number;
  /** `SONIC_MAX_UPLOAD_BYTES`. @default 26214400 */
  maxUploadBytes?: number;
  /** `SONIC_JOB_HISTORY`. @default 1000 */
  jobHistory?: number;
  /** `SONIC_COLD_START_SECONDS`. @default 600 */
  coldStartSeconds?: number;
  /** `SONIC_VERSION`. @default the app's (the package version) */
  version?: string;
}

/** The API container's environment for a deployment's settings (the component writes exactly this). */
export function apiEnv(s: ApiDeploymentSettings): Record<string, string> {
  return envRecord({
    PORT: s.port ?? API_SETTINGS.PORT.default,
    // Finish draining before the kubelet's SIGKILL at the end of terminationGracePeriodSeconds.
    SONIC_SHUTDOWN_GRACE_SECONDS: shutdownGraceOf(s.terminationGracePeriodSeconds ?? 600),
    SONIC_BACKLOG_LIMIT: s.backlogLimit,
    SONIC_MAX_UPLOAD_BYTES: s.maxUploadBytes,
    SONIC_JOB_HISTORY: s.jobHistory,
    SONIC_COLD_START_SECONDS: s.coldStartSeconds,
    SONIC_VERSION: s.version,
  });
}
