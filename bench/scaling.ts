import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { RenderedObject } from "../sandbox/controllers/autoscaler-objects";
import { HPA_SYNC_SECONDS } from "../sandbox/controllers/hpa-algorithm";
import type { ScalingDecision } from "../sandbox/controllers/loop";
import {
  sandboxWorkerPool,
  startSandboxAutoscaling,
  stackObjectsFor,
  type SandboxAutoscaling,
} from "../sandbox/controllers/sandbox-autoscaling";
import type { ProcessWorkerPool } from "../sandbox/controllers/worker-pool";
import { fastSandboxOptions } from "../sandbox/fast";
import { pollToEnd, sendBurst, type JobEnd } from "../sandbox/load-burst";
import { Sandbox } from "../sandbox/sandbox";
import { startWithRetry } from "../sandbox/start-with-retry";
import { parseDuration } from "../components/shared/durations";
import { parseStackConfig, SECRET_KEYS } from "../stacks/config";
import { readProjectConfig } from "../testkit/stack-file";

/**
 * `npm run bench:scaling`: one bursty workload (idle -> burst -> idle) through three worker tiers side
 * by side, each on a fresh sandbox (real Redis, Prometheus, pods; SIMULATED HPA and KEDA controllers,
 * not KEDA itself, on the worker autoscaler each engine's stack renders: dev keda, prod adapter):
 * - fixed: the pool held at the maximum, no controller;
 * - adapter: the HPA on the adapter's backlog query, minimum 1;
 * - keda: the ScaledObject (activation, cooldown, its HPA), minimum 0 (scale to zero).
 * Figures: GPU-seconds allocated (pod-seconds alive x GPUs per pod) over one common window and their
 * ratio to fixed; p50/p95 job wait (submission to start, cold start included); jobs lost (polled to
 * their end; must be 0); burst to first scale-up, against poll + scrape + evaluation (+ sampling).
 *
 * Time is compressed: the controllers' clock runs BENCH_SPEEDUP (20) times the wall's, so the objects'
 * own numbers (15 s syncs and polls, 60/600 s windows, 120/300 s policy periods, 300 s cooldown) hold
 * unchanged in controller seconds; the model load is BENCH_COLD_START (60) controller seconds, a job
 * 2 s of audio at RTF 1 (2 wall s), scrapes and rule evaluations every 1 wall s.
 */
const SPEED_UP = Number(process.env.BENCH_SPEEDUP ?? 20);
const MAX = Number(process.env.BENCH_MAX_WORKERS ?? 4);
const JOBS = Number(process.env.BENCH_JOBS ?? 24);
const COLD_START = Number(process.env.BENCH_COLD_START ?? 60);
const IDLE_BEFORE_MS = 8_000;
const GPUS_PER_POD = 1;
/** Longest wall time a scenario may take to return to its floor after the burst. */
const SETTLE_CAP_MS = 150_000;

interface Scenario {
  name: string;
  engine?: "adapter" | "keda";
  min: number;
}

interface Outcome {
  scenario: Scenario;
  source: string;
  /** Wall ms from the window start to when the pool settled at its floor. */
  settledAfterMs: number;
  floor: number;
  allocatedMs: number;
  ends: JobEnd[];
  refused: number;
  firstScaleUpMs?: number;
  theoryMs?: { poll: number; scrape: number; evaluation: number; sampling: number; upWindow: number };
  decisions: number;
}

const SCENARIOS: Scenario[] = [
  { name: `fixed at ${MAX}`, min: MAX },
  { name: "adapter, min 1", engine: "adapter", min: 1 },
  { name: "keda, min 0", engine: "keda", min: 0 },
];

/** A started sandbox of one API pod; the worker tier is started by the pool (retried on a busy machine, see startWithRetry). */
async function startSandbox() {
  const fast = fastSandboxOptions("");
  const { sandbox, dir } = await startWithRetry(
    () => {
      const dir = mkdtempSync(path.join(tmpdir(), "sonic-bench-scaling-"));
      const sandbox = new Sandbox({
        ...fastSandboxOptions(dir),
        instances: 1,
        apiOnly: true,
        modelServerEnv: { SONIC_SIM_RTF: "1", SONIC_SIM_LOAD_SECONDS: String(COLD_START / SPEED_UP) },
      });
      sandbox.loadPaused = true;
      return { sandbox, dir };
    },
    3,
    (line) => process.stdout.write(`  ${line}\n`),
  );
  return { sandbox, dir, fast };
}

async function runScenario(scenario: Scenario, objects: RenderedObject[]): Promise<Outcome> {
  const { sandbox, dir, fast } = await startSandbox();
  let scaling: SandboxAutoscaling | undefined;
  try {
    const decisions: ScalingDecision[] = [];
    let pool: ProcessWorkerPool;
    let source = "no controller";
    if (scenario.engine) {
      scaling = await startSandboxAutoscaling(sandbox, dir, {
        engine: scenario.engine,
        speedUp: SPEED_UP,
        objects,
        bounds: { min: scenario.min, max: MAX },
        onDecision: (d) => decisions.push(d),
      });
      pool = scaling.pool;
      source = scaling.source;
    } else {
      pool = sandboxWorkerPool(sandbox, MAX);
      await pool.scaleTo(MAX);
      await pool.settled();
    }
    // Warm: the floor's workers have loaded their model before the window opens.
    await sleep((COLD_START / SPEED_UP) * 1000 + 1000);
    const start = Date.now();
    await sleep(IDLE_BEFORE_MS);
    const api = sandbox.instances[0].url;
    const burstAt = Date.now();
    const burst = await sendBurst(api, JOBS, 2);
    const ends = await pollToEnd(api, burst.jobs, Date.now() + SETTLE_CAP_MS);
    const floor = scenario.min;
    const deadline = burstAt + SETTLE_CAP_MS;
    while ((pool.count !== floor || pool.allocated !== floor) && Date.now() < deadline) await sleep(200);
    const settled = Date.now();
    await scaling?.stop();
    const firstUp = decisions.find((d) => d.scaled && d.desired > d.current && Date.parse(d.time) >= burstAt);
    const a = scaling?.autoscaler;
    const poll = a?.keda ? a.keda.pollingInterval : HPA_SYNC_SECONDS;
    // From 0 KEDA activates at once; from 1 the HPA's scale-up window must first see only higher values.
    const upWindow = a && !a.keda ? (a.hpa.behavior?.scaleUp?.stabilizationWindowSeconds ?? 0) : 0;
    return {
      scenario,
      source,
      settledAfterMs: settled - start,
      floor,
      allocatedMs: pool.allocatedMs(start, settled),
      ends,
      refused: burst.refused.length,
      firstScaleUpMs: firstUp ? Date.parse(firstUp.time) - burstAt : undefined,
      theoryMs: a && {
        poll: (poll * 1000) / SPEED_UP,
        scrape: parseDuration("scrapeInterval", fast.scrapeInterval!) * 1000,
        evaluation: parseDuration("evaluationInterval", fast.evaluationInterval!) * 1000,
        // The API samples the queue depth into its gauge every SONIC_QUEUE_SAMPLE_SECONDS (1 s).
        sampling: 1000,
        upWindow: (upWindow * 1000) / SPEED_UP,
      },
      decisions: decisions.length,
    };
  } finally {
    await scaling?.stop().catch(() => undefined);
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function percentile(xs: number[], p: number): number | undefined {
  if (xs.length === 0) return undefined;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const s = (ms?: number, digits = 1) => (ms === undefined ? "-" : (ms / 1000).toFixed(digits));

async function main(): Promise<void> {
  process.stdout.write(
    `bench:scaling - SIMULATED HPA and KEDA controllers (not KEDA itself) over real Redis, Prometheus and pods\n` +
      `time compression: controller clock x${SPEED_UP} (a 15 s poll every ${s((15 * 1000) / SPEED_UP, 2)} wall s); ` +
      `cold start ${COLD_START} controller s = ${s((COLD_START * 1000) / SPEED_UP, 2)} wall s of model load + process start; ` +
      `burst of ${JOBS} jobs of 2 s at RTF 1, 2 slots per worker, max ${MAX} workers, ${GPUS_PER_POD} GPU each\n\n`,
  );
  const rendered: Record<string, RenderedObject[]> = {};
  const outcomes: Outcome[] = [];
  for (const scenario of SCENARIOS) {
    process.stdout.write(`running ${scenario.name}...\n`);
    outcomes.push(
      await runScenario(
        scenario,
        scenario.engine ? stackObjectsFor(scenario.engine, ["dev", "prod"], rendered).objects : [],
      ),
    );
  }
  // One window for all: a tier that settled early stays at its floor until the last one settles.
  const windowMs = Math.max(...outcomes.map((o) => o.settledAfterMs));
  const gpuSeconds = outcomes.map(
    (o) => ((o.allocatedMs + o.floor * (windowMs - o.settledAfterMs)) / 1000) * GPUS_PER_POD,
  );
  const fixed = gpuSeconds[0];
  // What the window costs at prod's price, on the controllers' clock (the real-time equivalent).
  const cost = parseStackConfig(readProjectConfig("prod"), new Set(SECRET_KEYS)).cost;
  const money = (g: number) => (cost ? ((g * SPEED_UP) / 3600) * cost.gpuHourly : undefined);
  const rows: [string, ...string[]][] = [
    ["", ...outcomes.map((o) => o.scenario.name)],
    [`GPU-seconds allocated (wall, ${s(windowMs, 0)} s window)`, ...gpuSeconds.map((g) => g.toFixed(1))],
    ["  same in controller seconds", ...gpuSeconds.map((g) => (g * SPEED_UP).toFixed(0))],
    ["  ratio to fixed", ...gpuSeconds.map((g) => (g / fixed).toFixed(2))],
    ...(cost
      ? [
          [
            `GPU cost of the window at ${cost.gpuHourly} ${cost.currency}/GPU-hour (prod)`,
            ...gpuSeconds.map((g) => money(g)!.toFixed(2)),
          ] as [string, ...string[]],
          [
            `  per video of the burst (${JOBS}), idle included`,
            ...gpuSeconds.map((g) => (money(g)! / JOBS).toFixed(3)),
          ] as [string, ...string[]],
        ]
      : []),
    ...(["p50", "p95"] as const).map((p): [string, ...string[]] => [
      `${p} job wait incl. cold start (wall s)`,
      ...outcomes.map((o) => {
        const waits = o.ends.flatMap((e) => (e.waitSeconds === undefined ? [] : [e.waitSeconds * 1000]));
        return s(percentile(waits, p === "p50" ? 50 : 95), 2);
      }),
    ]),
    [
      "jobs lost (not succeeded)",
      ...outcomes.map((o) => String(o.ends.filter((e) => e.status !== "succeeded").length)),
    ],
    ["submissions refused", ...outcomes.map((o) => String(o.refused))],
    ["burst -> first scale-up (wall s)", ...outcomes.map((o) => s(o.firstScaleUpMs, 2))],
    [
      "  theory: poll+scrape+eval+sampling(+up-window)",
      ...outcomes.map((o) => {
        const t = o.theoryMs;
        if (!t) return "-";
        const sum = t.poll + t.scrape + t.evaluation + t.sampling + t.upWindow;
        return `<= ${s(sum, 2)}`;
      }),
    ],
    ["decisions logged", ...outcomes.map((o) => String(o.decisions))],
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows)
    process.stdout.write(
      r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("   ") + "\n",
    );
  process.stdout.write("\nautoscalers:\n");
  for (const o of outcomes) process.stdout.write(`  ${o.scenario.name}: ${o.source}\n`);
  for (const o of outcomes) {
    const t = o.theoryMs;
    if (t)
      process.stdout.write(
        `  ${o.scenario.name} theory: poll ${s(t.poll, 2)} + scrape ${s(t.scrape, 2)} + evaluation ${s(t.evaluation, 2)} + queue sampling ${s(t.sampling, 2)}` +
          (t.upWindow ? ` + HPA scale-up window ${s(t.upWindow, 2)}` : "") +
          " wall s (worst case; pod start and model load come after)\n",
      );
  }
  const lost = outcomes.reduce((n, o) => n + o.ends.filter((e) => e.status !== "succeeded").length, 0);
  if (lost > 0) {
    process.stdout.write(`\nFAIL: ${lost} jobs lost\n`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
