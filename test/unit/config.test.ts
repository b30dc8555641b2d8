import * as assert from "node:assert/strict";
import { parseStackConfig } from "../../stacks/config";
import { parseFleetConfig } from "../../stacks/fleet-config";
import { readProjectConfig } from "../../testkit/stack-file";

/** The dev stack file's config with some keys replaced, as `key -> JSON text`. */
function devWith(overrides: Record<string, unknown>): Record<string, string> {
  const raw = readProjectConfig("dev");
  for (const [key, value] of Object.entries(overrides))
    raw[key] = typeof value === "string" ? value : JSON.stringify(value);
  return raw;
}

const secrets = new Set(["slackWebhookUrl", "remoteWritePassword"]);
const devPrometheus = () => JSON.parse(devWith({}).prometheus);
const devAutoscaling = () => JSON.parse(devWith({}).autoscaling);

describe("stack config", () => {
  it("accepts both stack files as committed", () => {
    for (const stack of ["dev", "prod"]) {
      assert.doesNotThrow(() =>
        parseStackConfig(
          readProjectConfig(stack),
          new Set(["slackWebhookUrl", "pagerdutyRoutingKey", "remoteWritePassword", "queueRedisUrl"]),
        ),
      );
    }
  });

  it("fills documented defaults for keys a stack file leaves out", () => {
    const c = parseStackConfig(devWith({}), secrets);
    assert.equal(c.monitoring.releaseName, "prometheus-stack");
    assert.equal(c.sonic.namespace, "ai-inference");
    assert.equal(c.prometheus.scrapeInterval, "15s");
  });

  it("names the key and the value of a retention that is not a duration", () => {
    assert.throws(
      () => parseStackConfig(devWith({ prometheus: { ...devPrometheus(), retention: "30 days" } }), secrets),
      {
        message:
          'invalid stack configuration:\n  sonic-observability:prometheus.retention: expected a duration like 30d, got "30 days"',
      },
    );
  });

  it("names a misspelt key instead of ignoring it", () => {
    assert.throws(
      () => parseStackConfig(devWith({ prometheus: { ...devPrometheus(), retension: "3d" } }), secrets),
      {
        message: 'invalid stack configuration:\n  sonic-observability:prometheus: unknown key "retension"',
      },
    );
  });

  it("names an unknown top-level key", () => {
    assert.throws(() => parseStackConfig(devWith({ prometeus: { retention: "3d" } }), secrets), {
      message: 'invalid stack configuration:\n  sonic-observability:: unknown key "prometeus"',
    });
  });

  it("reports a wrong type with the value it got", () => {
    assert.throws(
      () => parseStackConfig(devWith({ prometheus: { ...devPrometheus(), replicas: "two" } }), secrets),
      {
        message:
          'invalid stack configuration:\n  sonic-observability:prometheus.replicas: Invalid input: expected number, received string, got "two"',
      },
    );
  });

  it("refuses an autoscaling rate window shorter than four scrape intervals", () => {
    const autoscaling = { ...devAutoscaling(), rateWindow: "30s" };
    assert.throws(() => parseStackConfig(devWith({ autoscaling }), secrets), {
      message:
        "invalid stack configuration:\n  sonic-observability:autoscaling.rateWindow: must be at least 4x 'prometheus.scrapeInterval' (15s), got \"30s\"",
    });
  });

  it("refuses an alert threshold ratio outside (0, 1)", () => {
    assert.throws(
      () => parseStackConfig(devWith({ alerts: { gpuMemoryRatio: 90 } }), secrets),
      /sonic-observability:alerts\.gpuMemoryRatio: .*got 90/,
    );
  });

  it("requires the runbook base URL, so no page links to a placeholder", () => {
    const raw = readProjectConfig("dev");
    const alerts = JSON.parse(raw.alerts);
    delete alerts.runbookBaseUrl;
    assert.throws(() => parseStackConfig({ ...raw, alerts: JSON.stringify(alerts) }, secrets), {
      message:
        /sonic-observability:alerts\.runbookBaseUrl: Invalid input: expected string, received undefined, got nothing/,
    });
  });

  it("refuses an analyst with nowhere to post its reports", () => {
    const raw = readProjectConfig("dev");
    const alertmanager = JSON.parse(raw.alertmanager);
    alertmanager.receivers = { critical: "pagerduty", warning: "none", info: "none" };
    assert.throws(
      () =>
        parseStackConfig(
          { ...raw, alertmanager: JSON.stringify(alertmanager) },
          new Set(["pagerdutyRoutingKey"]),
        ),
      {
        message:
          /sonic-observability:analyst\.enabled: the analyst posts where alerts go, but no receiver is slack or webhook/,
      },
    );
  });

  it("names a required key that is missing", () => {
    const raw = devWith({});
    delete raw.cluster;
    assert.throws(() => parseStackConfig(raw, secrets), {
      message:
        "invalid stack configuration:\n  sonic-observability:cluster: Invalid input: expected string, received undefined, got nothing",
    });
  });

  it("names an environment it does not know", () => {
    assert.throws(() => parseStackConfig(devWith({ env: "qa" }), secrets), {
      message:
        'invalid stack configuration:\n  sonic-observability:env: Invalid option: expected one of "dev"|"staging"|"prod", got "qa"',
    });
  });

  it("refuses a scrape timeout longer than the scrape interval", () => {
    assert.throws(
      () => parseStackConfig(devWith({ prometheus: { ...devPrometheus(), scrapeTimeout: "20s" } }), secrets),
      {
        message:
          "invalid stack configuration:\n  sonic-observability:prometheus.scrapeTimeout: must be <= 'prometheus.scrapeInterval' (15s), got \"20s\"",
      },
    );
  });

  it("refuses a tier's minReplicas above its maxReplicas, naming the tier", () => {
    const autoscaling = { ...devAutoscaling(), worker: { ...devAutoscaling().worker, minReplicas: 3 } };
    assert.throws(() => parseStackConfig(devWith({ autoscaling }), secrets), {
      message:
        "invalid stack configuration:\n  sonic-observability:autoscaling.worker.minReplicas: must be <= 'autoscaling.worker.maxReplicas' (2), got 3",
    });
  });

  it("says where each key of the one-tier autoscaling block moved", () => {
    const autoscaling = {
      enabled: true,
      minReplicas: 1,
      maxReplicas: 2,
      targetQpsPerPod: 0.05,
      targetBacklogPerPod: 1,
      cpuUtilization: 0,
    };
    assert.throws(() => parseStackConfig(devWith({ autoscaling }), secrets), {
      message: [
        "invalid stack configuration:",
        "  sonic-observability:autoscaling.minReplicas: moved with the split into an API and a worker tier: set 'autoscaling.worker.minReplicas' (GPU tier) and 'autoscaling.api.minReplicas' (API tier, >= 1), got 1",
        "  sonic-observability:autoscaling.maxReplicas: moved with the split into an API and a worker tier: set 'autoscaling.worker.maxReplicas' (GPU tier) and 'autoscaling.api.maxReplicas' (API tier), got 2",
        "  sonic-observability:autoscaling.targetQpsPerPod: moved with the split into an API and a worker tier: set 'autoscaling.api.targetQpsPerPod' (the API tier scales on submissions), got 0.05",
        "  sonic-observability:autoscaling.targetBacklogPerPod: moved with the split into an API and a worker tier: set 'autoscaling.worker.targetBacklogPerPod' (the worker tier scales on the backlog), got 1",
        "  sonic-observability:autoscaling.cpuUtilization: moved with the split into an API and a worker tier: set 'autoscaling.api.cpuUtilization' (the API tier; a GPU pod's CPU says little), got 0",
      ].join("\n"),
    });
  });

  it("refuses scaling the worker tier to zero with engine adapter, naming key and value", () => {
    const autoscaling = { ...devAutoscaling(), engine: "adapter" };
    assert.equal(autoscaling.worker.minReplicas, 0, "dev scales its workers to zero");
    assert.throws(() => parseStackConfig(devWith({ autoscaling }), secrets), {
      message:
        "invalid stack configuration:\n  sonic-observability:autoscaling.worker.minReplicas: 0 (scale to zero) needs 'autoscaling.engine: keda': an HPA never scales below one pod; set 1 or more, or engine keda, got 0",
    });
    assert.doesNotThrow(() =>
      parseStackConfig(
        devWith({ autoscaling: { ...autoscaling, worker: { ...autoscaling.worker, minReplicas: 1 } } }),
        secrets,
      ),
    );
  });

  it("takes the model server's egress as CIDRs and ports, naming the entry of a bad one", () => {
    const sonic = JSON.parse(devWith({}).sonic);
    const withEgress = (egress: unknown) =>
      parseStackConfig(
        devWith({ sonic: { ...sonic, modelServer: { ...sonic.modelServer, egress } } }),
        secrets,
      );
    assert.deepEqual(withEgress([{ cidr: "0.0.0.0/0", ports: [443] }]).sonic.modelServer.egress, [
      { cidr: "0.0.0.0/0", ports: [443] },
    ]);
    assert.deepEqual(parseStackConfig(devWith({}), secrets).sonic.modelServer.egress, []);
    assert.throws(() => withEgress([{ cidr: "huggingface.co", ports: [443] }]), {
      message:
        'invalid stack configuration:\n  sonic-observability:sonic.modelServer.egress.0.cidr: expected a CIDR like 10.0.0.0/8, got "huggingface.co"',
    });
    assert.throws(
      () => withEgress([{ cidr: "10.0.0.0/8", ports: [] }]),
      /sonic\.modelServer\.egress\.0\.ports: .*got \[\]/,
    );
  });

  it("refuses an API tier that could be left with no replica, naming key and value", () => {
    const autoscaling = { ...devAutoscaling(), api: { ...devAutoscaling().api, minReplicas: 0 } };
    assert.throws(() => parseStackConfig(devWith({ autoscaling }), secrets), {
      message:
        "invalid stack configuration:\n  sonic-observability:autoscaling.api.minReplicas: must be >= 1: the API tier always runs, got 0",
    });
    const sonic = { ...JSON.parse(devWith({}).sonic), api: { replicas: 0 } };
    assert.throws(() => parseStackConfig(devWith({ sonic }), secrets), {
      message:
        "invalid stack configuration:\n  sonic-observability:sonic.api.replicas: must be >= 1: the API tier always runs, got 0",
    });
  });

  it("refuses an engine it does not know, and a CPU target engine keda cannot read", () => {
    assert.throws(
      () => parseStackConfig(devWith({ autoscaling: { ...devAutoscaling(), engine: "hpa" } }), secrets),
      {
        message:
          'invalid stack configuration:\n  sonic-observability:autoscaling.engine: Invalid option: expected one of "adapter"|"keda", got "hpa"',
      },
    );
    const autoscaling = { ...devAutoscaling(), api: { ...devAutoscaling().api, cpuUtilization: 70 } };
    assert.throws(() => parseStackConfig(devWith({ autoscaling }), secrets), {
      message:
        "invalid stack configuration:\n  sonic-observability:autoscaling.api.cpuUtilization: is read by an HPA on metrics.k8s.io, which engine keda's Prometheus triggers do not use; set 0, or use 'autoscaling.engine: adapter', got 70",
    });
  });

  it("requires the Slack webhook secret when a receiver is slack", () => {
    assert.throws(() => parseStackConfig(devWith({}), new Set(["remoteWritePassword"])), {
      message:
        "invalid stack configuration:\n  sonic-observability:slackWebhookUrl: required because a receiver is slack; set it with 'pulumi config set --secret slackWebhookUrl <value>'",
    });
  });

  it("refuses another provider's storage class under a cluster flavour, naming key, value and flavour", () => {
    const prometheus = { ...devPrometheus(), storage: { size: "20Gi", storageClassName: "premium-rwo" } };
    assert.throws(() => parseStackConfig(devWith({ clusterFlavor: "eks", prometheus }), secrets), {
      message:
        "invalid stack configuration:\n  sonic-observability:prometheus.storage.storageClassName: is a gke storage class, but 'clusterFlavor' is eks; leave it unset for the cluster's default class, got \"premium-rwo\"",
    });
    assert.doesNotThrow(() => parseStackConfig(devWith({ clusterFlavor: "kubeadm", prometheus }), secrets));
  });

  it("keeps one owner of the external metrics API: the adapter with engine adapter, KEDA with engine keda", () => {
    const adapter = {
      ...devAutoscaling(),
      engine: "adapter",
      worker: { ...devAutoscaling().worker, minReplicas: 1 },
    };
    assert.throws(
      () =>
        parseStackConfig(
          devWith({ monitoring: { adapterExternalMetrics: false }, autoscaling: adapter }),
          secrets,
        ),
      {
        message:
          "invalid stack configuration:\n  sonic-observability:monitoring.adapterExternalMetrics: is false, but the worker tier's HPA reads the external metric sonic_job_backlog from the adapter (engine adapter); leave it unset, or use 'autoscaling.engine: keda', got false",
      },
    );
    assert.throws(
      () => parseStackConfig(devWith({ monitoring: { adapterExternalMetrics: true } }), secrets),
      {
        message:
          "invalid stack configuration:\n  sonic-observability:monitoring.adapterExternalMetrics: must be false (or unset) with 'autoscaling.engine: keda': KEDA's metrics server owns v1beta1.external.metrics.k8s.io, and an APIService has one owner, got true",
      },
    );
    assert.doesNotThrow(() =>
      parseStackConfig(devWith({ monitoring: { adapterExternalMetrics: false } }), secrets),
    );
  });

  it("takes the store's AOF replay rate per CPU-second, refusing one below 1 MiB and a fraction, naming key and value", () => {
    const queue = (rate: unknown) => ({ ...JSON.parse(devWith({}).queue), aofReplayBytesPerCpuSecond: rate });
    assert.equal(
      parseStackConfig(devWith({ queue: queue(8388608) }), secrets).queue.aofReplayBytesPerCpuSecond,
      8388608,
    );
    assert.throws(() => parseStackConfig(devWith({ queue: queue(1000) }), secrets), {
      message:
        "invalid stack configuration:\n  sonic-observability:queue.aofReplayBytesPerCpuSecond: must be an integer >= 1048576 (1 MiB), got 1000",
    });
    assert.throws(
      () => parseStackConfig(devWith({ queue: queue(2097152.5) }), secrets),
      (e: Error) =>
        e.message.startsWith(
          "invalid stack configuration:\n  sonic-observability:queue.aofReplayBytesPerCpuSecond: ",
        ) && e.message.endsWith("got 2097152.5"),
    );
  });

  it("refuses a queueRedisUrl without a scheme at the door, naming the key and the value", () => {
    const raw = {
      ...devWith({ queue: { mode: "external" } }),
      queueRedisUrl: "my-redis.cache.example.com:6380",
    };
    assert.throws(() => parseStackConfig(raw, secrets), {
      message:
        'invalid stack configuration:\n  sonic-observability:queueRedisUrl: expected a URL like redis://host:6379 or rediss://host:6380 (the scheme redis:// or rediss:// is missing), got "my-redis.cache.example.com:6380"',
    });
  });

  it("quotes a malformed queueRedisUrl without its user and password", () => {
    const raw = { ...devWith({}), queueRedisUrl: "redis://default:hunter2@cache.example.com:0/0" };
    assert.throws(() => parseStackConfig(raw, secrets), {
      message:
        'invalid stack configuration:\n  sonic-observability:queueRedisUrl: expected a URL like redis://host:6379 or rediss://host:6380 (port 0), got "redis://***@cache.example.com:0/0"',
    });
    assert.throws(
      () =>
        parseStackConfig(
          { ...devWith({}), queueRedisUrl: "rediss://:hun#ter2@cache.example.com:6380" },
          secrets,
        ),
      (e: Error) => /queueRedisUrl: /.test(e.message) && !/hun|ter2/.test(e.message),
    );
  });

  it("accepts the managed Redis URLs of ElastiCache, Memorystore, Azure and Redis Cloud", () => {
    for (const url of [
      "rediss://default:pw@master.sonic.abc123.use1.cache.amazonaws.com:6379",
      "rediss://10.0.0.3:6378/0",
      "rediss://:pw@sonic.eastus.redis.azure.net:10000",
      "redis://redis-12345.c1.us-east-1-2.ec2.cloud.redislabs.com:12345",
      "redis://in-cluster-redis",
    ])
      assert.doesNotThrow(() => parseStackConfig({ ...devWith({}), queueRedisUrl: url }, secrets), url);
  });

  it("refuses a webhook secret that is not an http(s) URL, quoting only its scheme and host", () => {
    const raw = { ...devWith({}), slackWebhookUrl: "hooks.slack.com/services/T0/B0/xoxsecret" };
    assert.throws(() => parseStackConfig(raw, secrets), {
      message:
        'invalid stack configuration:\n  sonic-observability:slackWebhookUrl: expected a Slack incoming-webhook URL like https://hooks.slack.com/services/T0/B0/X (the scheme http:// or https:// is missing), got "hooks.slack.com/***"',
    });
    assert.throws(
      () => parseStackConfig({ ...devWith({}), alertWebhookUrl: "ftp://alerts.example.com/t0ken" }, secrets),
      {
        message:
          'invalid stack configuration:\n  sonic-observability:alertWebhookUrl: expected an http(s) URL that takes Alertmanager\'s webhook, got "ftp://alerts.example.com/***"',
      },
    );
  });

  it("counts a secret whose value it was given as set", () => {
    assert.doesNotThrow(() =>
      parseStackConfig(
        { ...devWith({}), slackWebhookUrl: "https://hooks.slack.com/services/T0/B0/X" },
        new Set(["remoteWritePassword"]),
      ),
    );
  });

  it("refuses a remote-write URL or a runbook base that is host:port, which zod's url() alone takes", () => {
    const prometheus = devPrometheus();
    assert.throws(
      () =>
        parseStackConfig(
          devWith({
            prometheus: {
              ...prometheus,
              remoteWrite: { ...prometheus.remoteWrite, url: "fleet.example.com:443" },
            },
          }),
          secrets,
        ),
      {
        message:
          'invalid stack configuration:\n  sonic-observability:prometheus.remoteWrite.url: expected an http(s) URL (the scheme http:// or https:// is missing), got "fleet.example.com:443"',
      },
    );
    const alerts = JSON.parse(devWith({}).alerts);
    assert.throws(
      () =>
        parseStackConfig(
          devWith({ alerts: { ...alerts, runbookBaseUrl: "github.com:org/runbooks.md" } }),
          secrets,
        ),
      {
        message:
          'invalid stack configuration:\n  sonic-observability:alerts.runbookBaseUrl: expected the https URL of your runbooks.md (the scheme http:// or https:// is missing), got "github.com:org/runbooks.md"',
      },
    );
  });

  it("refuses a fleet Alertmanager URL that is host:port, naming the key and the value", () => {
    const raw = readProjectConfig("fleet");
    const fleet = { ...JSON.parse(raw.fleet), alertmanagerUrl: "alertmanager.monitoring.svc:9093" };
    assert.throws(() => parseFleetConfig({ ...raw, fleet: JSON.stringify(fleet) }), {
      message:
        'invalid stack configuration:\n  sonic-observability:fleet.alertmanagerUrl: expected an http(s) URL (the scheme http:// or https:// is missing), got "alertmanager.monitoring.svc:9093"',
    });
  });

  it("refuses fleet resources out of bounds, a limit below its request and a missing container, naming the key and the value", () => {
    const raw = readProjectConfig("fleet");
    const fleet = JSON.parse(raw.fleet);
    const withResources = (resources: unknown) =>
      parseFleetConfig({ ...raw, fleet: JSON.stringify({ ...fleet, resources }) });
    const r = fleet.resources;
    assert.throws(
      () =>
        withResources({
          ...r,
          storage: { requests: { cpu: "250m", memory: "128Mi" }, limits: { memory: "1Gi" } },
          select: { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "256Mi" } },
          auth: { requests: { cpu: "64", memory: "64Mi" }, limits: { memory: "256Mi" } },
        }),
      {
        message: [
          "invalid stack configuration:",
          '  sonic-observability:fleet.resources.storage.requests.memory: must be >= 256Mi, got "128Mi"',
          "  sonic-observability:fleet.resources.select.limits.memory: must be >= 'requests.memory' (512Mi), got \"256Mi\"",
          '  sonic-observability:fleet.resources.auth.requests.cpu: must be <= 16, got "64"',
        ].join("\n"),
      },
    );
    const { grafanaSidecar: _, ...noSidecar } = r;
    assert.throws(() => withResources(noSidecar), /fleet\.resources\.grafanaSidecar: .*got nothing/);
    assert.throws(
      () => withResources({ ...r, ruler: { requests: { cpu: "50m", memory: "128Mi" } } }),
      /fleet\.resources\.ruler\.limits: .*got nothing/,
    );
    assert.doesNotThrow(() => withResources(r));
  });

  it("refuses an Alertmanager memory limit below its request and an adapter request out of bounds, naming the key and the value", () => {
    const alertmanager = {
      ...JSON.parse(devWith({}).alertmanager),
      resources: { requests: { cpu: "50m", memory: "256Mi" }, limits: { memory: "128Mi" } },
    };
    const monitoring = {
      ...JSON.parse(devWith({}).monitoring ?? "{}"),
      adapterResources: { requests: { cpu: "5m", memory: "128Mi" }, limits: { memory: "256Mi" } },
    };
    assert.throws(() => parseStackConfig(devWith({ alertmanager, monitoring }), secrets), {
      message: [
        "invalid stack configuration:",
        '  sonic-observability:monitoring.adapterResources.requests.cpu: must be >= 10m, got "5m"',
        "  sonic-observability:alertmanager.resources.limits.memory: must be >= 'requests.memory' (256Mi), got \"128Mi\"",
      ].join("\n"),
    });
  });

  it("refuses a Sonic tier's memory limit below its request, as the API server would, naming the key and the value", () => {
    const sonic = JSON.parse(devWith({}).sonic);
    sonic.api.resources = { requests: { cpu: "250m", memory: "1Gi" }, limits: { memory: "512Mi" } };
    assert.throws(() => parseStackConfig(devWith({ sonic }), secrets), {
      message: [
        "invalid stack configuration:",
        "  sonic-observability:sonic.api.resources.limits.memory: must be >= 'requests.memory' (1Gi), got \"512Mi\"",
      ].join("\n"),
    });
  });

  it("refuses a grace period the app could not drain in (its drain is at most 3600 s)", () => {
    const sonic = { ...JSON.parse(devWith({}).sonic), terminationGracePeriodSeconds: 3616 };
    assert.throws(() => parseStackConfig(devWith({ sonic }), secrets), {
      message:
        "invalid stack configuration:\n  sonic-observability:sonic.terminationGracePeriodSeconds: Too big: expected number to be <=3615, got 3616",
    });
  });
});
