import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import {
  alertmanagerConfigYaml,
  AlertThresholds,
  requestQpsRule,
  ruleCatalogue,
  ruleFileYaml,
  serviceMonitorSpec,
} from "../components";
import { parseStackConfig, SECRET_KEYS } from "../stacks/config";
import { png, wav } from "../testkit/media";
import { readProjectConfig, REPO_ROOT } from "../testkit/stack-file";
import { appCommand } from "./app-build";
import { Pod, WorkerPod } from "./pod";
import { freePort } from "./ports";
import { RedisServer } from "./redis";
import { WebhookSink } from "./sink";

export const SERVICE = "sonic-generate-service";
/** The worker tier's Deployment and headless Service (its pods' series still have job=SERVICE). */
export const WORKER_SERVICE = "sonic-generate-worker";
export const NAMESPACE = "ai-inference";
/** The file Prometheus reads the worker targets from (file_sd_configs), in the state folder. */
export const WORKER_TARGETS_FILE = "worker-targets.json";

export interface SandboxOptions {
  /** Stack file whose thresholds, routing and autoscaling bounds the sandbox uses. @default "dev" */
  stack?: string;
  /** App instances, as if pods (an API and, unless `apiOnly`, a worker pod each). @default 2 */
  instances?: number;
  /**
   * Instances run the API only: worker pods come and go with `addWorker`/`removeWorker` (a scaling
   * simulation: 1 API and 0..N workers). @default false
   */
  apiOnly?: boolean;
  /** Folder for configs, data and logs; nothing is written outside it. */
  stateDir: string;
  /** Scrape interval written into the ServiceMonitor spec the scrape config derives from. @default the stack's */
  scrapeInterval?: string;
  /** Rule evaluation interval. @default the stack's */
  evaluationInterval?: string;
  /** Threshold and `for:` overrides on top of the stack's (the end-to-end test shortens them). @default {} */
  thresholds?: Partial<AlertThresholds>;
  /** Rate window of the QPS signal. @default the stack's */
  rateWindow?: string;
  /** Alertmanager grouping waits. @default { groupWait: "5s", groupInterval: "30s" } */
  alertmanager?: { groupWait: string; groupInterval: string };
  /** Extra environment of every API and worker process (each gets its own table's rows). @default {} */
  appEnv?: Record<string, string>;
  /** Extra environment of every pod's simulated model server. @default RTF 0.5, 2 slots */
  modelServerEnv?: Record<string, string>;
  /** Job submissions per second per instance by the load generator. @default 1 */
  loadPerSecond?: number;
  /** Preferred ports; taken ones are replaced by free ones. */
  ports?: { prometheus?: number; alertmanager?: number; sink?: number; firstApp?: number };
  /** Where child processes' output goes. @default files in stateDir */
  quiet?: boolean;
  /**
   * Environment of the alert analyst, which Alertmanager also notifies (continue: true) and which posts
   * its reports to the sink's `/analyses`. @default look-back 1h, rate window 15m
   */
  analystEnv?: Record<string, string>;
}

export interface SandboxInstance {
  pod: string;
  url: string;
  port: number;
  modelServerUrl: string;
  /** Submissions the load generator sent it (for the adapter check). */
  sent: number;
  /** The pod's processes: the API, and its worker and simulated model server unless `apiOnly`. */
  process: Pod;
}

export interface Endpoints {
  prometheus: string;
  alertmanager: string;
  sink: string;
  webhookLog: string;
  redis: string;
  analyst: string;
  /** Each instance's API, and its worker's /metrics and model server unless `apiOnly`. */
  instances: { pod: string; url: string; modelServerUrl: string; workerUrl?: string }[];
}

/** The path of an installed binary; throws with the setup hint when it is missing. */
export function binary(name: string): string {
  const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim();
  if (!found) {
    throw new Error(
      `${name} is not installed: run 'npm run setup' (or 'sudo apt-get install prometheus prometheus-alertmanager')`,
    );
  }
  return found;
}

/** Resolves once `url` answers 2xx; throws naming `what` after `timeoutMs`. */
export async function waitFor(url: string, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up at ${url} within ${timeoutMs / 1000}s`);
}

/**
 * The production topology and the monitoring path on one machine: a real Redis (the shared job queue),
 * several "pods" (the real API and a SIMULATED model server each), a real Prometheus scraping them with
 * a config derived from the ServiceMonitor spec and loading the stack's rule catalogue, a real
 * Alertmanager with the stack's routing, and a webhook sink. No cluster, no GPU.
 */
export class Sandbox {
  readonly instances: SandboxInstance[] = [];
  /**
   * Worker pods added at runtime by `addWorker` and not yet removed (the instances' own workers are
   * `instances[i].process.worker`). Prometheus scrapes each from its start to its removal.
   */
  readonly workers: WorkerPod[] = [];
  private workerCount = 0;
  endpoints!: Endpoints;
  sink!: WebhookSink;
  private children: ChildProcess[] = [];
  private redis?: RedisServer;
  /** While true the load generator sends nothing (a test needs a backlog that holds still). */
  loadPaused = false;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private readonly stack: string;
  private readonly config: ReturnType<typeof parseStackConfig>;
  /** The bearer token Alertmanager sends the analyst (the analyst reads it from a file, as from its Secret). */
  readonly analystToken = randomBytes(24).toString("hex");
  private prometheus?: { child: ChildProcess; args: string[] };

  constructor(private readonly options: SandboxOptions) {
    this.stack = options.stack ?? "dev";
    this.config = parseStackConfig(readProjectConfig(this.stack), new Set(SECRET_KEYS));
  }

  /** The rule groups the sandbox's Prometheus loads: the stack's catalogue with the option overrides. */
  ruleGroups() {
    const { runbookBaseUrl, ...stackThresholds } = this.config.alerts;
    return ruleCatalogue({
      job: SERVICE,
      namespace: NAMESPACE,
      hpaName: SERVICE,
      thresholds: { ...stackThresholds, ...this.options.thresholds },
      runbookBaseUrl,
      rateWindow: this.rateWindow,
      cost: this.config.cost,
      // As the stack's InferenceObservability is told: the backlog reads in worker pods even at zero.
      slotsPerPod:
        Number(this.appEnv().SONIC_CONCURRENCY_PER_GPU) * Number(this.appEnv().SONIC_GPU_COUNT ?? 1),
    });
  }

  /** The stack config the sandbox runs with. */
  get stackConfig() {
    return this.config;
  }

  get rateWindow(): string {
    return this.options.rateWindow ?? this.config.autoscaling.rateWindow;
  }

  get scrapeInterval(): string {
    return this.options.scrapeInterval ?? this.config.prometheus.scrapeInterval;
  }

  get evaluationInterval(): string {
    return this.options.evaluationInterval ?? this.config.prometheus.evaluationInterval;
  }

  /** The prometheus-adapter rule, as the adapter would get it for this stack. */
  adapterRule() {
    return requestQpsRule({
      metricPrefix: "sonic",
      rateWindow: this.rateWindow,
      scrapeInterval: this.scrapeInterval,
    });
  }

  async start(): Promise<Endpoints> {
    const dir = this.options.stateDir;
    mkdirSync(dir, { recursive: true });
    const prometheusBin = binary("prometheus");
    const alertmanagerBin = binary("prometheus-alertmanager");
    const ports = this.options.ports ?? {};
    const promPort = await freePort(ports.prometheus ?? 0);
    const amPort = await freePort(ports.alertmanager ?? 0);
    const sinkPort = await freePort(ports.sink ?? 0);
    const analystPort = await freePort(0);

    this.redis = new RedisServer(path.join(dir, "redis"));
    await this.redis.start();
    const count = this.options.instances ?? 2;
    for (let i = 0; i < count; i++) {
      const port = await freePort(ports.firstApp ? ports.firstApp + i : 0);
      const name = `${SERVICE}-sandbox-${i}`;
      const pod = new Pod({
        name,
        apiPort: port,
        workerPort: await freePort(ports.firstApp ? ports.firstApp + 200 + i : 0),
        modelServerPort: await freePort(ports.firstApp ? ports.firstApp + 100 + i : 0),
        redisUrl: this.redis.url,
        logFile: path.join(dir, `${name}.log`),
        env: this.appEnv(),
        modelServerEnv: this.modelServerEnv(),
        withWorker: !this.options.apiOnly,
      });
      this.instances.push({
        pod: name,
        port,
        url: pod.url,
        modelServerUrl: pod.modelServerUrl,
        sent: 0,
        process: pod,
      });
    }
    this.sink = new WebhookSink(
      path.join(dir, "webhook.log"),
      {
        namespace: NAMESPACE,
        name: SERVICE,
        min: this.config.autoscaling.worker.minReplicas,
        max: this.config.autoscaling.worker.maxReplicas,
        current: () => this.instances.filter((i) => i.process.running).length,
      },
      { control: (command, arg) => this.control(command, Number(arg)) },
    );
    const sinkUrl = await this.sink.listen(sinkPort);

    const pods = Promise.all(this.instances.map((i) => i.process.start()));

    writeFileSync(
      path.join(dir, "rules.yaml"),
      ruleFileYaml(this.ruleGroups(), `sandbox rules of the ${this.stack} stack`),
    );
    writeFileSync(path.join(dir, "prometheus.yml"), stringify(this.prometheusConfig(amPort, sinkPort)));
    this.writeWorkerTargets();
    writeFileSync(
      path.join(dir, "alertmanager.yml"),
      alertmanagerConfigYaml({
        receivers: { critical: "webhook", warning: "webhook", info: "webhook" },
        webhookUrl: `${sinkUrl}/alerts`,
        analystUrl: `http://127.0.0.1:${analystPort}/v1/alertmanager`,
        analystToken: this.analystToken,
        repeatInterval: this.config.alertmanager.repeatInterval,
        groupWait: this.options.alertmanager?.groupWait ?? "5s",
        groupInterval: this.options.alertmanager?.groupInterval ?? "30s",
      }),
    );
    this.spawn("alertmanager", alertmanagerBin, [
      `--config.file=${path.join(dir, "alertmanager.yml")}`,
      `--storage.path=${path.join(dir, "alertmanager-data")}`,
      `--web.listen-address=127.0.0.1:${amPort}`,
      "--cluster.listen-address=",
    ]);
    const tokenFile = path.join(dir, "analyst-webhook-token");
    writeFileSync(tokenFile, this.analystToken, { mode: 0o600 });
    const [node, ...analyst] = appCommand("app/alert-analyst-main.ts");
    this.spawn("alert-analyst", node, analyst, {
      PORT: String(analystPort),
      HOST: "127.0.0.1",
      ANALYST_PROMETHEUS_URL: `http://127.0.0.1:${promPort}`,
      ANALYST_WEBHOOK_URL: `${sinkUrl}/analyses`,
      ANALYST_RUNBOOKS: path.join(REPO_ROOT, "docs", "runbooks.md"),
      ANALYST_STEP_SECONDS: "1",
      ANALYST_WEBHOOK_TOKEN_FILE: tokenFile,
      ...this.options.analystEnv,
    });
    const promArgs = [
      `--config.file=${path.join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${path.join(dir, "prometheus-data")}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ];
    // Prometheus scrapes only once the pods listen: a pod slower to start than the fast sandbox's 5 s
    // TargetDown window (a loaded machine) would otherwise page before any fault is injected.
    await pods;
    this.prometheus = { child: this.spawn("prometheus", prometheusBin, promArgs), args: promArgs };
    this.endpoints = {
      prometheus: `http://127.0.0.1:${promPort}`,
      alertmanager: `http://127.0.0.1:${amPort}`,
      sink: sinkUrl,
      webhookLog: path.join(dir, "webhook.log"),
      redis: this.redis.url,
      analyst: `http://127.0.0.1:${analystPort}`,
      instances: this.instances.map(({ pod, url, modelServerUrl, process }) => ({
        pod,
        url,
        modelServerUrl,
        workerUrl: this.options.apiOnly ? undefined : process.workerUrl,
      })),
    };
    await Promise.all([
      waitFor(`${this.endpoints.prometheus}/-/ready`, "Prometheus"),
      waitFor(`${this.endpoints.alertmanager}/-/ready`, "Alertmanager"),
      waitFor(`${this.endpoints.analyst}/healthz`, "the alert analyst"),
      pods,
    ]);
    this.startLoad();
    writeFileSync(path.join(dir, "endpoints.json"), JSON.stringify(this.endpoints, null, 2));
    return this.endpoints;
  }

  /** Prometheus' config: the ServiceMonitor's endpoint turned into the scrape job the operator would write. */
  prometheusConfig(amPort: number, sinkPort: number) {
    const spec = serviceMonitorSpec({
      namespace: NAMESPACE,
      selector: { app: SERVICE },
      interval: this.scrapeInterval,
    });
    const endpoint = spec.endpoints[0];
    return {
      global: {
        scrape_interval: this.scrapeInterval,
        evaluation_interval: this.evaluationInterval,
        external_labels: { cluster: "sandbox", env: this.config.env },
      },
      rule_files: ["rules.yaml"],
      alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] },
      scrape_configs: [
        {
          // The operator's job name; the `job` label it attaches is the Service name.
          job_name: `serviceMonitor/${NAMESPACE}/${SERVICE}/0`,
          scrape_interval: endpoint.interval,
          scrape_timeout: endpoint.scrapeTimeout,
          metrics_path: endpoint.path,
          scheme: endpoint.scheme,
          honor_labels: endpoint.honorLabels,
          static_configs: this.instances.map((i) => ({
            targets: [`127.0.0.1:${i.port}`],
            labels: {
              job: SERVICE,
              namespace: NAMESPACE,
              service: SERVICE,
              pod: i.pod,
              container: "api",
              endpoint: endpoint.port,
              app_kubernetes_io_component: "api",
            },
          })),
        },
        {
          // The worker tier's ServiceMonitor (jobLabel app: job is still the service's). Its targets
          // come and go with the worker pods: a file the sandbox rewrites, which Prometheus watches.
          job_name: `serviceMonitor/${NAMESPACE}/${WORKER_SERVICE}/0`,
          scrape_interval: endpoint.interval,
          scrape_timeout: endpoint.scrapeTimeout,
          metrics_path: endpoint.path,
          scheme: endpoint.scheme,
          honor_labels: endpoint.honorLabels,
          // An absolute path: other configs built from this one (the fleet's members) live elsewhere.
          file_sd_configs: [
            { files: [path.resolve(this.options.stateDir, WORKER_TARGETS_FILE)], refresh_interval: "5s" },
          ],
        },
        {
          job_name: "kube-state-metrics",
          scrape_interval: this.scrapeInterval,
          static_configs: [{ targets: [`127.0.0.1:${sinkPort}`], labels: { job: "kube-state-metrics" } }],
        },
      ],
    };
  }

  /** Environment of every API and worker process: fast samplers and locks, then `appEnv`. */
  private appEnv(): Record<string, string> {
    return {
      SONIC_CONCURRENCY_PER_GPU: "2",
      SONIC_BACKLOG_LIMIT: "64",
      SONIC_SHUTDOWN_GRACE_SECONDS: "2",
      SONIC_GPU_SAMPLE_SECONDS: "1",
      SONIC_QUEUE_SAMPLE_SECONDS: "1",
      SONIC_MODEL_SERVER_CHECK_SECONDS: "1",
      SONIC_JOB_LOCK_SECONDS: "5",
      SONIC_STALLED_CHECK_SECONDS: "5",
      ...this.options.appEnv,
    };
  }

  /** Environment of every simulated model server. */
  private modelServerEnv(): Record<string, string> {
    return {
      SONIC_SIM_RTF: "0.5",
      SONIC_SIM_SLOTS: "2",
      SONIC_SIM_LOG_LEVEL: "warn",
      // One folder as the object store of every pod: a job re-run elsewhere finds its video.
      SONIC_SIM_OUTPUT_DIR: path.join(this.options.stateDir, "videos"),
      ...this.options.modelServerEnv,
    };
  }

  /**
   * Rewrites the worker targets file (atomically: Prometheus never reads half a file): the instances'
   * workers and those added at runtime, each with the labels the operator attaches to a worker pod.
   */
  private writeWorkerTargets(): void {
    const pods = [
      ...(this.options.apiOnly ? [] : this.instances.map((i) => i.process.worker)),
      ...this.workers,
    ];
    const targets = pods.map((w) => ({
      targets: [`127.0.0.1:${w.options.port}`],
      labels: {
        job: SERVICE,
        namespace: NAMESPACE,
        service: WORKER_SERVICE,
        pod: w.options.name,
        container: "worker",
        endpoint: "web",
        app_kubernetes_io_component: "worker",
      },
    }));
    const file = path.join(this.options.stateDir, WORKER_TARGETS_FILE);
    writeFileSync(`${file}.tmp`, JSON.stringify(targets, null, 2));
    renameSync(`${file}.tmp`, file);
  }

  /**
   * Starts one more worker pod (the job runner and a simulated model server, with the sandbox's
   * environment plus `modelServerEnv`, e.g. `SONIC_SIM_LOAD_SECONDS` for a model load) and adds it to
   * Prometheus' targets at once. Resolves once it listens, or with `ready: true` once its model
   * server is ready (it pulls jobs from then on). For the scaling simulation: see `workers`.
   */
  async addWorker(
    options: { modelServerEnv?: Record<string, string>; env?: Record<string, string>; ready?: boolean } = {},
  ): Promise<WorkerPod> {
    if (!this.redis) throw new Error("the sandbox is not started");
    const name = `${WORKER_SERVICE}-sandbox-${this.workerCount++}`;
    const pod = new WorkerPod({
      name,
      port: await freePort(0),
      modelServerPort: await freePort(0),
      redisUrl: this.redis.url,
      logFile: path.join(this.options.stateDir, `${name}.log`),
      env: { ...this.appEnv(), ...options.env },
      modelServerEnv: { ...this.modelServerEnv(), ...options.modelServerEnv },
    });
    this.workers.push(pod);
    this.writeWorkerTargets();
    // A model load takes as long as the simulation says: wait for it only when asked.
    const loadSeconds = Number(pod.options.modelServerEnv?.SONIC_SIM_LOAD_SECONDS ?? 0);
    await pod.start(30_000 + loadSeconds * 1000, { ready: options.ready ?? false });
    return pod;
  }

  /**
   * Removes a worker pod added by `addWorker`: `terminate` (SIGTERM, as a scale-down: it drains, its
   * unfinished jobs go back to the queue) or `kill` (SIGKILL, a lost node: its jobs are recovered once
   * their locks lapse). Its target leaves Prometheus once the process exited.
   */
  async removeWorker(pod: WorkerPod, how: "terminate" | "kill" = "terminate"): Promise<void> {
    const index = this.workers.indexOf(pod);
    if (index < 0) throw new Error(`${pod.options.name} is not a worker added to this sandbox`);
    if (how === "kill") {
      pod.kill();
      await pod.terminate(); // already dead: resolves once both exits are seen
    } else await pod.terminate();
    this.workers.splice(index, 1);
    this.writeWorkerTargets();
  }

  /** Rolls pod `index` to another `version` (SIGTERM, then a start with SONIC_VERSION set): a deploy. */
  async redeploy(index: number, version: string): Promise<void> {
    const instance = this.instances[index];
    await instance.process.terminate();
    instance.process.options.env = { ...instance.process.options.env, SONIC_VERSION: version };
    await instance.process.start();
  }

  /**
   * Stops Prometheus (SIGTERM, waits for it to exit): rules stop evaluating and the analyst's queries
   * are refused, as when Prometheus itself is part of the incident.
   */
  async stopPrometheus(): Promise<void> {
    const child = this.prometheus?.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  }

  /** Starts Prometheus again on the same port and data after `stopPrometheus`. */
  async startPrometheus(): Promise<void> {
    if (!this.prometheus) throw new Error("the sandbox is not started");
    this.prometheus.child = this.spawn("prometheus", binary("prometheus"), this.prometheus.args);
    await waitFor(`${this.endpoints.prometheus}/-/ready`, "Prometheus");
  }

  /** Kills (`kill`, as kill -9 of the pod) or restarts (`revive`) one pod. */
  async control(command: string, index: number): Promise<string> {
    const instance = this.instances[index];
    if (!instance) throw new Error(`no instance ${index}`);
    if (command === "kill") {
      instance.process.kill();
      await new Promise((r) => setTimeout(r, 100));
      return `killed ${instance.pod}`;
    }
    if (command === "revive") {
      if (instance.process.running) return `${instance.pod} is running`;
      await instance.process.start();
      return `revived ${instance.pod}`;
    }
    throw new Error(`unknown command ${command}`);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.all([
      ...this.instances.map((i) => i.process.terminate()),
      ...this.workers.map((w) => w.terminate()),
    ]);
    await this.redis?.stop();
    await stopChildren(this.children);
    await this.sink?.close();
  }

  private spawn(
    name: string,
    command: string,
    args: string[],
    env: Record<string, string> = {},
  ): ChildProcess {
    const child = spawn(command, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const log = path.join(this.options.stateDir, `${name}.log`);
    child.stdout!.on("data", (d) => writeFileSync(log, d, { flag: "a" }));
    child.stderr!.on("data", (d) => writeFileSync(log, d, { flag: "a" }));
    this.children.push(child);
    return child;
  }

  /** A steady mixed workload: valid jobs of 1-3 s of audio, and one bad upload in twenty. */
  private startLoad(): void {
    const audio = [wav(1), wav(2), wav(3)];
    const image = png(128, 128);
    const perSecond = this.options.loadPerSecond ?? 1;
    let tick = 0;
    this.timers.push(
      setInterval(() => {
        if (this.loadPaused) return;
        tick++;
        for (const instance of this.instances) {
          const body = new FormData();
          const bad = tick % 20 === 0;
          body.set(
            "audio",
            new Blob([bad ? Buffer.from("not audio") : audio[tick % audio.length]], { type: "audio/wav" }),
            "a.wav",
          );
          body.set("image", new Blob([image], { type: "image/png" }), "p.png");
          instance.sent++;
          fetch(`${instance.url}/v1/videos`, { method: "POST", body }).then(
            (res) => res.arrayBuffer(),
            () => undefined, // a killed instance refuses connections: that is the point of the fault
          );
        }
      }, 1000 / perSecond),
    );
  }
}

/** SIGTERM to every child still running, SIGKILL after 5 s; resolves when all have exited. */
export function stopChildren(children: ChildProcess[]): Promise<void[]> {
  return Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
          child.once("exit", () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill("SIGTERM");
        }),
    ),
  );
}
