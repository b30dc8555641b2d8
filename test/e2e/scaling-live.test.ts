import * as assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { ScalingDecision } from "../../sandbox/controllers/loop";
import {
  startSandboxAutoscaling,
  type SandboxAutoscaling,
} from "../../sandbox/controllers/sandbox-autoscaling";
import { fastSandboxOptions } from "../../sandbox/fast";
import { pollToEnd, sendBurst } from "../../sandbox/load-burst";
import { Sandbox } from "../../sandbox/sandbox";
import { startWithRetry } from "../../sandbox/start-with-retry";

/** Controller seconds per wall second: the 300 s cooldown takes 15 s, a 15 s poll 0.75 s. */
const SPEED_UP = 20;
const MAX_WORKERS = 3;

/**
 * Live: real Redis, Prometheus and pods; the simulated KEDA and HPA controllers (not KEDA itself) on
 * the dev stack's rendered worker autoscaler. Without the loop no worker ever starts and every job of
 * the burst is lost, so this fails.
 */
describe("scale from zero and back, live in the sandbox (simulated controllers)", function () {
  this.timeout(180_000);
  let dir: string;
  let sandbox: Sandbox;
  let scaling: SandboxAutoscaling | undefined;

  before(async () => {
    ({ sandbox, dir } = await startWithRetry(() => {
      const dir = mkdtempSync(path.join(tmpdir(), "sonic-scaling-"));
      const sandbox = new Sandbox({
        ...fastSandboxOptions(dir),
        // One API pod; the worker tier is what the controllers start.
        instances: 1,
        apiOnly: true,
        // A worker's model loads for 2 s after its processes start: the cold start, compressed.
        modelServerEnv: { SONIC_SIM_RTF: "1", SONIC_SIM_LOAD_SECONDS: "2" },
      });
      sandbox.loadPaused = true;
      return { sandbox, dir };
    }));
  });

  after(async () => {
    await scaling?.stop();
    await sandbox?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("wakes the workers from zero on a burst, runs several, returns to zero, and loses no job", async () => {
    const decisions: ScalingDecision[] = [];
    scaling = await startSandboxAutoscaling(sandbox, dir, {
      engine: "keda",
      speedUp: SPEED_UP,
      bounds: { min: 0, max: MAX_WORKERS },
      onDecision: (d) => decisions.push(d),
    });
    const pool = scaling.pool;
    assert.equal(pool.count, 0, "scale to zero: no worker before the burst");
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, pool.count)), 100);

    const api = sandbox.instances[0].url;
    const burst = await sendBurst(api, 12, 2);
    assert.deepEqual(burst.refused, []);
    const ends = await pollToEnd(api, burst.jobs, Date.now() + 60_000);
    const lost = ends.filter((e) => e.status !== "succeeded");
    assert.deepEqual(lost, [], "every job of the burst succeeded");

    // Back to zero: the 300 s cooldown is 15 s here; allow twice that.
    const deadline = Date.now() + 40_000;
    while ((pool.count > 0 || pool.allocated > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
    }
    clearInterval(sampler);
    assert.ok(peak >= 2, `several workers ran (peak ${peak})`);
    assert.equal(pool.count, 0, "back to zero after the cooldown");
    assert.equal(pool.allocated, 0, "every worker process stopped");

    const changes = decisions
      .filter((d) => d.scaled)
      .map((d) => `${d.controller} ${d.current}->${d.desired}`);
    assert.equal(changes[0], "keda 0->1", `woken by KEDA's activation: ${changes.join(", ")}`);
    assert.match(changes[changes.length - 1], /^keda \d->0$/, `put to zero by KEDA: ${changes.join(", ")}`);
    const logged = readFileSync(scaling.decisionsFile, "utf8").trim().split("\n");
    assert.equal(logged.length, decisions.length, "every decision is in the decisions log");
  });

  it("holds the woken workers through a Prometheus outage (the ScaledObject's fallback), never scaling GPUs to zero blind, and loses no job", async () => {
    assert.ok(scaling, "the first case started the simulated controllers");
    const pool = scaling.pool;
    assert.equal(pool.count, 0, "at zero before the burst");
    const logged = () =>
      readFileSync(scaling!.decisionsFile, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as ScalingDecision);
    const from = logged().length;
    const api = sandbox.instances[0].url;
    // Jobs of 6 s: work still waits when the outage starts.
    const burst = await sendBurst(api, 8, 6);
    assert.deepEqual(burst.refused, []);
    const woken = Date.now() + 20_000;
    while (pool.count === 0 && Date.now() < woken) await new Promise((r) => setTimeout(r, 100));
    assert.ok(pool.count >= 1, "woken by the burst");

    await sandbox.stopPrometheus();
    // Longer than the 300 s cooldown (15 s here): without the fallback, inactive past the cooldown is zero.
    let lowest = pool.count;
    const outageEnds = Date.now() + 20_000;
    while (Date.now() < outageEnds) {
      lowest = Math.min(lowest, pool.count);
      await new Promise((r) => setTimeout(r, 100));
    }
    await sandbox.startPrometheus();
    assert.ok(lowest >= 1, `the workers were held through the outage (lowest ${lowest})`);
    const during = logged().slice(from);
    assert.ok(
      during.some((d) => d.fallback),
      `KEDA's fallback stood in for the failing trigger: ${during.map((d) => d.reason).join("; ")}`,
    );

    const ends = await pollToEnd(api, burst.jobs, Date.now() + 60_000);
    assert.deepEqual(
      ends.filter((e) => e.status !== "succeeded"),
      [],
      "every job of the burst succeeded",
    );
  });
});
