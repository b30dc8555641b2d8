import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseDuration } from "../components";
import { fastSandboxOptions } from "../sandbox/fast";
import { Sandbox } from "../sandbox/sandbox";

/**
 * `npm run bench:alerts`: for each critical alert, the time from injecting its fault to the webhook
 * receiving it, next to the theoretical minimum (scrape interval + evaluation interval + `for:`), as a
 * ratio, and the alert analyst's report: how long after the alert it reaches the same webhook, as a
 * ratio to the alert's own fault-to-webhook time. Runs the sandbox with the end-to-end test's fast settings. (SonicMetricsAbsent is left to the
 * promtool suites: the sandbox's targets are static, so a dead instance reads up == 0, never absent.)
 */
async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "sonic-bench-alerts-"));
  const options = fastSandboxOptions(dir);
  const sandbox = new Sandbox(options);
  const setFault = (url: string, faults: Record<string, number>) =>
    fetch(`${url}/v1/simulation/faults`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(faults),
    });
  const thresholds = Object.fromEntries(
    sandbox
      .ruleGroups()
      .flatMap((g) => g.rules)
      .flatMap((r) => ("alert" in r ? [[`${r.alert}/${r.labels.severity}`, r.for]] : [])),
  );
  const cases: {
    alert: string;
    severity: string;
    inject: () => Promise<unknown>;
    clear: () => Promise<unknown>;
  }[] = [
    {
      alert: "HighGPUMemoryUsage",
      severity: "critical",
      inject: () => setFault(sandbox.instances[0].modelServerUrl, { gpuMemoryPressure: 0.95 }),
      clear: () => setFault(sandbox.instances[0].modelServerUrl, { gpuMemoryPressure: 0 }),
    },
    {
      alert: "SonicTargetDown",
      severity: "critical",
      inject: () => sandbox.control("kill", 1),
      clear: () => sandbox.control("revive", 1),
    },
    {
      alert: "SonicErrorBudgetBurn",
      severity: "critical",
      inject: () => Promise.all(sandbox.instances.map((i) => setFault(i.modelServerUrl, { errorRate: 1 }))),
      clear: () => Promise.all(sandbox.instances.map((i) => setFault(i.modelServerUrl, { errorRate: 0 }))),
    },
  ];
  try {
    await sandbox.start();
    await new Promise((r) => setTimeout(r, 25_000));
    const rows = [];
    for (const c of cases) {
      const before = sandbox.sink.deliveries(c.alert, "firing").length;
      const start = Date.now();
      await c.inject();
      while (sandbox.sink.deliveries(c.alert, "firing").length === before) {
        if (Date.now() - start > 120_000) throw new Error(`${c.alert} never reached the webhook`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const delivered = sandbox.sink.deliveries(c.alert, "firing")[before].at;
      const seconds = (delivered - start) / 1000;
      // The analyst's report of the same alert, after the alert itself reached the webhook.
      let analysed: number | undefined;
      while (analysed === undefined && Date.now() - delivered < 30_000) {
        analysed = sandbox.sink.analyses.find((a) => a.at >= start && a.analysis.alertname === c.alert)?.at;
        if (analysed === undefined) await new Promise((r) => setTimeout(r, 20));
      }
      const minimum =
        parseDuration("scrape", sandbox.scrapeInterval) +
        parseDuration("eval", sandbox.evaluationInterval) +
        parseDuration("for", thresholds[`${c.alert}/${c.severity}`]);
      rows.push({
        alert: c.alert,
        fault_to_webhook_s: Number(seconds.toFixed(2)),
        theoretical_min_s: minimum,
        ratio: Number((seconds / minimum).toFixed(2)),
        analysis_after_alert_s:
          analysed === undefined ? null : Number(((analysed - delivered) / 1000).toFixed(3)),
        analysis_delay_ratio:
          analysed === undefined ? null : Number(((analysed - delivered) / 1000 / seconds).toFixed(3)),
      });
      await c.clear();
      await new Promise((r) => setTimeout(r, 8_000));
    }
    console.table(rows);
    console.log(
      `settings: scrape ${sandbox.scrapeInterval}, evaluation ${sandbox.evaluationInterval}, Alertmanager group_wait ${options.alertmanager!.groupWait} (not in the minimum)`,
    );
  } finally {
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
