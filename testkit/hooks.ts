import { fileTimingHooks } from "./file-timings";
import { stopSharedRedis } from "./redis";
import { runCacheFixtures } from "./run-cache";

/** Root hooks of the whole mocha run (in parallel mode, of each test file in its worker). */
export const mochaHooks = {
  beforeAll: fileTimingHooks.beforeAll,
  async afterAll(this: Mocha.Context) {
    fileTimingHooks.afterAll.call(this);
    await stopSharedRedis();
  },
};

/** Global fixtures, in the main process around the whole run: the folder of results shared by the workers. */
export const { mochaGlobalSetup, mochaGlobalTeardown } = runCacheFixtures;
