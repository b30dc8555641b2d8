import { ChildProcess, spawn } from "node:child_process";
import { appCommand } from "./app-build";
import { appendFileSync } from "node:fs";
import { API_SETTINGS, WORKER_SETTINGS } from "../contract";
import { REPO_ROOT } from "../testkit/stack-file";
import { freePort } from "./ports";

// The Sonic tiers as processes on 127.0.0.1, as the sandbox, the tests and the benches run them:
// - `ApiProcess`: the API tier's one container (`app/api/main.ts`).
// - `WorkerPod`: a worker tier pod, the job runner (`app/worker/main.ts`) and the SIMULATED model server
//   (`app/simulated-model-server-main.ts`) it speaks to over HTTP, as the `worker` and `model-server`
//   containers do over the pod's localhost. `SONIC_SIM_LOAD_SECONDS` in its model server's env
//   simulates the model load of a cold start.
// - `Pod`: one of each, started and stopped together: what one pod ran before the tiers split, so the
//   tests and the sandbox keep their coverage.
// Each has start (again after a kill), kill (SIGKILL: the pod or node lost) and terminate (SIGTERM, as
// the kubelet sends, resolving with the exit code).

/** Where a group of processes logs, and which checkout runs. */
interface ProcessOptions {
  /** File every process's output is appended to. @default kept in memory only (`logs`) */
  logFile?: string;
  /** Checkout whose `app/` runs (another commit's, for side-by-side benches). @default this repository */
  root?: string;
}

/** The variables of `env` that `table` has: each program gets its own rows (shared rows go to both). */
export function rowsOf(table: object, env: Record<string, string> = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([k]) => k in table));
}

/** Processes started together, their output collected in `logs` (and `logFile`). */
abstract class ProcessGroup {
  logs = "";
  constructor(private readonly processOptions: ProcessOptions) {}

  protected spawn(entry: string, env: Record<string, string>): ChildProcess {
    const root = this.processOptions.root ?? REPO_ROOT;
    const [command, ...args] = appCommand(entry, root);
    const child = spawn(command, args, {
      cwd: root,
      env: { ...withoutSonic(process.env), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const collect = (d: Buffer) => {
      this.logs += d;
      if (this.logs.length > 1_000_000) this.logs = this.logs.slice(-500_000);
      if (this.processOptions.logFile) appendFileSync(this.processOptions.logFile, d);
    };
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    return child;
  }

  /** Polls `url` until it answers 2xx; throws with the last logs once `alive()` fails or time is up. */
  protected async waitFor(url: string, what: string, timeoutMs: number, alive: () => boolean): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if ((await fetch(url)).ok) return;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline || !alive())
        throw new Error(`${what} did not turn ready within ${timeoutMs / 1000}s:\n${this.logs.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function isRunning(child?: ChildProcess): boolean {
  return !!child && child.exitCode === null && child.signalCode === null;
}

/** SIGTERM (or `signal`) to a child; resolves with its exit code once it exited. */
function stopChild(
  child: ChildProcess | undefined,
  signal: NodeJS.Signals = "SIGTERM",
): Promise<number | null> {
  return new Promise((resolve) => {
    if (!child || !isRunning(child)) return resolve(child?.exitCode ?? null);
    child.once("exit", (code) => resolve(code));
    child.kill(signal);
  });
}

export interface ApiProcessOptions extends ProcessOptions {
  /** Pod name, as the `pod` label of its series. */
  name: string;
  port: number;
  redisUrl: string;
  /** Environment on top of the wiring: only the rows of the API's table are passed. @default {} */
  env?: Record<string, string>;
}

/** One API tier pod: `app/api/main.ts`, which accepts, stores and answers jobs and never runs one. */
export class ApiProcess extends ProcessGroup {
  child?: ChildProcess;

  constructor(readonly options: ApiProcessOptions) {
    super(options);
  }

  get url(): string {
    return `http://127.0.0.1:${this.options.port}`;
  }

  get running(): boolean {
    return isRunning(this.child);
  }

  /** Starts the API (again, after a kill) and resolves once it is ready (the queue answers). */
  async start(timeoutMs = 30_000): Promise<this> {
    const o = this.options;
    this.child = this.spawn("app/api/main.ts", {
      PORT: String(o.port),
      HOST: "127.0.0.1",
      SONIC_REDIS_URL: o.redisUrl,
      ...rowsOf(API_SETTINGS, o.env),
    });
    await this.waitFor(`${this.url}/readyz`, `API ${o.name}`, timeoutMs, () => this.running);
    return this;
  }

  kill(): void {
    this.child?.kill("SIGKILL");
  }

  /** SIGTERM, as the kubelet sends; resolves with the exit code. */
  terminate(): Promise<number | null> {
    return stopChild(this.child);
  }
}

export interface WorkerPodOptions extends ProcessOptions {
  /** Pod name, as the `pod` label of its series and its member among the live workers. */
  name: string;
  /** Port of the worker's /metrics and probes. @default a free one, picked at the first start */
  port?: number;
  modelServerPort: number;
  redisUrl: string;
  /** Environment on top of the wiring: only the rows of the worker's table are passed. @default {} */
  env?: Record<string, string>;
  /** Environment of the simulated model server (SONIC_SIM_*, e.g. SONIC_SIM_LOAD_SECONDS). @default {} */
  modelServerEnv?: Record<string, string>;
}

/**
 * One worker tier pod: the job runner and its simulated model server. It pulls jobs while the model
 * server is ready and announces itself among the live workers meanwhile.
 */
export class WorkerPod extends ProcessGroup {
  worker?: ChildProcess;
  modelServer?: ChildProcess;

  constructor(readonly options: WorkerPodOptions) {
    super(options);
  }

  /** The worker's /metrics and probes (set once started when no port was given). */
  get url(): string {
    return `http://127.0.0.1:${this.options.port}`;
  }

  get modelServerUrl(): string {
    return `http://127.0.0.1:${this.options.modelServerPort}`;
  }

  get running(): boolean {
    return isRunning(this.worker);
  }

  /**
   * Starts both containers (again, after a kill). Resolves once the worker is ready (its model server
   * loaded: `SONIC_SIM_LOAD_SECONDS` later), or with `{ ready: false }` once the worker listens, so a
   * scaling simulation can watch the cold start happen.
   */
  async start(timeoutMs = 30_000, { ready = true }: { ready?: boolean } = {}): Promise<this> {
    const o = this.options;
    o.port ??= await freePort();
    this.modelServer = this.spawn("app/simulated-model-server-main.ts", {
      PORT: String(o.modelServerPort),
      HOST: "127.0.0.1",
      ...o.modelServerEnv,
    });
    this.worker = this.spawn("app/worker/main.ts", {
      PORT: String(o.port),
      HOST: "127.0.0.1",
      SONIC_REDIS_URL: o.redisUrl,
      SONIC_MODEL_SERVER_URL: this.modelServerUrl,
      SONIC_NVIDIA_SMI: "/nonexistent/nvidia-smi",
      // The kubelet's pod name is the hostname in Kubernetes: here the pod's name stands in for it.
      HOSTNAME: o.name,
      ...rowsOf(WORKER_SETTINGS, o.env),
    });
    await this.waitFor(
      `${this.url}/${ready ? "readyz" : "healthz"}`,
      `worker ${o.name}`,
      timeoutMs,
      () => this.running,
    );
    return this;
  }

  /** Both containers die at once (`kill -9` of the pod, a node lost): its jobs are recovered elsewhere. */
  kill(): void {
    this.worker?.kill("SIGKILL");
    this.modelServer?.kill("SIGKILL");
  }

  /** SIGTERM to both containers (the worker drains); resolves with the worker's exit code. */
  async terminate(): Promise<number | null> {
    const [code] = await Promise.all([stopChild(this.worker), stopChild(this.modelServer)]);
    return code;
  }
}

export interface PodOptions extends ProcessOptions {
  /** Pod name, as the `pod` label of its series. */
  name: string;
  apiPort: number;
  /** Port of the worker's /metrics and probes. @default a free one */
  workerPort?: number;
  modelServerPort: number;
  redisUrl: string;
  /** Environment of the API and the worker: each gets the rows of its own table. @default {} */
  env?: Record<string, string>;
  /** Environment of the simulated model server (SONIC_SIM_*). @default {} */
  modelServerEnv?: Record<string, string>;
  /** Runs the worker pod too; without it the pod is an API alone (workers come separately). @default true */
  withWorker?: boolean;
}

/**
 * An API and a worker pod started and stopped together, on the pod's name: what one Sonic pod ran
 * before the tiers split (the API answers at `url`, the worker's metrics at `workerUrl`).
 */
export class Pod {
  readonly api: ApiProcess;
  readonly worker: WorkerPod;

  constructor(readonly options: PodOptions) {
    const { name, redisUrl, logFile, root } = options;
    this.api = new ApiProcess({ name, port: options.apiPort, redisUrl, logFile, root });
    this.worker = new WorkerPod({
      name,
      port: options.workerPort,
      modelServerPort: options.modelServerPort,
      redisUrl,
      logFile,
      root,
    });
  }

  get url(): string {
    return this.api.url;
  }

  get workerUrl(): string {
    return this.worker.url;
  }

  get modelServerUrl(): string {
    return this.worker.modelServerUrl;
  }

  /** Both tiers' output. */
  get logs(): string {
    return this.api.logs + this.worker.logs;
  }

  /** Whether the API answers (the pod is up). */
  get running(): boolean {
    return this.api.running;
  }

  /** Starts the worker pod and the API (again, after a kill) with the current `options`; resolves once both are ready. */
  async start(timeoutMs = 30_000): Promise<this> {
    this.api.options.env = this.options.env;
    this.worker.options.env = this.options.env;
    this.worker.options.modelServerEnv = this.options.modelServerEnv;
    await Promise.all([
      ...(this.withWorker ? [this.worker.start(timeoutMs)] : []),
      this.api.start(timeoutMs),
    ]);
    this.options.workerPort = this.worker.options.port;
    return this;
  }

  private get withWorker(): boolean {
    return this.options.withWorker ?? true;
  }

  /** Every container dies at once (`kill -9` of the pod, a node lost). */
  kill(): void {
    this.api.kill();
    this.worker.kill();
  }

  /** SIGTERM to every container, as the kubelet sends; resolves with the first non-zero exit code, else 0. */
  async terminate(): Promise<number | null> {
    const codes = await Promise.all([
      this.api.terminate(),
      ...(this.withWorker ? [this.worker.terminate()] : []),
    ]);
    return codes.find((c) => c !== 0) ?? 0;
  }
}

/** The parent's SONIC_* variables never leak into a pod: each process gets exactly its own. */
function withoutSonic(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(env).filter(([k]) => !k.startsWith("SONIC_") && k !== "PORT" && k !== "HOST"),
  );
}
