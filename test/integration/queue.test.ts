import * as assert from "node:assert/strict";
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { request as httpRequest } from "node:http";
import IORedis from "ioredis";
import { RedisInputStore } from "../../app/queue/input-store";
import { form, multipartBody, paddedPng, png, uploadRequest, wav } from "../../testkit/media";
import { freePort } from "../../sandbox/ports";
import { ApiProcess, Pod } from "../../sandbox/pod";
import { RedisServer } from "../../testkit/redis";
import { setFaults, until, waitForJob } from "../../testkit/service";

const INPUT = { audio: { data: wav(1), type: "audio/wav" }, image: { data: png(64, 64), type: "image/png" } };

async function submit(url: string): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${url}/v1/videos`, { method: "POST", body: form(INPUT) });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

async function stats(pod: Pod): Promise<{ generated: number; running: number }> {
  return (await (await fetch(`${pod.modelServerUrl}/v1/simulation/stats`)).json()) as any;
}

/** The first line matching `line` in the pod's expositions: its API's, then its worker's. */
async function metric(pod: Pod, line: RegExp): Promise<string | undefined> {
  const text = (
    await Promise.all([pod.url, pod.workerUrl].map(async (url) => (await fetch(`${url}/metrics`)).text()))
  ).join("\n");
  return text.split("\n").find((l) => line.test(l));
}

/** Two pods of one service (API + worker + simulated model server each) on one real Redis. */
async function startPods(
  redis: RedisServer,
  appEnv: Record<string, string>,
  modelServerEnv: Record<string, string>,
  names = ["a", "b"],
) {
  const queue = `q-${Math.random().toString(36).slice(2, 8)}`;
  const pods: Pod[] = [];
  for (const name of names) {
    pods.push(
      new Pod({
        name,
        apiPort: await freePort(),
        modelServerPort: await freePort(),
        redisUrl: redis.url,
        env: {
          SONIC_QUEUE_NAME: queue,
          SONIC_LOG_LEVEL: "info",
          SONIC_MODEL_SERVER_CHECK_SECONDS: "0.2",
          SONIC_QUEUE_SAMPLE_SECONDS: "0.2",
          SONIC_JOB_LOCK_SECONDS: "2",
          SONIC_STALLED_CHECK_SECONDS: "1",
          ...appEnv,
        },
        modelServerEnv: { SONIC_SIM_LOG_LEVEL: "warn", ...modelServerEnv },
      }),
    );
  }
  try {
    // A loaded machine takes its time to compile and start each process.
    await Promise.all(pods.map((p) => p.start(120_000)));
  } catch (err) {
    for (const p of pods) p.kill(); // a pod that never turned ready must not outlive the run
    throw err;
  }
  return pods;
}

describe("one shared job queue on Redis across pods (real processes on 127.0.0.1)", function () {
  this.timeout(120_000);
  const redis = new RedisServer();
  let a: Pod;
  let b: Pod;
  before(async () => {
    await redis.start();
    // Slots: 2 per pod. 1 s of audio takes 0.05 s unless a test slows the model servers down.
    [a, b] = await startPods(
      redis,
      { SONIC_CONCURRENCY_PER_GPU: "2", SONIC_BACKLOG_LIMIT: "200", SONIC_SHUTDOWN_GRACE_SECONDS: "1" },
      { SONIC_SIM_RTF: "0.05", SONIC_SIM_SLOTS: "2" },
    );
  });
  after(async () => {
    for (const pod of [a, b]) pod?.kill();
    await redis.stop();
  });

  it("answers a poll on pod B for a job submitted to pod A", async () => {
    const res = await submit(a.url);
    assert.equal(res.status, 202);
    const job = await waitForJob(b.url, res.body.id);
    assert.equal(job.status, "succeeded");
    assert.equal(job.result.location, `simulated://videos/${job.id}.mp4`);
  });

  it("finishes 100 jobs submitted across both pods exactly once each, losing none", async () => {
    const before = (await stats(a)).generated + (await stats(b)).generated;
    const ids = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const res = await submit(i % 2 ? a.url : b.url);
        assert.equal(res.status, 202, JSON.stringify(res.body));
        return res.body.id as string;
      }),
    );
    const jobs = await Promise.all(ids.map((id, i) => waitForJob(i % 3 ? a.url : b.url, id, 60_000)));
    assert.deepEqual(
      jobs.filter((j) => j.status !== "succeeded").map((j) => j.failure),
      [],
    );
    const generated = (await stats(a)).generated + (await stats(b)).generated - before;
    assert.equal(generated, 100, "each job generated exactly one video");
    const runOn = [await stats(a), await stats(b)].map((s) => s.generated);
    assert.ok(
      runOn.every((n) => n > 0),
      `both pods pulled jobs: ${runOn}`,
    );
  });

  it("finishes on the other pod a job whose pod was killed with kill -9 mid-generation", async () => {
    // Pod a restarts with a slow model server (1 s of audio takes 3 s), so the job is mid-generation.
    const slow = new Pod({ ...a.options, modelServerEnv: { SONIC_SIM_RTF: "3", SONIC_SIM_SLOTS: "2" } });
    a.kill();
    await slow.start();
    a = slow;
    await setFaults(b.modelServerUrl, { unready: true }); // so the job lands on the slow pod
    await new Promise((r) => setTimeout(r, 400));
    const res = await submit(a.url);
    await until(async () => (await stats(a)).running === 1, "the job to run on pod a");
    a.kill();
    await setFaults(b.modelServerUrl, { unready: false });
    const started = Date.now();
    const job = await waitForJob(b.url, res.body.id, 30_000);
    assert.equal(job.status, "succeeded", JSON.stringify(job.failure));
    // Recovered after the lock (2 s) lapsed and a stalled check (every 1 s) saw it.
    assert.ok(Date.now() - started < 10_000, `recovered after ${Date.now() - started} ms`);
    a = new Pod(a.options);
    await a.start();
  });

  it("hands back at SIGTERM the jobs it cannot finish within the grace, so none is lost, and exits 0", async () => {
    // Pod a: 2 s jobs, 1 s grace. Pod b takes over what a hands back.
    const slow = new Pod({ ...a.options, modelServerEnv: { SONIC_SIM_RTF: "2", SONIC_SIM_SLOTS: "2" } });
    await a.terminate();
    await slow.start();
    a = slow;
    await setFaults(b.modelServerUrl, { unready: true });
    await new Promise((r) => setTimeout(r, 400));
    const ids = [(await submit(a.url)).body.id, (await submit(a.url)).body.id];
    await until(async () => (await stats(a)).running === 2, "both jobs to run on pod a");
    // An upload still being read when SIGTERM arrives is stored, and drain waits for it.
    const late = lateUpload(a.url);
    await late.started;
    const exited = a.terminate();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await fetch(`${a.url}/readyz`)).status, 503);
    const refused = await submit(a.url);
    assert.deepEqual([refused.status, refused.body.error.code], [503, "shutting_down"]);
    const lateAnswer = await late.finish();
    assert.equal(lateAnswer.status, 202, JSON.stringify(lateAnswer.body));
    ids.push(lateAnswer.body.id);
    await setFaults(b.modelServerUrl, { unready: false });
    assert.equal(await exited, 0, a.logs.slice(-3000));
    assert.match(a.logs, /"event":"job_returned"/);
    const jobs = await Promise.all(ids.map((id) => waitForJob(b.url, id, 30_000)));
    assert.deepEqual(
      jobs.map((j) => j.status),
      ["succeeded", "succeeded", "succeeded"],
    );
    assert.ok(!a.logs.includes('"event":"job_failed"'), "no job failed at shutdown");
    a = new Pod({ ...a.options, modelServerEnv: { SONIC_SIM_RTF: "0.05", SONIC_SIM_SLOTS: "2" } });
    await a.start();
  });

  it("exits within the grace even while a client trickles an upload", async () => {
    const url = new URL(a.url);
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      path: "/v1/videos",
      method: "POST",
      headers: { "content-type": "multipart/form-data; boundary=x", "transfer-encoding": "chunked" },
    });
    req.on("error", () => undefined);
    req.write("--x\r\n");
    const trickle = setInterval(() => req.write("a"), 100);
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const code = await a.terminate();
    clearInterval(trickle);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(code, 0);
    assert.ok(seconds < 4, `exited ${seconds.toFixed(1)} s after SIGTERM with a 1 s grace`);
    a = new Pod(a.options);
    await a.start();
  });

  it("answers 503 queue_unavailable and turns unready while Redis is down, and keeps every accepted job", async () => {
    await Promise.all([a, b].map((p) => setFaults(p.modelServerUrl, { unready: true })));
    await new Promise((r) => setTimeout(r, 400));
    const ids = [(await submit(a.url)).body.id, (await submit(b.url)).body.id];
    await redis.stop();
    const refused = await submit(a.url);
    assert.deepEqual([refused.status, refused.body.error.code], [503, "queue_unavailable"]);
    assert.equal((await fetch(`${b.url}/readyz`)).status, 503);
    await until(
      async () => / 0$/.test((await metric(a, /^sonic_queue_store_up /)) ?? ""),
      "sonic_queue_store_up 0",
    );
    await redis.start();
    await until(
      async () => (await fetch(`${a.url}/readyz`)).ok && (await fetch(`${b.url}/readyz`)).ok,
      "ready again",
      20_000,
    );
    await Promise.all([a, b].map((p) => setFaults(p.modelServerUrl, { unready: false })));
    const jobs = await Promise.all(ids.map((id) => waitForJob(a.url, id, 30_000)));
    assert.deepEqual(
      jobs.map((j) => j.status),
      ["succeeded", "succeeded"],
    );
  });
});

describe("stalled-job recovery is bounded", function () {
  this.timeout(60_000);
  const redis = new RedisServer();
  let pods: Pod[] = [];
  before(async () => {
    await redis.start();
    pods = await startPods(redis, { SONIC_MAX_STALLED: "0" }, { SONIC_SIM_RTF: "5" });
  });
  after(async () => {
    pods.forEach((p) => p.kill());
    await redis.stop();
  });

  it("fails a job with worker_lost once its pods died more often than recovery allows, and counts it", async () => {
    const [a, b] = pods;
    await setFaults(b.modelServerUrl, { unready: true });
    await new Promise((r) => setTimeout(r, 400));
    const res = await submit(a.url);
    await until(async () => (await stats(a)).running === 1, "the job to run on pod a");
    a.kill();
    await setFaults(b.modelServerUrl, { unready: false }); // a paused runner runs no stalled check
    const job = await waitForJob(b.url, res.body.id, 20_000);
    assert.equal(job.status, "failed");
    assert.equal(job.failure.reason, "worker_lost");
    await until(
      async () => /} 1$/.test((await metric(b, /^sonic_job_failures_total\{reason="worker_lost"\}/)) ?? ""),
      "the failure to be counted",
    );
  });
});

describe("a Redis that stalls (SIGSTOP) or refuses writes, with real processes", function () {
  this.timeout(60_000);
  const redis = new RedisServer();
  let pod: Pod;
  before(async () => {
    await redis.start();
    // Lock 2 s (renewed every 1 s), stalled check every 1 s: a stall of 3 s always outlives the lock.
    // 1 s of audio renders in 2 s.
    [pod] = await startPods(redis, {}, { SONIC_SIM_RTF: "2" }, ["stall"]);
  });
  after(async () => {
    pod?.kill();
    await redis.stop();
  });

  it("reports a job whose render returned during a stall longer than its lock as succeeded, rendered once", async () => {
    const res = await submit(pod.url);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    await until(async () => (await stats(pod)).running === 1, "the job to render");
    const before = (await stats(pod)).generated;
    await redis.stall(3_000); // the render returns inside the stall; the lock lapses before Redis answers
    const job = await waitForJob(pod.url, res.body.id, 30_000);
    assert.equal(job.status, "succeeded", JSON.stringify(job.failure));
    assert.equal(job.result.location, `simulated://videos/${job.id}.mp4`);
    assert.equal((await stats(pod)).generated - before, 1, "rendered exactly once");
    // BullMQ refused to finish the job (lock lost) and ran it again: the re-run found the recorded outcome.
    await until(
      () => pod.logs.includes('"event":"job_outcome_replayed"'),
      "the re-run to replay the outcome",
    );
    const left = execFileSync("redis-cli", ["-p", String(redis.port), "--scan", "--pattern", "sonic:*"], {
      encoding: "utf8",
    });
    assert.doesNotMatch(left, /:inputs:/, "the inputs are deleted once the outcome is recorded");
  });

  it("answers 503 fast during a stall once the store is known to be down, and serves again when it answers", async () => {
    const done = await submit(pod.url);
    await waitForJob(pod.url, done.body.id, 20_000);
    const stalled = redis.stall(5_000);
    const timed = async (what: () => Promise<Response>) => {
      const started = Date.now();
      const res = await what();
      return { status: res.status, body: await res.text(), ms: Date.now() - started };
    };
    const submitting = () => fetch(`${pod.url}/v1/videos`, { method: "POST", body: form(INPUT) });
    // The first request may wait out one command timeout (2 s): that is how the stall becomes known.
    const first = await timed(submitting);
    assert.equal(first.status, 503, first.body);
    // Then requests at once, as traffic arrives: each must fail fast, not wait out a timeout of its own.
    const later = await Promise.all(
      Array.from({ length: 3 }, () => [
        timed(submitting),
        timed(() => fetch(`${pod.url}/v1/videos/${done.body.id}`)),
        timed(() => fetch(`${pod.url}/readyz`)),
      ]).flat(),
    );
    await stalled;
    const slowest = Math.max(...later.map((r) => r.ms));
    assert.ok(
      slowest < 1000,
      `answers took ${later.map((r) => r.ms).join(", ")} ms: not all well under the 2 s command timeout`,
    );
    assert.deepEqual(
      later.map((r) => [r.status, JSON.parse(r.body).error?.code ?? "unready"]),
      Array.from({ length: 3 }, () => [
        [503, "queue_unavailable"],
        [503, "queue_unavailable"],
        [503, "unready"],
      ]).flat(),
    );
    await until(async () => (await fetch(`${pod.url}/readyz`)).ok, "ready again", 10_000);
    assert.equal((await submit(pod.url)).status, 202);
  });

  it("answers 429 store_full with a Retry-After and stays ready while Redis takes small writes but not a job's inputs", async () => {
    const cli = (...args: string[]) =>
      execFileSync("redis-cli", ["-p", String(redis.port), ...args], { encoding: "utf8" });
    const big = { audio: { data: wav(120), type: "audio/wav" }, image: INPUT.image }; // 3.8 MB
    const inputKeys = () => cli("--scan", "--pattern", "sonic:*:inputs:*").split("\n").filter(Boolean);
    const submitBig = async () => {
      const res = await fetch(`${pod.url}/v1/videos`, { method: "POST", body: form(big) });
      return { status: res.status, body: (await res.json()) as any, headers: res.headers };
    };
    assert.equal((await fetch(`${pod.url}/readyz`)).status, 200);
    cli("config", "set", "maxmemory-policy", "noeviction");
    const used = Number(/^used_memory:(\d+)/m.exec(cli("info", "memory"))![1]);
    // Near maxmemory: room for a small job, not for a large one's inputs.
    cli("config", "set", "maxmemory", String(used + 2 * 1024 * 1024));
    try {
      const small = await submit(pod.url);
      assert.equal(small.status, 202, JSON.stringify(small.body));
      const inputsBefore = inputKeys();
      const refused = await submitBig();
      assert.deepEqual([refused.status, refused.body.error.code], [429, "store_full"]);
      const added = inputKeys().filter((k) => !inputsBefore.includes(k));
      assert.deepEqual(added, [], "a refused job's partly written inputs are deleted");
      assert.ok(Number(refused.headers.get("retry-after")) >= 1, "a Retry-After of at least a second");
      // The load balancer agrees: the store is shared and answers, so every pod is as full as this one.
      const ready = await fetch(`${pod.url}/readyz`);
      assert.equal(ready.status, 200, await ready.clone().text());
      assert.deepEqual(((await ready.json()) as any).reasons, []);
      // At maxmemory itself (no write at all passes) the answers are the same.
      cli("config", "set", "maxmemory", "1");
      const full = await submit(pod.url);
      assert.deepEqual([full.status, full.body.error.code], [429, "store_full"]);
      assert.equal((await fetch(`${pod.url}/readyz`)).status, 200);
      await until(() => pod.logs.includes('"code":"store_full"'), "the refusal to be logged with its reason");
    } finally {
      cli("config", "set", "maxmemory", "0");
    }
    const accepted = await submitBig();
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  });

  it("turns unready while Redis refuses writes (a read-only replica), and ready again once it takes them", async () => {
    const cli = (...args: string[]) => execFileSync("redis-cli", ["-p", String(redis.port), ...args]);
    assert.equal((await fetch(`${pod.url}/readyz`)).status, 200);
    // A replica of a master that never answers: it keeps its data and refuses every write (READONLY).
    cli("replicaof", "127.0.0.1", String(await freePort()));
    try {
      const refused = await submit(pod.url);
      assert.deepEqual([refused.status, refused.body.error.code], [503, "queue_unavailable"]);
      await until(async () => (await fetch(`${pod.url}/readyz`)).status === 503, "unready", 5_000);
      const ready = (await (await fetch(`${pod.url}/readyz`)).json()) as any;
      assert.deepEqual(ready.reasons, ["job queue refuses writes"]);
    } finally {
      cli("replicaof", "no", "one");
    }
    await until(async () => (await fetch(`${pod.url}/readyz`)).ok, "ready again", 5_000);
    assert.equal((await submit(pod.url)).status, 202);
  });

  it("keeps the recorded result when the stalled check fails the job instead of running it again", async () => {
    // No recovery allowed: BullMQ's stalled check fails the job ("stalled more than allowable limit").
    const [strict] = await startPods(redis, { SONIC_MAX_STALLED: "0" }, { SONIC_SIM_RTF: "2" }, ["strict"]);
    try {
      pod.kill(); // so the job lands on the strict pod (the last test here: pod stays down)
      const res = await submit(strict.url);
      await until(async () => (await stats(strict)).running === 1, "the job to render");
      await redis.stall(3_000);
      const job = await waitForJob(strict.url, res.body.id, 30_000);
      assert.equal(job.status, "succeeded", JSON.stringify(job.failure));
      assert.equal(job.result.location, `simulated://videos/${job.id}.mp4`);
      assert.equal((await stats(strict)).generated, 1, "rendered exactly once");
    } finally {
      strict.kill();
    }
  });
});

describe("maximum-size submissions to a real Redis, with real processes", function () {
  this.timeout(600_000);
  const redis = new RedisServer();
  const queue = `big-${Math.random().toString(36).slice(2, 8)}`;
  let api: ApiProcess;
  let client: IORedis;
  // The largest inputs the default limits admit: 25 MiB per file (68 s of 96 kHz stereo WAV).
  const MAX = {
    audio: { data: wav(68, 96_000, 2), type: "audio/wav" },
    image: { data: paddedPng(25 * 1024 * 1024 - 4096), type: "image/png" },
  };
  before(async () => {
    await redis.start();
    client = new IORedis(redis.url);
    api = await new ApiProcess({
      name: "big",
      port: await freePort(),
      redisUrl: redis.url,
      env: { SONIC_QUEUE_NAME: queue, SONIC_BACKLOG_LIMIT: "100", SONIC_LOG_LEVEL: "info" },
    }).start(120_000); // a loaded machine takes its time to compile and start the API
  });
  after(async () => {
    api?.kill();
    client?.disconnect();
    await redis.stop();
  });

  /** One maximum-size submission; a connection cut mid-body (a refusal before the body was read) is status 0. */
  async function submitMax(): Promise<{ status: number; body: any; ms: number }> {
    const started = Date.now();
    try {
      const res = await fetch(`${api.url}/v1/videos`, { method: "POST", body: form(MAX) });
      const body = (await res.json()) as any;
      return { status: res.status, body, ms: Date.now() - started };
    } catch (err) {
      const code = ((err as Error).cause as { code?: string })?.code ?? (err as Error).message;
      return { status: 0, body: { error: { code } }, ms: Date.now() - started };
    }
  }

  it("accepts 12 sequential maximum-size submissions while a CPU burner runs beside the test", async () => {
    // One busy process per core, beside whatever else loads the machine.
    const burners: ChildProcess[] = Array.from({ length: 2 }, () =>
      spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }),
    );
    const answers: { status: number; body: any; ms: number }[] = [];
    try {
      for (let i = 0; i < 12; i++) {
        const answer = await submitMax();
        answers.push(answer);
        // No worker runs them: drop each job's inputs so the store holds one at a time.
        if (answer.status === 202) await new RedisInputStore(client, queue).drop(answer.body.id);
      }
    } finally {
      for (const burner of burners) burner.kill("SIGKILL");
    }
    const summary = answers.map((a) => `${a.status} ${a.body.error?.code ?? ""} ${a.ms} ms`).join("; ");
    console.log(`      (${summary})`);
    assert.deepEqual(
      answers.map((a) => a.status),
      Array.from({ length: 12 }, () => 202),
      summary,
    );
  });

  it("detects a SIGSTOP of Redis during a maximum-size submission within a command timeout, and logs the refusal with its reason", async () => {
    const boundary = "max-boundary";
    const raw = multipartBody(boundary, [
      { name: "audio", ...MAX.audio },
      { name: "image", ...MAX.image },
    ]);
    await until(async () => (await fetch(`${api.url}/readyz`)).ok, "the API to take jobs", 20_000);
    const req = uploadRequest(api.url, boundary, raw);
    const answer = new Promise<{ status: number; body: any }>((resolve, reject) => {
      req.on("response", (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      });
      req.on("error", reject);
    });
    // Redis freezes as the last bytes leave: the API is reading or storing the inputs.
    let stalled!: Promise<void>;
    let frozenAt = 0;
    await new Promise<void>((resolve) =>
      req.end(raw, () => {
        frozenAt = Date.now();
        stalled = redis.stall(8_000);
        resolve();
      }),
    );
    const refused = await answer;
    const detectedMs = Date.now() - frozenAt;
    console.log(
      `      (the stall was answered after ${detectedMs} ms: ${refused.status} ${refused.body.error?.code})`,
    );
    await stalled;
    assert.deepEqual([refused.status, refused.body.error?.code], [503, "queue_unavailable"]);
    // The command timeout is 2 s; the rest is this loaded machine's slack.
    assert.ok(detectedMs < 6_000, `the stall was answered after ${detectedMs} ms`);
    await until(
      () => /"code":"queue_unavailable"[^\n]*stalled|stalled[^\n]*"code":"queue_unavailable"/.test(api.logs),
      "the refusal to be logged with its reason",
    );
    await until(async () => (await fetch(`${api.url}/readyz`)).ok, "ready again", 20_000);
    const left = await client.keys(`sonic:${queue}:inputs:*`);
    assert.deepEqual(left, [], "nothing of the refused submission is left in the store");
  });
});

/** A valid upload whose last bytes are sent only when `finish` is called. */
function lateUpload(url: string) {
  let resolveStarted!: () => void;
  const started = new Promise<void>((r) => (resolveStarted = r));
  const boundary = "late-boundary";
  const raw = multipartBody(boundary, [
    { name: "audio", ...INPUT.audio },
    { name: "image", ...INPUT.image },
  ]);
  const req = uploadRequest(url, boundary, raw);
  const answer = new Promise<{ status: number; body: any }>((resolve, reject) => {
    req.on("response", (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on("error", reject);
  });
  req.write(raw.subarray(0, raw.length - 100), () => setTimeout(resolveStarted, 100));
  return {
    started,
    finish: async () => {
      req.end(raw.subarray(raw.length - 100));
      return answer;
    },
  };
}
