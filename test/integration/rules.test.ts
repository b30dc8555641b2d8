import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import {
  AlertRule,
  alertNames,
  analystRules,
  isAlert,
  kedaRules,
  metricNames,
  RecordingRule,
  ruleCatalogue,
  ruleFileYaml,
  SEVERITIES,
} from "../../components";
import { readProjectConfig, REPO_ROOT } from "../../testkit/stack-file";
import { EXTERNAL_SERIES, selectorsOf } from "../../testkit/promql";
import { promtool, requirePromtool } from "../../testkit/promtool";

const SUITES = path.join(REPO_ROOT, "test", "rules");
/** The catalogue the promtool suites are written against: Sonic with every default threshold. */
const catalogue = ruleCatalogue({
  job: "sonic-generate-service",
  namespace: "ai-inference",
  cost: { gpuHourly: 3.6, currency: "USD" },
});
const rules = catalogue.flatMap((g) => g.rules);
const alerts = rules.filter(isAlert);
const records = rules.filter((r): r is RecordingRule => !isAlert(r));
const suiteFiles = readdirSync(SUITES).filter((f) => f.endsWith(".yaml"));
const suites = suiteFiles.map((f) => parse(readFileSync(path.join(SUITES, f), "utf8")));
const alertTests = suites.flatMap((s) => s.tests.flatMap((t: any) => t.alert_rule_test ?? []));
const exprTests = suites.flatMap((s) => s.tests.flatMap((t: any) => t.promql_expr_test ?? []));

describe("the alert and recording rules", function () {
  this.timeout(300_000);
  before(requirePromtool);

  for (const stack of ["dev", "prod"]) {
    it(`export for the ${stack} stack as a rule file that promtool check rules accepts`, () => {
      const dir = mkdtempSync(path.join(tmpdir(), "sonic-rules-"));
      const out = path.join(dir, `${stack}.rules.yaml`);
      execFileSync(
        process.execPath,
        ["-r", "ts-node/register/transpile-only", "scripts/rules-export.ts", "--stack", stack, "--out", out],
        {
          cwd: REPO_ROOT,
        },
      );
      // The stack deploys the catalogue and the alert analyst's own rules, and KEDA's health rules
      // where it scales with KEDA (dev).
      const engine = JSON.parse(readProjectConfig(stack).autoscaling).engine;
      const deployed = [
        ...rules,
        ...analystRules({ namespace: "monitoring", runbookBaseUrl: "x" }).rules,
        ...(engine === "keda" ? kedaRules({ runbookBaseUrl: "x" }).rules : []),
      ];
      const report = promtool(["check", "rules", out]);
      assert.match(report, new RegExp(`SUCCESS: ${deployed.length} rules found`));
      const exported = parse(readFileSync(out, "utf8"));
      assert.deepEqual(
        exported.groups.flatMap((g: any) => g.rules.map((r: any) => r.alert ?? r.record)).sort(),
        deployed.map((r) => (isAlert(r) ? r.alert : r.record)).sort(),
      );
    });
  }

  it("pass every promtool test suite in test/rules", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sonic-rule-tests-"));
    writeFileSync(path.join(dir, "catalogue.rules.yaml"), ruleFileYaml(catalogue));
    for (const f of suiteFiles) copyFileSync(path.join(SUITES, f), path.join(dir, f));
    const report = promtool(["test", "rules", ...suiteFiles], dir);
    assert.equal((report.match(/SUCCESS/g) ?? []).length, suiteFiles.length, report);
  });

  it("pass the two-tier suite in test/rules/tiers: a backlog over the configured slots that reads with zero workers, and every tier's HPA watched", () => {
    const tiers = ruleCatalogue({
      job: "sonic-generate-service",
      namespace: "ai-inference",
      slotsPerPod: 2,
      hpaName: "keda-hpa-sonic-generate-worker",
      hpaNames: ["keda-hpa-sonic-generate-service", "keda-hpa-sonic-generate-worker"],
    });
    const dir = mkdtempSync(path.join(tmpdir(), "sonic-tier-rules-"));
    writeFileSync(path.join(dir, "tiers.rules.yaml"), ruleFileYaml(tiers));
    copyFileSync(path.join(SUITES, "tiers", "tiers.yaml"), path.join(dir, "tiers.yaml"));
    assert.match(promtool(["test", "rules", "tiers.yaml"], dir), /SUCCESS/);
  });

  it("refuses a slot count that is not a positive integer and an empty HPA list, naming each", () => {
    const base = { job: "sonic-generate-service", namespace: "ai-inference" };
    assert.throws(() => ruleCatalogue({ ...base, slotsPerPod: 0 }), /slotsPerPod.*0/);
    assert.throws(() => ruleCatalogue({ ...base, hpaNames: [] }), {
      message: "hpaNames: must name at least one HPA, got []",
    });
  });

  it("have, for every alert, a promtool case where it fires and one where it stays silent", () => {
    const missing = alertNames(catalogue).flatMap((name) => {
      const cases = alertTests.filter((t: any) => t.alertname === name);
      const fires = cases.some((t: any) => (t.exp_alerts ?? []).length > 0);
      const silent = cases.some((t: any) => (t.exp_alerts ?? []).length === 0);
      return [
        ...(fires ? [] : [`${name}: no case where it fires`]),
        ...(silent ? [] : [`${name}: no case where it stays silent`]),
      ];
    });
    assert.deepEqual(missing, []);
  });

  it("check every severity of every alert in a firing case", () => {
    const expected = new Set(alerts.map((a) => `${a.alert}/${a.labels.severity}`));
    const tested = new Set(
      alertTests.flatMap((t: any) =>
        (t.exp_alerts ?? []).map((e: any) => `${t.alertname}/${e.exp_labels.severity}`),
      ),
    );
    assert.deepEqual(
      [...expected].filter((k) => !tested.has(k)),
      [],
    );
  });

  it("test each recording rule directly or through an alert that reads it", () => {
    const testedExprs = exprTests.map((t: any) => t.expr as string);
    const alertExprs = alerts.map((a) => a.expr);
    const untested = records
      .map((r) => r.record)
      .filter(
        (name) => !testedExprs.some((e) => e.includes(name)) && !alertExprs.some((e) => e.includes(name)),
      );
    assert.deepEqual(untested, []);
  });

  it("name recordings level:metric:operation after the service prefix", () => {
    for (const r of records) assert.match(r.record, /^sonic:[a-z0-9_]+:[a-z0-9_]+$/, r.record);
  });

  it("give every alert a severity, summary, description with its namespace, and runbook link", () => {
    for (const a of alerts as AlertRule[]) {
      assert.ok((SEVERITIES as readonly string[]).includes(a.labels.severity), `${a.alert} severity`);
      assert.ok(a.annotations.summary.length > 10, `${a.alert} summary`);
      assert.match(a.annotations.description, /\{\{ \$labels\.namespace \}\}/, `${a.alert} description`);
      assert.match(
        a.annotations.runbook_url,
        new RegExp(`runbooks\\.md#${a.alert.toLowerCase()}$`),
        `${a.alert} runbook`,
      );
    }
  });

  it("name a pod in every alert whose series are per pod", () => {
    for (const a of alerts) {
      const perPod =
        !/sum by \(namespace\)|by \(namespace, job|absent\(|kube_horizontalpodautoscaler|request_error_ratio|request_duration_seconds:|audio_decode_failure:ratio/.test(
          a.expr,
        );
      if (perPod)
        assert.match(
          a.annotations.description,
          /\{\{ \$labels\.namespace \}\}\/\{\{ \$labels\.pod \}\}/,
          a.alert,
        );
    }
  });

  it("read only contract metrics, their own recordings, and documented kube-state-metrics and Prometheus series", () => {
    const contract = new Set(
      Object.values(metricNames("sonic")).flatMap((m) =>
        m.endsWith("_seconds") ? [m, `${m}_bucket`, `${m}_sum`, `${m}_count`] : [m],
      ),
    );
    const recorded = new Set(records.map((r) => r.record));
    const unknown = rules.flatMap((r) =>
      selectorsOf(r.expr).filter(
        (name) => !contract.has(name) && !recorded.has(name) && !(name in EXTERNAL_SERIES),
      ),
    );
    assert.deepEqual(unknown, []);
  });

  it("have a runbook entry for every alert", () => {
    const runbooks = readFileSync(path.join(REPO_ROOT, "docs", "runbooks.md"), "utf8");
    const headings = new Set([...runbooks.matchAll(/^## (\w+)$/gm)].map((m) => m[1]));
    assert.deepEqual(
      alertNames(catalogue).filter((n) => !headings.has(n)),
      [],
    );
  });
});
