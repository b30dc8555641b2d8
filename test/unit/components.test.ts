import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import {
  Autoscaler,
  GpuInferenceService,
  InferenceObservability,
  MonitoringStack,
  PrometheusAdapter,
  renderAlertmanagerConfig,
  requestQpsRule,
  alertNames,
  ruleCatalogue,
  RuleConcern,
  jobBacklogRule,
  serviceMonitorSpec,
  WorkerNetworkPolicy,
  InferenceNetworkPolicy,
  JobQueue,
  redisUrlPort,
  aofReplaySeconds,
  valkeyStartupSeconds,
  AOF_REPLAY_BYTES_PER_CPU_SECOND,
  AOF_REWRITE_PERCENTAGE,
  VALKEY_CPU_REQUEST_MILLICORES,
  MIB,
} from "../../components";
import { recorded, registered, useMocks, valueOf } from "../../testkit/mocks";

useMocks();

describe("ServiceMonitor", () => {
  it("always names the namespaces it may scrape, defaulting to its own", () => {
    const spec = serviceMonitorSpec({ namespace: "tts", selector: { app: "tts" } });
    assert.deepEqual(spec.namespaceSelector, { matchNames: ["tts"] });
    assert.deepEqual(spec.endpoints[0], {
      port: "web",
      path: "/metrics",
      interval: "15s",
      scrapeTimeout: "10s",
      scheme: "http",
      honorLabels: false,
    });
  });

  it("rejects a scrape timeout longer than the interval", () => {
    assert.throws(
      () =>
        serviceMonitorSpec({ namespace: "a", selector: { app: "a" }, interval: "15s", scrapeTimeout: "20s" }),
      { message: `scrapeTimeout: "20s" must be <= 'interval' ("15s")` },
    );
  });

  it("rejects a port number where Prometheus needs the port's name", () => {
    assert.throws(() => serviceMonitorSpec({ namespace: "a", selector: { app: "a" }, port: "8080" }), {
      message: `port: must be the Service port's name, not its number, got "8080"`,
    });
  });

  it("rejects an interval that is not a Prometheus duration", () => {
    assert.throws(
      () => serviceMonitorSpec({ namespace: "a", selector: { app: "a" }, interval: "15 seconds" }),
      {
        message: `interval: expected a duration like 30d, got "15 seconds"`,
      },
    );
  });

  it("passes bearer credentials and TLS from Secrets through to the endpoint", () => {
    const spec = serviceMonitorSpec({
      namespace: "a",
      selector: { app: "a" },
      scheme: "https",
      tlsConfig: { ca: { name: "ca", key: "ca.crt" }, serverName: "a.svc" },
      authorization: { credentials: { name: "token", key: "token" } },
    });
    assert.deepEqual((spec.endpoints[0] as any).tlsConfig, {
      ca: { secret: { name: "ca", key: "ca.crt" } },
      serverName: "a.svc",
      insecureSkipVerify: false,
    });
    assert.deepEqual((spec.endpoints[0] as any).authorization, {
      type: "Bearer",
      credentials: { name: "token", key: "token" },
    });
  });
});

describe("Autoscaler", () => {
  it("refuses minReplicas above maxReplicas, quoting both", () => {
    assert.throws(
      () =>
        new Autoscaler("bad-hpa", {
          namespace: "a",
          deploymentName: "a",
          backlogSelector: { job: "a" },
          minReplicas: 11,
          maxReplicas: 10,
        }),
      { message: "minReplicas: (11) must be <= 'maxReplicas' (10)" },
    );
  });

  it("scales on demand and backlog, down one GPU pod at a time after a long window, and up by at most two", async () => {
    new Autoscaler("gpu-hpa", {
      namespace: "a",
      deploymentName: "a",
      backlogSelector: { job: "a" },
      cpuUtilization: 70,
    });
    const hpa = await registered("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "gpu-hpa");
    assert.deepEqual(hpa.spec.behavior.scaleDown.policies, [{ type: "Pods", value: 1, periodSeconds: 300 }]);
    assert.equal(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds, 600);
    assert.deepEqual(hpa.spec.behavior.scaleUp.policies, [{ type: "Pods", value: 2, periodSeconds: 120 }]);
    assert.deepEqual(
      hpa.spec.metrics.map(
        (m: any) => m.type + ":" + ((m.pods ?? m.external)?.metric.name ?? m.resource.name),
      ),
      ["Pods:sonic_request_qps", "External:sonic_job_backlog", "Resource:cpu"],
    );
    assert.deepEqual(hpa.spec.metrics[1].external.metric.selector, { matchLabels: { job: "a" } });
  });

  it("leaves the demand metric out at targetQpsPerPod 0 (a worker tier scales on its backlog alone), and refuses an HPA with no metric", async () => {
    new Autoscaler("backlog-only", {
      namespace: "a",
      deploymentName: "a",
      backlogSelector: { job: "a" },
      targetQpsPerPod: 0,
    });
    const hpa = await registered("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "backlog-only");
    assert.deepEqual(
      hpa.spec.metrics.map((m: any) => m.type),
      ["External"],
    );
    assert.throws(
      () =>
        new Autoscaler("nothing", {
          namespace: "a",
          deploymentName: "a",
          backlogSelector: {},
          targetQpsPerPod: 0,
          targetBacklogPerPod: 0,
        }),
      {
        message:
          "targetQpsPerPod: is 0 and so are 'targetBacklogPerPod' and 'cpuUtilization': an HPA needs at least one metric",
      },
    );
  });

  it("refuses a backlog target between off and a tenth of a pod", () => {
    assert.throws(
      () =>
        new Autoscaler("tiny", {
          namespace: "a",
          deploymentName: "a",
          backlogSelector: {},
          targetBacklogPerPod: 0.01,
        }),
      { message: "targetBacklogPerPod: must be 0 (off) or >= 0.1, got 0.01" },
    );
  });
});

describe("GpuInferenceService", () => {
  const D = "kubernetes:apps/v1:Deployment";
  it("leaves each tier's replicas to its autoscaler when autoscaled, and sets them when not", async () => {
    new GpuInferenceService("scaled", {
      image: "sonic:1",
      modelServer: { image: "sonic-worker:1" },
      appName: "scaled",
      autoscaled: true,
      api: { autoscaled: true },
      createNamespace: false,
    });
    new GpuInferenceService("fixed", {
      image: "sonic:1",
      modelServer: { image: "sonic-worker:1" },
      appName: "fixed",
      replicas: 3,
      api: { replicas: 2 },
      createNamespace: false,
    });
    const [scaledApi, scaledWorker, fixedApi, fixedWorker] = await Promise.all([
      registered(D, "scaled"),
      registered(D, "scaled-worker"),
      registered(D, "fixed"),
      registered(D, "fixed-worker"),
    ]);
    assert.equal("replicas" in scaledApi.spec, false);
    assert.equal("replicas" in scaledWorker.spec, false);
    assert.deepEqual([fixedApi.spec.replicas, fixedWorker.spec.replicas], [2, 3]);
  });

  it("splits the service into a CPU API tier and a GPU worker tier, told apart by the component label", async () => {
    const svc = new GpuInferenceService("tiers", {
      image: "sonic:1",
      modelServer: { image: "sonic-worker:1" },
      createNamespace: false,
    });
    const [api, worker] = await Promise.all([registered(D, "tiers"), registered(D, "tiers-worker")]);
    assert.deepEqual(
      [api.metadata.name, worker.metadata.name],
      ["sonic-generate-service", "sonic-generate-worker"],
    );
    assert.deepEqual(api.spec.selector.matchLabels, {
      app: "sonic-generate-service",
      "app.kubernetes.io/component": "api",
    });
    assert.deepEqual(worker.spec.selector.matchLabels, {
      app: "sonic-generate-service",
      "app.kubernetes.io/component": "worker",
    });
    assert.deepEqual(svc.selectorLabels, { app: "sonic-generate-service" });
    const apiPod = api.spec.template.spec;
    const workerPod = worker.spec.template.spec;
    assert.deepEqual(
      apiPod.containers.map((c: any) => [c.name, c.command.join(" ")]),
      [["api", "node app/api/main.js"]],
    );
    assert.deepEqual(
      workerPod.containers.map((c: any) => c.name),
      ["worker", "model-server"],
    );
    assert.deepEqual(workerPod.containers[0].command, ["node", "app/worker/main.js"]);
    assert.deepEqual(apiPod.tolerations, undefined, "the API holds no GPU and tolerates no GPU taint");
    assert.equal(api.spec.strategy.rollingUpdate.maxSurge, 1, "CPU pods surge");
    assert.equal(worker.spec.strategy.rollingUpdate.maxSurge, 0, "GPU pods are replaced in place");
    const headless = await registered("kubernetes:core/v1:Service", "tiers-worker");
    assert.equal(headless.spec.clusterIP, "None");
    assert.deepEqual(headless.spec.ports, [{ name: "web", port: 8080, targetPort: "web", protocol: "TCP" }]);
    for (const pdb of ["tiers", "tiers-worker"]) {
      const spec = (await registered("kubernetes:policy/v1:PodDisruptionBudget", pdb)).spec;
      assert.equal(spec.unhealthyPodEvictionPolicy, "AlwaysAllow", pdb);
    }
  });

  it("requests the configured number of GPUs as a limit of the model-server container only", async () => {
    new GpuInferenceService("two-gpus", {
      image: "sonic:1",
      modelServer: { image: "sonic-worker:1", gpuCount: 2 },
      concurrencyPerGpu: 3,
      appName: "two-gpus",
      createNamespace: false,
    });
    const d = await registered(D, "two-gpus-worker");
    const [worker, model] = d.spec.template.spec.containers;
    assert.equal(model.resources.limits["nvidia.com/gpu"], "2");
    assert.equal(worker.resources.limits["nvidia.com/gpu"], undefined);
    const env = Object.fromEntries(worker.env.map((e: any) => [e.name, e.value]));
    assert.deepEqual([env.SONIC_GPU_COUNT, env.SONIC_CONCURRENCY_PER_GPU], ["2", "3"]);
    const api = (await registered(D, "two-gpus")).spec.template.spec.containers[0];
    assert.equal(api.resources.limits["nvidia.com/gpu"], undefined);
  });

  it("rejects a GPU count of zero", () => {
    assert.throws(
      () =>
        new GpuInferenceService("no-gpu", { image: "sonic:1", modelServer: { image: "w:1", gpuCount: 0 } }),
      { message: "modelServer.gpuCount: must be an integer >= 1, got 0" },
    );
  });

  it("refuses a worker Deployment named like the API's, naming both", () => {
    assert.throws(
      () =>
        new GpuInferenceService("same-name", {
          image: "sonic:1",
          modelServer: { image: "w:1" },
          appName: "sonic",
          workerName: "sonic",
          createNamespace: false,
        }),
      { message: `workerName: must differ from 'appName' ("sonic"), got "sonic"` },
    );
  });

  it("refuses an API tier of zero replicas, naming the property and value", () => {
    assert.throws(
      () =>
        new GpuInferenceService("no-api", {
          image: "sonic:1",
          modelServer: { image: "w:1" },
          api: { replicas: 0 },
          createNamespace: false,
        }),
      { message: "api.replicas: must be an integer >= 1, got 0" },
    );
  });

  it("requires a model-server image unless the simulated one is asked for, and never invents one", () => {
    assert.throws(
      () =>
        new GpuInferenceService("no-model", { image: "sonic:1", modelServer: {}, createNamespace: false }),
      {
        message:
          "modelServer.image: is required: name the Sonic model-server image, or set 'modelServer.simulated: true' to run the simulated one (no GPU)",
      },
    );
  });
});

describe("WorkerNetworkPolicy", () => {
  it("admits only Prometheus in, and lets the workers out only to DNS and the queue store", async () => {
    new WorkerNetworkPolicy("workers", {
      namespace: "ai-inference",
      podSelector: { app: "sonic", "app.kubernetes.io/component": "worker" },
      queueStore: { podSelector: { "app.kubernetes.io/name": "sonic-queue" }, port: "redis" },
    });
    const np = await registered("kubernetes:networking.k8s.io/v1:NetworkPolicy", "workers");
    assert.deepEqual(np.spec.policyTypes, ["Ingress", "Egress"]);
    assert.equal(np.spec.ingress.length, 1);
    assert.deepEqual(np.spec.ingress[0].ports, [{ protocol: "TCP", port: "web" }]);
    assert.deepEqual(
      np.spec.egress.map((e: any) => e.ports.map((p: any) => `${p.protocol}/${p.port}`).join(",")),
      ["UDP/53,TCP/53", "TCP/redis"],
    );
  });

  it("refuses an empty store selector, which would admit every pod, naming the property and value", () => {
    assert.throws(
      () =>
        new WorkerNetworkPolicy("any-pod", {
          namespace: "a",
          podSelector: { app: "a" },
          queueStore: { podSelector: {}, port: "redis" },
        }),
      {
        message:
          "queueStore.podSelector: must name the store's pod labels (an empty selector admits every pod), got {}",
      },
    );
  });

  it("lets the workers out to the port a managed Redis' URL names, whatever it is (Memorystore TLS 6378, Redis Cloud's own)", async () => {
    const queue = new JobQueue("managed", {
      namespace: "ai-inference",
      externalUrl: pulumi.secret("rediss://default:pw@redis-12345.c1.example.cloud:12345"),
      maxmemoryBytes: 0,
      clientSelector: { app: "sonic" },
    });
    new WorkerNetworkPolicy("managed-workers", {
      namespace: "ai-inference",
      podSelector: { app: "sonic", "app.kubernetes.io/component": "worker" },
      queueStore: queue.storePods ?? { ports: queue.externalPorts! },
    });
    const np = await registered("kubernetes:networking.k8s.io/v1:NetworkPolicy", "managed-workers");
    assert.deepEqual(np.spec.egress[1].ports, [{ protocol: "TCP", port: 12345 }]);
    assert.deepEqual(np.spec.egress[1].to, [{ ipBlock: { cidr: "0.0.0.0/0" } }]);
  });

  it("reads a managed Redis' port from its URL, 6379 when it names none, and never quotes the URL", () => {
    assert.equal(redisUrlPort("rediss://:pw@10.0.0.3:6378"), 6378);
    assert.equal(redisUrlPort("redis://cache.example:10000/0"), 10000);
    assert.equal(redisUrlPort("rediss://cache.example"), 6379);
    assert.throws(
      () => redisUrlPort("cache.example:6379?password=hunter2"),
      (e: Error) => {
        assert.match(e.message, /^externalUrl: expected a URL like redis:\/\/host:6379/);
        assert.doesNotMatch(e.message, /hunter2/);
        return true;
      },
    );
  });

  it("refuses another team's externalUrl without a scheme before registering anything, quoting it without its password", async () => {
    const before = recorded.length;
    assert.throws(
      () =>
        new JobQueue("no-scheme", {
          namespace: "tts",
          externalUrl: "default:hunter2@my-redis.cache.example.com:6380",
          maxmemoryBytes: 0,
          clientSelector: { app: "tts" },
        }),
      {
        message:
          'externalUrl: expected a URL like redis://host:6379 or rediss://host:6380 (the scheme redis:// or rediss:// is missing), got "***@my-redis.cache.example.com:6380"',
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(!recorded.slice(before).some((r) => r.name.startsWith("no-scheme")), "no resource registered");
  });

  it("refuses a managed store without ports, naming the property", () => {
    assert.throws(
      () =>
        new WorkerNetworkPolicy("no-ports", {
          namespace: "a",
          podSelector: { app: "a" },
          queueStore: { ports: [] },
        }),
      { message: "queueStore.ports: must name at least one port of the managed Redis, got []" },
    );
  });
});

describe("InferenceNetworkPolicy", () => {
  const api = { app: "sonic", "app.kubernetes.io/component": "api" };
  const store = { podSelector: { "app.kubernetes.io/name": "sonic-queue" }, port: "redis" };

  it("lets the API pods out only to DNS and the queue store when it is given the store, as the workers", async () => {
    new InferenceNetworkPolicy("api-locked", {
      namespace: "ai-inference",
      podSelector: api,
      clientNamespaces: ["ingress-nginx"],
      queueStore: store,
    });
    const np = await registered("kubernetes:networking.k8s.io/v1:NetworkPolicy", "api-locked");
    assert.deepEqual(np.spec.policyTypes, ["Ingress", "Egress"]);
    assert.deepEqual(
      np.spec.egress.map((e: any) => e.ports.map((p: any) => `${p.protocol}/${p.port}`).join(",")),
      ["UDP/53,TCP/53", "TCP/redis"],
    );
    assert.deepEqual(np.spec.egress[1].to, [{ podSelector: { matchLabels: store.podSelector } }]);
  });

  it("stays ingress-only without a store, as other teams' programs wrote it before", async () => {
    new InferenceNetworkPolicy("api-open", {
      namespace: "tts",
      podSelector: { app: "tts" },
      clientNamespaces: ["ingress-nginx"],
    });
    const np = await registered("kubernetes:networking.k8s.io/v1:NetworkPolicy", "api-open");
    assert.deepEqual(np.spec.policyTypes, ["Ingress"]);
    assert.equal(np.spec.egress, undefined);
  });

  it("refuses egress options without a store, which would read as a lockdown that is not there", () => {
    const base = { namespace: "tts", podSelector: { app: "tts" }, clientNamespaces: ["ingress-nginx"] };
    assert.throws(() => new InferenceNetworkPolicy("dns-only", { ...base, nodeLocalDns: true }), {
      message:
        "nodeLocalDns: locks nothing down without 'queueStore' (egress stays open): set 'queueStore' too, got true",
    });
    assert.throws(() => new InferenceNetworkPolicy("extra-only", { ...base, extraEgress: [] }), {
      message:
        "extraEgress: locks nothing down without 'queueStore' (egress stays open): set 'queueStore' too, got []",
    });
  });

  it("refuses an empty store selector, which would let the API dial every pod, naming the property and value", () => {
    assert.throws(
      () =>
        new InferenceNetworkPolicy("api-any-pod", {
          namespace: "a",
          podSelector: { app: "a" },
          clientNamespaces: ["ingress-nginx"],
          queueStore: { podSelector: {}, port: "redis" },
        }),
      {
        message:
          "queueStore.podSelector: must name the store's pod labels (an empty selector admits every pod), got {}",
      },
    );
  });
});

describe("JobQueue's Valkey", () => {
  const args = { namespace: "ai-inference", clientSelector: { app: "sonic" } };

  it("sizes the startup probe for the replay of twice maxmemory at 12 MiB per CPU-second on its 100m CPU request", async () => {
    // 1 GiB of maxmemory: an AOF of up to 2 GiB at 1.2 MiB/s is 1707 s, plus 30 s to start.
    assert.equal(aofReplaySeconds(1024 * MIB), 1707);
    assert.equal(valkeyStartupSeconds(1024 * MIB), 1737);
    assert.equal(aofReplaySeconds(1024 * MIB, 32 * MIB), 640);
    new JobQueue("sized", { ...args, name: "sized", maxmemoryBytes: 1024 * MIB });
    const sts = await registered("kubernetes:apps/v1:StatefulSet", "sized");
    const valkey = sts.spec.template.spec.containers[0];
    assert.deepEqual(
      [valkey.startupProbe.periodSeconds, valkey.startupProbe.failureThreshold],
      [5, 348],
      "348 x 5 s = 1740 s",
    );
    assert.equal(valkey.resources.requests.cpu, `${VALKEY_CPU_REQUEST_MILLICORES}m`);
    const conf = (await registered("kubernetes:core/v1:ConfigMap", "sized")).data["valkey.conf"];
    assert.match(conf, new RegExp(`^auto-aof-rewrite-percentage ${AOF_REWRITE_PERCENTAGE}$`, "m"));
    assert.equal(AOF_REPLAY_BYTES_PER_CPU_SECOND, 12 * MIB);
  });

  it("fails readiness and startup while Valkey loads, and lets liveness pass on LOADING", async () => {
    new JobQueue("probed", { ...args, name: "probed", maxmemoryBytes: 64 * MIB });
    const valkey = (await registered("kubernetes:apps/v1:StatefulSet", "probed")).spec.template.spec
      .containers[0];
    const script = (probe: any) => probe.exec.command[2] as string;
    assert.deepEqual(valkey.startupProbe.exec, valkey.readinessProbe.exec);
    assert.doesNotMatch(script(valkey.readinessProbe), /LOADING/);
    assert.match(script(valkey.livenessProbe), /PONG\|LOADING\*\)/);
    for (const probe of [valkey.startupProbe, valkey.readinessProbe, valkey.livenessProbe])
      assert.equal(probe.exec.command.at(-1), "6379", "the port is the script's last argument");
  });

  it("takes a slower replay rate, refusing one below 1 MiB per CPU-second with the option and value named", async () => {
    new JobQueue("slow-disk", {
      ...args,
      name: "slow-disk",
      maxmemoryBytes: 1024 * MIB,
      aofReplayBytesPerCpuSecond: 8 * MIB,
    });
    const valkey = (await registered("kubernetes:apps/v1:StatefulSet", "slow-disk")).spec.template.spec
      .containers[0];
    assert.equal(valkey.startupProbe.failureThreshold, 518, "(2560 s + 30 s) / 5 s");
    assert.throws(
      () =>
        new JobQueue("too-slow", {
          ...args,
          name: "too-slow",
          maxmemoryBytes: 64 * MIB,
          aofReplayBytesPerCpuSecond: 1000,
        }),
      { message: "aofReplayBytesPerCpuSecond: must be an integer >= 1048576, got 1000" },
    );
  });

  it("lets the store dial nothing: Egress in its policy, with no rule", async () => {
    new JobQueue("closed", { ...args, name: "closed", maxmemoryBytes: 64 * MIB });
    const np = await registered("kubernetes:networking.k8s.io/v1:NetworkPolicy", "closed");
    assert.deepEqual(np.spec.policyTypes, ["Ingress", "Egress"]);
    assert.deepEqual(np.spec.egress, []);
  });
});

describe("MonitoringStack", () => {
  it("refuses a retentionSize that does not fit on the volume", () => {
    assert.throws(
      () =>
        new MonitoringStack("too-big", {
          alertmanagerConfig: "",
          grafanaAdminPassword: "x",
          prometheus: { storage: { size: "20Gi" }, retentionSize: "20GiB" },
        }),
      {
        message: `prometheus.retentionSize: "20GiB" must be smaller than 'prometheus.storage.size' ("20Gi")`,
      },
    );
  });

  it("refuses a remote-write user without a password", () => {
    assert.throws(
      () =>
        new MonitoringStack("rw", {
          alertmanagerConfig: "",
          grafanaAdminPassword: "x",
          prometheus: { remoteWrite: [{ url: "https://mimir/api/v1/push", username: "sonic" }] },
        }),
      { message: `prometheus.remoteWrite[0].password: required with username "sonic"` },
    );
  });
});

describe("PrometheusAdapter and the request-rate signal", () => {
  it("refuses a rate window shorter than four scrape intervals", () => {
    assert.throws(() => requestQpsRule({ rateWindow: "30s", scrapeInterval: "15s" }), {
      message: `rateWindow: "30s" must be at least 4x 'scrapeInterval' ("15s"), i.e. >= 1m`,
    });
  });

  it("serves <prefix>_request_qps per pod from submissions as they arrive, not from completions", () => {
    assert.deepEqual(requestQpsRule({ metricPrefix: "tts" }), {
      seriesQuery: 'tts_job_submissions_total{namespace!="",pod!=""}',
      resources: { overrides: { namespace: { resource: "namespace" }, pod: { resource: "pod" } } },
      name: { matches: "^tts_job_submissions_total$", as: "tts_request_qps" },
      metricsQuery: "sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)",
    });
  });

  it("serves <prefix>_job_backlog as an external metric: the shared queue once, running jobs summed, over one pod's slots", () => {
    const rule = jobBacklogRule({ metricPrefix: "tts" });
    assert.equal(rule.name.as, "tts_job_backlog");
    assert.equal(
      rule.metricsQuery,
      "(max by (namespace, job) (tts_jobs_queued{<<.LabelMatchers>>}) + sum by (namespace, job) (tts_jobs_in_progress{<<.LabelMatchers>>})) / max by (namespace, job) (<<.Series>>{<<.LabelMatchers>>})",
    );
  });

  it("rejects a Prometheus URL that already carries the port the chart appends", () => {
    assert.throws(
      () =>
        new PrometheusAdapter("adapter-with-port", {
          namespace: "monitoring",
          prometheusUrl: "http://prometheus.monitoring.svc:9090",
          rules: [{ custom: [requestQpsRule()], external: [] }],
        }),
      {
        message: `prometheusUrl: must not carry a port (the chart appends prometheusPort), got "http://prometheus.monitoring.svc:9090"`,
      },
    );
  });
});

describe("Alertmanager routing", () => {
  it("routes each severity to its receiver and lets critical alerts inhibit lesser ones", async () => {
    const text = await valueOf(
      renderAlertmanagerConfig({
        receivers: { critical: "pagerduty", warning: "slack", info: "none" },
        pagerdutyRoutingKey: "pd-key",
        slackWebhookUrl: "https://hooks.slack.example/x",
        slackChannel: "#sonic",
      }),
    );
    const config = parse(text);
    assert.deepEqual(
      config.route.routes.map((r: any) => [r.matchers[0], r.receiver, r.repeat_interval]),
      [
        ['severity="critical"', "critical-pagerduty", "1h"],
        ['severity="warning"', "warning-slack", "4h"],
        ['severity="info"', "info-none", "24h"],
      ],
    );
    const byName = Object.fromEntries(config.receivers.map((r: any) => [r.name, r]));
    assert.equal(byName["critical-pagerduty"].pagerduty_configs[0].routing_key, "pd-key");
    assert.equal(byName["warning-slack"].slack_configs[0].channel, "#sonic");
    assert.deepEqual(config.inhibit_rules[0].source_matchers, ['severity="critical"']);
  });

  it("marks the whole configuration secret, since receivers carry credentials", async () => {
    const output = renderAlertmanagerConfig({
      receivers: { critical: "webhook" },
      webhookUrl: "http://127.0.0.1:1/hook",
    });
    assert.equal(await pulumi.isSecret(output), true);
  });

  it("refuses a receiver whose credential is not set", () => {
    assert.throws(() => renderAlertmanagerConfig({ receivers: { warning: "slack" } }), {
      message: `receivers.warning: "slack" needs 'slackWebhookUrl', which is not set`,
    });
  });
});

describe("InferenceObservability", () => {
  it("onboards another team's service with its own metric prefix in a few lines", async () => {
    const tts = new InferenceObservability("tts", {
      namespace: "speech",
      serviceName: "tts-service",
      selector: { app: "tts-service" },
      metricPrefix: "tts",
      autoscaling: { minReplicas: 1, maxReplicas: 3 },
    });
    assert.equal(tts.customMetricName, "tts_request_qps");
    assert.deepEqual(
      [...tts.adapterRules.custom, ...tts.adapterRules.external].map((r) => r.name.as),
      ["tts_request_qps", "tts_job_backlog"],
    );
    const rule = await registered("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "tts");
    const alerts = rule.spec.groups.flatMap((g: any) => g.rules).filter((r: any) => r.alert);
    assert.ok(alerts.some((a: any) => a.alert === "TtsHighErrorRate"));
    assert.ok(
      alerts.every((a: any) => !a.expr.includes("sonic_")),
      "a TTS rule reads Sonic metrics",
    );
    const sm = await registered("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "tts");
    assert.deepEqual(sm.metadata.labels, { release: "prometheus-stack" });
    assert.deepEqual(sm.spec.namespaceSelector, { matchNames: ["speech"] });
    const hpa = await registered("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "tts");
    assert.equal(hpa.spec.metrics[0].pods.metric.name, "tts_request_qps");
    assert.equal(hpa.spec.scaleTargetRef.name, "tts-service");
  });

  it("scrapes each tier with its own ServiceMonitor under one job, and serves the backlog from the recording when told the slots", async () => {
    const tiers = new InferenceObservability("tiered", {
      namespace: "ai-inference",
      serviceName: "sonic-generate-service",
      selector: { app: "sonic-generate-service" },
      tiers: [
        {
          tier: "api",
          name: "sonic-generate-service",
          selector: { app: "s", "app.kubernetes.io/component": "api" },
        },
        {
          tier: "worker",
          name: "sonic-generate-worker",
          selector: { app: "s", "app.kubernetes.io/component": "worker" },
        },
      ],
      slotsPerPod: 2,
      autoscaling: false,
      hpaName: "keda-hpa-sonic-generate-worker",
      hpaNames: ["keda-hpa-sonic-generate-service", "keda-hpa-sonic-generate-worker"],
    });
    assert.equal(tiers.serviceMonitors.length, 2);
    const SM = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor";
    for (const [resource, name] of [
      ["tiered", "sonic-generate-service"],
      ["tiered-worker", "sonic-generate-worker"],
    ]) {
      const sm = await registered(SM, resource);
      assert.equal(sm.metadata.name, name);
      assert.equal(sm.spec.jobLabel, "app");
      assert.deepEqual(sm.spec.podTargetLabels, ["app.kubernetes.io/component"]);
    }
    assert.deepEqual(
      tiers.adapterRules.external[0].seriesQuery,
      'sonic:job_backlog:ratio{namespace!="",job!=""}',
    );
    const rule = await registered("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "tiered");
    const rules = rule.spec.groups.flatMap((g: any) => g.rules);
    assert.match(rules.find((r: any) => r.record === "sonic:job_backlog:ratio").expr, / \/ 2$/);
    assert.match(
      rules.find((r: any) => r.alert === "SonicAutoscalerMaxedOut").expr,
      /horizontalpodautoscaler=~"keda-hpa-sonic-generate-service\|keda-hpa-sonic-generate-worker"/,
    );
  });

  it("refuses an empty tier list, naming the property and value", () => {
    assert.throws(
      () =>
        new InferenceObservability("no-tiers", {
          namespace: "a",
          serviceName: "a",
          selector: { app: "a" },
          tiers: [],
          autoscaling: false,
        }),
      { message: "tiers: must list at least one tier, or be left out, got []" },
    );
  });

  it("gives an onboarded service only the concerns that apply to it: no GPU, desync or decode alerts unless named", () => {
    const alerts = (concerns?: RuleConcern[]) =>
      alertNames(ruleCatalogue({ metricPrefix: "tts", job: "tts", namespace: "speech", concerns }));
    assert.ok(!alerts().some((a) => /GPU|AudioVideoDesync|AudioDecode/.test(a)), alerts().join());
    assert.ok(alerts(["errors", "gpu"]).includes("TtsHighGPUMemoryUsage"));
    assert.deepEqual(
      alertNames(ruleCatalogue({ job: "sonic", namespace: "ai-inference" })).filter((a) => a.includes("GPU")),
      ["HighGPUMemoryUsage"],
    );
    assert.throws(() => ruleCatalogue({ job: "x", namespace: "y", concerns: ["gpus" as RuleConcern] }), {
      message:
        'concerns: expected some of errors, latency, gpu, av-sync, memory, inputs, availability, autoscaling, queue, cost, got "gpus"',
    });
  });
});
