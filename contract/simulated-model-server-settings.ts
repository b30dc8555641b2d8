import { WORKER_SETTINGS } from "./worker-settings";
import { envText, LOG_LEVEL_SETTING, SettingsOf } from "./setting";

/**
 * The SIMULATED model server's environment (`app/simulated-model-server-main.ts`): no GPU, no model;
 * job time from the audio length and a real-time factor, GPU memory from the jobs running.
 */
export const SIMULATED_MODEL_SERVER_SETTINGS = {
  PORT: { kind: "int", min: 1, max: 65535, default: 9000, doc: "Port of the model-server protocol." },
  HOST: {
    kind: "text",
    default: "127.0.0.1",
    doc: "Localhost only by default: in a pod the API reaches it over the shared network namespace.",
  },
  SONIC_SIM_RTF: {
    kind: "number",
    min: 0,
    max: 1000,
    default: 18,
    doc: "Generation seconds per second of audio (Sonic runs at about 18x on a 24 GB GPU).",
  },
  SONIC_SIM_GPU_COUNT: {
    kind: "int",
    min: 1,
    max: WORKER_SETTINGS.SONIC_GPU_COUNT.max,
    default: 1,
    doc: "Simulated GPUs.",
  },
  SONIC_SIM_GPU_MEMORY_BYTES: {
    kind: "int",
    min: 1,
    max: 2 ** 50,
    default: 24 * 1024 ** 3,
    doc: "Memory of each simulated GPU.",
  },
  SONIC_SIM_SLOTS: {
    kind: "int",
    min: 1,
    // Every pod the stack can describe: GPUs x concurrency per GPU at their maxima.
    max: WORKER_SETTINGS.SONIC_GPU_COUNT.max * WORKER_SETTINGS.SONIC_CONCURRENCY_PER_GPU.max,
    default: 1,
    doc: "Jobs generated at once; one more is answered 503 busy.",
  },
  SONIC_SIM_LOAD_SECONDS: {
    kind: "number",
    min: 0,
    max: 3600,
    default: 0,
    doc: 'Seconds "loading the model" before /healthz turns ready.',
  },
  SONIC_SIM_OUTPUT_DIR: {
    kind: "text",
    doc: "Folder standing in for the object store; results are kept per job id, so a re-run is idempotent.",
  },
  SONIC_SIM_LOG_LEVEL: LOG_LEVEL_SETTING,
} as const;

export type SimulatedModelServerSettings = SettingsOf<typeof SIMULATED_MODEL_SERVER_SETTINGS>;

/** What any model server of a pod gets (the model-server protocol): its port, on every interface. */
export function modelServerEnv(port: number): Record<string, string> {
  // Kubelet probes reach the pod IP, so it listens on all interfaces; the NetworkPolicy admits only
  // the `web` port, so nothing outside the pod reaches it.
  return { PORT: envText(port), HOST: "0.0.0.0" };
}

/** The simulated model server's environment in a pod of `gpuCount` GPUs and `slots` slots. */
export function simulatedModelServerEnv(s: {
  port: number;
  gpuCount: number;
  slots: number;
}): Record<string, string> {
  return {
    ...modelServerEnv(s.port),
    SONIC_SIM_GPU_COUNT: envText(s.gpuCount),
    SONIC_SIM_SLOTS: envText(s.slots),
  };
}
