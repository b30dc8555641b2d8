import { loadAppConfig } from "../../app/config";
import { buildService, SonicService } from "../../app/server";

export interface RunningService {
  url: string;
  service: SonicService;
  close(): Promise<void>;
}

/** Starts the real service on 127.0.0.1 with an ephemeral port and the given environment. */
export async function startService(env: Record<string, string> = {}): Promise<RunningService> {
  const config = loadAppConfig({
    SONIC_LOG_LEVEL: "silent",
    SONIC_NVIDIA_SMI: "/nonexistent/nvidia-smi",
    ...env,
  });
  const service = await buildService(config);
  const address = await service.app.listen({ port: 0, host: "127.0.0.1" });
  return { url: address, service, close: () => service.app.close() };
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
