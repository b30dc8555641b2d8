import { configOrExit } from "../shared/config";
import { runProgram } from "../shared/entrypoint";
import { loadWorkerConfig } from "./config";
import { buildWorker } from "./server";

/**
 * Entry point of the Sonic worker tier: `npm run worker` (/metrics and probes on port 8080 unless PORT
 * is set; needs SONIC_REDIS_URL and its model server at SONIC_MODEL_SERVER_URL, e.g.
 * `npm run model-server:simulated`). It pulls jobs from the shared queue while the model server is
 * ready; at shutdown, jobs that cannot finish within the grace go back to the queue.
 */
const config = configOrExit(() => loadWorkerConfig());
runProgram(
  async () => ({ program: await buildWorker(config), port: config.PORT, host: config.HOST }),
  { tier: "worker", modelServer: config.SONIC_MODEL_SERVER_URL },
  "sonic worker started",
);
