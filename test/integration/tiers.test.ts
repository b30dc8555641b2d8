import * as assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import IORedis from "ioredis";
import { WorkerRegistry, workersKey } from "../../app/queue/worker-registry";
import { form, png, wav } from "../../testkit/media";
import { WorkerPod } from "../../sandbox/pod";
import { freePort } from "../../sandbox/ports";
import { RedisServer, sharedRedis } from "../../testkit/redis";
import { startApi, startWorker, until, waitForJob } from "../../testkit/service";

const INPUT = { audio: { data: wav(1), type: "audio/wav" }, image: { data: png(64, 64), type: "image/png" } };

/** The run's real Redis: every test here gets a queue of its own. */
let redis: RedisServer;
let client: IORedis;
before(async () => {
  redis = await sharedRedis();
  client = new IORedis(redis.url);
});
after(() => client.disconnect());

async function submit(url: string) {
  const res = await fetch(`${url}/v1/videos`, { method: "POST", body: form(INPUT) });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as any };
}

async function poll(url: string, id: string) {
  const res = await fetch(`${url}/v1/videos/${id}`);
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as any };
}

const queueName = () => `tiers-${Math.random().toString(36).slice(2, 8)}`;

describe("the API and worker tiers", function () {
  this.timeout(60_000);

  it("the API alone never runs a job: it stays queued, waiting for capacity, with the cold start as Retry-After", async () => {
    const { url, api } = await startApi(redis, { SONIC_QUEUE_NAME: queueName() });
    try {
      const accepted = await submit(url);
      assert.equal(accepted.status, 202);
      assert.equal(accepted.body.status, "queued");
      assert.equal(accepted.body.waiting_for, "capacity");
      assert.equal(accepted.retryAfter, "600", "the default cold start estimate");
      await new Promise((r) => setTimeout(r, 1500));
      const job = await poll(url, accepted.body.id);
      assert.equal(job.body.status, "queued", "no job ran without a worker");
      assert.equal(job.body.waiting_for, "capacity");
      assert.equal(job.retryAfter, "600");
      assert.equal(await api.queue.queue.getActiveCount(), 0);
    } finally {
      await api.shutdown();
    }
  });

  it("takes the cold start estimate from SONIC_COLD_START_SECONDS, and adds it to a full backlog's Retry-After", async () => {
    const { url, api } = await startApi(redis, {
      SONIC_QUEUE_NAME: queueName(),
      SONIC_COLD_START_SECONDS: "120",
      SONIC_BACKLOG_LIMIT: "1",
    });
    try {
      const accepted = await submit(url);
      assert.equal(accepted.retryAfter, "120");
      assert.equal((await poll(url, accepted.body.id)).retryAfter, "120");
      const refused = await submit(url);
      assert.equal(refused.status, 429);
      // Nothing runs, so no slot frees on its own (30 s by default), and first a worker must start.
      assert.equal(refused.retryAfter, String(120 + 30));
    } finally {
      await api.shutdown();
    }
  });

  it("runs a waiting job once a worker starts, and then answers as before: no capacity wait, no Retry-After", async () => {
    const queue = queueName();
    const { url, api } = await startApi(redis, { SONIC_QUEUE_NAME: queue });
    const waiting = await submit(url);
    assert.equal(waiting.body.waiting_for, "capacity");
    const worker = await startWorker(redis, { SONIC_QUEUE_NAME: queue, SONIC_SIM_RTF: "0.01" });
    try {
      const job = await waitForJob(url, waiting.body.id);
      assert.equal(job.status, "succeeded");
      assert.equal(job.waiting_for, undefined);
      await until(async () => (await api.queue.workers.live()) === 1, "the worker to be live");
      // With a worker live, a new submission is answered as before the tiers split.
      const next = await submit(url);
      assert.equal(next.status, 202);
      assert.equal(next.retryAfter, null);
      assert.equal(next.body.waiting_for, undefined);
    } finally {
      await worker.close();
      await api.shutdown();
    }
    assert.equal(await new WorkerRegistry(client, queue).live(), 0, "a drained worker withdraws at once");
  });

  it("counts a worker as capacity only while its model server is ready", async () => {
    const queue = queueName();
    const worker = await startWorker(redis, { SONIC_QUEUE_NAME: queue });
    const registry = new WorkerRegistry(client, queue);
    try {
      await until(async () => (await registry.live()) === 1, "the worker to announce itself");
      await fetch(`${worker.modelServerUrl}/v1/simulation/faults`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ unready: true }),
      });
      await until(async () => (await registry.live()) === 0, "the unready worker to withdraw");
    } finally {
      await worker.close();
    }
  });

  it("the worker serves no API route: only /metrics, /healthz and /readyz", async () => {
    const worker = await startWorker(redis, { SONIC_QUEUE_NAME: queueName() });
    try {
      const post = await fetch(`${worker.url}/v1/videos`, { method: "POST", body: form(INPUT) });
      assert.equal(post.status, 404);
      assert.equal(((await post.json()) as any).error.code, "not_found");
      assert.equal((await fetch(`${worker.url}/v1/videos/00000000-0000-4000-8000-000000000000`)).status, 404);
      assert.equal((await fetch(`${worker.url}/healthz`)).status, 200);
      await until(async () => (await fetch(`${worker.url}/readyz`)).ok, "the worker to turn ready");
      assert.match(await (await fetch(`${worker.url}/metrics`)).text(), /^sonic_job_slots 1$/m);
    } finally {
      await worker.close();
    }
  });

  it("lets the membership of a worker killed with kill -9 expire, and the API says so again", async () => {
    const queue = queueName();
    const { url, api } = await startApi(redis, { SONIC_QUEUE_NAME: queue });
    const pod = new WorkerPod({
      name: "tiers-worker-a",
      modelServerPort: await freePort(0),
      redisUrl: redis.url,
      env: { SONIC_QUEUE_NAME: queue, SONIC_MODEL_SERVER_CHECK_SECONDS: "0.5" },
      modelServerEnv: { SONIC_SIM_RTF: "0.01", SONIC_SIM_LOG_LEVEL: "warn" },
    });
    try {
      await pod.start();
      await until(async () => (await api.queue.workers.live()) === 1, "the worker process to be live");
      const [member] = await client.zrange(workersKey(queue), "0", "-1");
      assert.match(member, /^tiers-worker-a-\d+$/, "member = pod name + pid");
      pod.kill();
      const killed = Date.now();
      // Announced for two checks plus 2 s: gone within about 3 s (8 s on a loaded machine), without anyone removing it.
      await until(async () => (await api.queue.workers.live()) === 0, "the membership to expire", 10_000);
      assert.ok(Date.now() - killed <= 8_000, `expired after ${Date.now() - killed} ms`);
      assert.deepEqual(await client.zrange(workersKey(queue), "0", "-1"), []);
      const accepted = await submit(url);
      assert.equal(accepted.body.waiting_for, "capacity");
      assert.equal(accepted.retryAfter, "600");
    } finally {
      pod.kill();
      await api.shutdown();
    }
  });
});

describe("the image's entrypoints", () => {
  it("the Dockerfile's default command and the npm scripts start programs that exist", () => {
    const root = path.join(__dirname, "..", "..");
    const cmd = readFileSync(path.join(root, "Dockerfile"), "utf8").match(/^CMD \["node", "(.+)\.js"\]$/m);
    assert.ok(cmd, "the Dockerfile has no exec-form node CMD");
    assert.equal(cmd[1], "app/api/main", "the image starts the API by default");
    const scripts = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).scripts;
    for (const [script, entry] of [
      ["app", "app/api/main.ts"],
      ["worker", "app/worker/main.ts"],
      ["model-server:simulated", "app/simulated-model-server-main.ts"],
      ["analyst", "app/alert-analyst-main.ts"],
    ]) {
      assert.equal(scripts[script], `ts-node --transpile-only ${entry}`);
      assert.ok(existsSync(path.join(root, entry)), `${entry} of npm run ${script}`);
    }
  });
});
