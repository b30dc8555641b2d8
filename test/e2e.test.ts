import * as assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { overviewDashboard } from "../components";
import { fastSandboxOptions } from "../tools/sandbox/fast";
import { NAMESPACE, Sandbox, SERVICE } from "../tools/sandbox/sandbox";

async function query(
  prometheus: string,
  promql: string,
): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = (await (
    await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(promql)}`)
  ).json()) as any;
  if (res.status !== "success") throw new Error(`${promql}: ${res.error}`);
  return res.data.result;
}

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => T | undefined | Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function setFault(url: string, faults: Record<string, number>): Promise<void> {
  const res = await fetch(`${url}/v1/simulation/faults`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(faults),
  });
  assert.equal(res.status, 200);
}

describe("the monitoring path end to end (real app, Prometheus and Alertmanager on 127.0.0.1)", function () {
  this.timeout(300_000);
  let sandbox: Sandbox;
  before(async () => {
    sandbox = new Sandbox(fastSandboxOptions(mkdtempSync(path.join(tmpdir(), "sonic-e2e-"))));
    await sandbox.start();
    // Let Prometheus collect a baseline: every rate window (20 s for QPS) fully covered.
    await new Promise((r) => setTimeout(r, 30_000));
  });
  after(async () => {
    await sandbox?.stop();
  });

  it("fires no alert and delivers nothing while no fault is injected", async () => {
    const alerts = (await (await fetch(`${sandbox.endpoints.prometheus}/api/v1/alerts`)).json()) as any;
    assert.deepEqual(
      alerts.data.alerts.filter((a: any) => a.state === "firing").map((a: any) => a.labels.alertname),
      [],
    );
    assert.deepEqual(sandbox.sink.received, []);
  });

  it("scrapes both instances with the labels the operator would attach", async () => {
    const up = await query(sandbox.endpoints.prometheus, `up{job="${SERVICE}"}`);
    assert.deepEqual(up.map((s) => s.metric.pod).sort(), sandbox.instances.map((i) => i.pod).sort());
    for (const s of up) {
      assert.equal(s.value[1], "1");
      assert.deepEqual(
        [s.metric.namespace, s.metric.service, s.metric.container, s.metric.endpoint],
        [NAMESPACE, SERVICE, SERVICE, "web"],
      );
    }
  });

  it("returns data for every query of the overview dashboard", async () => {
    const dashboard = overviewDashboard({
      namespace: NAMESPACE,
      hpaName: SERVICE,
      rateWindow: sandbox.rateWindow,
    });
    const queries = (dashboard.panels as any[]).flatMap((p) =>
      (p.targets ?? []).map((t: any) => ({ panel: p.title, expr: t.expr })),
    );
    const empty: string[] = [];
    for (const q of queries) {
      if ((await query(sandbox.endpoints.prometheus, q.expr)).length === 0)
        empty.push(`${q.panel}: ${q.expr}`);
    }
    assert.deepEqual(empty, []);
  });

  it("answers the adapter's metricsQuery, rendered as the adapter renders it, with one QPS per instance within 20% of the load", async () => {
    const rule = sandbox.adapterRule();
    const pods = sandbox.instances.map((i) => i.pod);
    const promql = rule.metricsQuery
      .replace("<<.Series>>", rule.seriesQuery.split("{")[0])
      .replace("<<.LabelMatchers>>", `namespace="${NAMESPACE}",pod=~"${pods.join("|")}"`)
      .replace("<<.GroupBy>>", "pod");
    const result = await query(sandbox.endpoints.prometheus, promql);
    assert.deepEqual(result.map((r) => r.metric.pod).sort(), [...pods].sort());
    const sent = fastSandboxOptions("").loadPerSecond!;
    for (const r of result) {
      const qps = Number(r.value[1]);
      assert.ok(
        Math.abs(qps - sent) / sent <= 0.2,
        `${r.metric.pod}: ${qps} requests/s measured, ${sent} sent`,
      );
    }
  });

  it("delivers each critical alert to the webhook with its labels once its fault is injected, and resolves it once removed", async () => {
    const [first, second] = sandbox.instances;
    const injected = Date.now();
    await setFault(first.url, { gpuMemoryPressure: 0.95 });
    await Promise.all(sandbox.instances.map((i) => setFault(i.url, { errorRate: 1 })));
    await sandbox.control("kill", 1);

    const firing = (alertname: string, match: Record<string, string>) =>
      until(`${alertname} firing at the webhook`, 60_000, () =>
        sandbox.sink
          .deliveries(alertname, "firing")
          .find((d) => Object.entries(match).every(([k, v]) => d.labels[k] === v)),
      );
    const gpu = await firing("HighGPUMemoryUsage", { pod: first.pod });
    assert.deepEqual(
      [gpu.labels.severity, gpu.labels.namespace, gpu.labels.gpu, gpu.labels.job, gpu.labels.env],
      ["critical", NAMESPACE, "0", SERVICE, "dev"],
    );
    const burn = await firing("SonicErrorBudgetBurn", { severity: "critical" });
    assert.deepEqual([burn.labels.window, burn.labels.namespace], ["fast", NAMESPACE]);
    await firing("SonicHighErrorRate", { severity: "warning" });
    const down = await firing("SonicTargetDown", { pod: second.pod });
    assert.deepEqual([down.labels.severity, down.labels.instance], ["critical", `127.0.0.1:${second.port}`]);
    assert.ok(
      sandbox.sink.deliveries("HighGPUMemoryUsage", "firing").every((d) => d.labels.pod === first.pod),
      "the healthy GPU alerted",
    );

    await setFault(first.url, { gpuMemoryPressure: 0, errorRate: 0 });
    await sandbox.control("revive", 1);
    const resolved = (alertname: string) =>
      until(
        `${alertname} resolved at the webhook`,
        90_000,
        () => sandbox.sink.deliveries(alertname, "resolved")[0],
      );
    await resolved("HighGPUMemoryUsage");
    await resolved("SonicTargetDown");
    await resolved("SonicHighErrorRate");
    // SonicErrorBudgetBurn resolves only once its 5m window holds little enough error: by design
    // minutes, so it is checked for firing above, not waited for here.
    assert.ok(Date.now() - injected < 200_000);
  });
});
