import * as assert from "node:assert/strict";
import { parse } from "yaml";
import {
  CLUSTER_LABEL,
  fleetDashboard,
  fleetRules,
  HEARTBEAT_RECORD,
  REPLICA_LABEL,
  TENANT_HEADER,
} from "../../components";
import { parseFleetConfig } from "../../stacks/fleet-config";
import { parseStackConfig, SECRET_KEYS } from "../../stacks/config";
import type { RenderedObject } from "../../scripts/render";
import { readProjectConfig } from "../../testkit/stack-file";
import { one, renderWithCharts, requireHelmAndCharts } from "../../testkit/charts";
import { selectorsOf } from "../../testkit/promql";
import { only, renderStack } from "../../testkit/render";

const fleetConfig = parseFleetConfig(readProjectConfig("fleet"));

describe("the remote-write contract, read from both sides (cluster stacks and the fleet stack, as Helm renders them)", function () {
  this.timeout(300_000);
  let fleet: RenderedObject[];
  let writeUrl: string;
  let auth: { users: any[] };
  before(async () => {
    requireHelmAndCharts();
    fleet = await renderWithCharts("fleet", ["--reveal-secrets"]);
    writeUrl = (await renderStack("fleet")).outputs.writeUrl as string;
    auth = parse(one(fleet, "Secret", "fleet-store-vmauth").stringData["auth.yml"]);
  });

  for (const stack of ["dev", "prod"]) {
    describe(`${stack} stack`, () => {
      let cluster: RenderedObject[];
      let config: ReturnType<typeof parseStackConfig>;
      before(async () => {
        cluster = await renderWithCharts(stack, ["--reveal-secrets"]);
        config = parseStackConfig(readProjectConfig(stack), new Set(SECRET_KEYS));
      });

      it("writes to the fleet's URL as a user the fleet admits, with the tenant the fleet routes that user to", () => {
        const spec = one(cluster, "Prometheus", "prometheus-stack-prometheus").spec;
        const [target] = spec.remoteWrite;
        assert.equal(target.url, writeUrl);
        const user = one(cluster, "Secret", target.basicAuth.username.name).stringData.username;
        const listed = fleetConfig.fleet.clusters.find((c) => c.name === config.cluster);
        assert.ok(listed, `the fleet lists ${config.cluster}`);
        assert.equal(user, listed.name, "the user is the cluster's name");
        assert.deepEqual(target.headers, { [TENANT_HEADER]: listed.tenant });
        const admitted = auth.users.find((u) => u.username === user);
        assert.ok(admitted, `vmauth has a user ${user}`);
        const [route] = admitted.url_map;
        assert.deepEqual(route.src_paths, [new URL(target.url).pathname]);
        assert.deepEqual(route.src_headers, [`${TENANT_HEADER}: ${listed.tenant}`]);
        assert.equal(
          route.url_prefix,
          `http://fleet-store-vminsert.fleet.svc:8480/insert/${fleetConfig.fleet.tenants[listed.tenant]}/prometheus`,
        );
      });

      it("has the fleet dashboard show the HPA the cluster's own dashboard shows: the GPU worker tier's, which scales on the backlog", async () => {
        const run = await renderStack(stack);
        const worker = (run.outputs.autoscalers as { worker: string }).worker;
        const service = fleetConfig.fleet.services.find((s) => s.metricPrefix === "sonic");
        assert.equal(service?.hpaName, worker);
        // The cluster dashboard's replica panel, for comparison: the same HPA.
        const configMap = run.resources.find(
          (r) => r.type === "kubernetes:core/v1:ConfigMap" && r.inputs.metadata?.name === "sonic-dashboards",
        );
        const board = JSON.parse(Object.values(configMap!.inputs.data)[0] as string);
        const replicas = JSON.stringify(board).match(/horizontalpodautoscaler=\\"([^"\\]+)\\"/);
        assert.equal(replicas?.[1], worker);
        const raw = readProjectConfig("fleet");
        const { services: _, ...withoutServices } = JSON.parse(raw.fleet);
        const defaults = parseFleetConfig({ ...raw, fleet: JSON.stringify(withoutServices) });
        assert.equal(defaults.fleet.services[0].hpaName, worker, "the fleet's default too");
      });

      it("labels its series with the cluster and replica labels the fleet drops, deduplicates and groups by", () => {
        const spec = one(cluster, "Prometheus", "prometheus-stack-prometheus").spec;
        assert.equal(spec.externalLabels[CLUSTER_LABEL], config.cluster);
        assert.equal(spec.replicaExternalLabelName, REPLICA_LABEL);
        const relabel = parse(
          one(fleet, "ConfigMap", "fleet-store-vminsert-relabelconfig").data["relabel.yml"],
        );
        assert.deepEqual(relabel, [{ action: "labeldrop", regex: spec.replicaExternalLabelName }]);
        // One sample per scrape interval survives: the store's dedup interval is the cluster's scrape.
        assert.equal(fleetConfig.fleet.dedupInterval, spec.scrapeInterval);
      });

      it("sends every series the fleet rules and the fleet dashboard read, the heartbeat included", () => {
        const spec = one(cluster, "Prometheus", "prometheus-stack-prometheus").spec;
        const keep = new RegExp(`^(?:${spec.remoteWrite[0].writeRelabelConfigs[0].regex})$`);
        const rules = fleetRules({
          clusters: [config.cluster],
          services: fleetConfig.fleet.services.map((s) => s.metricPrefix),
          runbookBaseUrl: "x",
        });
        const board = fleetDashboard({
          namespace: config.sonic.namespace,
          hpaName: "sonic-generate-service",
        });
        const exprs = [
          ...rules.flatMap((g) => g.rules.map((r) => r.expr)),
          ...(board.panels as any[]).flatMap((p) => (p.targets ?? []).map((t: any) => t.expr as string)),
        ];
        const read = [...new Set(exprs.flatMap((e) => selectorsOf(e.replaceAll("$cluster", ".*"))))];
        assert.ok(read.includes(HEARTBEAT_RECORD));
        assert.deepEqual(
          read.filter((name) => !keep.test(name)),
          [],
        );
      });
    });
  }
});

describe("the fleet stack's program", () => {
  it("registers the store, one ruler per tenant and the Grafana, exports a password per cluster, and keeps passwords out of Helm values", async () => {
    const run = await renderStack("fleet");
    const types = run.resources.map((r) => r.type);
    for (const t of ["GlobalStore", "FleetRuler", "FleetGrafana"])
      assert.equal(types.filter((x) => x === `sonic-observability:index:${t}`).length, 1, t);
    assert.equal(run.outputs.writeUrl, "https://fleet.observability.internal/api/v1/write");
    // One generated password per listed cluster (a secret output: `--show-secrets` to read it).
    assert.deepEqual(Object.keys(run.outputs.writePasswords as object), ["gpu-dev-1", "gpu-prod-1"]);
    assert.equal(only(run, "kubernetes:core/v1:Secret", "fleet-store-vmauth").inputs.stringData, "[secret]");
    const values = JSON.stringify(only(run, "kubernetes:helm.sh/v3:Release", "fleet-store").inputs.values);
    assert.ok(!/password/i.test(values), "no password in the store's Helm values");
  });

  it("refuses a cluster whose tenant the fleet does not have, naming the key", () => {
    const raw = readProjectConfig("fleet");
    const f = JSON.parse(raw.fleet);
    f.clusters.push({ name: "gpu-edge-1", tenant: "nobody" });
    assert.throws(() => parseFleetConfig({ ...raw, fleet: JSON.stringify(f) }), {
      message:
        'invalid stack configuration:\n  sonic-observability:fleet.clusters.2.tenant: "nobody" is not one of fleet.tenants (ai-platform)',
    });
  });
});
