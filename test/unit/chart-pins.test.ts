import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import {
  CHART_PINS,
  chartPin,
  CLUSTER_STACK_CHARTS,
  FLEET_STACK_CHARTS,
  type ChartPin,
} from "../../components";
import { repositoryMarkdownFiles } from "../../testkit/markdown-links";
import { REPO_ROOT } from "../../testkit/stack-file";

const PINS = Object.values(CHART_PINS) as ChartPin[];

describe("the chart pins (CHART_PINS)", () => {
  it("pin every chart the programs install, once, each archive named <chart>-<version>.tgz", () => {
    assert.deepEqual(
      PINS.map((p) => p.chart).sort(),
      [...CLUSTER_STACK_CHARTS, ...FLEET_STACK_CHARTS].sort(),
    );
    for (const pin of PINS) {
      assert.equal(pin.archive, `${pin.chart}-${pin.version}.tgz`);
      assert.match(pin.repository, /^https:\/\/[^/]+\.github\.io\//);
      assert.equal(chartPin(pin.chart), pin);
    }
    assert.equal(chartPin("nginx"), undefined);
  });

  it("give every archive a SHA-256, but a chart packaged from its parent's copy, whose parent has one", () => {
    for (const pin of PINS) {
      if (pin.packagedFrom === undefined) assert.match(pin.sha256 ?? "", /^[0-9a-f]{64}$/, pin.chart);
      else {
        assert.equal(pin.sha256, null, pin.chart);
        assert.match(CHART_PINS[pin.packagedFrom].sha256 ?? "", /^[0-9a-f]{64}$/, pin.chart);
        // npm run charts fills the cache in table order: the parent first.
        assert.ok(PINS.indexOf(CHART_PINS[pin.packagedFrom]) < PINS.indexOf(pin), pin.chart);
      }
    }
  });

  it("are the versions README.md and docs/ name for the charts", () => {
    const names = PINS.map((p) => p.chart.replace(/-/g, "\\-")).join("|");
    // `kube-prometheus-stack` 88.5.3, **KEDA** 2.20.2, the KEDA chart 2.20.2, keda@2.20.2; not "KEDA 2.20".
    const mention = new RegExp(`\\b(${names})\\b[\`*]*(?: chart)?[ @](\\d+\\.\\d+\\.\\d+)\\b`, "gi");
    const stale: string[] = [];
    const files = [...repositoryMarkdownFiles(REPO_ROOT), path.join("charts", "README.md")].filter(
      (f) => !f.startsWith(path.join("docs", "api")),
    );
    let seen = 0;
    for (const file of files) {
      for (const [text, chart, version] of readFileSync(path.join(REPO_ROOT, file), "utf8").matchAll(
        mention,
      )) {
        seen++;
        const pin = chartPin(chart.toLowerCase())!;
        if (version !== pin.version) stale.push(`${file}: "${text}" (pinned: ${pin.version})`);
      }
    }
    assert.deepEqual(stale, []);
    assert.ok(seen >= 6, `only ${seen} mentions found`);
  });
});
