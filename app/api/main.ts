import { configOrExit } from "../shared/config";
import { runProgram } from "../shared/entrypoint";
import { loadApiConfig } from "./config";
import { buildApi } from "./server";

/**
 * Entry point of the Sonic API tier: `npm run app` (port 8080 unless PORT is set; needs
 * SONIC_REDIS_URL). It accepts and stores jobs; workers (`npm run worker`) run them. Every accepted
 * job is in the shared queue, so a shutdown loses nothing.
 */
const config = configOrExit(() => loadApiConfig());
runProgram(
  async () => ({ program: await buildApi(config), port: config.PORT, host: config.HOST }),
  { tier: "api" },
  "sonic API started",
);
