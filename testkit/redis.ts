import { RedisServer } from "../sandbox/redis";

export { RedisServer } from "../sandbox/redis";

let shared: Promise<RedisServer> | undefined;
let sharedServer: RedisServer | undefined;

/** One Redis for the whole test run, started on first use (services isolate by queue name). */
export function sharedRedis(): Promise<RedisServer> {
  sharedServer ??= new RedisServer();
  shared ??= sharedServer.start();
  return shared;
}

/** Mocha root hook (testkit/hooks.ts): the shared Redis stops with the run. */
export async function stopSharedRedis(): Promise<void> {
  await sharedServer?.stop();
}
