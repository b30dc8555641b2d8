import { rmSync } from "node:fs";
import type { Sandbox } from "./sandbox";

/**
 * Starts a sandbox made by `make`, stopping it and starting a fresh one when a start fails: on a busy
 * machine the many processes a large sandbox starts at once can miss a pod's 30 s readiness. The
 * sandbox's state folder is removed after a failed start. Rejects with the last error.
 */
export async function startWithRetry(
  make: () => { sandbox: Sandbox; dir: string },
  attempts = 3,
  log: (line: string) => void = () => undefined,
): Promise<{ sandbox: Sandbox; dir: string }> {
  for (let attempt = 1; ; attempt++) {
    const made = make();
    try {
      await made.sandbox.start();
      return made;
    } catch (err) {
      await made.sandbox.stop();
      rmSync(made.dir, { recursive: true, force: true });
      if (attempt >= attempts) throw err;
      log(`sandbox start failed (${(err as Error).message.split("\n")[0]}); starting a fresh one`);
    }
  }
}
