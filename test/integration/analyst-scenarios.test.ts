import * as assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, Server } from "node:http";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { AlertAnalyst, buildAlertAnalyst, loadAnalystConfig } from "../../app/analyst/server";
import { REPO_ROOT } from "../../testkit/stack-file";
import { failingPrometheus, freePort, RunningPrometheus } from "../fixtures/analyst-scenarios/prometheus";
import { requireBackfillTools, startBackfilledPrometheus } from "../fixtures/analyst-scenarios/prometheus";
import {
  Scenario,
  SCENARIO_PROFILES,
  SCENARIO_SERVICES,
  scenarioWebhook,
  SCENARIOS,
} from "../fixtures/analyst-scenarios/scenarios";

/**
 * The analyst's scenarios (test/fixtures/analyst-scenarios/scenarios.ts) on a real Prometheus: every scenario's
 * synthetic history, in its own namespace, is backfilled into ONE Prometheus with promtool; each
 * scenario's webhook goes to a real analyst (over HTTP, with its bearer token) and its report is
 * checked for the top cause and what the text must and must not say.
 */
describe("the alert analyst on scenarios backfilled into a real Prometheus", function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(tmpdir(), "sonic-analyst-scenarios-"));
  const token = "scenario-token-0123456789abcdef";
  let prometheus: RunningPrometheus | undefined;
  let prometheusUrl = "";
  const reports: { at: number; body: any }[] = [];
  let receiver: Server;
  const analysts: AlertAnalyst[] = [];
  const fakes: { close(): Promise<void> }[] = [];
  const table: { scenario: string; top: string; ms: number }[] = [];

  before(async () => {
    requireBackfillTools();
    prometheus = await startBackfilledPrometheus(
      dir,
      SCENARIOS.flatMap((s) => s.series),
    );
    prometheusUrl = prometheus.url;
    receiver = createServer((req, res) => {
      let raw = "";
      req.on("data", (d) => (raw += d));
      req.on("end", () => {
        reports.push({ at: Date.now(), body: JSON.parse(raw) });
        res.end("ok");
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    writeFileSync(path.join(dir, "token"), token);
  });

  after(async () => {
    for (const a of analysts) await a.app.close();
    for (const f of fakes) await f.close();
    receiver?.close();
    await prometheus?.stop();
    rmSync(dir, { recursive: true, force: true });
    if (table.length > 0) {
      console.log("\n      scenario → top cause → time to report");
      for (const row of table) console.log(`      ${row.scenario} → ${row.top} → ${row.ms} ms`);
    }
  });

  /** One analyst per Prometheus behaviour; each posts to the same receiver. */
  const analystFor = async (mode: Scenario["prometheus"] = "up"): Promise<string> => {
    let url = prometheusUrl;
    if (mode === "refused") url = `http://127.0.0.1:${await freePort()}`;
    if (mode === "blackhole" || mode === "502") {
      const fake = await failingPrometheus(mode);
      fakes.push(fake);
      url = fake.url;
    }
    const analyst = await buildAlertAnalyst(
      loadAnalystConfig({
        ANALYST_PROMETHEUS_URL: url,
        ANALYST_SERVICES: SCENARIO_SERVICES,
        ANALYST_SERVICE_PROFILES: JSON.stringify(SCENARIO_PROFILES),
        ANALYST_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
        ANALYST_RUNBOOKS: path.join(REPO_ROOT, "docs", "runbooks.md"),
        ANALYST_WEBHOOK_TOKEN_FILE: path.join(dir, "token"),
        ANALYST_EVIDENCE_TIMEOUT_SECONDS: "2",
        ANALYST_STEP_SECONDS: "60",
        ANALYST_LOG_LEVEL: "silent",
      }),
    );
    analysts.push(analyst);
    await analyst.app.listen({ port: 0, host: "127.0.0.1" });
    return `http://127.0.0.1:${(analyst.app.server.address() as AddressInfo).port}/v1/alertmanager`;
  };

  for (const scenario of SCENARIOS) {
    it(`names ${scenario.expect.top ?? "no cause"} for: ${scenario.name}`, async () => {
      const url = await analystFor(scenario.prometheus);
      const groupKey = scenario.groupKey ?? `{}:{scenario="${scenario.name}"}`;
      const startsAt = new Date(Date.now() - 5 * 60_000).toISOString();
      const sent = Date.now();
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify(scenarioWebhook(scenario, groupKey, startsAt)),
      });
      assert.equal(res.status, 202);
      let report: { at: number; body: any } | undefined;
      while (!(report = reports.find((r) => r.body.groupKey === groupKey))) {
        if (Date.now() - sent > 20_000) throw new Error("no report within 20 s");
        await new Promise((r) => setTimeout(r, 20));
      }
      const body = report.body;
      table.push({ scenario: scenario.name, top: body.hypotheses[0]?.id ?? "(none)", ms: report.at - sent });
      assert.equal(body.hypotheses[0]?.id ?? null, scenario.expect.top, body.text);
      if (scenario.prometheus === undefined || scenario.prometheus === "up")
        assert.deepEqual(body.unavailable, [], "every query is valid PromQL and answered");
      for (const re of scenario.expect.text ?? []) assert.match(body.text, re);
      for (const re of scenario.expect.notText ?? []) assert.doesNotMatch(body.text, re);
      const outsideCode = body.text.replace(/`[^`\n]*`/g, "");
      for (const re of scenario.expect.notBare ?? []) assert.doesNotMatch(outsideCode, re);
    });
  }
});
