import type IORedis from "ioredis";
import { setTimeout as sleep } from "node:timers/promises";

/** ioredis' rejection of a command that got no answer within `commandTimeout`. */
const TIMED_OUT = "Command timed out";

/** The store is known to be down: refused at once, without sending a command. */
export class StoreDownError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "StoreDownError";
  }
}

export interface RedisHealthOptions {
  /**
   * Milliseconds between probes (PING) while the store is down; the first answer marks it up.
   * @default 250
   */
  probeMs?: number;
}

/**
 * Whether a Redis connection answers, kept from the client's own events. A command that timed out or
 * a connection that closed marks it down at once; while down, `run` refuses without sending anything,
 * so during a stall (Redis frozen, a partition: the socket stays open and nothing answers) requests
 * fail fast instead of each waiting out the command timeout. A probe marks it up at the first answer.
 */
export class RedisHealth {
  private downReason?: string;
  private probing = false;
  private closed = false;
  private readonly probeMs: number;
  private readonly listeners: ((down: string | undefined) => void)[] = [];

  constructor(
    private readonly redis: IORedis,
    options: RedisHealthOptions = {},
  ) {
    this.probeMs = options.probeMs ?? 250;
    redis.on("close", () => this.markDown("the connection to the job queue closed"));
    redis.on("ready", () => this.markUp());
  }

  /** Calls `listener` with the reason each time the store turns down, and with undefined when it is up again. */
  watch(listener: (down: string | undefined) => void): void {
    this.listeners.push(listener);
  }

  /** Why the store is down, or undefined while it answers. */
  get down(): string | undefined {
    return this.downReason;
  }

  /** Runs one command (or a few) against the store: refused at once while it is down. */
  async run<T>(command: () => Promise<T>): Promise<T> {
    if (this.downReason !== undefined) throw new StoreDownError(this.downReason);
    try {
      return await command();
    } catch (err) {
      if ((err as Error)?.message === TIMED_OUT) this.markDown("the job queue does not answer (stalled)");
      throw err;
    }
  }

  /** Stops probing (the connection is being closed). */
  close(): void {
    this.closed = true;
  }

  private markDown(reason: string): void {
    if (this.closed) return;
    if (this.downReason === undefined) {
      this.downReason = reason;
      for (const listener of this.listeners) listener(reason);
    }
    void this.probe();
  }

  private markUp(): void {
    if (this.downReason === undefined) return;
    this.downReason = undefined;
    for (const listener of this.listeners) listener(undefined);
  }

  private async probe(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      while (this.downReason !== undefined && !this.closed) {
        try {
          if ((await this.redis.ping()) === "PONG") this.markUp();
        } catch {
          await sleep(this.probeMs);
        }
      }
    } finally {
      this.probing = false;
    }
  }
}
