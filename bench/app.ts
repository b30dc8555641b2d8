import autocannon from "autocannon";
import { Queue } from "bullmq";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { seriesCount } from "../testkit/exposition";
import { multipartBody, png, wav } from "../testkit/media";
import { Pod } from "../sandbox/pod";
import { freePort } from "../sandbox/ports";
import { RedisServer } from "../sandbox/redis";

/**
 * `npm run bench:app`, every figure measured side by side in one run (alternating rounds, so machine
 * noise hits both sides):
 * - submissions/s with instrumentation on and off, both through Redis (target ratio >= 0.97);
 * - submissions/s through Redis against the in-memory job queue this project had before the shared
 *   queue (its last commit, run from `git archive` when the checkout has it);
 * - /metrics p99 against /healthz p99 at 50 submissions/s (target <= 1.5: the exposition adds no tail
 *   beyond the event loop's own), and series per pod (<= 250);
 * - RSS and Redis memory after 10,000 finished jobs against after 100 (bounded history);
 * - a Redis stall (SIGSTOP) of BENCH_STALL_SECONDS (15) in the middle of a run of three times that on
 *   two pods: submissions/s, p99 of submissions, and jobs lost or misreported (targets 0), side by
 *   side with the app of BENCH_STALL_BASE (a commit, e.g. main's, run from `git archive`) when given.
 * The model servers are the simulated one at RTF 0: this measures the API, not a GPU.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = 16;
/** The last commit with the in-process job queue. */
const IN_MEMORY_COMMIT = "e805a3f";
const STALL_SECONDS = Number(process.env.BENCH_STALL_SECONDS ?? 15);
const STALL_BASE = process.env.BENCH_STALL_BASE;

interface App {
  url: string;
  stop(): void;
}

async function waitUp(url: string, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not start`);
}

/** One pod (API + simulated model server at RTF 0) on the shared Redis, with its own queue. */
async function startPod(
  redis: RedisServer,
  metrics: boolean,
  queue: string,
  env: Record<string, string> = {},
) {
  const pod = new Pod({
    name: queue,
    apiPort: await freePort(),
    modelServerPort: await freePort(),
    redisUrl: redis.url,
    env: {
      SONIC_METRICS: String(metrics),
      SONIC_QUEUE_NAME: queue,
      SONIC_CONCURRENCY_PER_GPU: "64",
      SONIC_BACKLOG_LIMIT: "100000",
      SONIC_UPLOAD_BYTES_IN_FLIGHT: String(1024 ** 3),
      SONIC_LOG_LEVEL: "warn",
      ...env,
    },
    modelServerEnv: { SONIC_SIM_RTF: "0", SONIC_SIM_SLOTS: "64", SONIC_SIM_LOG_LEVEL: "warn" },
  });
  await pod.start();
  return { url: pod.url, stop: () => pod.kill(), pod };
}

/** The previous, in-memory job queue (simulated backend in-process), from git, or undefined. */
async function startInMemory(): Promise<App | undefined> {
  const dir = mkdtempSync(path.join(tmpdir(), "sonic-in-memory-"));
  const root = path.join(__dirname, "..");
  const archive = spawnSync("sh", [
    "-c",
    `git -C "${root}" archive ${IN_MEMORY_COMMIT} app components | tar -x -C "${dir}"`,
  ]);
  if (archive.status !== 0) return undefined;
  symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", path.join(dir, "app", "main.ts")],
    {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        PORT: String(port),
        HOST: "127.0.0.1",
        SONIC_SIM_RTF: "0",
        SONIC_CONCURRENCY_PER_GPU: "64",
        SONIC_QUEUE_CAPACITY: "100000",
        SONIC_LOG_LEVEL: "warn",
        SONIC_NVIDIA_SMI: "/nonexistent",
      },
      stdio: "ignore",
    },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitUp(url, "the in-memory app");
  return { url, stop: () => child.kill("SIGKILL") };
}

function body(): { payload: Buffer; contentType: string } {
  const boundary = "benchboundary";
  return {
    payload: multipartBody(boundary, [
      { name: "audio", type: "audio/wav", data: wav(2) },
      { name: "image", type: "image/png", data: png(256, 256) },
    ]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

/** Submits jobs for SECONDS: as fast as possible, or at `overallRate` requests per second. */
async function load(url: string, overallRate?: number): Promise<{ rps: number; non2xx: number }> {
  const { payload, contentType } = body();
  const result = await autocannon({
    url: `${url}/v1/videos`,
    method: "POST",
    headers: { "content-type": contentType },
    body: payload,
    connections: CONNECTIONS,
    duration: SECONDS,
    ...(overallRate ? { overallRate } : {}),
  });
  return { rps: result.requests.average, non2xx: result.non2xx };
}

/** Fetches `route` every 100 ms for `seconds` from a separate process; latencies in milliseconds. */
function scrape(url: string, seconds: number, route = "/metrics"): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [
      path.join(__dirname, "scraper.js"),
      `${url}${route}`,
      String(seconds),
    ]);
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(out) as number[]) : reject(new Error(`scraper exited ${code}`)),
    );
  });
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};

const mib = (bytes: number) => Number((bytes / 2 ** 20).toFixed(1));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** RSS, and the V8 heap in use (what a leak grows; RSS also holds what the allocator keeps). */
async function processMemory(url: string): Promise<{ rss: number; heap: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return {
    rss: Number(text.match(/^sonic_process_resident_memory_bytes (\S+)$/m)![1]),
    heap: Number(text.match(/^sonic_nodejs_heap_size_used_bytes (\S+)$/m)![1]),
  };
}

async function redisUsedBytes(redis: RedisServer): Promise<number> {
  const out = spawnSync("redis-cli", ["-p", String(redis.port), "info", "memory"], {
    encoding: "utf8",
  }).stdout;
  return Number(out.match(/^used_memory:(\d+)/m)![1]);
}

/** Submits `n` jobs 32 at a time and waits until the queue has none left. */
async function finishJobs(url: string, n: number, queue: Queue): Promise<void> {
  const { payload, contentType } = body();
  let sent = 0;
  const worker = async () => {
    while (sent < n) {
      sent++;
      const res = await fetch(`${url}/v1/videos`, {
        method: "POST",
        headers: { "content-type": contentType },
        body: payload,
      });
      if (res.status !== 202) throw new Error(`submission answered ${res.status}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  while ((await queue.getWaitingCount()) + (await queue.getActiveCount()) > 0)
    await new Promise((r) => setTimeout(r, 100));
}

/** `app/`, `components/` and the TypeScript settings of `commit` in a temporary folder sharing this node_modules, or undefined. */
function checkout(commit: string): string | undefined {
  const dir = mkdtempSync(path.join(tmpdir(), "sonic-base-"));
  const root = path.join(__dirname, "..");
  const archive = spawnSync("sh", [
    "-c",
    `git -C "${root}" archive ${commit} app components package.json tsconfig.json tsconfig.app.json | tar -x -C "${dir}"`,
  ]);
  if (archive.status !== 0) return undefined;
  symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"));
  return dir;
}

interface StallReport {
  submissions_per_second: number;
  accepted_per_second: number;
  submission_p99_ms: number;
  submission_p99_during_stall_ms: number;
  accepted: number;
  refused_503: number;
  /** Accepted, then never finished (still queued/running at the end, or gone). */
  jobs_lost: number;
  /** Accepted and reported failed, or refused yet created and run anyway. */
  jobs_misreported: number;
  /** Of the misreported: the failure reasons shown, and the jobs created for refused submissions. */
  failed_reasons: string[];
  jobs_created_for_refusals: number;
  /** Videos rendered beyond one per accepted job. */
  second_renders: number;
}

/**
 * Two pods (lock 10 s, stalled check 5 s) on a Redis of their own; 16 clients submit 1 s jobs for
 * 3 x STALL_SECONDS while Redis is frozen for STALL_SECONDS in the middle. A refused client waits
 * 200 ms. Then every accepted job is polled to its end and the queue is searched for jobs no client
 * was told about.
 */
async function stallRun(root?: string): Promise<StallReport> {
  const redis = await new RedisServer().start();
  const queueName = `bench-stall-${Math.random().toString(36).slice(2, 8)}`;
  const pods: Pod[] = [];
  try {
    for (const name of ["a", "b"]) {
      const pod = new Pod({
        name,
        root,
        apiPort: await freePort(),
        modelServerPort: await freePort(),
        redisUrl: redis.url,
        env: {
          SONIC_QUEUE_NAME: queueName,
          SONIC_CONCURRENCY_PER_GPU: "64",
          SONIC_BACKLOG_LIMIT: "100000",
          SONIC_JOB_HISTORY: "100000", // every accepted job stays pollable to the end of the run
          SONIC_JOB_LOCK_SECONDS: "10",
          SONIC_STALLED_CHECK_SECONDS: "5",
          SONIC_LOG_LEVEL: "warn",
        },
        modelServerEnv: { SONIC_SIM_RTF: "0.05", SONIC_SIM_SLOTS: "64", SONIC_SIM_LOG_LEVEL: "warn" },
      });
      pods.push(await pod.start());
    }
    const { payload, contentType } = body();
    const started = Date.now();
    const stallFrom = started + STALL_SECONDS * 1000;
    const stallTo = stallFrom + STALL_SECONDS * 1000;
    const end = started + 3 * STALL_SECONDS * 1000;
    const latencies: number[] = [];
    const duringStall: number[] = [];
    const accepted: { id: string; url: string }[] = [];
    let refused = 0;
    let attempts = 0;
    const stall = new Promise((r) => setTimeout(r, STALL_SECONDS * 1000)).then(() =>
      redis.stall(STALL_SECONDS * 1000),
    );
    const client = async (i: number) => {
      const url = pods[i % pods.length].url;
      while (Date.now() < end) {
        const t0 = Date.now();
        attempts++;
        let status = 0;
        let text = "";
        try {
          const res = await fetch(`${url}/v1/videos`, {
            method: "POST",
            headers: { "content-type": contentType },
            body: payload,
          });
          status = res.status;
          text = await res.text();
        } catch {
          status = 0;
        }
        const ms = Date.now() - t0;
        latencies.push(ms);
        if (t0 >= stallFrom && t0 < stallTo) duringStall.push(ms);
        if (status === 202) accepted.push({ id: JSON.parse(text).id, url });
        else {
          refused++;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    };
    await Promise.all([stall, ...Array.from({ length: 16 }, (_, i) => client(i))]);
    const seconds = (Date.now() - started) / 1000;
    let lost = 0;
    let misreported = 0;
    const failedReasons: string[] = [];
    const deadline = Date.now() + 180_000;
    for (const { id, url } of accepted) {
      for (;;) {
        const res = await fetch(`${url}/v1/videos/${id}`);
        const job = (await res.json()) as any;
        if (job.status === "succeeded") break;
        if (job.status === "failed") {
          misreported++;
          failedReasons.push(job.failure.reason);
          break;
        }
        if (res.status === 404 || Date.now() > deadline) {
          lost++;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // Jobs created for submissions that were answered with a refusal (a write that Redis ran after
    // the API had given up on it): rendered for no one.
    const queue = new Queue(queueName, { connection: { url: redis.url } });
    const known = new Set(accepted.map((a) => a.id));
    const all = await queue.getJobs(["completed", "failed", "active", "wait", "delayed", "prioritized"]);
    await queue.close();
    const phantoms = all.filter((j) => j && !known.has(j.id!)).length;
    misreported += phantoms;
    let rendered = 0;
    for (const pod of pods)
      rendered += ((await (await fetch(`${pod.modelServerUrl}/v1/simulation/stats`)).json()) as any)
        .generated;
    return {
      submissions_per_second: Math.round(attempts / seconds),
      accepted_per_second: Math.round(accepted.length / seconds),
      submission_p99_ms: Math.round(quantile(latencies, 0.99)),
      submission_p99_during_stall_ms: Math.round(quantile(duringStall, 0.99)),
      accepted: accepted.length,
      refused_503: refused,
      jobs_lost: lost,
      jobs_misreported: misreported,
      failed_reasons: [...new Set(failedReasons)],
      jobs_created_for_refusals: phantoms,
      second_renders: Math.max(0, rendered - accepted.length),
    };
  } finally {
    pods.forEach((p) => p.kill());
    await redis.stop();
  }
}

/** The stall runs, this checkout's app and (with BENCH_STALL_BASE) the base's, and their verdict. */
async function stallSection(): Promise<void> {
  const base = STALL_BASE ? checkout(STALL_BASE) : undefined;
  const now = await stallRun();
  console.error(`this app: ${JSON.stringify(now)}`);
  const before = base ? await stallRun(base) : undefined;
  console.log(
    JSON.stringify({ redis_stall_seconds: STALL_SECONDS, this_app: now, base_app: before ?? null }, null, 2),
  );
  const line = (label: string, r: StallReport) =>
    `${label}: ${r.submissions_per_second} submissions/s (${r.accepted_per_second} accepted/s), p99 ${r.submission_p99_ms} ms (${r.submission_p99_during_stall_ms} ms during the stall), ${r.jobs_lost} lost, ${r.jobs_misreported} misreported, ${r.second_renders} second renders`;
  console.log(
    [
      `Redis stalled ${STALL_SECONDS} s mid-run: jobs lost + misreported ${now.jobs_lost + now.jobs_misreported === 0 ? "meets" : "MISSES"} 0`,
      line("  this app", now),
      ...(before ? [line(`  ${STALL_BASE}`, before)] : []),
    ].join("\n"),
  );
}

async function main(): Promise<void> {
  if (process.env.BENCH_ONLY === "stall") return stallSection();
  const redis = await new RedisServer().start();
  const on = await startPod(redis, true, "bench-on");
  const off = await startPod(redis, false, "bench-off");
  const memory = await startInMemory();
  const apps: App[] = [on, off, ...(memory ? [memory] : [])];
  try {
    const rps = { on: [] as number[], off: [] as number[], memory: [] as number[] };
    const saturated: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate which goes first so drift in machine load does not favour one side.
      const all: ("on" | "off" | "memory")[] = memory ? ["on", "off", "memory"] : ["on", "off"];
      const sides = all.map((_, i) => all[(i + round) % all.length]);
      for (const side of sides) {
        const target = side === "on" ? on : side === "off" ? off : memory!;
        // Every side is scraped (as Prometheus would), so the scraper's CPU weighs on all equally.
        const [result, latencies] = await Promise.all([load(target.url), scrape(target.url, SECONDS - 1)]);
        if (side === "on") saturated.push(...latencies);
        const { rps: r, non2xx } = result;
        if (non2xx > 0) throw new Error(`${side}: ${non2xx} requests were not accepted`);
        rps[side].push(r);
      }
    }
    // A GPU pod sees a few submissions a minute; 50/s is far beyond that yet below saturation, so
    // this measures what a scrape costs, not how long it queues behind a CPU-bound event loop.
    // /healthz does no work at all: its latency is the floor any request meets while jobs arrive.
    const [, scrapes, floor] = await Promise.all([
      load(on.url, 50),
      scrape(on.url, SECONDS - 1),
      scrape(on.url, SECONDS - 1, "/healthz"),
    ]);
    const series = seriesCount(await (await fetch(`${on.url}/metrics`)).text());

    // Bounded history: a fresh pod, 100 jobs, then 9,900 more; RSS and Redis memory at both points.
    const history = await startPod(redis, true, "bench-history", { SONIC_JOB_HISTORY: "1000" });
    apps.push(history);
    const queue = new Queue("bench-history", { connection: { url: redis.url } });
    await finishJobs(history.url, 100, queue);
    const [at100, redis100] = [await processMemory(history.url), await redisUsedBytes(redis)];
    await finishJobs(history.url, 4_900, queue);
    const at5k = await processMemory(history.url);
    await finishJobs(history.url, 5_000, queue);
    const [at10k, redis10k] = [await processMemory(history.url), await redisUsedBytes(redis)];
    const kept = await queue.getJobCounts("completed", "failed");
    await queue.close();

    const ratio = mean(rps.on) / mean(rps.off);
    const tail = quantile(scrapes, 0.99) / quantile(floor, 0.99);
    const report = {
      rounds: ROUNDS,
      seconds_per_round: SECONDS,
      connections: CONNECTIONS,
      submissions_per_second_instrumented: Math.round(mean(rps.on)),
      submissions_per_second_uninstrumented: Math.round(mean(rps.off)),
      throughput_ratio: Number(ratio.toFixed(3)),
      submissions_per_second_in_memory_queue: memory ? Math.round(mean(rps.memory)) : null,
      redis_to_in_memory_ratio: memory ? Number((mean(rps.on) / mean(rps.memory)).toFixed(3)) : null,
      metrics_scrapes_at_50_rps: scrapes.length,
      metrics_latency_p50_ms: Number(quantile(scrapes, 0.5).toFixed(2)),
      metrics_latency_p99_ms: Number(quantile(scrapes, 0.99).toFixed(2)),
      healthz_latency_at_50_rps_p50_ms: Number(quantile(floor, 0.5).toFixed(2)),
      healthz_latency_at_50_rps_p99_ms: Number(quantile(floor, 0.99).toFixed(2)),
      metrics_to_healthz_p99_ratio: Number(tail.toFixed(2)),
      metrics_latency_at_saturation_p50_ms: Number(quantile(saturated, 0.5).toFixed(2)),
      metrics_latency_at_saturation_p99_ms: Number(quantile(saturated, 0.99).toFixed(2)),
      series_per_pod: series,
      rss_after_100_jobs_mib: mib(at100.rss),
      rss_after_5000_jobs_mib: mib(at5k.rss),
      rss_after_10000_jobs_mib: mib(at10k.rss),
      rss_ratio_10000_to_100: Number((at10k.rss / at100.rss).toFixed(3)),
      rss_ratio_10000_to_5000: Number((at10k.rss / at5k.rss).toFixed(3)),
      heap_used_after_100_5000_10000_jobs_mib: [mib(at100.heap), mib(at5k.heap), mib(at10k.heap)],
      redis_used_after_100_jobs_mib: mib(redis100),
      redis_used_after_10000_jobs_mib: mib(redis10k),
      finished_jobs_kept: kept.completed + kept.failed,
    };
    console.log(JSON.stringify(report, null, 2));
    console.log(
      [
        `throughput ratio (on/off) ${report.throughput_ratio} ${ratio >= 0.97 ? "meets" : "MISSES"} >= 0.97`,
        memory
          ? `through Redis ${report.submissions_per_second_instrumented}/s against the in-memory queue's ${report.submissions_per_second_in_memory_queue}/s: ratio ${report.redis_to_in_memory_ratio}`
          : `in-memory comparison skipped: commit ${IN_MEMORY_COMMIT} is not in this checkout`,
        `/metrics p99 / /healthz p99 at 50 submissions/s ${report.metrics_to_healthz_p99_ratio} ${tail <= 1.5 ? "meets" : "MISSES"} <= 1.5 (${report.metrics_latency_p99_ms} ms / ${report.healthz_latency_at_50_rps_p99_ms} ms)`,
        `${series} series ${series <= 250 ? "meets" : "MISSES"} <= 250`,
        `RSS after 10,000 jobs / after 100: ${report.rss_ratio_10000_to_100} (${report.rss_after_100_jobs_mib} -> ${report.rss_after_5000_jobs_mib} -> ${report.rss_after_10000_jobs_mib} MiB; 10,000 / 5,000: ${report.rss_ratio_10000_to_5000}); heap in use ${report.heap_used_after_100_5000_10000_jobs_mib.join(" -> ")} MiB; Redis ${report.redis_used_after_100_jobs_mib} -> ${report.redis_used_after_10000_jobs_mib} MiB with ${report.finished_jobs_kept} finished jobs kept`,
      ].join("\n"),
    );
  } finally {
    for (const app of apps) app.stop();
    await redis.stop();
  }
  await stallSection();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
