import { ChildProcess, spawn } from "node:child_process";
import { appendFileSync } from "node:fs";
import * as path from "node:path";
import { REPO_ROOT } from "../stack-file";

export interface PodOptions {
  /** Pod name, as the `pod` label of its series. */
  name: string;
  apiPort: number;
  modelServerPort: number;
  redisUrl: string;
  /** Environment of the `api` process on top of the pod's wiring. @default {} */
  apiEnv?: Record<string, string>;
  /** Environment of the simulated model server (SONIC_SIM_*). @default {} */
  modelServerEnv?: Record<string, string>;
  /** File both processes' output is appended to. @default kept in memory only (`logs`) */
  logFile?: string;
  /** Checkout whose `app/` runs (another commit's, for side-by-side benches). @default this repository */
  root?: string;
}

/**
 * One Sonic pod as processes on 127.0.0.1: the real API (`app/main.ts`) and the SIMULATED model server
 * (`app/simulated-model-server-main.ts`) it talks to over HTTP, as the `api` and `model-server`
 * containers of the Deployment do over the pod's localhost.
 */
export class Pod {
  api?: ChildProcess;
  modelServer?: ChildProcess;
  logs = "";

  constructor(readonly options: PodOptions) {}

  get url(): string {
    return `http://127.0.0.1:${this.options.apiPort}`;
  }

  get modelServerUrl(): string {
    return `http://127.0.0.1:${this.options.modelServerPort}`;
  }

  get running(): boolean {
    return !!this.api && this.api.exitCode === null && this.api.signalCode === null;
  }

  /** Starts both processes (again, after a kill) and resolves once the API is ready. */
  async start(timeoutMs = 30_000): Promise<this> {
    const o = this.options;
    this.modelServer = this.spawn("app/simulated-model-server-main.ts", {
      PORT: String(o.modelServerPort),
      HOST: "127.0.0.1",
      ...o.modelServerEnv,
    });
    this.api = this.spawn("app/main.ts", {
      PORT: String(o.apiPort),
      HOST: "127.0.0.1",
      SONIC_REDIS_URL: o.redisUrl,
      SONIC_MODEL_SERVER_URL: this.modelServerUrl,
      SONIC_NVIDIA_SMI: "/nonexistent/nvidia-smi",
      ...o.apiEnv,
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if ((await fetch(`${this.url}/readyz`)).ok) return this;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline || !this.running)
        throw new Error(
          `pod ${o.name} did not turn ready within ${timeoutMs / 1000}s:\n${this.logs.slice(-2000)}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Both containers die at once (`kill -9` of the pod, a node lost). */
  kill(): void {
    this.api?.kill("SIGKILL");
    this.modelServer?.kill("SIGKILL");
  }

  /** SIGTERM to both containers, as the kubelet sends; resolves with the API's exit code. */
  async terminate(): Promise<number | null> {
    const exited = (child?: ChildProcess) =>
      new Promise<number | null>((resolve) => {
        if (!child || child.exitCode !== null || child.signalCode !== null)
          return resolve(child?.exitCode ?? null);
        child.once("exit", (code) => resolve(code));
      });
    const api = exited(this.api);
    const model = exited(this.modelServer);
    this.api?.kill("SIGTERM");
    this.modelServer?.kill("SIGTERM");
    const [code] = await Promise.all([api, model]);
    return code;
  }

  private spawn(entry: string, env: Record<string, string>): ChildProcess {
    const child = spawn(
      process.execPath,
      ["-r", "ts-node/register/transpile-only", path.join(this.options.root ?? REPO_ROOT, entry)],
      {
        cwd: this.options.root ?? REPO_ROOT,
        env: { ...withoutSonic(process.env), ...env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const collect = (d: Buffer) => {
      this.logs += d;
      if (this.logs.length > 1_000_000) this.logs = this.logs.slice(-500_000);
      if (this.options.logFile) appendFileSync(this.options.logFile, d);
    };
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    return child;
  }
}

/** The parent's SONIC_* variables never leak into a pod: each process gets exactly its own. */
function withoutSonic(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(env).filter(([k]) => !k.startsWith("SONIC_") && k !== "PORT" && k !== "HOST"),
  );
}
