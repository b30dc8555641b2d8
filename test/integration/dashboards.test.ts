import * as assert from "node:assert/strict";
import { isAlert, metricNames, overviewDashboard, ruleCatalogue } from "../../components";
import type { MockRun } from "../../testkit/mock-runtime";
import { EXTERNAL_SERIES, selectorsOf } from "../../testkit/promql";
import { only, renderStack } from "../../testkit/render";

/** Grafana's dashboard schema version the foundation SDK generates (its `schemaVersion` default). */
const SDK_SCHEMA_VERSION = 42;

const COST = { gpuHourly: 3.6, currency: "EUR" };
const overview = overviewDashboard({
  namespace: "ai-inference",
  hpaName: "sonic-generate-service",
  cost: COST,
});
const panels = (overview.panels ?? []) as any[];
const dataPanels = panels.filter((p) => p.type !== "row");
const queries = dataPanels.flatMap((p) =>
  (p.targets ?? []).map((t: any) => ({ panel: p.title as string, expr: t.expr as string })),
);

describe("the Sonic overview dashboard", () => {
  it("covers traffic, errors, budget, latency, GPU memory, queue, A/V offset, decode failures, memory, replicas, efficiency and cost", () => {
    const text = JSON.stringify(queries.map((q) => q.expr));
    for (const needle of [
      "sonic:request_qps:rate2m",
      "sonic_request_total",
      "sonic:request_error_ratio:rate5m",
      "sonic:request_error_ratio:rate3d",
      "sonic:request_duration_seconds:p99_rate30m",
      "sonic_gpu_memory_used_bytes",
      "sonic_gpu_memory_total_bytes",
      "sonic_jobs_queued",
      "sonic_jobs_in_progress",
      "sonic:av_sync_offset_seconds:p95_rate30m",
      "sonic_audio_decode_failure_total",
      "sonic_process_resident_memory_bytes",
      "kube_horizontalpodautoscaler_spec_max_replicas",
      "sonic:gpu_busy:ratio",
      "sonic:gpus_idle:count",
      "sonic:gpu_seconds_per_video_second:ratio1h",
      "sonic:video_minute_cost:1h",
      "sonic:gpu_idle_hours:1d",
    ]) {
      assert.ok(text.includes(needle), `no panel reads ${needle}`);
    }
  });

  it("has only queries that parse as PromQL and read recorded, contract or documented series", () => {
    const contract = new Set<string>(Object.values(metricNames("sonic")));
    const recorded = new Set(
      ruleCatalogue({ job: "sonic-generate-service", namespace: "ai-inference", cost: COST })
        .flatMap((g) => g.rules)
        .filter((r) => !isAlert(r))
        .map((r) => (r as { record: string }).record),
    );
    assert.ok(queries.length >= 15);
    for (const q of queries) {
      for (const name of selectorsOf(q.expr)) {
        assert.ok(
          contract.has(name) || recorded.has(name) || name in EXTERNAL_SERIES,
          `${q.panel}: ${name} is neither recorded nor in the contract`,
        );
      }
      assert.match(q.expr, /namespace="ai-inference"/, `${q.panel} is not scoped to the service's namespace`);
    }
  });

  it("shows money only where the stack names a price, in its currency", () => {
    const titles = (d: typeof overview) =>
      ((d.panels ?? []) as any[]).filter((p) => p.type !== "row").map((p) => p.title as string);
    const unpriced = overviewDashboard({ namespace: "ai-inference", hpaName: "sonic-generate-service" });
    assert.ok(titles(unpriced).includes("Idle GPU-hours (1d)"));
    assert.ok(!titles(unpriced).some((t) => /cost/i.test(t)));
    const money = dataPanels.filter((p) => /cost/i.test(p.title));
    assert.deepEqual(
      money.map((p) => p.fieldConfig.defaults.unit),
      ["currencyEUR", "currencyEUR"],
    );
  });

  it("is valid for the Grafana schema version it declares: unique ids and refIds, a 24-column grid, a datasource on every query", () => {
    assert.equal(overview.schemaVersion, SDK_SCHEMA_VERSION);
    assert.equal(overview.uid, "sonic-overview");
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, "panel ids repeat");
    assert.ok(ids.every((id) => Number.isInteger(id) && id > 0));
    for (const p of panels) {
      assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title} leaves the 24-column grid`);
    }
    for (const p of dataPanels) {
      const refIds = p.targets.map((t: any) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${p.title} repeats a refId`);
      for (const t of p.targets) assert.deepEqual(t.datasource, { type: "prometheus", uid: "${datasource}" });
      assert.ok(p.description, `${p.title} has no description`);
    }
    const variable = (overview.templating as any).list.find((v: any) => v.name === "datasource");
    assert.equal(variable.type, "datasource");
    assert.equal(variable.query, "prometheus");
  });

  it("draws the stack's own GPU threshold and SLO on its panels", () => {
    const prod = overviewDashboard({
      namespace: "ai-inference",
      hpaName: "h",
      sloTarget: 0.995,
      gpuMemoryRatio: 0.95,
    });
    const text = JSON.stringify(prod);
    assert.ok(text.includes("/ 0.005"), "error budget is not 1 - 0.995");
    assert.ok(text.includes("above 95%"));
  });
});

describe("dashboard provisioning in the stacks", () => {
  let run: MockRun;
  before(async () => {
    run = await renderStack("dev");
  });

  it("puts the overview in a ConfigMap Grafana's sidecar picks up, in the service's namespace", () => {
    const cm = only(run, "kubernetes:core/v1:ConfigMap", "sonic").inputs;
    assert.equal(cm.metadata.labels.grafana_dashboard, "1");
    assert.equal(cm.metadata.namespace, "ai-inference");
    const json = JSON.parse(cm.data["sonic-overview.json"]);
    assert.equal(json.title, "Sonic overview");
    const values = only(run, "kubernetes:helm.sh/v3:Release", "monitoring").inputs.values.grafana.sidecar
      .dashboards;
    assert.deepEqual(
      [values.enabled, values.label, values.labelValue, values.searchNamespace],
      [true, "grafana_dashboard", "1", "ALL"],
    );
  });
});
