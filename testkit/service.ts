import { randomUUID } from "node:crypto";
import { loadApiConfig } from "../app/api/config";
import { ApiService, buildApi } from "../app/api/server";
import {
  buildSimulatedModelServer,
  loadSimulatedModelServerConfig,
  SimulatedModelServer,
} from "../app/simulated-model-server";
import { loadWorkerConfig } from "../app/worker/config";
import { buildWorker, WorkerService } from "../app/worker/server";
import { API_SETTINGS, WORKER_SETTINGS } from "../contract";
import { rowsOf } from "../sandbox/pod";
import { RedisServer } from "./redis";

/** An API, a worker and its simulated model server on one queue: one "pod" of before the split. */
export interface RunningService {
  /** The API (submit, poll, its /metrics). */
  url: string;
  /** The worker's HTTP server (/metrics, /healthz, /readyz only). */
  workerUrl: string;
  api: ApiService;
  worker: WorkerService;
  modelServer: SimulatedModelServer;
  modelServerUrl: string;
  close(): Promise<void>;
}

/** A simulated model server on 127.0.0.1 with an ephemeral port (SONIC_SIM_* variables). */
export async function startModelServer(
  env: Record<string, string> = {},
): Promise<{ server: SimulatedModelServer; url: string }> {
  const server = await buildSimulatedModelServer(
    loadSimulatedModelServerConfig({ SONIC_SIM_LOG_LEVEL: "silent", SONIC_SIM_RTF: "0.01", ...env }),
  );
  return { server, url: await server.app.listen({ port: 0, host: "127.0.0.1" }) };
}

/** Test defaults of both programs: quiet, fast samplers, no nvidia-smi. */
function defaults(redis: RedisServer, queueName: string): Record<string, string> {
  return {
    SONIC_LOG_LEVEL: "silent",
    SONIC_NVIDIA_SMI: "/nonexistent/nvidia-smi",
    SONIC_REDIS_URL: redis.url,
    SONIC_QUEUE_NAME: queueName,
    SONIC_MODEL_SERVER_CHECK_SECONDS: "0.1",
    SONIC_QUEUE_SAMPLE_SECONDS: "0.1",
    SONIC_GPU_SAMPLE_SECONDS: "0.1",
  };
}

/**
 * Starts the real API alone on 127.0.0.1 with an ephemeral port: it accepts and stores jobs, and no
 * worker runs them. Variables of the worker's table only are dropped; SONIC_QUEUE_NAME picks the queue.
 */
export async function startApi(
  redis: RedisServer,
  env: Record<string, string> = {},
): Promise<{ url: string; api: ApiService }> {
  const all = { ...defaults(redis, `test-${randomUUID().slice(0, 8)}`), ...env };
  const api = await buildApi(loadApiConfig(rowsOf(API_SETTINGS, all)));
  const url = await api.app.listen({ port: 0, host: "127.0.0.1" });
  await until(async () => (await fetch(`${url}/readyz`)).ok, "the API to turn ready");
  return { url, api };
}

/**
 * Starts a real worker on 127.0.0.1 (ephemeral port) with its own simulated model server unless
 * SONIC_MODEL_SERVER_URL is given. `SONIC_SIM_*` variables go to the model server; `member` names it
 * among the live workers (unique per worker in one process).
 */
export async function startWorker(
  redis: RedisServer,
  env: Record<string, string> = {},
): Promise<{
  url: string;
  worker: WorkerService;
  modelServer?: SimulatedModelServer;
  modelServerUrl: string;
  close(): Promise<void>;
}> {
  const simEnv = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith("SONIC_SIM_")));
  const model = env.SONIC_MODEL_SERVER_URL
    ? undefined
    : await startModelServer({
        SONIC_SIM_SLOTS: String(
          Number(env.SONIC_GPU_COUNT ?? 1) * Number(env.SONIC_CONCURRENCY_PER_GPU ?? 1),
        ),
        SONIC_SIM_GPU_COUNT: env.SONIC_GPU_COUNT ?? "1",
        ...simEnv,
      });
  const all = {
    ...defaults(redis, `test-${randomUUID().slice(0, 8)}`),
    ...(model ? { SONIC_MODEL_SERVER_URL: model.url } : {}),
    ...env,
  };
  const worker = await buildWorker(loadWorkerConfig(rowsOf(WORKER_SETTINGS, all)), {
    member: `test-worker-${randomUUID().slice(0, 8)}`,
  });
  const url = await worker.app.listen({ port: 0, host: "127.0.0.1" });
  return {
    url,
    worker,
    modelServer: model?.server,
    modelServerUrl: all.SONIC_MODEL_SERVER_URL!,
    close: async () => {
      await worker.shutdown();
      await model?.server.app.close();
    },
  };
}

/**
 * Starts the real API and a real worker on 127.0.0.1 with ephemeral ports, the worker's own simulated
 * model server, and the given Redis: everything one pod did before the tiers split. Each call gets a
 * queue of its own unless SONIC_QUEUE_NAME is given (share it to run several "pods" of one service).
 * `SONIC_SIM_*` variables go to the model server, the rest to whichever program's table has them.
 */
export async function startService(
  redis: RedisServer,
  env: Record<string, string> = {},
): Promise<RunningService> {
  const shared = { SONIC_QUEUE_NAME: `test-${randomUUID().slice(0, 8)}`, ...env };
  const worker = await startWorker(redis, shared);
  const api = await startApi(redis, shared);
  if (!env.SONIC_MODEL_SERVER_URL)
    await until(
      async () =>
        (await (await fetch(`${worker.url}/metrics`)).text()).includes("sonic_gpu_memory_total_bytes{"),
      "the first GPU memory sample from the model server",
    );
  return {
    url: api.url,
    workerUrl: worker.url,
    api: api.api,
    worker: worker.worker,
    modelServer: worker.modelServer!,
    modelServerUrl: worker.modelServerUrl,
    close: async () => {
      await Promise.all([api.api.shutdown(), worker.close()]);
    },
  };
}

/** Polls a job until it leaves queued/running. */
export async function waitForJob(url: string, id: string, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = (await (await fetch(`${url}/v1/videos/${id}`)).json()) as any;
    if (job.status === "succeeded" || job.status === "failed") return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Sets fault switches of a simulated model server. */
export async function setFaults(
  modelServerUrl: string,
  faults: Record<string, number | boolean>,
): Promise<Response> {
  return fetch(`${modelServerUrl}/v1/simulation/faults`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(faults),
  });
}

/** Polls `probe` every 25 ms until it holds. */
export async function until(
  probe: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
