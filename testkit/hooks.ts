import { stopSharedRedis } from "./redis";

/** Root hooks of the whole mocha run. */
export const mochaHooks = {
  async afterAll() {
    await stopSharedRedis();
  },
};
