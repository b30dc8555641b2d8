import { existsSync, readFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import { REPO_ROOT } from "../testkit/stack-file";
import {
  DECISIONS_FILE,
  planAutoscaledSandbox,
  startSandboxAutoscaling,
  type AutoscaleEngine,
  type SandboxAutoscaling,
} from "./controllers/sandbox-autoscaling";
import { watchDecisions } from "./controllers/watch";
import { FLEET_CLUSTERS, FleetSandbox } from "./fleet";
import { sendBurst } from "./load-burst";
import { Endpoints, Sandbox } from "./sandbox";

const STATE_DIR = path.join(REPO_ROOT, ".sandbox");

/** The fault switches: what each sets on a pod's simulated model server, and what turns it off. */
const FAULTS: Record<string, { on: Record<string, number>; off: Record<string, number>; what: string }> = {
  errors: {
    on: { errorRate: 1 },
    off: { errorRate: 0 },
    what: "every job fails (SonicHighErrorRate, SonicErrorBudgetBurn)",
  },
  gpu: {
    on: { gpuMemoryPressure: 0.95 },
    off: { gpuMemoryPressure: 0 },
    what: "GPU memory above 95% (HighGPUMemoryUsage)",
  },
  desync: {
    on: { avOffsetSeconds: 0.4 },
    off: { avOffsetSeconds: 0 },
    what: "videos drift 400 ms from their audio (SonicAudioVideoDesync)",
  },
  oom: {
    on: { oomRate: 1 },
    off: { oomRate: 0 },
    what: "every job fails with gpu_out_of_memory (SonicHighErrorRate)",
  },
};

const USAGE = `usage:
  npm start [-- --stack dev|prod] [--instances N]     start the sandbox (Ctrl-C stops everything)
  npm run sandbox -- fault <${Object.keys(FAULTS).join("|")}> [--instance N] [--off]
  npm run sandbox -- kill <N> | revive <N>              kill -9 or restart pod N (SonicTargetDown; its jobs move on)
  npm run sandbox -- alerts                             alerts Prometheus has pending or firing
  npm start -- --autoscale keda|adapter [--speed-up N]   one API pod; the worker tier is started and
                                                        stopped by SIMULATED HPA/KEDA controllers
                                                        (not KEDA itself) on the stack's rendered objects
  npm run sandbox -- load burst [--jobs N]              N submissions at once to the API (default 20)
  npm run sandbox -- scaling [--changes]                replicas, metric values and each decision, live
  npm run sandbox -- fleet                              two clusters (one an HA pair) writing to a local global
                                                        store (VictoriaMetrics) with the fleet ruler (vmalert)`;

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function endpoints(): Endpoints {
  const file = path.join(STATE_DIR, "endpoints.json");
  if (!existsSync(file)) throw new Error("no sandbox is running here: start one with 'npm start'");
  return JSON.parse(readFileSync(file, "utf8")) as Endpoints;
}

async function start(argv: string[]): Promise<void> {
  rmSync(STATE_DIR, { recursive: true, force: true });
  const engine = flag(argv, "--autoscale") as AutoscaleEngine | undefined;
  if (engine && engine !== "keda" && engine !== "adapter")
    throw new Error(`--autoscale keda|adapter\n${USAGE}`);
  const speedUp = Number(flag(argv, "--speed-up") ?? 10);
  const plan = engine && planAutoscaledSandbox(engine, flag(argv, "--stack") ?? "dev", speedUp);
  const sandbox = new Sandbox({
    stack: flag(argv, "--stack") ?? "dev",
    // Autoscaled: one API pod, and the worker tier as many worker pods as the controllers ask for.
    instances: plan ? 1 : Number(flag(argv, "--instances") ?? 2),
    apiOnly: !!plan,
    stateDir: STATE_DIR,
    ports: { prometheus: 9090, alertmanager: 9093, sink: 9095, firstApp: 8081 },
    ...(plan ? { modelServerEnv: plan.modelServerEnv } : {}),
  });
  // Autoscaled, the workload is what `load burst` sends: the steady generator would never let it idle.
  sandbox.loadPaused = !!plan;
  let scaling: SandboxAutoscaling | undefined;
  const stop = async () => {
    process.stdout.write("\nstopping the sandbox...\n");
    await scaling?.stop();
    await sandbox.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
  try {
    const e = await sandbox.start();
    if (plan) scaling = await startSandboxAutoscaling(sandbox, STATE_DIR, plan.options);
    process.stdout.write(
      [
        "Sonic sandbox is up (simulated model servers; nothing here needs a cluster or a GPU).",
        "",
        `  Prometheus     ${e.prometheus}   (Alerts: ${e.prometheus}/alerts, Targets: ${e.prometheus}/targets)`,
        `  Alertmanager   ${e.alertmanager}`,
        `  Webhook sink   ${e.sink}/alerts  -> ${path.relative(process.cwd(), e.webhookLog)} (tail -f it)`,
        `  Redis          ${e.redis}   (the shared job queue)`,
        `  Alert analyst  ${e.analyst}   (its reports go to the sink too: /analyses in the webhook log)`,
        ...e.instances.map((i, n) =>
          i.workerUrl
            ? `  Sonic #${n}       ${i.url}   (pod ${i.pod}: the API; its worker ${i.workerUrl}, simulated model server ${i.modelServerUrl})`
            : `  Sonic #${n}       ${i.url}   (pod ${i.pod}: the API only; worker pods come and go with the autoscaler)`,
        ),
        "",
        `Endpoints for scripts: ${path.relative(process.cwd(), path.join(STATE_DIR, "endpoints.json"))}`,
        "Faults, from another terminal:",
        ...Object.entries(FAULTS).map(
          ([name, f]) => `  npm run sandbox -- fault ${name} [--off]   ${f.what}`,
        ),
        "  npm run sandbox -- kill 0  /  revive 0      instance 0 down (SonicTargetDown)",
        ...(plan
          ? [
              "",
              `Autoscaling: SIMULATED ${engine === "keda" ? "KEDA operator + HPA" : "HPA (prometheus-adapter queries)"} controllers, not KEDA itself,`,
              `  on ${plan.source}; clock x${speedUp} (a 15 s sync every ${15 / speedUp} s; model load ${plan.modelServerEnv.SONIC_SIM_LOAD_SECONDS} s).`,
              `  Sonic #0 is the API tier; the worker tier has ${scaling?.pool.count} of at most ${plan.autoscaler.hpa.maxReplicas} worker pods.`,
              "  npm run sandbox -- load burst --jobs 20     then     npm run sandbox -- scaling",
            ]
          : []),
        "Ctrl-C stops every process.",
        "",
      ].join("\n"),
    );
  } catch (err) {
    await sandbox.stop();
    throw err;
  }
}

/** Two-cluster mode: the fleet's store and ruler over an HA pair and a single cluster; stdin darkens one. */
async function fleet(): Promise<void> {
  const dir = path.join(REPO_ROOT, ".sandbox-fleet");
  rmSync(dir, { recursive: true, force: true });
  const sandbox = new FleetSandbox({ stateDir: dir });
  const stop = async () => {
    process.stdout.write("\nstopping the fleet sandbox...\n");
    await sandbox.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
  await sandbox.start();
  process.stdout.write(
    [
      "Fleet sandbox is up: two clusters remote-writing with the cluster stacks' exact remote-write entry.",
      "",
      `  Global store (VictoriaMetrics)  ${sandbox.store}/vmui   (PromQL: ${sandbox.store}/api/v1/query)`,
      `  Fleet ruler (vmalert)           ${sandbox.ruler}   (alerts: ${sandbox.ruler}/api/v1/alerts)`,
      ...sandbox.members.map(
        (m) => `  Prometheus ${(m.cluster + (m.replica ? ` ${m.replica}` : "")).padEnd(28)} ${m.url}`,
      ),
      `  Alertmanager                    ${sandbox.sandbox.endpoints.alertmanager}`,
      "",
      `Type 'd' + Enter to darken ${FLEET_CLUSTERS.single} (kill -9), 'r' + Enter to restore it. Ctrl-C stops all.`,
      "",
    ].join("\n"),
  );
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (line: string) => {
    if (line.trim() === "d") sandbox.darken(FLEET_CLUSTERS.single);
    if (line.trim() === "r") void sandbox.restore(FLEET_CLUSTERS.single);
  });
}

async function main(argv: string[]): Promise<void> {
  const [command = "start", arg] = argv;
  switch (command) {
    case "start":
    case "--stack":
    case "--instances":
      return start(argv);
    case "fault": {
      const fault = FAULTS[arg];
      if (!fault) throw new Error(`unknown fault "${arg}"\n${USAGE}`);
      const e = endpoints();
      const which = flag(argv, "--instance");
      const targets = which === undefined ? e.instances : [e.instances[Number(which)]];
      for (const target of targets) {
        const res = await fetch(`${target.modelServerUrl}/v1/simulation/faults`, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(argv.includes("--off") ? fault.off : fault.on),
        });
        process.stdout.write(`${target.pod}: ${res.status} ${await res.text()}\n`);
      }
      return;
    }
    case "kill":
    case "revive": {
      const res = await fetch(`${endpoints().sink}/control/${command}/${Number(arg ?? 0)}`, {
        method: "POST",
      });
      process.stdout.write(`${await res.text()}\n`);
      return;
    }
    case "fleet":
      return fleet();
    case "load": {
      if (arg !== "burst") throw new Error(USAGE);
      const jobs = Number(flag(argv, "--jobs") ?? 20);
      const r = await sendBurst(endpoints().instances[0].url, jobs);
      process.stdout.write(`${r.jobs.length} jobs accepted, ${r.refused.length} refused\n`);
      for (const x of r.refused.slice(0, 5)) process.stdout.write(`  refused: ${x.status} ${x.body}\n`);
      return;
    }
    case "scaling":
    case "watch": {
      endpoints();
      const file = path.join(STATE_DIR, DECISIONS_FILE);
      if (!existsSync(file))
        throw new Error("this sandbox runs no autoscaling: start it with 'npm start -- --autoscale keda'");
      process.stdout.write(
        "decisions of the SIMULATED controllers (not KEDA itself); Ctrl-C stops watching\n",
      );
      return watchDecisions(file, (line) => process.stdout.write(`${line}\n`), {
        changesOnly: argv.includes("--changes"),
      });
    }
    case "alerts": {
      const res = (await (await fetch(`${endpoints().prometheus}/api/v1/alerts`)).json()) as any;
      for (const a of res.data.alerts)
        process.stdout.write(`${a.state.padEnd(8)} ${a.labels.alertname} ${JSON.stringify(a.labels)}\n`);
      if (res.data.alerts.length === 0) process.stdout.write("no alerts pending or firing\n");
      return;
    }
    default:
      throw new Error(USAGE);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
