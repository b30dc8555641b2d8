import { configOrExit } from "../shared/config";
import { loadWorkerConfig } from "./config";
import { buildWorker } from "./server";

/**
 * Entry point of the Sonic worker tier: `npm run worker` (/metrics and probes on port 8080 unless PORT
 * is set; needs SONIC_REDIS_URL and its model server at SONIC_MODEL_SERVER_URL, e.g.
 * `npm run model-server:simulated`). It pulls jobs from the shared queue while the model server is ready.
 */
async function main(): Promise<void> {
  const config = configOrExit(() => loadWorkerConfig());
  const service = await buildWorker(config);
  await service.app.listen({ port: config.PORT, host: config.HOST });
  service.app.log.info(
    { event: "started", tier: "worker", modelServer: config.SONIC_MODEL_SERVER_URL, port: config.PORT },
    "sonic worker started",
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    service.app.log.info({ event: "signal", signal }, "stopping");
    // Jobs that could not finish went back to the shared queue: nothing is lost, so the exit is clean.
    await service.shutdown();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
