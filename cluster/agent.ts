import { bindOnce } from "./claim-binder";
import { serveCharts } from "./chart-server";

/**
 * The cluster's helper process (started by `cluster up`, inside the namespace): the claim binder every two
 * seconds and the chart repository. One process for both keeps the cluster's process list short.
 */
function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

const server = serveCharts();
server.on("listening", () => log("chart repository listening"));
let stopping = false;
async function loop(): Promise<void> {
  while (!stopping) {
    await bindOnce(log).catch((error: unknown) => log(`claim binder: ${String(error).split("\n")[0]}`));
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}
void loop();
for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.on(signal, () => {
    stopping = true;
    server.close(() => process.exit(0));
  });
