import type IORedis from "ioredis";

/** The Redis sorted set of live workers of a queue: `<queue>:workers` (the plan's name, read by the API). */
export function workersKey(queueName: string): string {
  return `${queueName}:workers`;
}

/** Adds or refreshes a member scored by its expiry in Redis' own clock (ms). KEYS: set. ARGV: member, ttl ms. */
const ANNOUNCE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
`;

/** Drops expired members, then counts the rest. KEYS: set. */
const LIVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
`;

/**
 * Which workers can run jobs now. A worker keeps a member while its model server is ready, refreshed
 * at each health check with an expiry a few seconds past the next one, and removes it at shutdown; a
 * worker that dies (kill -9, a lost node) leaves a member that expires by itself. Expiry is judged by
 * Redis' clock, so the pods' clocks never matter. The API counts the live members to tell a client
 * that its job waits for capacity (a cold start) rather than for a slot.
 */
export class WorkerRegistry {
  constructor(
    private readonly redis: IORedis,
    readonly queueName: string,
  ) {}

  get key(): string {
    return workersKey(this.queueName);
  }

  /** Marks `member` live for `ttlMs` from now (Redis' clock). */
  async announce(member: string, ttlMs: number): Promise<void> {
    await this.redis.eval(ANNOUNCE, 1, this.key, member, String(Math.ceil(ttlMs)));
  }

  /** Removes `member` (it stops pulling jobs). */
  async withdraw(member: string): Promise<void> {
    await this.redis.zrem(this.key, member);
  }

  /** Workers live now (expired members are removed on the way). */
  async live(): Promise<number> {
    return Number(await this.redis.eval(LIVE, 1, this.key));
  }
}
