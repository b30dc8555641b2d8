import * as assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, Server } from "node:http";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { alertmanagerConfigYaml } from "../../components";
import { AlertAnalyst, buildAlertAnalyst, loadAnalystConfig } from "../../app/analyst/server";
import { WorkQueue } from "../../app/analyst/work-queue";
import { failingPrometheus as fakePrometheus, freePort } from "../fixtures/analyst-scenarios/prometheus";
import { REPO_ROOT } from "../../testkit/stack-file";

/** A receiver standing in for Slack's webhook and the generic webhook: it keeps every post. */
class Receiver {
  readonly posts: { at: number; body: any; path: string }[] = [];
  server!: Server;
  url = "";
  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let raw = "";
      req.on("data", (d) => (raw += d));
      req.on("end", () => {
        this.posts.push({ at: Date.now(), body: JSON.parse(raw), path: req.url ?? "" });
        res.writeHead(200).end("ok");
      });
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }
  reports(path = "/hook") {
    return this.posts.filter((p) => p.path === path && p.body.kind === "alert-analysis").map((p) => p.body);
  }
  resolutions() {
    return this.posts
      .filter((p) => p.path === "/hook" && p.body.kind === "alert-resolution")
      .map((p) => p.body);
  }
  close() {
    return new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** A URL where connections are refused. */
const closedPort = async () => `http://127.0.0.1:${await freePort()}`;

const TOKEN = "t0ken-for-the-analyst-tests-0123";
const dir = mkdtempSync(path.join(tmpdir(), "sonic-analyst-delivery-"));
const tokenFile = path.join(dir, "token");
writeFileSync(tokenFile, `${TOKEN}\n`);

function alert(over: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}) {
  return {
    status: "firing" as const,
    labels: {
      alertname: "HighGPUMemoryUsage",
      namespace: "ai-inference",
      pod: "sonic-a",
      severity: "critical",
      ...over.labels,
    },
    annotations: {
      summary: "GPU memory above 90%",
      description: "GPU 0 of ai-inference/sonic-a uses 97% of its memory",
      runbook_url: "https://runbooks.example/runbooks.md#highgpumemoryusage",
      ...over.annotations,
    },
    startsAt: new Date(Date.now() - 60_000).toISOString(),
    fingerprint: over.labels?.pod ?? "fp-a",
  };
}

function payload(groupKey: string, alerts: ReturnType<typeof alert>[]) {
  return {
    version: "4",
    receiver: "alert-analyst",
    status: alerts.some((a) => a.status === "firing") ? "firing" : "resolved",
    groupKey,
    groupLabels: {},
    commonLabels: {},
    alerts,
  };
}

async function start(prometheusUrl: string, receiver: Receiver, env: Record<string, string> = {}) {
  const analyst = await buildAlertAnalyst(
    loadAnalystConfig({
      ANALYST_PROMETHEUS_URL: prometheusUrl,
      ANALYST_WEBHOOK_URL: `${receiver.url}/hook`,
      ANALYST_RUNBOOKS: path.join(REPO_ROOT, "docs", "runbooks.md"),
      ANALYST_WEBHOOK_TOKEN_FILE: tokenFile,
      ANALYST_EVIDENCE_TIMEOUT_SECONDS: "1",
      ANALYST_LOG_LEVEL: "silent",
      ...env,
    }),
  );
  await analyst.app.listen({ port: 0, host: "127.0.0.1" });
  const url = `http://127.0.0.1:${(analyst.app.server.address() as AddressInfo).port}/v1/alertmanager`;
  const post = (body: unknown, token = TOKEN) =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
  return { analyst, url, post };
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the alert analyst's work queue", () => {
  it("runs at most its concurrency at once, refuses beyond its limit, and says how long each item waited", async () => {
    let active = 0;
    let peak = 0;
    const waited: number[] = [];
    const queue = new WorkQueue<number>({
      concurrency: 3,
      limit: 10,
      run: async (_n, ms) => {
        waited.push(ms);
        peak = Math.max(peak, ++active);
        await new Promise((r) => setTimeout(r, 20));
        active--;
      },
    });
    const accepted = Array.from({ length: 15 }, (_, i) => queue.push(i));
    // 3 start at once and leave the waiting line; 10 more fit; the last 2 are refused.
    assert.deepEqual(accepted, [...Array(13).fill(true), false, false]);
    await queue.idle();
    assert.equal(peak, 3);
    assert.equal(waited.length, 13);
    assert.ok(Math.max(...waited) >= 60, "the last item waited for four rounds of three");
    assert.throws(() => new WorkQueue({ concurrency: 0, limit: 1, run: async () => undefined }), {
      message: "'concurrency' (0) must be >= 1",
    });
  });
});

describe("the alert analyst as a service", function () {
  this.timeout(60_000);
  let receiver: Receiver;
  let analyst: AlertAnalyst | undefined;
  beforeEach(async () => {
    receiver = await new Receiver().start();
  });
  afterEach(async () => {
    await analyst?.app.close();
    analyst = undefined;
    await receiver.close();
  });

  // The bound docs/on-call.md states: a report is posted within max wait + evidence timeout (+ the model's
  // timeout) of the notification. With a 1 s evidence timeout and an idle queue: about 1 s.
  const BOUND_MS = 1000 + 2000;
  for (const mode of ["refused", "blackhole", "502"] as const) {
    it(`still reports every page within its bound when Prometheus is ${mode === "refused" ? "refusing connections" : mode === "blackhole" ? "black-holing them" : "answering 502 HTML"}, saying what could not be fetched`, async () => {
      const prom =
        mode === "refused"
          ? { url: await closedPort(), close: async () => undefined }
          : await fakePrometheus(mode);
      try {
        const s = await start(prom.url, receiver);
        analyst = s.analyst;
        const sent = Date.now();
        assert.equal((await s.post(payload('{}:{alertname="HighGPUMemoryUsage"}', [alert()]))).status, 202);
        const report = await until("the report", 10_000, () => receiver.reports()[0]);
        const took = receiver.posts[0].at - sent;
        console.log(`      Prometheus ${mode}: report after ${took} ms`);
        assert.ok(took <= BOUND_MS, `the report took ${took} ms, bound ${BOUND_MS} ms`);
        assert.match(report.text, /_No evidence: every query to Prometheus failed/);
        const reason = {
          refused: /connection refused/,
          blackhole: /no answer within 1 s/,
          "502": /Prometheus answered 502 with text\/html/,
        }[mode];
        assert.match(report.text, reason);
        assert.match(
          report.text,
          /^Alert: `GPU memory above 90% GPU 0 of ai-inference\/sonic-a uses 97% of its memory`$/m,
        );
        assert.match(report.text, /^Runbook: lower `concurrencyPerGpu`/m);
        assert.match(report.text, /<https:\/\/runbooks\.example\/runbooks\.md#highgpumemoryusage\|runbook>/);
        assert.ok(report.unavailable.length > 0 && report.evidence.length === 0);
      } finally {
        await prom.close();
      }
    });
  }

  it("reports partial evidence as partial when one query fails, and ranks on what came back", async () => {
    const prom = await fakePrometheus("query-error");
    try {
      const s = await start(prom.url, receiver);
      analyst = s.analyst;
      await s.post(payload("g", [alert()]));
      const report = await until("the report", 10_000, () => receiver.reports()[0]);
      assert.match(report.text, /_Partial evidence: 1 of \d+ queries failed/);
      assert.match(report.text, /^• restarts: `Prometheus answered 400: parse error/m);
      assert.match(report.text, /GPU memory at 97\.0% on `sonic-a`/);
    } finally {
      await prom.close();
    }
  });

  it("reports every group of a burst, degraded rather than dropped, with bounded queries in flight", async () => {
    const prom = await fakePrometheus("blackhole");
    try {
      const s = await start(prom.url, receiver, {
        ANALYST_CONCURRENCY: "4",
        ANALYST_MAX_WAIT_SECONDS: "1",
        ANALYST_QUEUE_LIMIT: "500",
      });
      analyst = s.analyst;
      const groups = 200;
      const sent = Date.now();
      const answers = await Promise.all(
        Array.from({ length: groups }, (_, i) =>
          s.post(payload(`g${i}`, [alert({ labels: { pod: `sonic-${i}` } })])),
        ),
      );
      assert.ok(answers.every((r) => r.status === 202));
      await until("every report", 30_000, () => (receiver.reports().length >= groups ? true : undefined));
      const keys = receiver.reports().map((r) => r.groupKey);
      assert.equal(new Set(keys).size, groups, "each group reported exactly once");
      const last = Math.max(...receiver.posts.map((p) => p.at)) - sent;
      // 4 groups at a time, each cut off after 1 s; anything that waited over 1 s goes out at once
      // without evidence, so the burst drains at the speed of posting, not of Prometheus' timeouts.
      assert.ok(last <= 20_000, `the last report came after ${last} ms`);
      assert.ok(receiver.reports().some((r) => /analyst was busy/.test(r.text)));
      // Without a bound, 200 groups x 16 queries would all be open at once (the black hole sees each).
      assert.ok(prom.peak() < 200 * 4, `${prom.peak()} connections at once`);
    } finally {
      await prom.close();
    }
  });

  it("answers 503 when its queue is full, so Alertmanager retries, and analyses the retry", async () => {
    const prom = await fakePrometheus("blackhole");
    try {
      const s = await start(prom.url, receiver, { ANALYST_CONCURRENCY: "1", ANALYST_QUEUE_LIMIT: "1" });
      analyst = s.analyst;
      const codes = [];
      for (let i = 0; i < 3; i++)
        codes.push((await s.post(payload(`q${i}`, [alert({ labels: { pod: `p${i}` } })]))).status);
      assert.deepEqual(codes, [202, 202, 503]);
      await until("the first two reports", 10_000, () => (receiver.reports().length >= 2 ? true : undefined));
      assert.equal((await s.post(payload("q2", [alert({ labels: { pod: "p2" } })]))).status, 202);
      await until("the retried group's report", 10_000, () =>
        receiver.reports().find((r) => r.groupKey === "q2"),
      );
    } finally {
      await prom.close();
    }
  });

  it("refuses new notifications with 503 once draining, and still delivers every report it accepted", async () => {
    const prom = await fakePrometheus("blackhole");
    try {
      const s = await start(prom.url, receiver, { ANALYST_CONCURRENCY: "1" });
      analyst = s.analyst;
      for (const key of ["d0", "d1"])
        assert.equal((await s.post(payload(key, [alert({ labels: { pod: key } })]))).status, 202);
      const drained = s.analyst.drain();
      const refused = await s.post(payload("d2", [alert({ labels: { pod: "d2" } })]));
      assert.equal(refused.status, 503);
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, "draining");
      await drained;
      assert.deepEqual(
        receiver
          .reports()
          .map((r) => r.groupKey)
          .sort(),
        ["d0", "d1"],
      );
    } finally {
      await prom.close();
    }
  });

  it("sends a short resolution line keyed to the group when one alert resolves, and a new analysis only for a new alert", async () => {
    const s = await start(await closedPort(), receiver);
    analyst = s.analyst;
    const a = alert({ labels: { pod: "sonic-a" } });
    const b = alert({ labels: { pod: "sonic-b" } });
    const key = '{}:{alertname="HighGPUMemoryUsage"}';
    await s.post(payload(key, [a, b]));
    await s.post(payload(key, [a, b])); // Alertmanager's repeat: nothing new
    await s.post(payload(key, [a, { ...b, status: "resolved" as any }]));
    await until("the resolution", 10_000, () => receiver.resolutions()[0]);
    await s.analyst.idle();
    assert.equal(receiver.reports().length, 1, "one analysis for the group");
    const [resolution] = receiver.resolutions();
    assert.equal(resolution.groupKey, key);
    assert.equal(
      resolution.text,
      '*Resolved:* `HighGPUMemoryUsage` on `sonic-b`; 1 of the group still firing.\n_alert group `{}:{alertname="HighGPUMemoryUsage"}`_',
    );
    const c = alert({ labels: { pod: "sonic-c" } });
    await s.post(payload(key, [a, c]));
    await until("the new alert's analysis", 10_000, () =>
      receiver.reports().length === 2 ? true : undefined,
    );
  });

  it("refuses notifications without the bearer token (401), and Alertmanager's config sends it", async () => {
    const s = await start(await closedPort(), receiver);
    analyst = s.analyst;
    assert.equal((await s.post(payload("x", [alert()]), "")).status, 401);
    assert.equal((await s.post(payload("x", [alert()]), "wrong-token-wrong-token")).status, 401);
    assert.equal((await s.post(payload("x", [alert()]))).status, 202);
    await s.analyst.idle();
    assert.equal(receiver.reports().length, 1);
    const yaml = parse(
      alertmanagerConfigYaml({ analystUrl: "http://analyst:8090/v1/alertmanager", analystToken: TOKEN }),
    );
    const receiverConfig = yaml.receivers.find((r: any) => r.name === "alert-analyst");
    assert.deepEqual(receiverConfig.webhook_configs[0].http_config, {
      authorization: { type: "Bearer", credentials: TOKEN },
    });
    assert.throws(() => alertmanagerConfigYaml({ analystUrl: "http://analyst:8090/v1/alertmanager" }), {
      message: "analystUrl: the analyst needs 'analystToken' (its bearer token), which is not set",
    });
  });

  it("keeps the generic webhook's body under its cap whatever the alert carries", async () => {
    const s = await start(await closedPort(), receiver);
    analyst = s.analyst;
    const huge = "x".repeat(1900);
    const labels = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`l${i}`, huge]));
    await s.post(payload("big", [alert({ labels, annotations: { description: "d".repeat(100_000) } })]));
    await s.analyst.idle();
    const raw = JSON.stringify(receiver.posts[0].body);
    assert.ok(Buffer.byteLength(raw) <= 64 * 1024, `${Buffer.byteLength(raw)} bytes`);
    assert.equal(receiver.posts[0].body.truncated, true);
  });
});
