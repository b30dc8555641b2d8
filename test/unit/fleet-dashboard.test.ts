import * as assert from "node:assert/strict";
import { fleetDashboard, overviewDashboard } from "../../components";

const options = { namespace: "ai-inference", hpaName: "sonic-generate-service" };
const fleet = fleetDashboard(options);
const overview = overviewDashboard(options);
const dataPanels = (d: typeof fleet) => ((d.panels ?? []) as any[]).filter((p) => p.type !== "row");

describe("the fleet dashboard", () => {
  it("has every panel of the overview, then a fleet row with jobs/s, backlog, error ratio, p99, GPU busy and GPU memory per cluster", () => {
    const titles = dataPanels(fleet).map((p) => p.title);
    for (const p of dataPanels(overview)) assert.ok(titles.includes(p.title), p.title);
    const fleetRow = [
      "Jobs per second",
      "Backlog (pods' worth of slots)",
      "Error ratio",
      "p99 job latency",
      "GPU busy (model slots in use)",
      "GPU memory used (highest GPU)",
    ];
    assert.deepEqual(titles.slice(0, fleetRow.length), fleetRow);
    for (const p of dataPanels(fleet).slice(0, fleetRow.length))
      assert.match(p.targets[0].expr, /by \(cluster\)/, p.title);
  });

  it("scopes every query with a multi-select cluster variable and names the cluster in every legend", () => {
    const variable = (fleet.templating as any).list.find((v: any) => v.name === "cluster");
    assert.deepEqual([variable.type, variable.multi, variable.includeAll], ["query", true, true]);
    for (const p of dataPanels(fleet))
      for (const t of p.targets) {
        assert.match(t.expr, /cluster=~"\$cluster"/, `${p.title}: ${t.expr}`);
        assert.match(t.legendFormat, /\{\{cluster\}\}/, `${p.title}: ${t.legendFormat}`);
      }
  });

  it("keeps unique panel ids and its own uid beside the overview's", () => {
    const ids = (fleet.panels as any[]).map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual([fleet.uid, overview.uid], ["sonic-fleet", "sonic-overview"]);
    assert.ok(!JSON.stringify(overview).includes("$cluster"), "the in-cluster overview is unchanged");
  });
});
