import * as assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import {
  AlertRule,
  DEFAULT_RUNBOOK_BASE_URL,
  FLEET_ALERTS,
  fleetRules,
  isAlert,
  ruleFileYaml,
  SEVERITIES,
} from "../../components";
import { REPO_ROOT } from "../../testkit/stack-file";
import { promtool, PROMTOOL_VERSION, requirePromtool } from "../../testkit/promtool";
import { requireVmalertTool, VMALERT_VERSION, vmalertUnittest } from "../../testkit/vmalert-tool";

const SUITES = path.join(REPO_ROOT, "test", "rules", "fleet");
/** The catalogue the fleet suites are written against: two listed clusters, Sonic, every default. */
const groups = fleetRules({
  clusters: ["gpu-dev-1", "gpu-prod-1"],
  runbookBaseUrl: DEFAULT_RUNBOOK_BASE_URL,
});
const alerts = groups.flatMap((g) => g.rules).filter(isAlert);
const suiteFiles = readdirSync(SUITES).filter((f) => f.endsWith(".yaml"));
const alertTests = suiteFiles.flatMap((f) =>
  parse(readFileSync(path.join(SUITES, f), "utf8")).tests.flatMap((t: any) => t.alert_rule_test ?? []),
);

/** A promtool suite as vmalert-tool reads it: the same cases, expression tests under MetricsQL's key. */
function forVmalert(suite: string): string {
  const parsed = parse(suite);
  for (const t of parsed.tests) {
    if (t.promql_expr_test === undefined) continue;
    t.metricsql_expr_test = t.promql_expr_test;
    delete t.promql_expr_test;
  }
  return stringify(parsed);
}

describe("the fleet rules", function () {
  this.timeout(120_000);
  before(() => {
    requirePromtool();
    requireVmalertTool();
  });

  it("are a rule file promtool check rules accepts", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "fleet-rules-"));
    writeFileSync(path.join(dir, "fleet.rules.yaml"), ruleFileYaml(groups));
    assert.match(promtool(["check", "rules", "fleet.rules.yaml"], dir), /SUCCESS: 4 rules found/);
  });

  it(`pass every suite in test/rules/fleet on promtool ${PROMTOOL_VERSION}`, () => {
    const dir = mkdtempSync(path.join(tmpdir(), "fleet-rule-tests-"));
    writeFileSync(path.join(dir, "fleet.rules.yaml"), ruleFileYaml(groups));
    for (const f of suiteFiles) copyFileSync(path.join(SUITES, f), path.join(dir, f));
    const report = promtool(["test", "rules", ...suiteFiles], dir);
    assert.equal((report.match(/SUCCESS/g) ?? []).length, suiteFiles.length, report);
  });

  it(`pass the same suites, on the same series, on vmalert ${VMALERT_VERSION}: the engine the fleet's ruler runs them on`, () => {
    const dir = mkdtempSync(path.join(tmpdir(), "fleet-rule-tests-vmalert-"));
    writeFileSync(path.join(dir, "fleet.rules.yaml"), ruleFileYaml(groups));
    for (const f of suiteFiles)
      writeFileSync(path.join(dir, f), forVmalert(readFileSync(path.join(SUITES, f), "utf8")));
    const report = vmalertUnittest(suiteFiles, dir);
    assert.equal((report.match(/^SUCCESS$/gm) ?? []).length, suiteFiles.length, report);
  });

  it("have, for every alert, a promtool case where it fires and one where it stays silent", () => {
    assert.deepEqual([...new Set(alerts.map((a) => a.alert))].sort(), [...FLEET_ALERTS].sort());
    const missing = FLEET_ALERTS.flatMap((name) => {
      const cases = alertTests.filter((t: any) => t.alertname === name);
      return [
        ...(cases.some((t: any) => (t.exp_alerts ?? []).length > 0) ? [] : [`${name}: never fires`]),
        ...(cases.some((t: any) => (t.exp_alerts ?? []).length === 0) ? [] : [`${name}: never silent`]),
      ];
    });
    assert.deepEqual(missing, []);
  });

  it("give every alert a severity, summary, description and a runbook section", () => {
    const runbooks = readFileSync(path.join(REPO_ROOT, "docs", "runbooks.md"), "utf8");
    const headings = new Set([...runbooks.matchAll(/^## (\w+)$/gm)].map((m) => m[1]));
    for (const a of alerts as AlertRule[]) {
      assert.ok((SEVERITIES as readonly string[]).includes(a.labels.severity), a.alert);
      assert.ok(a.annotations.summary.length > 10 && a.annotations.description.length > 10, a.alert);
      assert.ok(headings.has(a.alert), `docs/runbooks.md has no section ${a.alert}`);
    }
  });

  it("judge each listed cluster by name, so one that never sent still pages", () => {
    const silent = alerts.find((a) => a.alert === "FleetClusterNotSending")!;
    for (const c of ["gpu-dev-1", "gpu-prod-1"]) assert.ok(silent.expr.includes(`{cluster="${c}"}`), c);
  });

  it("refuse an empty cluster list and a malformed cluster name, naming the property", () => {
    assert.throws(() => fleetRules({ clusters: [], runbookBaseUrl: "x" }), {
      message: "clusters: expected at least one cluster, got []",
    });
    assert.throws(() => fleetRules({ clusters: ["gpu prod"], runbookBaseUrl: "x" }), {
      message: 'clusters[0]: expected a label value like gpu-prod-1, got "gpu prod"',
    });
    assert.throws(
      () => fleetRules({ clusters: ["a"], runbookBaseUrl: "x", thresholds: { duplicateRatio: 1 } }),
      { message: "thresholds.duplicateRatio: must be above 1, got 1" },
    );
  });
});
