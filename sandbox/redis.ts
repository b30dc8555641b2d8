import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { freePort } from "./ports";

/** Debian's redis-server, or a clear instruction: nothing that needs it skips silently. */
export function requireRedisServer(): string {
  const found = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).stdout.trim();
  if (!found)
    throw new Error("redis-server is not installed: run 'npm run setup' (or 'apt-get install redis-server')");
  return found;
}

/** A real Redis on 127.0.0.1 with AOF on, in a folder of its own; it can be stopped and started again. */
export class RedisServer {
  readonly dir: string;
  port: number;
  private child?: ChildProcess;

  /**
   * @param dir where the AOF lives. @default a new temporary folder
   * @param port preferred port. @default a free one
   */
  constructor(dir?: string, port = 0) {
    this.dir = dir ?? mkdtempSync(path.join(tmpdir(), "sonic-redis-"));
    this.port = port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts Redis (again, on the same port and AOF after a stop) and resolves once it answers PING. */
  async start(): Promise<this> {
    if (!this.port) this.port = await freePort(0);
    mkdirSync(this.dir, { recursive: true });
    this.child = spawn(
      requireRedisServer(),
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--appendonly",
        "yes",
        "--dir",
        this.dir,
        "--save",
        "",
      ],
      { stdio: "ignore" },
    );
    const deadline = Date.now() + 10_000;
    while (!(await ping(this.port))) {
      if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${this.port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this;
  }

  /**
   * Freezes Redis for `ms` (SIGSTOP, then SIGCONT): connections stay open and commands go unanswered, as
   * in a long fsync, a swapped-out host or a network partition. Resolves once Redis runs again.
   */
  async stall(ms: number): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) throw new Error("redis-server is not running");
    child.kill("SIGSTOP");
    try {
      await new Promise((r) => setTimeout(r, ms));
    } finally {
      child.kill("SIGCONT");
    }
  }

  /** Stops Redis (SIGTERM: the AOF is flushed), as an outage. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  }
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("error", () => resolve(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (d) => {
      socket.destroy();
      resolve(d.toString().startsWith("+PONG"));
    });
  });
}
