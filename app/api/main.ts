import { configOrExit } from "../shared/config";
import { loadApiConfig } from "./config";
import { buildApi } from "./server";

/**
 * Entry point of the Sonic API tier: `npm run app` (port 8080 unless PORT is set; needs
 * SONIC_REDIS_URL). It accepts and stores jobs; workers (`npm run worker`) run them.
 */
async function main(): Promise<void> {
  const config = configOrExit(() => loadApiConfig());
  const service = await buildApi(config);
  await service.app.listen({ port: config.PORT, host: config.HOST });
  service.app.log.info({ event: "started", tier: "api", port: config.PORT }, "sonic API started");
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    service.app.log.info({ event: "signal", signal }, "stopping");
    // Every accepted job is in the shared queue: nothing is lost, so the exit is clean.
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
