import { stopSharedRedis } from "./redis";
import { fileTimingHooks } from "./file-timings";

/** Root hooks of the whole mocha run (in parallel mode, of each test file in its worker). */
export const mochaHooks = {
  beforeAll: fileTimingHooks.beforeAll,
  async afterAll(this: Mocha.Context) {
    fileTimingHooks.afterAll.call(this);
    await stopSharedRedis();
  },
};
