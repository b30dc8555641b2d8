import { configOrExit } from "./shared/config";
import { buildSimulatedModelServer, loadSimulatedModelServerConfig } from "./simulated-model-server";

/** Entry point of the SIMULATED model server (no GPU): `npm run model-server:simulated`. */
async function main(): Promise<void> {
  const config = configOrExit(() => loadSimulatedModelServerConfig());
  const server = await buildSimulatedModelServer(config);
  await server.app.listen({ port: config.PORT, host: config.HOST });
  server.app.log.info(
    { event: "started", simulated: true, port: config.PORT },
    "simulated model server started",
  );
  // The API in the same pod is draining on the same SIGTERM: finish what it handed over first.
  const stop = () => void server.drain().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
