import { appendFileSync } from "node:fs";
import type Mocha from "mocha";

/**
 * In parallel mode, where each test file's root hooks run in a worker process: the file each worker appends
 * `{file, ms}` lines to (see {@link fileTimingHooks}); the reporter names it before the workers start.
 */
export const TIMINGS_FILE = "SONIC_TEST_FILE_TIMINGS";

/**
 * Root hooks that time each test file where mocha runs it. In parallel mode root hooks run once per file
 * in its worker, so their `beforeAll`/`afterAll` bracket exactly one file; in serial mode the reporter
 * times files from its own events and these do nothing.
 */
export const fileTimingHooks = {
  beforeAll(this: Mocha.Context) {
    (this as unknown as { fileStarted?: number }).fileStarted = Date.now();
  },
  afterAll(this: Mocha.Context) {
    const out = process.env[TIMINGS_FILE];
    const started = (this as unknown as { fileStarted?: number }).fileStarted;
    const file = this.test?.parent?.suites[0]?.file;
    if (out && started !== undefined && file)
      appendFileSync(out, JSON.stringify({ file, ms: Date.now() - started }) + "\n");
  },
};
