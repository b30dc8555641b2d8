import { ConfigError, loadAppConfig } from "./config";
import { buildService } from "./server";

/** Entry point: `npm run app` (simulated backend, port 8080 unless PORT is set). */
async function main(): Promise<void> {
  let config;
  try {
    config = loadAppConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const service = await buildService(config);
  await service.app.listen({ port: config.PORT, host: config.HOST });
  service.app.log.info(
    { event: "started", backend: service.backend.kind, port: config.PORT },
    "sonic generate service started",
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    service.app.log.info({ event: "signal", signal }, "stopping");
    const { unfinished } = await service.shutdown();
    process.exit(unfinished > 0 ? 1 : 0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
