import * as assert from "node:assert/strict";
import {
  FleetNetworkPolicies,
  fleetNetworkPolicySpecs,
  fleetRulerValues,
  FleetRuler,
  fleetRemoteWriteSpec,
  fleetRules,
  fleetSeriesRegex,
  GlobalStore,
  globalStoreValues,
  prometheusRemoteWriteYaml,
  vmauthConfig,
  vmSpread,
} from "../../components";
import { registered, useMocks } from "../../testkit/mocks";

useMocks();

const store = {
  tenants: { "ai-platform": 1 },
  clusters: [{ name: "gpu-dev-1", tenant: "ai-platform" }],
  writePasswords: { "gpu-dev-1": "pw" },
};

describe("the fleet's components", () => {
  it("write the same remote-write entry for the operator and for prometheus.yml", () => {
    const spec = fleetRemoteWriteSpec({ url: "https://fleet/api/v1/write", tenant: "ai-platform" });
    const yml = prometheusRemoteWriteYaml(spec) as any;
    assert.deepEqual(yml.headers, { "X-Scope-OrgID": "ai-platform" });
    assert.deepEqual(yml.write_relabel_configs, [
      { source_labels: ["__name__"], regex: fleetSeriesRegex(["sonic"]), action: "keep" },
    ]);
    assert.equal(yml.queue_config.retry_on_http_429, true);
    assert.equal(yml.queue_config.max_samples_per_send, 2000);
    assert.equal(fleetRemoteWriteSpec({ url: "u", series: "all" }).writeRelabelConfigs, undefined);
  });

  it("refuse a tenant the header cannot carry and a prefix outside the contract, naming the property", () => {
    assert.throws(() => fleetRemoteWriteSpec({ url: "u", tenant: "a b" }), {
      message: `tenant: expected letters, digits, '_', '.' or '-' (at most 150), got "a b"`,
    });
    assert.throws(() => fleetSeriesRegex(["Sonic"]), {
      message: 'metricPrefixes[0]: expected lower snake case like sonic, got "Sonic"',
    });
  });

  it("admit each cluster to the write path only, with its own tenant header, into its tenant's insert path", () => {
    const config = vmauthConfig(
      store.clusters,
      store.tenants,
      (id) => `http://insert/${id}`,
      () => "pw",
    );
    assert.deepEqual(config.users, [
      {
        username: "gpu-dev-1",
        password: "pw",
        url_map: [
          {
            src_paths: ["/api/v1/write"],
            src_headers: ["X-Scope-OrgID: ai-platform"],
            url_prefix: "http://insert/1",
          },
        ],
      },
    ]);
    assert.ok(!JSON.stringify(globalStoreValues(store, "auth")).includes("pw"), "no password in values");
  });

  it("refuse a cluster in an unknown tenant, a tenant id used twice, a missing password and too few storage nodes", () => {
    assert.throws(() => new GlobalStore("s", { ...store, clusters: [{ name: "a", tenant: "x" }] }), {
      message: `clusters[0].tenant: "x" is not one of 'tenants' ("ai-platform")`,
    });
    assert.throws(() => new GlobalStore("s", { ...store, tenants: { a: 1, "ai-platform": 1 } }), {
      message: `tenants.ai-platform: account id 1 is already tenant "a"`,
    });
    assert.throws(() => new GlobalStore("s", { ...store, writePasswords: {} }), {
      message: "writePasswords.gpu-dev-1: required for every cluster",
    });
    assert.throws(() => new GlobalStore("s", { ...store, replicationFactor: 3, replicas: { storage: 2 } }), {
      message: "replicationFactor: must be <= 'replicas.storage' (2), got 3",
    });
  });

  it("refuse a ruler without an Alertmanager URL or without rules", () => {
    const groups = fleetRules({ clusters: ["a"], runbookBaseUrl: "x" });
    assert.throws(
      () =>
        new FleetRuler("r", { namespace: "fleet", queryUrl: "http://q", alertmanagerUrl: "am:9093", groups }),
      { message: 'alertmanagerUrl: expected an http(s) URL, got "am:9093"' },
    );
    assert.throws(
      () =>
        new FleetRuler("r", {
          namespace: "fleet",
          queryUrl: "http://q",
          alertmanagerUrl: "http://am",
          groups: [],
        }),
      { message: "groups: expected at least one rule group, got []" },
    );
  });

  it("select each component's pods by the chart's labels and admit only its callers, on its port", () => {
    const specs = fleetNetworkPolicySpecs({}) as Record<string, any>;
    assert.deepEqual(Object.keys(specs), [
      "fleet-store-vmauth",
      "fleet-store-vminsert",
      "fleet-store-vmselect",
      "fleet-store-vmstorage",
      "fleet-ruler",
      "fleet-grafana",
    ]);
    for (const spec of Object.values(specs)) assert.deepEqual(spec.policyTypes, ["Ingress"]);
    assert.deepEqual(specs["fleet-store-vmauth"].ingress, [{ ports: [{ protocol: "TCP", port: 8427 }] }]);
    assert.deepEqual(specs["fleet-store-vminsert"].podSelector.matchLabels, {
      "app.kubernetes.io/instance": "fleet-store",
      app: "vminsert",
    });
    assert.deepEqual(specs["fleet-store-vminsert"].ingress, [
      {
        from: [
          { podSelector: { matchLabels: { "app.kubernetes.io/instance": "fleet-store", app: "vmauth" } } },
        ],
        ports: [{ protocol: "TCP", port: 8480 }],
      },
    ]);
    assert.deepEqual(
      specs["fleet-store-vmselect"].ingress[0].from.map((f: any) => f.podSelector.matchLabels),
      [
        { "app.kubernetes.io/instance": "fleet-store", app: "vmauth" },
        { "app.kubernetes.io/name": "victoria-metrics-alert", app: "server" },
        { "app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": "fleet-grafana" },
      ],
    );
    for (const spec of Object.values(specs))
      for (const rule of spec.ingress)
        for (const peer of rule.from ?? [])
          assert.equal(peer.namespaceSelector, undefined, "peers are pods of the fleet namespace only");
    assert.deepEqual(specs["fleet-grafana"].ingress, []);
    assert.deepEqual(specs["fleet-ruler"].ingress, []);
    assert.throws(() => fleetNetworkPolicySpecs({ storeRelease: "Fleet Store" }), {
      message: 'storeRelease: expected a Helm release name, got "Fleet Store"',
    });
  });

  it("register one NetworkPolicy per component in the namespace given", async () => {
    new FleetNetworkPolicies("np", { namespace: "fleet", storeRelease: "gs" });
    const np = await registered("kubernetes:networking.k8s.io/v1:NetworkPolicy", "gs-vminsert");
    assert.equal(np.metadata.namespace, "fleet");
    assert.deepEqual(np.spec.podSelector.matchLabels, {
      "app.kubernetes.io/instance": "gs",
      app: "vminsert",
    });
  });

  it("spread replicas across nodes (strictly for vmstorage), across zones on request, and pass each part's resources", () => {
    assert.deepEqual(vmSpread(1, { zones: true }), []);
    assert.deepEqual(
      vmSpread(3, {}, true).map((c) => [c.topologyKey, c.whenUnsatisfiable]),
      [["kubernetes.io/hostname", "DoNotSchedule"]],
    );
    assert.deepEqual(
      vmSpread(2, { zones: true }).map((c) => [c.topologyKey, c.whenUnsatisfiable]),
      [
        ["kubernetes.io/hostname", "ScheduleAnyway"],
        ["topology.kubernetes.io/zone", "ScheduleAnyway"],
      ],
    );
    const sized = { requests: { cpu: "1", memory: "1Gi" }, limits: { memory: "2Gi" } };
    const values = globalStoreValues(
      { ...store, resources: { storage: sized }, replicas: { insert: 1 } },
      "auth",
    ) as any;
    assert.deepEqual(values.vmstorage.resources, sized);
    assert.equal(values.vmstorage.topologySpreadConstraints[0].whenUnsatisfiable, "DoNotSchedule");
    assert.equal(values.vminsert.resources, undefined);
    assert.deepEqual(values.vminsert.topologySpreadConstraints, [], "one replica: nothing to spread");
    assert.equal(values.vmauth.topologySpreadConstraints.length, 1);
    const ruler = fleetRulerValues(
      { namespace: "fleet", queryUrl: "q", alertmanagerUrl: "http://am", groups: [], resources: sized },
      "r",
      "q",
    ) as any;
    assert.deepEqual(ruler.server.resources, sized);
    assert.equal(ruler.server.topologySpreadConstraints[0].topologyKey, "kubernetes.io/hostname");
  });
});
