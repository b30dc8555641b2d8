import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

/** The folder of this mocha run's shared results, named by the global setup for every worker. */
const RUN_CACHE = "SONIC_TEST_RUN_CACHE";

/** How long a worker waits for another one's result before producing it itself. */
const WAIT_FOR_PEER_MS = 10 * 60_000;

/**
 * Mocha global fixtures (testkit/hooks.ts): one folder per run, made before the workers start and
 * removed after the last file. Nothing outlives the run, so a result is never reused across a change.
 */
export const runCacheFixtures = {
  mochaGlobalSetup(): void {
    process.env[RUN_CACHE] ??= mkdtempSync(path.join(tmpdir(), "sonic-test-run-"));
  },
  mochaGlobalTeardown(): void {
    const dir = process.env[RUN_CACHE];
    if (dir?.startsWith(tmpdir())) rmSync(dir, { recursive: true, force: true });
  },
};

const memo = new Map<string, Promise<unknown>>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `produce()` once per run for the same `key`, whichever mocha worker asks first: a stack rendered for
 * one test file is the same render for every other file with the same inputs, so it is made once and
 * read by the rest (a JSON file in the run's folder). The first worker takes a lock file with O_EXCL and
 * writes the result under a temporary name it renames; the others wait for it, or produce it themselves
 * if the first one failed (its lock gone without a result). Failures are not cached. Outside a mocha run
 * (no folder named), it is a memo of this process.
 */
export function cachedForRun<T>(key: string[], produce: () => Promise<T>): Promise<T> {
  const id = createHash("sha256").update(key.join("\0")).digest("hex").slice(0, 24);
  if (!memo.has(id)) {
    const promise = fromRunFolder(id, produce);
    promise.catch(() => memo.delete(id));
    memo.set(id, promise);
  }
  return memo.get(id) as Promise<T>;
}

async function fromRunFolder<T>(id: string, produce: () => Promise<T>): Promise<T> {
  const dir = process.env[RUN_CACHE];
  if (!dir) return produce();
  const result = path.join(dir, `${id}.json`);
  const lock = path.join(dir, `${id}.lock`);
  const deadline = Date.now() + WAIT_FOR_PEER_MS;
  for (;;) {
    if (existsSync(result)) return JSON.parse(readFileSync(result, "utf8")) as T;
    let fd: number | undefined;
    try {
      fd = openSync(lock, "wx");
    } catch {
      // Another worker is producing it.
    }
    if (fd !== undefined) {
      closeSync(fd);
      try {
        const value = await produce();
        writeFileSync(`${result}.${process.pid}.tmp`, JSON.stringify(value));
        renameSync(`${result}.${process.pid}.tmp`, result);
        return value;
      } finally {
        rmSync(lock, { force: true });
      }
    }
    if (Date.now() > deadline) return produce();
    await sleep(200);
  }
}
