import { RedisServer } from "../sandbox/redis";

export { RedisServer } from "../sandbox/redis";

let shared: Promise<RedisServer> | undefined;
let sharedServer: RedisServer | undefined;

/**
 * One Redis for the test files of a mocha process, started on first use (services isolate by queue
 * name). In parallel mode a worker runs file after file and the root hooks stop it after each, so the
 * next file that asks starts a fresh one.
 */
export function sharedRedis(): Promise<RedisServer> {
  sharedServer ??= new RedisServer();
  shared ??= sharedServer.start();
  return shared;
}

/** Mocha root hook (testkit/hooks.ts): the shared Redis stops with the run (in parallel mode, the file). */
export async function stopSharedRedis(): Promise<void> {
  const server = sharedServer;
  sharedServer = undefined;
  shared = undefined;
  await server?.stop();
}
