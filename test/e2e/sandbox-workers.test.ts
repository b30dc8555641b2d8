import * as assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { form, png, wav } from "../../testkit/media";
import { fastSandboxOptions } from "../../sandbox/fast";
import { NAMESPACE, Sandbox, SERVICE, WORKER_SERVICE } from "../../sandbox/sandbox";
import { until, waitForJob } from "../../testkit/service";

const INPUT = { audio: { data: wav(1), type: "audio/wav" }, image: { data: png(64, 64), type: "image/png" } };

async function query(prometheus: string, promql: string): Promise<any[]> {
  const res = (await (
    await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(promql)}`)
  ).json()) as any;
  if (res.status !== "success") throw new Error(`${promql}: ${res.error}`);
  return res.data.result;
}

/** The pods of the active worker targets Prometheus scrapes now. */
async function workerTargets(prometheus: string): Promise<string[]> {
  const res = (await (await fetch(`${prometheus}/api/v1/targets?state=active`)).json()) as any;
  return res.data.activeTargets
    .filter((t: any) => t.labels.app_kubernetes_io_component === "worker")
    .map((t: any) => t.labels.pod)
    .sort();
}

describe("the sandbox's worker tier from zero (1 API, worker pods added and removed at runtime)", function () {
  this.timeout(180_000);
  let sandbox: Sandbox;
  before(async () => {
    sandbox = new Sandbox({
      ...fastSandboxOptions(mkdtempSync(path.join(tmpdir(), "sonic-workers-"))),
      instances: 1,
      apiOnly: true,
    });
    sandbox.loadPaused = true; // only this test's jobs
    await sandbox.start();
  });
  after(() => sandbox?.stop());

  it("scrapes the API alone, then each worker from its start to its removal, and runs the waiting job once one is ready", async () => {
    const prometheus = sandbox.endpoints.prometheus;
    const [instance] = sandbox.instances;
    await until(
      async () =>
        (await query(prometheus, `up{job="${SERVICE}",app_kubernetes_io_component="api"}`)).length === 1,
      "the API to be scraped",
      30_000,
    );
    assert.deepEqual(await workerTargets(prometheus), []);

    const res = await fetch(`${instance.url}/v1/videos`, { method: "POST", body: form(INPUT) });
    const job = (await res.json()) as any;
    assert.equal(res.status, 202);
    assert.equal(job.waiting_for, "capacity");

    // The model load of a cold start: the worker listens at once and pulls nothing for 2 s.
    const worker = await sandbox.addWorker({ modelServerEnv: { SONIC_SIM_LOAD_SECONDS: "2" } });
    assert.deepEqual(sandbox.workers, [worker]);
    const polled = (await (await fetch(`${instance.url}/v1/videos/${job.id}`)).json()) as any;
    assert.equal(polled.status, "queued");
    assert.equal(polled.waiting_for, "capacity", "still loading: no capacity yet");
    assert.equal((await waitForJob(instance.url, job.id, 30_000)).status, "succeeded");

    const up = await until(
      async () => {
        const series = await query(prometheus, `up{job="${SERVICE}",pod="${worker.options.name}"}`);
        return series.length === 1 && series[0].value[1] === "1";
      },
      "the added worker to be scraped",
      30_000,
    ).then(() => query(prometheus, `up{job="${SERVICE}",pod="${worker.options.name}"}`));
    assert.deepEqual(
      [
        up[0].metric.namespace,
        up[0].metric.service,
        up[0].metric.container,
        up[0].metric.app_kubernetes_io_component,
      ],
      [NAMESPACE, WORKER_SERVICE, "worker", "worker"],
    );

    await sandbox.removeWorker(worker, "terminate");
    assert.deepEqual(sandbox.workers, []);
    await until(async () => (await workerTargets(prometheus)).length === 0, "the target to go", 30_000);
    const next = (await (
      await fetch(`${instance.url}/v1/videos`, { method: "POST", body: form(INPUT) })
    ).json()) as any;
    assert.equal(next.waiting_for, "capacity", "a drained worker is no capacity");

    const second = await sandbox.addWorker({ ready: true });
    assert.equal((await waitForJob(instance.url, next.id, 30_000)).status, "succeeded");
    await until(
      async () => (await workerTargets(prometheus)).join() === second.options.name,
      "the second worker's target",
      30_000,
    );
    await sandbox.removeWorker(second, "kill");
    assert.equal(second.running, false);
    await until(
      async () => (await workerTargets(prometheus)).length === 0,
      "the killed worker's target to go",
      30_000,
    );
  });
});
