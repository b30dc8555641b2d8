import { randomUUID } from "node:crypto";
import { loadAppConfig } from "../../app/config";
import { buildService, SonicService } from "../../app/server";
import {
  buildSimulatedModelServer,
  loadSimulatedModelServerConfig,
  SimulatedModelServer,
} from "../../app/simulated-model-server";
import { RedisServer } from "./redis";

export interface RunningService {
  url: string;
  service: SonicService;
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

/**
 * Starts the real API on 127.0.0.1 with an ephemeral port, its own simulated model server, and the
 * given Redis. Each call gets a queue of its own unless SONIC_QUEUE_NAME is given (share it to run
 * several "pods" of one service). `SONIC_SIM_*` variables go to the model server, the rest to the API.
 */
export async function startService(
  redis: RedisServer,
  env: Record<string, string> = {},
): Promise<RunningService> {
  const simEnv = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith("SONIC_SIM_")));
  const model = await startModelServer({
    SONIC_SIM_SLOTS: String(Number(env.SONIC_GPU_COUNT ?? 1) * Number(env.SONIC_CONCURRENCY_PER_GPU ?? 1)),
    SONIC_SIM_GPU_COUNT: env.SONIC_GPU_COUNT ?? "1",
    ...simEnv,
  });
  const config = loadAppConfig({
    SONIC_LOG_LEVEL: "silent",
    SONIC_NVIDIA_SMI: "/nonexistent/nvidia-smi",
    SONIC_REDIS_URL: redis.url,
    SONIC_QUEUE_NAME: `test-${randomUUID().slice(0, 8)}`,
    SONIC_MODEL_SERVER_URL: model.url,
    SONIC_MODEL_SERVER_CHECK_SECONDS: "0.1",
    SONIC_QUEUE_SAMPLE_SECONDS: "0.1",
    SONIC_GPU_SAMPLE_SECONDS: "0.1",
    ...Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith("SONIC_SIM_"))),
  });
  const service = await buildService(config);
  const address = await service.app.listen({ port: 0, host: "127.0.0.1" });
  await until(async () => (await fetch(`${address}/readyz`)).ok, "the API to turn ready");
  if (!env.SONIC_MODEL_SERVER_URL)
    await until(
      async () =>
        (await (await fetch(`${address}/metrics`)).text()).includes("sonic_gpu_memory_total_bytes{"),
      "the first GPU memory sample from the model server",
    );
  return {
    url: address,
    service,
    modelServer: model.server,
    modelServerUrl: model.url,
    close: async () => {
      await service.shutdown();
      await model.server.app.close();
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
