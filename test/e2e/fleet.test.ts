import * as assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fleetDashboard, fleetSeriesRegex, HEARTBEAT_RECORD, parseDuration } from "../../components";
import { NAMESPACE, SERVICE } from "../../sandbox/sandbox";
import { FLEET_CLUSTERS, FleetSandbox } from "../../sandbox/fleet";

type Sample = { metric: Record<string, string>; value: [number, string] };

async function query(base: string, promql: string): Promise<Sample[]> {
  const res = (await (await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`)).json()) as any;
  if (res.status !== "success") throw new Error(`${promql}: ${res.error}`);
  return res.data.result;
}

/** `{cluster -> value}` of a query grouped by cluster. */
async function byCluster(base: string, promql: string): Promise<Record<string, number>> {
  return Object.fromEntries((await query(base, promql)).map((s) => [s.metric.cluster, Number(s.value[1])]));
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The ruler's alerts of one name, as vmalert reports them. */
async function rulerAlerts(
  ruler: string,
  name: string,
): Promise<{ state: string; labels: Record<string, string> }[]> {
  const res = (await (await fetch(`${ruler}/api/v1/alerts`)).json()) as any;
  return (res.data.alerts ?? []).filter((a: any) => a.name === name);
}

describe("the fleet on 127.0.0.1: two clusters (one an HA pair) remote-writing to a real VictoriaMetrics, judged by a real vmalert", function () {
  this.timeout(240_000);
  let fleet: FleetSandbox;
  const both = Object.values(FLEET_CLUSTERS).sort();

  before(async () => {
    fleet = new FleetSandbox({ stateDir: mkdtempSync(path.join(tmpdir(), "sonic-fleet-")) });
    await fleet.start();
    // Both clusters' heartbeats and recordings (20 s rate windows) have reached the store.
    await until("both clusters' recordings in the store", 60_000, async () => {
      const qps = await byCluster(fleet.store, "count by (cluster) (sonic:request_qps:rate20s)");
      return both.every((c) => qps[c] > 0) ? true : undefined;
    });
  });
  after(async () => {
    await fleet?.stop();
  });

  it("receives from each cluster only the recorded, contract and heartbeat series, far fewer than the cluster holds", async () => {
    const sent = await byCluster(fleet.store, 'count by (cluster) ({__name__=~".+"})');
    const member = fleet.members.find((m) => m.cluster === FLEET_CLUSTERS.single)!;
    const [local] = await query(member.url, 'count({__name__=~".+"})');
    const pods = fleet.sandbox.instances.length;
    const perPod = await byCluster(fleet.store, 'count by (cluster) ({__name__=~".+", pod!=""})');
    const single = FLEET_CLUSTERS.single;
    console.log(
      `      series in the store per cluster: ${JSON.stringify(sent)} = ${sent[single] - perPod[single]} per cluster + ${perPod[single] / pods} per pod x ${pods} pods; the cluster itself holds ${local.value[1]}`,
    );
    assert.deepEqual(Object.keys(sent).sort(), both);
    assert.ok(sent[FLEET_CLUSTERS.single] < Number(local.value[1]) / 2, "the filter keeps most series home");
    const keep = new RegExp(`^(?:${fleetSeriesRegex(["sonic"])})$`);
    const names = await query(fleet.store, 'count by (__name__) ({__name__=~".+"})');
    assert.deepEqual(
      names.map((s) => s.metric.__name__).filter((n) => !keep.test(n)),
      [],
    );
  });

  it("counts the HA pair once: one heartbeat series without __replica__, one sample per interval, the same sums as the single cluster", async () => {
    assert.deepEqual(await byCluster(fleet.store, `count by (cluster) (${HEARTBEAT_RECORD})`), {
      [FLEET_CLUSTERS.pair]: 1,
      [FLEET_CLUSTERS.single]: 1,
    });
    assert.deepEqual(await query(fleet.store, '{__replica__=~".+"}'), []);
    const samples = await byCluster(fleet.store, `count_over_time(${HEARTBEAT_RECORD}[20s])`);
    assert.ok(
      samples[FLEET_CLUSTERS.pair] <= samples[FLEET_CLUSTERS.single] + 1,
      `pair ${samples[FLEET_CLUSTERS.pair]} vs single ${samples[FLEET_CLUSTERS.single]} samples in 20s`,
    );
    // Both clusters scrape the same pods: deduplicated, their fleet sums agree.
    const slots = await byCluster(fleet.store, "sum by (cluster) (sonic_job_slots)");
    assert.equal(slots[FLEET_CLUSTERS.pair], slots[FLEET_CLUSTERS.single]);
    assert.ok(slots[FLEET_CLUSTERS.pair] > 0);
  });

  it("answers every query of the fleet dashboard with data for both clusters", async () => {
    const board = fleetDashboard({
      namespace: NAMESPACE,
      hpaName: SERVICE,
      rateWindow: fleet.sandbox.rateWindow,
    });
    const queries = (board.panels as any[]).flatMap((p) =>
      (p.targets ?? []).map((t: any) => ({ panel: p.title as string, expr: t.expr as string })),
    );
    assert.ok(queries.length >= 20, `${queries.length} queries`);
    const missing: string[] = [];
    for (const q of queries) {
      // "All" of the multi-select cluster variable, as Grafana sends it.
      const expr = q.expr.replaceAll("$cluster", ".*");
      const clusters = Object.keys(await byCluster(fleet.store, `count by (cluster) (${expr})`)).sort();
      if (clusters.join() !== both.join()) missing.push(`${q.panel}: ${expr} -> [${clusters}]`);
    }
    assert.deepEqual(missing, []);
  });

  it("pages FleetClusterNotSending within the silence window + for + one evaluation of a cluster going dark, and resolves when it returns", async () => {
    const [rule] = fleet.fleetRuleGroups()[0].rules as { expr: string; for: string }[];
    const window = parseDuration("w", /\[(\w+)\]\)/.exec(rule.expr)![1]);
    const forSeconds = parseDuration("for", rule.for);
    const evaluation = 2;
    assert.deepEqual(
      (await rulerAlerts(fleet.ruler, "FleetClusterNotSending")).filter((a) => a.state === "firing"),
      [],
    );
    const dark = Date.now();
    fleet.darken(FLEET_CLUSTERS.single);
    await until("FleetClusterNotSending firing", 60_000, async () =>
      (await rulerAlerts(fleet.ruler, "FleetClusterNotSending")).some(
        (a) => a.state === "firing" && a.labels.cluster === FLEET_CLUSTERS.single,
      )
        ? true
        : undefined,
    );
    const fired = (Date.now() - dark) / 1000;
    const firing = (await rulerAlerts(fleet.ruler, "FleetClusterNotSending")).filter(
      (a) => a.state === "firing",
    );
    assert.deepEqual(
      firing.map((a) => a.labels.cluster),
      [FLEET_CLUSTERS.single],
      "only the dark cluster pages",
    );
    // The ruler notified the Alertmanager it is pointed at (the fleet routes pages from there).
    await until("the page in Alertmanager", 10_000, async () => {
      const url = `${fleet.sandbox.endpoints.alertmanager}/api/v2/alerts?filter=${encodeURIComponent('alertname="FleetClusterNotSending"')}`;
      const received = (await (await fetch(url)).json()) as { labels: Record<string, string> }[];
      return received.some((a) => a.labels.cluster === FLEET_CLUSTERS.single) ? true : undefined;
    });
    const back = Date.now();
    await fleet.restore(FLEET_CLUSTERS.single);
    await until("FleetClusterNotSending resolved", 60_000, async () =>
      (await rulerAlerts(fleet.ruler, "FleetClusterNotSending")).length === 0 ? true : undefined,
    );
    const resolved = (Date.now() - back) / 1000;
    console.log(
      `      dark -> firing ${fired.toFixed(1)}s (window ${window}s + for ${forSeconds}s + evaluation ${evaluation}s); back -> resolved ${resolved.toFixed(1)}s`,
    );
    assert.ok(fired <= window + forSeconds + evaluation + 2, `fired after ${fired}s`);
  });
});
