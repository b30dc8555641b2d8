import { ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, Server } from "node:http";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  failingPrometheus,
  freePort,
  startBackfilledPrometheus,
} from "../test/fixtures/analyst-scenarios/prometheus";
import { scenarioWebhook, SCENARIOS } from "../test/fixtures/analyst-scenarios/scenarios";
import { REPO_ROOT } from "../testkit/stack-file";

/**
 * `npm run bench:analyst`: the alert analyst under a burst, as its own process (its memory alone is
 * measured), against a real Prometheus backfilled with the scenarios' history and against a
 * black-holed one. For each: the single-alert delay (notification to report, idle analyst, median of
 * 5), then GROUPS new groups spread over SPREAD_S seconds: reports received, p50/p95/max delay, how many
 * went out without evidence because the analyst was busy, posts refused (503: queue full) or failed, and the analyst's RSS
 * before, at its peak and 10 s after the burst.
 *
 *   npm run bench:analyst -- [--groups 1000] [--spread 14] [--repo /path/to/other/checkout]
 *
 * `--repo` runs another checkout's analyst (e.g. main, for a side-by-side); it is started without the
 * settings it does not know. Settings such as ANALYST_CONCURRENCY pass through from the environment.
 */
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const GROUPS = Number(arg("groups", "1000"));
const SPREAD_S = Number(arg("spread", "14"));
const REPO = path.resolve(arg("repo", REPO_ROOT));
const TOKEN = "bench-token-0123456789abcdef";

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
  return line ? Math.round(Number(line[1]) / 1024) : NaN;
}

/** The analyst's own V8 heap in use (prom-client's default metric), in MiB. */
async function heapMiB(base: string): Promise<number> {
  try {
    const text = await (await fetch(`${base}/metrics`)).text();
    const m = text.match(/^alert_analyst_nodejs_heap_size_used_bytes (\S+)$/m);
    return m ? Math.round(Number(m[1]) / 2 ** 20) : NaN;
  } catch {
    return NaN;
  }
}

const quantile = (sorted: number[], q: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "sonic-bench-analyst-"));
  const reports = new Map<string, number>();
  const busy = new Set<string>();
  const receiver: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (d) => (raw += d));
    req.on("end", () => {
      const body = JSON.parse(raw);
      if (!reports.has(body.groupKey)) reports.set(body.groupKey, Date.now());
      if (/analyst was busy/.test(body.text)) busy.add(body.groupKey);
      res.end("ok");
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  writeFileSync(path.join(dir, "token"), TOKEN);
  const prometheus = await startBackfilledPrometheus(
    dir,
    SCENARIOS.flatMap((s) => s.series),
  );
  const blackhole = await failingPrometheus("blackhole");
  const ownRepo = REPO === REPO_ROOT;
  const rows: Record<string, unknown>[] = [];
  const alertsOf = SCENARIOS.filter((s) => !s.prometheus);
  try {
    for (const [label, url] of [
      ["backfilled Prometheus", prometheus.url],
      ["black-holed Prometheus", blackhole.url],
    ] as const) {
      const port = await freePort();
      const child: ChildProcess = spawn(
        process.execPath,
        ["-r", "ts-node/register/transpile-only", path.join(REPO, "app", "alert-analyst-main.ts")],
        {
          cwd: REPO,
          stdio: "ignore",
          env: {
            ...process.env,
            PORT: String(port),
            HOST: "127.0.0.1",
            ANALYST_PROMETHEUS_URL: url,
            ANALYST_WEBHOOK_URL: hook,
            ANALYST_RUNBOOKS: path.join(REPO, "docs", "runbooks.md"),
            ANALYST_STEP_SECONDS: "60",
            ANALYST_LOG_LEVEL: "silent",
            ...(ownRepo ? { ANALYST_WEBHOOK_TOKEN_FILE: path.join(dir, "token") } : {}),
          },
        },
      );
      const base = `http://127.0.0.1:${port}`;
      for (let i = 0; ; i++) {
        try {
          if ((await fetch(`${base}/healthz`)).ok) break;
        } catch {
          /* starting */
        }
        if (i > 600) throw new Error("the analyst did not start");
        await new Promise((r) => setTimeout(r, 100));
      }
      let n = 0;
      const post = (groupKey: string) => {
        const scenario = alertsOf[n++ % alertsOf.length];
        return fetch(`${base}/v1/alertmanager`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
          body: JSON.stringify(scenarioWebhook(scenario, groupKey, new Date().toISOString())),
        });
      };
      const waitFor = async (keys: string[], timeoutMs: number) => {
        const deadline = Date.now() + timeoutMs;
        while (keys.some((k) => !reports.has(k)) && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20));
      };
      // The single-alert delay: an idle analyst, one group at a time.
      const singles: number[] = [];
      for (let i = 0; i < 5; i++) {
        const key = `${label}/single/${i}`;
        const sent = Date.now();
        await post(key);
        await waitFor([key], 15_000);
        singles.push((reports.get(key) ?? NaN) - sent);
      }
      const rssBefore = rssMiB(child.pid!);
      const heapBefore = await heapMiB(base);
      let peak = rssBefore;
      let heapPeak = heapBefore;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssMiB(child.pid!));
        void heapMiB(base).then((h) => (heapPeak = Math.max(heapPeak, h || 0)));
      }, 250);
      const sent = new Map<string, number>();
      let refused = 0;
      const posts: Promise<unknown>[] = [];
      const start = Date.now();
      for (let i = 0; i < GROUPS; i++) {
        const due = start + (i * SPREAD_S * 1000) / GROUPS;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        const key = `${label}/burst/${i}`;
        sent.set(key, Date.now());
        posts.push(
          post(key).then(
            (r) => (r.status === 503 ? refused++ : undefined),
            () => refused++,
          ),
        );
      }
      await Promise.all(posts);
      await waitFor([...sent.keys()], 60_000);
      const delays = [...sent]
        .filter(([k]) => reports.has(k))
        .map(([k, t]) => reports.get(k)! - t)
        .sort((a, b) => a - b);
      await new Promise((r) => setTimeout(r, 10_000));
      clearInterval(sampler);
      const rssAfter = rssMiB(child.pid!);
      const heapAfter = await heapMiB(base);
      singles.sort((a, b) => a - b);
      rows.push({
        prometheus: label,
        single_ms: singles[2],
        reports: `${delays.length}/${GROUPS}`,
        busy: [...sent.keys()].filter((k) => busy.has(k)).length,
        refused_or_failed: refused,
        p50_ms: quantile(delays, 0.5),
        p95_ms: quantile(delays, 0.95),
        max_ms: delays.at(-1),
        p95_over_single: Number((quantile(delays, 0.95) / singles[2]).toFixed(1)),
        rss_before_mib: rssBefore,
        rss_peak_mib: peak,
        rss_after_mib: rssAfter,
        heap_mib: `${heapBefore} → ${heapPeak} → ${heapAfter}`,
      });
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    console.table(rows);
    console.log(
      `analyst from ${REPO}; ${GROUPS} groups over ${SPREAD_S} s; defaults for concurrency, queue and timeouts`,
    );
  } finally {
    await prometheus.stop();
    await blackhole.close();
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
