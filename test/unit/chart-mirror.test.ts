import * as assert from "node:assert/strict";
import {
  CHART_PINS,
  chartSource,
  FleetGrafana,
  FleetRuler,
  fleetRules,
  GlobalStore,
  Keda,
  MonitoringStack,
  PrometheusAdapter,
  requestQpsRule,
} from "../../components";
import { chartRepositoryOf, parseStackConfig } from "../../stacks/config";
import { parseFleetConfig } from "../../stacks/fleet-config";
import { readProjectConfig } from "../../testkit/stack-file";
import { recorded, registered, useMocks } from "../../testkit/mocks";

useMocks();

const RELEASE = "kubernetes:helm.sh/v3:Release";

/** Every Helm release of the program, each built with `chartRepository` (undefined: the public one). */
const RELEASES: {
  chart: string;
  publicRepo: string;
  build: (name: string, chartRepository?: string) => void;
}[] = [
  {
    chart: "kube-prometheus-stack",
    publicRepo: CHART_PINS.kubePrometheusStack.repository,
    build: (name, chartRepository) =>
      new MonitoringStack(name, {
        namespace: name,
        alertmanagerConfig: "",
        grafanaAdminPassword: "x",
        chartRepository,
      }),
  },
  {
    chart: "prometheus-adapter",
    publicRepo: CHART_PINS.prometheusAdapter.repository,
    build: (name, chartRepository) =>
      new PrometheusAdapter(name, {
        namespace: "monitoring",
        prometheusUrl: "http://prometheus.monitoring.svc",
        rules: [{ custom: [requestQpsRule()], external: [] }],
        releaseName: name,
        chartRepository,
      }),
  },
  {
    chart: "keda",
    publicRepo: CHART_PINS.keda.repository,
    build: (name, chartRepository) => new Keda(name, { namespace: name, releaseName: name, chartRepository }),
  },
  {
    chart: "victoria-metrics-cluster",
    publicRepo: CHART_PINS.victoriaMetricsCluster.repository,
    build: (name, chartRepository) =>
      new GlobalStore(name, {
        namespace: name,
        releaseName: name,
        tenants: { "ai-platform": 1 },
        clusters: [{ name: "gpu-dev-1", tenant: "ai-platform" }],
        writePasswords: { "gpu-dev-1": "pw" },
        chartRepository,
      }),
  },
  {
    chart: "victoria-metrics-alert",
    publicRepo: CHART_PINS.victoriaMetricsAlert.repository,
    build: (name, chartRepository) =>
      new FleetRuler(name, {
        namespace: "fleet",
        queryUrl: "http://q",
        alertmanagerUrl: "http://am:9093",
        groups: fleetRules({ clusters: ["a"], runbookBaseUrl: "https://runbooks" }),
        chartRepository,
      }),
  },
  {
    chart: "grafana",
    publicRepo: CHART_PINS.grafana.repository,
    build: (name, chartRepository) =>
      new FleetGrafana(name, {
        namespace: "fleet",
        releaseName: name,
        queryUrls: { "ai-platform": "http://q" },
        adminPassword: "x",
        chartRepository,
      }),
  },
];

describe("Helm charts from a mirror", () => {
  for (const { chart, publicRepo, build } of RELEASES) {
    it(`installs ${chart} from its public repository when no mirror is set`, async () => {
      build(`${chart}-public`);
      const release = await registered(RELEASE, `${chart}-public`);
      assert.equal(release.chart, chart);
      assert.deepEqual(release.repositoryOpts, { repo: publicRepo });
    });

    it(`installs ${chart} from a Helm repository mirror when one is set`, async () => {
      build(`${chart}-mirror`, "https://charts.corp.example/artifactory/api/helm/helm-remote");
      const release = await registered(RELEASE, `${chart}-mirror`);
      assert.equal(release.chart, chart);
      assert.deepEqual(release.repositoryOpts, {
        repo: "https://charts.corp.example/artifactory/api/helm/helm-remote",
      });
    });

    it(`installs ${chart} from an OCI registry as oci://host/path/${chart}, without repositoryOpts`, async () => {
      build(`${chart}-oci`, "oci://harbor.corp.example/charts/");
      const release = await registered(RELEASE, `${chart}-oci`);
      assert.equal(release.chart, `oci://harbor.corp.example/charts/${chart}`);
      assert.equal(release.repositoryOpts, undefined);
    });
  }

  it("refuses a chart repository that is no http(s) or oci URL before registering the release, naming the argument", async () => {
    const before = recorded.length;
    assert.throws(() => new Keda("keda-bad-mirror", { chartRepository: "harbor.corp.example/charts" }), {
      message:
        'chartRepository: expected a chart repository URL like https://charts.example.com or oci://registry.example.com/charts (the scheme https://, http:// or oci:// is missing), got "harbor.corp.example/charts"',
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(!recorded.slice(before).some((r) => r.type === RELEASE && r.name === "keda-bad-mirror"));
  });

  it("refuses credentials in a chart repository URL, which the state would keep in plaintext, without quoting them", () => {
    assert.throws(
      () => chartSource("keda", "https://kedacore.github.io/charts", "https://ci:t0ken@charts.corp.example/"),
      (e: Error) => {
        assert.match(e.message, /^chartRepository: expected .* without credentials/);
        assert.ok(!e.message.includes("t0ken"), e.message);
        assert.match(e.message, /got "https:\/\/\*\*\*@charts\.corp\.example\/"$/);
        return true;
      },
    );
  });
});

describe("the stack's charts setting", () => {
  const dev = readProjectConfig("dev");
  const secrets = new Set(["slackWebhookUrl", "remoteWritePassword"]);

  it("leaves every chart on its public repository when unset", () => {
    const c = parseStackConfig(dev, secrets);
    assert.deepEqual(c.charts, { overrides: {} });
    assert.equal(chartRepositoryOf(c.charts, "keda"), undefined);
  });

  it("serves every chart from one mirror, and one chart from its override first", () => {
    const charts = {
      repository: "https://chartmuseum.corp.example",
      overrides: { keda: { repository: "oci://harbor.corp.example/keda-charts" } },
    };
    const c = parseStackConfig({ ...dev, charts: JSON.stringify(charts) }, secrets);
    assert.equal(chartRepositoryOf(c.charts, "kube-prometheus-stack"), "https://chartmuseum.corp.example");
    assert.equal(chartRepositoryOf(c.charts, "prometheus-adapter"), "https://chartmuseum.corp.example");
    assert.equal(chartRepositoryOf(c.charts, "keda"), "oci://harbor.corp.example/keda-charts");
  });

  it("refuses a mirror that is no http(s) or oci URL, naming the key and the value", () => {
    assert.throws(
      () =>
        parseStackConfig(
          { ...dev, charts: JSON.stringify({ repository: "ftp://charts.corp.example" }) },
          secrets,
        ),
      {
        message:
          'invalid stack configuration:\n  sonic-observability:charts.repository: expected a chart repository URL like https://charts.example.com or oci://registry.example.com/charts, got "ftp://charts.corp.example"',
      },
    );
    assert.throws(
      () =>
        parseStackConfig(
          { ...dev, charts: JSON.stringify({ overrides: { keda: { repository: "harbor:5000/charts" } } }) },
          secrets,
        ),
      {
        message:
          'invalid stack configuration:\n  sonic-observability:charts.overrides.keda.repository: expected a chart repository URL like https://charts.example.com or oci://registry.example.com/charts (the scheme https://, http:// or oci:// is missing), got "harbor:5000/charts"',
      },
    );
  });

  it("names an override for a chart the stack does not install", () => {
    assert.throws(
      () =>
        parseStackConfig(
          { ...dev, charts: JSON.stringify({ overrides: { grafana: { repository: "https://c.example" } } }) },
          secrets,
        ),
      {
        message:
          'invalid stack configuration:\n  sonic-observability:charts.overrides: unknown key "grafana"',
      },
    );
  });

  it("takes the fleet's own charts in the fleet stack", () => {
    const fleet = readProjectConfig("fleet");
    const charts = {
      overrides: { "victoria-metrics-cluster": { repository: "oci://harbor.corp.example/vm" } },
    };
    const c = parseFleetConfig({ ...fleet, charts: JSON.stringify(charts) });
    assert.equal(chartRepositoryOf(c.charts, "victoria-metrics-cluster"), "oci://harbor.corp.example/vm");
    assert.equal(chartRepositoryOf(c.charts, "grafana"), undefined);
    assert.throws(() => parseFleetConfig({ ...fleet, charts: JSON.stringify({ overrides: { keda: {} } }) }), {
      message: 'invalid stack configuration:\n  sonic-observability:charts.overrides: unknown key "keda"',
    });
  });
});
