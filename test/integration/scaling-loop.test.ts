import * as assert from "node:assert/strict";
import { scaledObjectSpec } from "../../components/autoscaling/scaled-object";
import { jobBacklogRule, requestQpsRule } from "../../components/autoscaling/custom-metric";
import { gpuScalingBehavior } from "../../components/autoscaling/scaling-behavior";
import {
  adapterQuery,
  controlledAutoscalers,
  parseQuantity,
  type RenderedObject,
} from "../../sandbox/controllers/autoscaler-objects";
import { ScalingLoop, type ScalingDecision } from "../../sandbox/controllers/loop";
import type { InstantQuery } from "../../sandbox/controllers/prometheus-query";
import { ProcessWorkerPool, type WorkerPool } from "../../sandbox/controllers/worker-pool";
import {
  provisionalScaledObject,
  stackObjectsFor,
  workerAutoscaler,
} from "../../sandbox/controllers/sandbox-autoscaling";
import { formatDecision, watchDecisions } from "../../sandbox/controllers/watch";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

/** A pool that only counts. */
class CountingPool implements WorkerPool {
  count = 0;
  history: number[] = [];
  async scaleTo(n: number) {
    this.count = n;
    this.history.push(n);
  }
  pods() {
    return Array.from({ length: this.count }, (_, i) => `w${i}`);
  }
}

const adapterRelease = {
  chart: "prometheus-adapter",
  values: { rules: { custom: [requestQpsRule()], external: [jobBacklogRule()] } },
};

const hpaObject: RenderedObject = {
  apiVersion: "autoscaling/v2",
  kind: "HorizontalPodAutoscaler",
  metadata: { name: "sonic-generate-worker", namespace: "ai-inference" },
  spec: {
    scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "sonic-generate-worker" },
    minReplicas: 1,
    maxReplicas: 4,
    metrics: [
      {
        type: "Pods",
        pods: {
          metric: { name: "sonic_request_qps" },
          target: { type: "AverageValue", averageValue: "50m" },
        },
      },
      {
        type: "External",
        external: {
          metric: { name: "sonic_job_backlog", selector: { matchLabels: { job: "sonic-generate-service" } } },
          target: { type: "AverageValue", averageValue: "1" },
        },
      },
    ],
    behavior: gpuScalingBehavior(600),
  },
};

const scaledObject = (minReplicas: number): RenderedObject => ({
  apiVersion: "keda.sh/v1alpha1",
  kind: "ScaledObject",
  metadata: { name: "sonic-generate-worker", namespace: "ai-inference" },
  spec: scaledObjectSpec(
    {
      minReplicas,
      maxReplicas: 4,
      pollingIntervalSeconds: 15,
      cooldownPeriodSeconds: 300,
      triggers: [
        {
          serverAddress: "http://prometheus.monitoring.svc:9090",
          query: 'sonic:job_backlog:ratio{namespace="ai-inference",job="sonic-generate-service"}',
          threshold: 1,
        },
      ],
    },
    "sonic-generate-worker",
  ),
});

describe("autoscaler objects for the simulated controllers", () => {
  it("reads Kubernetes quantities as numbers", () => {
    assert.equal(parseQuantity("50m"), 0.05);
    assert.equal(parseQuantity("1"), 1);
    assert.equal(parseQuantity("1500m"), 1.5);
    assert.throws(() => parseQuantity("lots"));
  });

  it("turns an adapter HPA's external metric into the query prometheus-adapter runs for it", () => {
    const [a] = controlledAutoscalers([adapterRelease, hpaObject] as RenderedObject[]);
    const backlog = a.metrics.find((m) => m.name === "sonic_job_backlog")!;
    assert.equal(backlog.kind, "external-average");
    assert.equal(
      backlog.query([]),
      '(max by (namespace, job) (sonic_jobs_queued{namespace="ai-inference",job="sonic-generate-service"}) + sum by (namespace, job) (sonic_jobs_in_progress{namespace="ai-inference",job="sonic-generate-service"})) / max by (namespace, job) (sonic_job_slots{namespace="ai-inference",job="sonic-generate-service"})',
    );
  });

  it("selects a Pods metric's pods by name and groups by pod, as the adapter does", () => {
    const q = adapterQuery(requestQpsRule(), { namespace: "ai-inference" }, ["a-0", "a.1"]);
    assert.equal(
      q,
      'sum(rate(sonic_job_submissions_total{namespace="ai-inference",pod=~"a-0|a\\.1"}[2m])) by (pod)',
    );
  });

  it("reads a ScaledObject's trigger query verbatim and gives KEDA's HPA a minimum of at least 1", () => {
    const [so] = controlledAutoscalers([scaledObject(0)]);
    assert.equal(so.engine, "keda");
    assert.equal(
      so.metrics[0].query([]),
      'sonic:job_backlog:ratio{namespace="ai-inference",job="sonic-generate-service"}',
    );
    assert.equal(so.hpa.minReplicas, 1);
    assert.equal(so.keda!.minReplicaCount, 0);
    assert.deepEqual(so.keda!.fallback, {
      failureThreshold: 3,
      replicas: 1,
      behavior: "currentReplicasIfHigher",
    });
  });

  it("builds the keda engine's ScaledObject from the adapter HPA while the stack renders none", () => {
    const { autoscaler, source } = workerAutoscaler([adapterRelease, hpaObject] as RenderedObject[], "keda");
    assert.equal(autoscaler.engine, "keda");
    assert.match(source, /renders no ScaledObject yet/);
    const hpa = controlledAutoscalers([adapterRelease, hpaObject] as RenderedObject[])[0];
    assert.equal(autoscaler.metrics[0].query([]), hpa.metrics[1].query([]));
    assert.equal(provisionalScaledObject(hpa).spec.minReplicaCount, 0);
  });

  it("prefers the rendered object of the engine on the worker Deployment", () => {
    const { autoscaler, source } = workerAutoscaler(
      [adapterRelease, hpaObject, scaledObject(0)] as RenderedObject[],
      "keda",
    );
    assert.equal(autoscaler.deployment, "sonic-generate-worker");
    assert.match(source, /^rendered ScaledObject/);
  });
});

describe("the stacks' rendered worker autoscalers, as the sandbox reads them", function () {
  this.timeout(120_000);
  const cache = {};

  for (const engine of ["adapter", "keda"] as const) {
    it(`finds the ${engine} engine's autoscaler on the worker Deployment with queries for every metric`, () => {
      const { autoscaler, stack } = stackObjectsFor(engine, ["dev", "prod"], cache);
      assert.equal(autoscaler.engine, engine === "keda" ? "keda" : "hpa", stack);
      assert.ok(autoscaler.metrics.length > 0);
      assert.deepEqual(autoscaler.unsupported, []);
      // Every query is one the sandbox's Prometheus can parse: no adapter template left in it.
      for (const m of autoscaler.metrics) assert.doesNotMatch(m.query(["p-0"]), /<<|>>/);
      assert.ok(autoscaler.hpa.maxReplicas >= Math.max(1, autoscaler.hpa.minReplicas));
    });
  }
});

describe("the simulated scaling loop against a fake Prometheus", () => {
  /** A Prometheus whose one answer is whatever `backlog` holds (undefined: empty; "down": refused). */
  function fakePrometheus() {
    const state: { backlog: number | undefined | "down"; queries: string[] } = { backlog: 0, queries: [] };
    const query: InstantQuery = async (q) => {
      state.queries.push(q);
      if (state.backlog === "down") throw new Error("connection refused");
      return state.backlog === undefined ? [] : [{ labels: {}, value: state.backlog }];
    };
    return { state, query };
  }

  it("wakes a pool from zero, scales it up under the HPA's policies and puts it back to zero after the cooldown", async () => {
    const prom = fakePrometheus();
    const pool = new CountingPool();
    let wall = 0;
    const decisions: ScalingDecision[] = [];
    const loop = new ScalingLoop({
      autoscalers: controlledAutoscalers([scaledObject(0)]),
      pools: { "sonic-generate-worker": pool },
      query: prom.query,
      now: () => wall,
      onDecision: (d) => decisions.push(d),
    });
    const at = async (seconds: number) => {
      wall = seconds * 1000;
      await loop.pollKeda(0);
      await loop.syncHpa(0);
    };
    await at(0);
    assert.equal(pool.count, 0, "idle: stays at zero");
    prom.state.backlog = 3.5;
    wall = 15_000;
    await loop.pollKeda(0);
    assert.equal(pool.count, 1, "KEDA activates 0 -> 1 on the first active poll");
    assert.equal(decisions.find((d) => d.scaled)!.controller, "keda");
    // The next HPA sync asks for ceil(3.5 / 1) = 4, and its policy allows 2 more pods.
    await loop.syncHpa(0);
    assert.equal(pool.count, 3, "then the HPA takes over: 1 -> 3 (Pods 2 per 120 s)");
    for (let t = 30; t <= 120; t += 15) await at(t);
    assert.equal(pool.count, 3, "no more pods within 120 s of the last 2");
    await at(135);
    assert.equal(pool.count, 4, "capped at maxReplicaCount");
    for (let t = 150; t <= 300; t += 15) await at(t);
    prom.state.backlog = 0;
    for (let t = 315; t <= 600; t += 15) await at(t);
    assert.equal(pool.count, 4, "inactive, but within the 300 s cooldown after the last active poll (300 s)");
    await at(615);
    assert.equal(pool.count, 0, "KEDA scales to zero once the cooldown has passed, past the HPA's 1");
    assert.deepEqual(pool.history, [1, 3, 4, 0]);
    assert.ok(decisions.every((d) => d.object === "ScaledObject/ai-inference/sonic-generate-worker"));
  });

  it("holds the workers when Prometheus goes away: no scale to zero, and the fallback after 3 failures", async () => {
    const prom = fakePrometheus();
    const pool = new CountingPool();
    pool.count = 3;
    let wall = 0;
    const loop = new ScalingLoop({
      autoscalers: controlledAutoscalers([scaledObject(0)]),
      pools: { "sonic-generate-worker": pool },
      query: prom.query,
      now: () => wall,
    });
    prom.state.backlog = "down";
    let last: ScalingDecision | undefined;
    for (let t = 0; t <= 1200; t += 15) {
      wall = t * 1000;
      await loop.pollKeda(0);
      last = await loop.syncHpa(0);
    }
    assert.equal(pool.count, 3, "currentReplicasIfHigher: 3 running are more than fallback.replicas 1");
    assert.equal(last!.fallback, true);
  });

  it("refuses an empty answer as KEDA does without ignoreNullValues, and keeps the count", async () => {
    const prom = fakePrometheus();
    prom.state.backlog = undefined;
    const pool = new CountingPool();
    pool.count = 2;
    const loop = new ScalingLoop({
      autoscalers: controlledAutoscalers([scaledObject(0)]),
      pools: { "sonic-generate-worker": pool },
      query: prom.query,
      now: () => 0,
    });
    const d = await loop.pollKeda(0);
    assert.match(String(Object.values(d.values)[0]), /result is empty/);
    assert.equal(pool.count, 2);
  });

  it("syncs an adapter HPA on the largest of its metrics, Pods metrics over the pool's pods", async () => {
    const pool = new CountingPool();
    pool.count = 1;
    const queries: string[] = [];
    const loop = new ScalingLoop({
      autoscalers: controlledAutoscalers([
        adapterRelease,
        { ...hpaObject, spec: { ...hpaObject.spec, behavior: undefined } },
      ] as RenderedObject[]),
      pools: { "sonic-generate-worker": pool },
      query: async (q) => {
        queries.push(q);
        return q.includes("sonic_job_submissions_total")
          ? [{ labels: { pod: "w0" }, value: 0.01 }]
          : [{ labels: { namespace: "ai-inference", job: "sonic-generate-service" }, value: 3 }];
      },
      now: () => 0,
    });
    const d = await loop.syncHpa(0);
    assert.equal(d.desired, 3);
    assert.equal(d.values.sonic_job_backlog, 3);
    assert.ok(queries.some((q) => q.includes('pod=~"w0"')));
  });

  it("runs the HPA every sync period and KEDA every pollingInterval on the sped-up clock", async () => {
    const prom = fakePrometheus();
    const decisions: ScalingDecision[] = [];
    const loop = new ScalingLoop({
      autoscalers: controlledAutoscalers([scaledObject(0)]),
      pools: { "sonic-generate-worker": new CountingPool() },
      query: prom.query,
      speedUp: 300, // 15 s every 50 ms
      onDecision: (d) => decisions.push(d),
    });
    loop.start();
    await new Promise((r) => setTimeout(r, 520));
    await loop.stop();
    const keda = decisions.filter((d) => d.controller === "keda");
    // A busy machine delays timers, never fires them early: bound the count loosely, the gaps tightly below.
    assert.ok(keda.length >= 5 && keda.length <= 12, `${keda.length} KEDA polls in 0.52 s at 50 ms`);
    const gaps = keda.slice(1).map((d, i) => d.t - keda[i].t);
    const median = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)];
    assert.ok(gaps.every((g) => g >= 12) && median <= 25, `gaps in controller seconds: ${gaps}`);
  });

  it("skips an autoscaler whose Deployment has no pool, and says so", () => {
    const loop = new ScalingLoop({
      autoscalers: controlledAutoscalers([scaledObject(0)]),
      pools: {},
      query: async () => [],
    });
    assert.match(loop.skipped[0], /sonic-generate-worker has no pool/);
  });
});

describe("the worker pool", () => {
  it("starts the lowest slots, stops the highest first, and counts each pod's allocation once", async () => {
    let now = 0;
    const log: string[] = [];
    const slot = (name: string) => ({
      name,
      start: async () => void log.push(`start ${name}`),
      terminate: async () => void log.push(`stop ${name}`),
    });
    const pool = new ProcessWorkerPool([slot("a"), slot("b"), slot("c")], () => now);
    await pool.scaleTo(2);
    await pool.settled();
    now = 10_000;
    await pool.scaleTo(1);
    await pool.settled();
    now = 20_000;
    await pool.scaleTo(5);
    assert.equal(pool.count, 3, "clamped to the slots");
    await pool.settled();
    assert.deepEqual(log, ["start a", "start b", "stop b", "start b", "start c"]);
    assert.deepEqual(pool.pods(), ["a", "b", "c"]);
    // a: 0..30 s, b: 0..10 s and 20..30 s, c: 20..30 s = 30 + 20 + 10 pod-seconds.
    assert.equal(pool.allocatedMs(0, 30_000), 60_000);
  });
});

describe("watching the decisions log", () => {
  const decision = (scaled: boolean, desired: number): ScalingDecision => ({
    time: "2026-12-01T16:29:24.089Z",
    t: 271.46,
    controller: "keda",
    object: "ScaledObject/ai-inference/sonic-generate-worker",
    deployment: "sonic-generate-worker",
    values: { backlog: 3.5 },
    current: 0,
    desired,
    scaled,
    reason: "activated",
  });

  it("shows a decision's time, controller, replicas, values and reason on one line", () => {
    const line = formatDecision(decision(true, 1));
    assert.match(
      line,
      /^16:29:24 +t= +271s +simulated-keda +sonic-generate-worker +replicas 0 -> 1 +backlog=3\.5 +\| activated$/,
    );
  });

  it("follows the log as the loop appends to it, every decision or only the changes", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sonic-watch-"));
    const file = path.join(dir, "scaling-decisions.jsonl");
    writeFileSync(file, JSON.stringify(decision(false, 0)) + "\n");
    const all: string[] = [];
    const changes: string[] = [];
    const stop = new AbortController();
    const watching = Promise.all([
      watchDecisions(file, (l) => all.push(l), { signal: stop.signal, pollMs: 20 }),
      watchDecisions(file, (l) => changes.push(l), { signal: stop.signal, pollMs: 20, changesOnly: true }),
    ]);
    await new Promise((r) => setTimeout(r, 60));
    // Written in two pieces, as an append may land: the half line waits for its end.
    const line = JSON.stringify(decision(true, 1)) + "\n";
    appendFileSync(file, line.slice(0, 40));
    await new Promise((r) => setTimeout(r, 60));
    appendFileSync(file, line.slice(40));
    await new Promise((r) => setTimeout(r, 100));
    stop.abort();
    await watching;
    rmSync(dir, { recursive: true, force: true });
    assert.equal(all.length, 2);
    assert.equal(changes.length, 1);
    assert.match(changes[0], /replicas 0 -> 1/);
  });
});
