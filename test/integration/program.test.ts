import * as assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import type { MockRun, RegisteredResource } from "../../testkit/mock-runtime";
import { loadApiConfig } from "../../app/api/config";
import { loadWorkerConfig } from "../../app/worker/config";
import { archiveFile, resolveChartArchive } from "../../testkit/chart-archives";
import { CHART_PINS, type ChartPin, valkeyStartupSeconds } from "../../components";
import { objectYaml, toObjects } from "../../scripts/render";
import { readStackFile, REPO_ROOT } from "../../testkit/stack-file";
import { at, only, renderStack, renderStackFailure, waitsFor } from "../../testkit/render";
import { connectionAdmitted, type Destination, type PodIdentity } from "../../testkit/network-policy";

const T = {
  namespace: "kubernetes:core/v1:Namespace",
  secret: "kubernetes:core/v1:Secret",
  service: "kubernetes:core/v1:Service",
  deployment: "kubernetes:apps/v1:Deployment",
  pdb: "kubernetes:policy/v1:PodDisruptionBudget",
  release: "kubernetes:helm.sh/v3:Release",
  serviceMonitor: "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
  prometheusRule: "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
  hpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
  networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  role: "kubernetes:rbac.authorization.k8s.io/v1:Role",
  roleBinding: "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
};
const STATEFULSET = "kubernetes:apps/v1:StatefulSet";
const SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject";
const CONFIGMAP = "kubernetes:core/v1:ConfigMap";
/** A pinned chart as `chart@version`. */
const pinned = (pin: ChartPin) => `${pin.chart}@${pin.version}`;

/** The autoscaling block of a stack file, as committed. */
const autoscalingOf = (stack: string) =>
  readStackFile(stack).config["sonic-observability:autoscaling"] &&
  JSON.parse(readStackFile(stack).config["sonic-observability:autoscaling"]);
const kps = (run: MockRun) => only(run, T.release, "monitoring").inputs as any;
const promSpec = (run: MockRun) => at(kps(run), "values.prometheus.prometheusSpec");
/** The API tier's and the worker tier's Deployments. */
const apiDeployment = (run: MockRun) => only(run, T.deployment, "sonic");
const workerDeployment = (run: MockRun) => only(run, T.deployment, "sonic-worker");
/** The worker pods' containers: the job runner and the model server. */
const containers = (run: MockRun) =>
  at(workerDeployment(run).inputs, "spec.template.spec.containers") as any[];
/** The `api` container (the project's image, the API tier's only container). */
const container = (run: MockRun) =>
  (at(apiDeployment(run).inputs, "spec.template.spec.containers") as any[]).find((c) => c.name === "api");
const workerContainer = (run: MockRun) => containers(run).find((c) => c.name === "worker");
const modelServer = (run: MockRun) => containers(run).find((c) => c.name === "model-server");
/** `--set` of a stack's autoscaling block on the other engine (the worker at least 1 for the adapter). */
const onEngine = (stack: string, engine: "adapter" | "keda") => {
  const a = autoscalingOf(stack);
  const worker =
    engine === "adapter" ? { ...a.worker, minReplicas: Math.max(1, a.worker.minReplicas) } : a.worker;
  return ["--set", `autoscaling=${JSON.stringify({ ...a, engine, worker })}`];
};
/** Both stacks on both engines: as committed (dev keda, prod adapter), and each on the other. */
const VARIANTS: { title: string; stack: string; engine: "adapter" | "keda"; extra: string[] }[] = [
  { title: "the dev stack", stack: "dev", engine: "keda", extra: [] },
  { title: "the prod stack", stack: "prod", engine: "adapter", extra: [] },
  {
    title: "the dev stack on engine adapter",
    stack: "dev",
    engine: "adapter",
    extra: onEngine("dev", "adapter"),
  },
  { title: "the prod stack on engine keda", stack: "prod", engine: "keda", extra: onEngine("prod", "keda") },
];

for (const { title, stack, engine, extra } of VARIANTS) {
  describe(`${title} (engine ${engine}) under Pulumi's mock runtime`, function () {
    let run: MockRun;
    before(async () => {
      run = await renderStack(stack, extra);
    });
    const adapterRelease = () =>
      run.resources.find((r) => r.type === T.release && r.name === "prometheus-adapter");

    it("registers every object of the monitoring stack and of its autoscaling engine, and nothing of the other", () => {
      const types = Object.values(T).filter((t) => engine === "adapter" || t !== T.hpa);
      for (const type of [...types, ...(engine === "keda" ? [SCALED_OBJECT] : [])]) {
        assert.ok(
          run.resources.some((r) => r.type === type),
          `no ${type} registered`,
        );
      }
      assert.equal(
        run.resources.some((r) => r.type === (engine === "keda" ? T.hpa : SCALED_OBJECT)),
        false,
      );
      assert.deepEqual(
        run.resources
          .filter((r) => r.type === T.release)
          .map((r) => r.inputs.chart + "@" + r.inputs.version)
          .sort(),
        // With KEDA and no onboarded service, nothing needs prometheus-adapter.
        engine === "adapter"
          ? [pinned(CHART_PINS.kubePrometheusStack), pinned(CHART_PINS.prometheusAdapter)]
          : [pinned(CHART_PINS.keda), pinned(CHART_PINS.kubePrometheusStack)],
      );
    });

    it("pins the Helm release name that Prometheus' selectors are keyed on", () => {
      assert.equal(kps(run).name, "prometheus-stack");
      assert.deepEqual(promSpec(run).serviceMonitorSelector, {
        matchLabels: { release: "prometheus-stack" },
      });
      assert.deepEqual(promSpec(run).ruleSelector, { matchLabels: { release: "prometheus-stack" } });
      assert.equal(promSpec(run).serviceMonitorSelectorNilUsesHelmValues, false);
      assert.equal(promSpec(run).enableAdminAPI, false);
    });

    it("gives the ServiceMonitors and PrometheusRule labels the Prometheus selectors match", () => {
      for (const [type, name] of [
        [T.serviceMonitor, "sonic"],
        [T.serviceMonitor, "sonic-worker"],
        [T.prometheusRule, "sonic"],
      ]) {
        const labels = only(run, type, name).inputs.metadata.labels;
        const selector =
          type === T.serviceMonitor ? promSpec(run).serviceMonitorSelector : promSpec(run).ruleSelector;
        for (const [k, v] of Object.entries(selector.matchLabels))
          assert.equal(labels[k], v, `${type} label ${k}`);
      }
    });

    it("points one ServiceMonitor at each tier's Service by label, namespace and port name, all under job sonic-generate-service", () => {
      for (const [tier, name, c] of [
        ["api", "sonic", container(run)],
        ["worker", "sonic-worker", workerContainer(run)],
      ]) {
        const sm = only(run, T.serviceMonitor, name).inputs;
        const svc = only(run, T.service, name).inputs;
        const pods = only(run, T.deployment, name).inputs;
        assert.deepEqual(sm.spec.selector.matchLabels, {
          app: "sonic-generate-service",
          "app.kubernetes.io/component": tier,
        });
        for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) {
          assert.equal(svc.metadata.labels[k], v, `${name} Service label ${k}`);
          assert.equal(svc.spec.selector[k], v, `${name} Service selector ${k}`);
          assert.equal(pods.spec.template.metadata.labels[k], v, `${name} pod label ${k}`);
        }
        // The Service's `app` is every tier's `job`; the pods' tier label tells them apart.
        assert.equal(sm.spec.jobLabel, "app");
        assert.deepEqual(sm.spec.podTargetLabels, ["app.kubernetes.io/component"]);
        assert.deepEqual(sm.spec.namespaceSelector, { matchNames: [svc.metadata.namespace] });
        assert.equal(sm.metadata.namespace, "ai-inference");
        assert.equal(sm.spec.endpoints[0].port, "web");
        assert.equal(sm.spec.endpoints[0].interval, "15s");
        assert.deepEqual(
          svc.spec.ports.map((p: any) => [p.name, p.port, p.targetPort]),
          [["web", 8080, "web"]],
        );
        assert.deepEqual(c.ports, [{ name: "web", containerPort: 8080 }]);
      }
      assert.equal(only(run, T.service, "sonic-worker").inputs.spec.clusterIP, "None", "scraping only");
      assert.deepEqual(run.outputs.serviceMonitors, ["sonic-generate-service", "sonic-generate-worker"]);
    });

    it("scales each tier with one autoscaler of the engine, on its own signal, and leaves replicas to it", () => {
      const a = {
        ...autoscalingOf(stack),
        engine,
        ...(extra.length ? JSON.parse(extra[1].slice("autoscaling=".length)) : {}),
      };
      for (const d of [apiDeployment(run), workerDeployment(run)])
        assert.equal(d.inputs.spec.replicas, undefined, `${d.name} sets replicas`);
      if (engine === "adapter") {
        const [api, worker] = [only(run, T.hpa, "sonic").inputs, only(run, T.hpa, "sonic-worker").inputs];
        const adapterRules = at(adapterRelease()!.inputs, "values.rules");
        assert.equal(adapterRules.default, false);
        assert.deepEqual(
          adapterRules.custom.map((r: any) => r.name.as),
          ["sonic_request_qps"],
        );
        assert.deepEqual(
          adapterRules.external.map((r: any) => r.name.as),
          ["sonic_job_backlog"],
        );
        // One series for both engines: the recorded backlog, over the configured slots.
        assert.match(adapterRules.external[0].seriesQuery, /^sonic:job_backlog:ratio\{/);
        assert.deepEqual(
          api.spec.metrics.map((m: any) => `${m.type}:${m.pods.metric.name}`),
          ["Pods:sonic_request_qps"],
        );
        assert.deepEqual(
          worker.spec.metrics.map((m: any) => `${m.type}:${m.external.metric.name}`),
          ["External:sonic_job_backlog"],
        );
        // The backlog series carry `job` = the Service name: the HPA reads only its own service's.
        assert.deepEqual(worker.spec.metrics[0].external.metric.selector.matchLabels, {
          job: "sonic-generate-service",
        });
        assert.equal(api.spec.scaleTargetRef.name, "sonic-generate-service");
        assert.equal(worker.spec.scaleTargetRef.name, "sonic-generate-worker");
        assert.deepEqual(
          [worker.spec.minReplicas, worker.spec.maxReplicas, api.spec.minReplicas, api.spec.maxReplicas],
          [a.worker.minReplicas, a.worker.maxReplicas, a.api.minReplicas, a.api.maxReplicas],
        );
        assert.deepEqual(run.outputs.autoscalers, {
          engine: "adapter",
          api: "sonic-generate-service",
          worker: "sonic-generate-worker",
        });
        return;
      }
      const [api, worker] = [
        only(run, SCALED_OBJECT, "sonic").inputs,
        only(run, SCALED_OBJECT, "sonic-worker").inputs,
      ];
      assert.equal(api.spec.scaleTargetRef.name, "sonic-generate-service");
      assert.equal(worker.spec.scaleTargetRef.name, "sonic-generate-worker");
      assert.deepEqual(
        [
          worker.spec.minReplicaCount,
          worker.spec.maxReplicaCount,
          api.spec.minReplicaCount,
          api.spec.maxReplicaCount,
        ],
        [a.worker.minReplicas, a.worker.maxReplicas, a.api.minReplicas, a.api.maxReplicas],
      );
      assert.ok(api.spec.minReplicaCount >= 1, "the API never goes to zero");
      const [backlog] = worker.spec.triggers;
      assert.equal(backlog.metricType, "AverageValue");
      assert.equal(
        backlog.metadata.query,
        'max(sonic:job_backlog:ratio{namespace="ai-inference", job="sonic-generate-service"})',
      );
      assert.equal(backlog.metadata.serverAddress, "http://prometheus-stack-prometheus.monitoring.svc:9090");
      // One queued job wakes the tier; an unreadable Prometheus holds a pod rather than none.
      assert.equal(backlog.metadata.activationThreshold, "0");
      assert.equal(backlog.metadata.threshold, String(a.worker.targetBacklogPerPod));
      assert.equal(backlog.metadata.ignoreNullValues, "false");
      assert.ok(worker.spec.fallback.replicas >= 1);
      assert.equal(worker.spec.cooldownPeriod, a.worker.cooldownSeconds ?? 300);
      assert.equal(worker.spec.pollingInterval, a.pollingSeconds ?? 15);
      assert.equal(
        api.spec.triggers[0].metadata.query,
        'sum(sonic:request_qps:rate2m{namespace="ai-inference"})',
      );
      // KEDA names its HPAs after the Deployments, as the adapter engine does: one set of series for the alerts.
      assert.deepEqual(
        [api, worker].map((o) => o.spec.advanced.horizontalPodAutoscalerConfig.name),
        ["sonic-generate-service", "sonic-generate-worker"],
      );
      assert.deepEqual(run.outputs.autoscalers, {
        engine: "keda",
        api: "sonic-generate-service",
        worker: "sonic-generate-worker",
      });
      // prometheus-adapter, where it still runs for onboarded services, serves no external metrics.
      assert.ok(!adapterRelease() || adapterRelease()!.inputs.values.rules.external.length === 0);
      const kedaRules = only(run, T.prometheusRule, "keda").inputs.spec.groups[0].rules;
      assert.ok(kedaRules.some((r: any) => r.alert === "KedaScaledObjectNotReady"));
    });

    it(
      engine === "keda"
        ? "has kube-state-metrics export the ScaledObjects' conditions, the only series that shows KEDA's fallback"
        : "leaves kube-state-metrics' custom resource metrics off (no ScaledObject to watch)",
      () => {
        const ksm = kps(run).values["kube-state-metrics"];
        if (engine !== "keda") {
          assert.equal(ksm.customResourceState, undefined);
          return;
        }
        assert.equal(ksm.customResourceState.enabled, true);
        const [so] = ksm.customResourceState.config.spec.resources;
        assert.deepEqual(so.groupVersionKind, {
          group: "keda.sh",
          version: "v1alpha1",
          kind: "ScaledObject",
        });
        assert.deepEqual(so.metrics[0].each.gauge.path, ["status", "conditions"]);
        assert.deepEqual(ksm.rbac.extraRules, [
          { apiGroups: ["keda.sh"], resources: ["scaledobjects"], verbs: ["list", "watch"] },
        ]);
        // The alert reads the series under the name and labels this config gives it.
        const fallback = only(run, T.prometheusRule, "keda").inputs.spec.groups[0].rules.find(
          (r: any) => r.alert === "KedaScaledObjectFallbackActive",
        );
        assert.match(fallback.expr, /kube_customresource_scaledobject_condition\{type="Fallback"\}/);
        assert.deepEqual(Object.keys(so.labelsFromPath), ["namespace", "scaledObject"]);
        assert.ok(ksm.customLabels, "the label convention stays on kube-state-metrics");
      },
    );

    it("runs the API alone on CPU, and the worker beside the model server on localhost with the GPU (or simulated without one)", () => {
      assert.deepEqual(
        at(apiDeployment(run).inputs, "spec.template.spec.containers").map((c: any) => c.name),
        ["api"],
      );
      assert.deepEqual(
        containers(run).map((c) => c.name),
        ["worker", "model-server"],
      );
      const api = container(run);
      const worker = workerContainer(run);
      const model = modelServer(run);
      assert.deepEqual(api.command, ["node", "app/api/main.js"]);
      assert.deepEqual(worker.command, ["node", "app/worker/main.js"]);
      for (const c of [api, worker])
        assert.equal(c.resources.limits["nvidia.com/gpu"], undefined, `no GPU on the ${c.name} container`);
      const workerEnv = Object.fromEntries(worker.env.map((e: any) => [e.name, e.value]));
      assert.equal(workerEnv.SONIC_MODEL_SERVER_URL, "http://127.0.0.1:9000");
      assert.equal(at(apiDeployment(run).inputs, "spec.template.spec.tolerations"), undefined);
      assert.deepEqual(model.ports ?? [], [], "the model server is not a Service port");
      assert.equal(model.startupProbe.httpGet.port, 9000);
      assert.ok(
        model.startupProbe.failureThreshold * model.startupProbe.periodSeconds >= 300,
        "minutes to load",
      );
      assert.equal(model.readinessProbe.httpGet.path, "/healthz");
      assert.deepEqual(model.livenessProbe.tcpSocket, { port: 9000 });
      const pod = at(workerDeployment(run).inputs, "spec.template");
      if (stack === "dev") {
        assert.deepEqual(model.command, ["node", "app/simulated-model-server-main.js"]);
        assert.equal(model.image, api.image, "the simulation runs from the project's image");
        assert.equal(model.resources.limits["nvidia.com/gpu"], undefined);
        assert.equal(pod.metadata.annotations["sonic-observability/model-server"], "simulated");
        assert.deepEqual(pod.spec.tolerations, []);
      } else {
        assert.equal(model.image, "ghcr.io/sonic-observability/sonic-worker:1.0.0");
        assert.equal(model.command, undefined);
        assert.equal(model.resources.limits["nvidia.com/gpu"], "1");
        assert.deepEqual(pod.spec.tolerations, [
          { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
        ]);
        // The GPU limit places the pods; a GPU-feature-discovery label would leave them Pending without it.
        assert.deepEqual(pod.spec.nodeSelector, {});
      }
    });

    it("fits real clusters: no API token, each tier spread over nodes, ephemeral storage requested, a writable HOME for the model, the adapter on 10250", () => {
      for (const d of [apiDeployment(run), workerDeployment(run)]) {
        const pod = at(d.inputs, "spec.template.spec");
        assert.equal(pod.automountServiceAccountToken, false);
        assert.equal(pod.topologySpreadConstraints[0].topologyKey, "kubernetes.io/hostname");
        assert.deepEqual(
          pod.topologySpreadConstraints[0].labelSelector.matchLabels,
          d.inputs.spec.selector.matchLabels,
        );
        for (const c of pod.containers) assert.ok(c.resources.requests["ephemeral-storage"], c.name);
      }
      const model = modelServer(run);
      const home = model.env.find((e: any) => e.name === "HOME").value;
      assert.ok(model.volumeMounts.some((m: any) => m.mountPath === home));
      if (adapterRelease()) assert.equal(adapterRelease()!.inputs.values.listenPort, 10250);
    });

    it("says whether the cluster needs metrics-server: only for an API tier CPU target on engine adapter", async function () {
      assert.match(String(run.outputs.resourceMetrics), /^not needed: /);
      if (engine === "keda") return;
      const a = JSON.parse(
        extra.length ? extra[1].slice("autoscaling=".length) : JSON.stringify(autoscalingOf(stack)),
      );
      const withCpu = await renderStack(stack, [
        "--set",
        `autoscaling=${JSON.stringify({ ...a, api: { ...a.api, cpuUtilization: 70 } })}`,
      ]);
      assert.match(String(withCpu.outputs.resourceMetrics), /^required: .*metrics-server/);
      const hpa = only(withCpu, T.hpa, "sonic").inputs;
      assert.equal(hpa.spec.metrics[1].resource.name, "cpu");
    });

    it("replaces the API Deployment (fixed name, immutable selector) delete-first, in the background: Pulumi then waits for no old pod's grace", () => {
      // Pulumi's delete is foreground unless the object says otherwise (pulumi-kubernetes
      // provider/pkg/metadata/annotations.go, DeletionPropagation): the replacement would wait out
      // every old pod's terminationGracePeriodSeconds with the API down.
      assert.equal(
        at(apiDeployment(run).inputs, "metadata.annotations")["pulumi.com/deletionPropagationPolicy"],
        "background",
      );
    });

    it("gives GPU rollouts a Pulumi timeout from config, rolls the API out with a surge, and lets no unready pod block a drain", () => {
      const expected = stack === "dev" ? "30m" : "90m";
      assert.deepEqual(workerDeployment(run).customTimeouts, { create: expected, update: expected });
      assert.deepEqual(at(workerDeployment(run).inputs, "spec.strategy.rollingUpdate"), {
        maxSurge: 0,
        maxUnavailable: 1,
      });
      assert.deepEqual(at(apiDeployment(run).inputs, "spec.strategy.rollingUpdate"), {
        maxSurge: 1,
        maxUnavailable: 0,
      });
      // The worker's Service is headless: Pulumi never waits for endpoints a tier at zero cannot have.
      assert.equal(only(run, T.service, "sonic-worker").inputs.spec.clusterIP, "None");
      const pdbs = run.resources.filter((r) => r.type === T.pdb);
      assert.deepEqual(pdbs.map((p) => p.inputs.metadata.name).sort(), [
        "sonic-generate-service",
        "sonic-generate-worker",
      ]);
      for (const pdb of pdbs) assert.equal(pdb.inputs.spec.unhealthyPodEvictionPolicy, "AlwaysAllow");
    });

    it("creates the monitoring, autoscaling, network and RBAC objects without waiting for the Sonic pods", () => {
      const watchers = run.resources.filter((r) =>
        [
          T.serviceMonitor,
          T.prometheusRule,
          T.hpa,
          SCALED_OBJECT,
          T.networkPolicy,
          T.role,
          T.release,
        ].includes(r.type),
      );
      assert.ok(watchers.length >= 10, `${watchers.length}`);
      for (const deployment of [apiDeployment(run), workerDeployment(run)])
        for (const r of watchers)
          assert.ok(
            !waitsFor(run, r, deployment),
            `${r.type} ${r.name} waits for Deployment ${deployment.name} to turn Ready`,
          );
    });

    it("lets prometheus-adapter reach the stack's Prometheus Service, with the port given separately", function () {
      if (!adapterRelease()) return;
      const values = adapterRelease()!.inputs.values;
      assert.equal(values.prometheus.url, "http://prometheus-stack-prometheus.monitoring.svc");
      assert.equal(values.prometheus.port, 9090);
      assert.equal(run.outputs.prometheusService, "prometheus-stack-prometheus");
      assert.match(values.rules.custom[0].metricsQuery, /by \(<<\.GroupBy>>\)/);
    });

    it("creates ServiceMonitors, PrometheusRules, the adapter and KEDA only after kube-prometheus-stack's CRDs, and ScaledObjects after KEDA's", () => {
      const release = only(run, T.release, "monitoring");
      for (const r of [
        ...run.resources.filter((x) => x.type === T.serviceMonitor || x.type === T.prometheusRule),
        ...run.resources.filter((x) => x.type === T.release && x.name !== "monitoring"),
      ]) {
        assert.ok(
          waitsFor(run, r, release),
          `${r.type} ${r.name} does not wait for the kube-prometheus-stack release`,
        );
      }
      for (const so of run.resources.filter((x) => x.type === SCALED_OBJECT))
        assert.ok(
          waitsFor(run, so, only(run, T.release, "keda")),
          `${so.name} does not wait for KEDA's CRDs`,
        );
    });

    it("creates every namespaced object after its namespace", () => {
      const namespaces = new Map(
        run.resources.filter((r) => r.type === T.namespace).map((r) => [r.inputs.metadata.name as string, r]),
      );
      const namespaced = run.resources.filter(
        (r) => r.custom && namespaces.has(at(r.inputs, "metadata.namespace") ?? r.inputs.namespace),
      );
      assert.ok(namespaced.length >= 12);
      for (const r of namespaced) {
        const ns = namespaces.get(at(r.inputs, "metadata.namespace") ?? r.inputs.namespace)!;
        assert.ok(
          waitsFor(run, r, ns),
          `${r.type} ${r.name} does not wait for namespace ${ns.inputs.metadata.name}`,
        );
      }
    });

    it("runs every container of both tiers non-root, with its own probes and a read-only root filesystem", () => {
      for (const d of [apiDeployment(run), workerDeployment(run)]) {
        const pod = at(d.inputs, "spec.template.spec");
        assert.equal(pod.securityContext.runAsNonRoot, true);
        for (const c of pod.containers) {
          assert.equal(c.securityContext.readOnlyRootFilesystem, true, c.name);
          assert.equal(c.securityContext.allowPrivilegeEscalation, false, c.name);
        }
        const labels = at(d.inputs, "spec.template.metadata.labels");
        assert.deepEqual(Object.keys(labels).sort(), [
          "app",
          "app.kubernetes.io/component",
          "env",
          "service",
          "team",
        ]);
        assert.equal(labels.env, stack);
      }
      for (const c of [container(run), workerContainer(run)]) {
        assert.equal(c.readinessProbe.httpGet.path, "/readyz", c.name);
        assert.equal(c.livenessProbe.httpGet.path, "/healthz", c.name);
      }
      // The worker's start-up budget is the model load: minutes, where the API's is seconds.
      const budget = (p: any) => p.periodSeconds * p.failureThreshold;
      assert.ok(budget(modelServer(run).startupProbe) >= 300);
      assert.ok(budget(container(run).startupProbe) <= 120);
    });

    it("starts the api and worker containers with environments the app's own config loader accepts, the queue credentials from a Secret", () => {
      for (const [c, d] of [
        [container(run), apiDeployment(run)],
        [workerContainer(run), workerDeployment(run)],
      ] as const) {
        const env = c.env as any[];
        const fromSecret = env
          .filter((e) => e.valueFrom)
          .map((e) => [e.name, e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key]);
        assert.deepEqual(
          fromSecret,
          stack === "dev"
            ? [
                ["SONIC_REDIS_URL", "sonic-queue", "url"],
                ["SONIC_REDIS_PASSWORD", "sonic-queue", "password"],
              ]
            : [["SONIC_REDIS_URL", "sonic-queue", "url"]],
        );
        // The kubelet resolves the Secret references; stand-ins take their place here.
        const resolved = Object.fromEntries(
          env.map((e) => [
            e.name,
            e.valueFrom ? (e.name === "SONIC_REDIS_URL" ? "redis://sonic-queue:6379" : "pw") : e.value,
          ]),
        );
        // Each program refuses the other tier's variables: a setting on the wrong container fails here.
        const config = c.name === "api" ? loadApiConfig(resolved) : loadWorkerConfig(resolved);
        assert.equal(config.PORT, 8080);
        if (c.name === "api") {
          assert.equal(
            (config as ReturnType<typeof loadApiConfig>).SONIC_BACKLOG_LIMIT,
            stack === "dev" ? 16 : 32,
          );
          assert.equal(
            (config as ReturnType<typeof loadApiConfig>).SONIC_COLD_START_SECONDS,
            JSON.parse(readStackFile(stack).config["sonic-observability:sonic"]).coldStartSeconds,
          );
        }
        const grace = at(d.inputs, "spec.template.spec.terminationGracePeriodSeconds");
        assert.ok(
          config.SONIC_SHUTDOWN_GRACE_SECONDS < grace,
          `the ${c.name} must finish draining before the kubelet kills it`,
        );
      }
    });

    it(
      stack === "dev"
        ? "deploys Valkey with AOF, noeviction and a maxmemory that holds the whole backlog, reachable only from Sonic and Prometheus"
        : "points the queue at a managed Redis whose URL is a secret, deploying no Redis",
      () => {
        const secret = only(run, T.secret, "sonic-queue");
        assert.equal(secret.inputs.stringData, "[secret]");
        if (stack === "prod") {
          assert.equal(run.resources.filter((r) => r.type === STATEFULSET).length, 0);
          assert.ok((run.outputs.queueMemoryBytesNeeded as number) > 0);
          return;
        }
        const sts = only(run, STATEFULSET).inputs;
        const [valkey, exporter] = sts.spec.template.spec.containers;
        assert.match(valkey.image, /^valkey\/valkey:\d+\.\d+\.\d+$/);
        assert.match(exporter.image, /^oliver006\/redis_exporter:v\d+\.\d+\.\d+$/);
        assert.deepEqual(exporter.env[1].valueFrom.secretKeyRef, { name: "sonic-queue", key: "password" });
        assert.equal(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage, "5Gi");
        const conf: string = only(run, CONFIGMAP, "sonic-queue").inputs.data["valkey.conf"];
        assert.match(conf, /^appendonly yes$/m);
        assert.match(conf, /^maxmemory-policy noeviction$/m);
        const maxmemory = Number(conf.match(/^maxmemory (\d+)$/m)![1]);
        assert.equal(maxmemory, run.outputs.queueMemoryBytesNeeded);
        // dev: (16 jobs + 2 pods x 4 uploads in flight) x 2 files x 10 MiB, plus bookkeeping.
        assert.ok(maxmemory >= 24 * 2 * 10 * 1024 * 1024, `${maxmemory}`);
        assert.doesNotMatch(JSON.stringify(valkey), /requirepass/, "the password is never an argument");
        // Ready means Valkey answers PONG (not loading its AOF), the password from the Secret, never argv.
        assert.match(valkey.readinessProbe.exec.command.join(" "), /valkey-cli .*ping/);
        // The AOF replay of this maxmemory is the startup probe's (test/integration/queue-store-replay.test.ts
        // runs these commands on a real replay); liveness lets a loading store live.
        assert.deepEqual(valkey.startupProbe.exec, valkey.readinessProbe.exec);
        assert.notDeepEqual(valkey.livenessProbe.exec, valkey.readinessProbe.exec);
        assert.equal(
          valkey.startupProbe.failureThreshold * valkey.startupProbe.periodSeconds,
          Math.ceil(valkeyStartupSeconds(maxmemory) / 5) * 5,
        );
        assert.deepEqual(only(run, STATEFULSET).customTimeouts, { create: "26m", update: "26m" });
        assert.deepEqual(valkey.env[0], {
          name: "REDISCLI_AUTH",
          valueFrom: { secretKeyRef: { name: "sonic-queue", key: "password" } },
        });
        assert.equal(sts.spec.template.spec.automountServiceAccountToken, false);
        assert.match(sts.spec.template.metadata.annotations["sonic-observability/config"], /^[0-9a-f]{16}$/);
        const policy = only(run, T.networkPolicy, "sonic-queue").inputs.spec;
        assert.deepEqual(policy.ingress[0].from[0].podSelector.matchLabels, {
          app: "sonic-generate-service",
        });
        assert.deepEqual(policy.ingress[0].ports, [{ protocol: "TCP", port: "redis" }]);
        assert.deepEqual(policy.ingress[1].ports, [{ protocol: "TCP", port: "metrics" }]);
        const sm = only(run, T.serviceMonitor, "sonic-queue").inputs;
        assert.equal(sm.spec.endpoints[0].port, "metrics");
        assert.ok(
          !waitsFor(run, only(run, STATEFULSET), only(run, T.release, "monitoring")),
          "Redis must not wait for the monitoring release",
        );
      },
    );

    it("runs the alert analyst read-only: hardened, reports to the alerts' own receivers from a Secret, egress only to DNS, Prometheus and HTTPS", () => {
      const analyst = only(run, T.deployment, "alert-analyst").inputs;
      const c = analyst.spec.template.spec.containers[0];
      assert.deepEqual(c.command, ["node", "app/alert-analyst-main.js"]);
      assert.equal(c.image, container(run).image, "another entrypoint of the project's image");
      assert.equal(c.securityContext.readOnlyRootFilesystem, true);
      assert.equal(
        analyst.spec.template.spec.automountServiceAccountToken,
        false,
        "no Kubernetes API access",
      );
      const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom.secretKeyRef]));
      assert.equal(env.ANALYST_PROMETHEUS_URL, "http://prometheus-stack-prometheus.monitoring.svc:9090");
      assert.deepEqual(env.ANALYST_SLACK_WEBHOOK_URL, { name: "alert-analyst", key: "slackWebhookUrl" });
      assert.equal(env.ANALYST_SLACK_CHANNEL, stack === "dev" ? "#sonic-dev-alerts" : "#sonic-alerts");
      assert.equal(env.ANALYST_MODEL_URL, undefined, "deterministic only unless a model is configured");
      assert.equal(only(run, T.secret, "alert-analyst").inputs.stringData, "[secret]");
      // Alertmanager's bearer token: a file from the Secret, never an env value.
      assert.equal(env.ANALYST_WEBHOOK_TOKEN_FILE, "/var/run/secrets/alert-analyst/webhook-token");
      assert.deepEqual(analyst.spec.template.spec.volumes, [
        {
          name: "webhook-token",
          secret: { secretName: "alert-analyst", items: [{ key: "webhookToken", path: "webhook-token" }] },
        },
      ]);
      assert.deepEqual(c.volumeMounts, [
        { name: "webhook-token", mountPath: "/var/run/secrets/alert-analyst", readOnly: true },
      ]);
      const egress = only(run, T.networkPolicy, "alert-analyst").inputs.spec.egress;
      assert.deepEqual(
        egress.map((e: any) => e.ports.map((p: any) => `${p.protocol}/${p.port}`).join(",")),
        ["UDP/53,TCP/53", "TCP/9090", "TCP/443"],
      );
      assert.deepEqual(egress[2].to[0].ipBlock.except, ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]);
    });

    it("admits only Prometheus to the workers, and lets them out only to DNS and the queue store", () => {
      const policy = only(run, T.networkPolicy, "sonic-worker").inputs;
      assert.deepEqual(policy.spec.policyTypes, ["Ingress", "Egress"]);
      assert.deepEqual(policy.spec.podSelector.matchLabels, {
        app: "sonic-generate-service",
        "app.kubernetes.io/component": "worker",
      });
      assert.equal(policy.spec.ingress.length, 1);
      assert.deepEqual(policy.spec.ingress[0].from[0].podSelector.matchLabels, {
        "app.kubernetes.io/name": "prometheus",
      });
      assert.deepEqual(policy.spec.ingress[0].ports, [{ protocol: "TCP", port: "web" }]);
      const ports = policy.spec.egress.map((e: any) =>
        e.ports.map((p: any) => `${p.protocol}/${p.port}`).join(","),
      );
      assert.equal(ports[0], "UDP/53,TCP/53");
      if (stack === "dev") {
        assert.deepEqual(ports.slice(1), ["TCP/redis"]);
        assert.deepEqual(policy.spec.egress[1].to[0].podSelector.matchLabels, {
          "app.kubernetes.io/name": "sonic-queue",
        });
      } else
        assert.deepEqual(
          ports.slice(1),
          ["TCP/6380"],
          "a managed Redis, by the port its URL names (the stand-in's rediss://...:6380)",
        );
    });

    it("lets the model server reach only the hub the stack names (egress), beside DNS and the queue store", async function () {
      if (extra.length) return this.skip();
      const sonic = JSON.parse(readStackFile(stack).config["sonic-observability:sonic"]);
      const withHub = await renderStack(stack, [
        "--set",
        `sonic=${JSON.stringify({ ...sonic, modelServer: { ...sonic.modelServer, egress: [{ cidr: "0.0.0.0/0", ports: [443] }] } })}`,
      ]);
      const egress = only(withHub, T.networkPolicy, "sonic-worker").inputs.spec.egress;
      assert.deepEqual(egress[egress.length - 1], {
        to: [{ ipBlock: { cidr: "0.0.0.0/0" } }],
        ports: [{ protocol: "TCP", port: 443 }],
      });
      assert.equal(egress.length, only(run, T.networkPolicy, "sonic-worker").inputs.spec.egress.length + 1);
    });

    it("admits only Prometheus and the configured API clients to the API pods", () => {
      const policy = only(run, T.networkPolicy, "sonic").inputs;
      assert.deepEqual(policy.spec.policyTypes, ["Ingress", "Egress"]);
      assert.deepEqual(policy.spec.podSelector.matchLabels, {
        app: "sonic-generate-service",
        "app.kubernetes.io/component": "api",
      });
      const [prom, clients] = policy.spec.ingress;
      assert.deepEqual(prom.from[0].namespaceSelector.matchExpressions[0].values, ["monitoring"]);
      assert.deepEqual(prom.from[0].podSelector.matchLabels, { "app.kubernetes.io/name": "prometheus" });
      assert.ok(clients.from[0].namespaceSelector.matchExpressions[0].values.includes("ingress-nginx"));
      for (const rule of policy.spec.ingress)
        assert.deepEqual(rule.ports, [{ protocol: "TCP", port: "web" }]);
    });

    /** The Sonic namespace's pods, as the rendered workloads label them, and who they may dial. */
    const sonicReach = () => {
      const policies = run.resources.filter((r) => r.type === T.networkPolicy).map((r) => r.inputs);
      const podOf = (r: RegisteredResource, ip: string, ports: Record<string, number> = {}): PodIdentity => ({
        namespace: r.inputs.metadata.namespace,
        labels: r.inputs.spec.template.metadata.labels,
        ports,
        ip,
      });
      const api = podOf(apiDeployment(run), "10.244.1.10", { web: 8080 });
      const worker = podOf(workerDeployment(run), "10.244.1.11", { web: 8080 });
      const store = run.resources.find((r) => r.type === STATEFULSET && r.name === "sonic-queue");
      const queue = store && podOf(store, "10.244.1.12", { redis: 6379, metrics: 9121 });
      const prometheus = {
        namespace: "monitoring",
        labels: { "app.kubernetes.io/name": "prometheus" },
        ip: "10.244.2.10",
      };
      const destinations: [string, Destination, number, string][] = [
        [
          "kube-dns:53/UDP",
          { namespace: "kube-system", labels: { "k8s-app": "kube-dns" }, ip: "10.244.0.2" },
          53,
          "UDP",
        ],
        [
          "kube-dns:53/TCP",
          { namespace: "kube-system", labels: { "k8s-app": "kube-dns" }, ip: "10.244.0.2" },
          53,
          "TCP",
        ],
        ["node-local-dns:53/UDP", { ip: "169.254.20.10" }, 53, "UDP"],
        ...(queue
          ? ([
              ["sonic-queue:6379/TCP", queue, 6379, "TCP"],
              ["sonic-queue:9121/TCP", queue, 9121, "TCP"],
            ] as [string, Destination, number, string][])
          : []),
        ["another api pod:8080/TCP", { ...api, ip: "10.244.1.20" }, 8080, "TCP"],
        ["a worker pod:8080/TCP", worker, 8080, "TCP"],
        ["prometheus:9090/TCP", prometheus, 9090, "TCP"],
        ["the Kubernetes API:443/TCP", { ip: "172.20.0.10" }, 443, "TCP"],
        ["the cloud metadata service:80/TCP", { ip: "169.254.169.254" }, 80, "TCP"],
        ["the internet:443/TCP", { ip: "93.184.216.34" }, 443, "TCP"],
        ["a managed Redis:6380/TCP", { ip: "10.20.30.40" }, 6380, "TCP"],
      ];
      const reach = (ps: any[], from: PodIdentity) =>
        destinations
          .filter(([, to, port, proto]) => connectionAdmitted(ps, from, to, port, proto))
          .map(([n]) => n);
      const table = (ps: any[]) => ({
        api: reach(ps, api),
        worker: reach(ps, worker),
        ...(queue ? { queue: reach(ps, queue) } : {}),
      });
      return { policies, table };
    };
    /** What each Sonic pod may dial: DNS and the queue store (in-cluster: its pods; managed: its port anywhere). */
    const SONIC_REACH = () => {
      const clients =
        stack === "dev"
          ? ["kube-dns:53/UDP", "kube-dns:53/TCP", "sonic-queue:6379/TCP"]
          : ["kube-dns:53/UDP", "kube-dns:53/TCP", "a managed Redis:6380/TCP"];
      return { api: clients, worker: clients, ...(stack === "dev" ? { queue: [] } : {}) };
    };

    it("lets the API pods out only to DNS and the queue store: not the workers, Prometheus, the Kubernetes API, the metadata service or the internet", () => {
      const { policies, table } = sonicReach();
      assert.deepEqual(table(policies).api, SONIC_REACH().api);
    });

    it("lets the queue store dial nothing, and the workers only DNS and the store", () => {
      const { policies, table } = sonicReach();
      assert.deepEqual(table(policies), SONIC_REACH());
      if (stack === "dev") assert.deepEqual(only(run, T.networkPolicy, "sonic-queue").inputs.spec.egress, []);
    });

    it("would notice any one Sonic NetworkPolicy's egress opened, or left out of its policyTypes", () => {
      const { policies, table } = sonicReach();
      const expected = SONIC_REACH();
      assert.deepEqual(table(policies), expected);
      for (const [i, p] of policies.entries()) {
        if (!p.spec.policyTypes.includes("Egress") || p.metadata.namespace !== "ai-inference") continue;
        const open = { ...p, spec: { ...p.spec, egress: [{}] } };
        assert.notDeepEqual(
          table(policies.map((q, j) => (j === i ? open : q))),
          expected,
          `${p.metadata.name} opened`,
        );
        const ingressOnly = { ...p, spec: { ...p.spec, policyTypes: ["Ingress"] } };
        assert.notDeepEqual(
          table(policies.map((q, j) => (j === i ? ingressOnly : q))),
          expected,
          `${p.metadata.name} without Egress`,
        );
      }
    });

    it("lets the team manage monitoring objects only in its own namespace", () => {
      const role = only(run, T.role).inputs;
      assert.equal(role.metadata.namespace, "ai-inference");
      assert.deepEqual(role.rules[0].resources, ["servicemonitors", "podmonitors", "prometheusrules"]);
      assert.equal(only(run, T.roleBinding).inputs.roleRef.kind, "Role");
    });

    it("keeps every secret out of the rendered objects and values", () => {
      const text = JSON.stringify(run);
      assert.doesNotMatch(text, /stand-in/);
      assert.doesNotMatch(text, /mock-generated-password/);
      for (const secret of run.resources.filter((r) => r.type === T.secret)) {
        assert.equal(secret.inputs.stringData, "[secret]", `${secret.name} is not a Pulumi secret`);
      }
      const grafana = kps(run).values.grafana;
      assert.equal(grafana.adminPassword, undefined);
      assert.equal(grafana.admin.existingSecret, "grafana-admin");
      assert.equal(kps(run).values.alertmanager.alertmanagerSpec.configSecret, "alertmanager-config");
    });

    it("validates every Kubernetes object against the Kubernetes and prometheus-operator schemas", async () => {
      // ScaledObjects are checked against the KEDA chart's own CRD (test/integration/charts.test.ts).
      const objects = run.resources.filter(
        (r) =>
          r.custom && r.type.startsWith("kubernetes:") && r.type !== T.release && r.type !== SCALED_OBJECT,
      );
      assert.ok(objects.length >= 12);
      for (const r of objects) {
        const Model = await modelFor(r);
        // A Secret's stringData reaches the renderer masked as a whole; its shape is all the schema checks.
        const object = r.inputs.stringData === "[secret]" ? { ...r.inputs, stringData: {} } : r.inputs;
        assert.doesNotThrow(() => new Model(object).validate(), `${r.type} ${r.name} is invalid`);
      }
    });

    it("sets only values keys that the pinned charts (kube-prometheus-stack, prometheus-adapter, KEDA) define", function () {
      // The defaults are the values.yaml inside each pinned archive (a missing one fails, naming npm run charts).
      const problems = run.resources
        .filter((r) => r.type === T.release)
        .flatMap((r) =>
          unknownKeys(r.inputs.values, chartDefaults(r.inputs.chart, r.inputs.version)).map(
            (k) => `${r.inputs.chart}: ${k}`,
          ),
        );
      assert.deepEqual(problems, []);
    });
  });
}

describe("dev and prod stack files", () => {
  let dev: MockRun;
  let prod: MockRun;
  before(async () => {
    [dev, prod] = await Promise.all([renderStack("dev"), renderStack("prod")]);
  });

  it("keep 3 days of data in dev and 30 days in prod, capped below the volume size", () => {
    assert.deepEqual([promSpec(dev).retention, promSpec(prod).retention], ["3d", "30d"]);
    assert.deepEqual([promSpec(dev).retentionSize, promSpec(prod).retentionSize], ["17GiB", "170GiB"]);
    const claim = (run: MockRun) => promSpec(run).storageSpec.volumeClaimTemplate.spec;
    assert.deepEqual(
      [
        claim(dev).resources.requests.storage,
        claim(dev).storageClassName,
        claim(prod).resources.requests.storage,
        claim(prod).storageClassName,
      ],
      ["20Gi", undefined, "200Gi", "gp3"],
    );
    assert.deepEqual(claim(prod).accessModes, ["ReadWriteOnce"]);
  });

  it("request 1Gi of memory for Prometheus in dev and 4Gi in prod", () => {
    assert.deepEqual(
      [promSpec(dev).resources.requests.memory, promSpec(prod).resources.requests.memory],
      ["1Gi", "4Gi"],
    );
  });

  it("run Prometheus, Alertmanager and prometheus-adapter highly available only in prod", () => {
    assert.deepEqual([promSpec(dev).replicas, promSpec(prod).replicas], [1, 2]);
    const adapter = (run: MockRun) =>
      run.resources.find((r) => r.type === T.release && r.name === "prometheus-adapter")?.inputs.values
        .replicas;
    // dev scales with KEDA and onboards no other service: nothing needs the adapter there.
    assert.deepEqual([adapter(dev), adapter(prod)], [undefined, 2]);
    const am = (run: MockRun) => kps(run).values.alertmanager.alertmanagerSpec.replicas;
    assert.deepEqual([am(dev), am(prod)], [1, 3]);
  });

  it("label every series with its cluster and environment", () => {
    assert.deepEqual(promSpec(dev).externalLabels, { cluster: "gpu-dev-1", env: "dev" });
    assert.deepEqual(promSpec(prod).externalLabels, { cluster: "gpu-prod-1", env: "prod" });
  });

  it("remote-write to the fleet from every cluster, with the password in a Secret", () => {
    for (const [run, user] of [
      [dev, "gpu-dev-1"],
      [prod, "gpu-prod-1"],
    ] as const) {
      const [target] = promSpec(run).remoteWrite;
      assert.equal(target.url, "https://fleet.observability.internal/api/v1/write");
      assert.deepEqual(target.headers, { "X-Scope-OrgID": "ai-platform" });
      assert.deepEqual(target.basicAuth.password, { name: "remote-write-0", key: "password" });
      assert.equal(only(run, T.secret, "monitoring-remote-write-0").inputs.stringData, "[secret]", user);
    }
  });

  it("scale the GPU workers from zero to 2 with KEDA in dev and 2 to 8 with an HPA in prod, and keep 1 and 2 API pods at least", () => {
    const so = (name: string) => only(dev, SCALED_OBJECT, name).inputs.spec;
    const hpa = (name: string) => only(prod, T.hpa, name).inputs.spec;
    assert.deepEqual(
      [
        so("sonic-worker").minReplicaCount,
        so("sonic-worker").maxReplicaCount,
        hpa("sonic-worker").minReplicas,
        hpa("sonic-worker").maxReplicas,
      ],
      [0, 2, 2, 8],
    );
    assert.deepEqual([so("sonic").minReplicaCount, hpa("sonic").minReplicas], [1, 2]);
    assert.deepEqual(
      [
        hpa("sonic").metrics[0].pods.target.averageValue,
        hpa("sonic-worker").metrics[0].external.target.averageValue,
      ],
      ["500m", "1"],
    );
    // No CPU or memory target: an idle Node API says little about demand (and needs no metrics-server).
    assert.deepEqual(
      [...hpa("sonic").metrics, ...hpa("sonic-worker").metrics].filter((m: any) => m.type === "Resource"),
      [],
    );
    // The backlog divides by the configured slots: dev 1 GPU x 1, prod 1 GPU x 2.
    const backlog = (run: MockRun) =>
      only(run, T.prometheusRule, "sonic")
        .inputs.spec.groups.flatMap((g: any) => g.rules)
        .find((r: any) => r.record === "sonic:job_backlog:ratio").expr;
    assert.match(backlog(dev), / \/ 1$/);
    assert.match(backlog(prod), / \/ 2$/);
  });

  it("alert on GPU memory at 95% in dev and 90% in prod", () => {
    const gpuAlert = (run: MockRun) =>
      only(run, T.prometheusRule, "sonic")
        .inputs.spec.groups.flatMap((g: any) => g.rules)
        .find((r: any) => r.alert === "HighGPUMemoryUsage");
    assert.equal(gpuAlert(dev).expr, "sonic_gpu_memory_used_bytes / sonic_gpu_memory_total_bytes > 0.95");
    assert.equal(gpuAlert(prod).expr, "sonic_gpu_memory_used_bytes / sonic_gpu_memory_total_bytes > 0.9");
  });

  it("give prod's model server real GPU-node memory, and its pods longer to drain", () => {
    assert.deepEqual(
      [modelServer(dev).resources.requests.memory, modelServer(prod).resources.requests.memory],
      ["256Mi", "16Gi"],
    );
    const grace = (run: MockRun) =>
      at(workerDeployment(run).inputs, "spec.template.spec.terminationGracePeriodSeconds");
    assert.deepEqual([grace(dev), grace(prod)], [300, 900]);
  });
});

describe("the handover from engine adapter to keda (docs/operate.md, 'Migrating from adapter to keda')", () => {
  const step = (handover: string) => {
    const a = autoscalingOf("prod");
    return ["--set", `autoscaling=${JSON.stringify({ ...a, engine: "keda", handover })}`];
  };
  let standby: MockRun;
  let takeover: MockRun;
  before(async () => {
    [standby, takeover] = await Promise.all([
      renderStack("prod", step("standby")),
      renderStack("prod", step("takeover")),
    ]);
  });
  const adapterOf = (run: MockRun) => only(run, T.release, "prometheus-adapter").inputs;
  const kedaOf = (run: MockRun) => only(run, T.release, "keda").inputs;

  it("standby: installs KEDA without its metrics API and without ScaledObjects (a paused one would have KEDA delete the HPA it names), while the adapter's HPAs keep scaling and survive their removal", () => {
    for (const name of ["sonic", "sonic-worker"]) {
      const hpa = only(standby, T.hpa, name);
      assert.equal(hpa.retainOnDelete, true, `${name}: Pulumi must leave the HPA for KEDA to adopt`);
    }
    assert.deepEqual(
      standby.resources.filter((r) => r.type === SCALED_OBJECT).map((r) => r.name),
      [],
    );
    assert.equal(
      kedaOf(standby).values.metricsServer.enabled,
      false,
      "the adapter still owns external metrics",
    );
    assert.deepEqual(
      adapterOf(standby).values.rules.external.map((r: any) => r.name.as),
      ["sonic_job_backlog"],
    );
  });

  it("takeover: creates the ScaledObjects to adopt the HPAs by name, moves the external metrics API to KEDA only after the adapter gives it up", () => {
    assert.equal(
      takeover.resources.some((r) => r.type === T.hpa),
      false,
      "the HPAs are KEDA's now",
    );
    for (const name of ["sonic", "sonic-worker"]) {
      const so = only(takeover, SCALED_OBJECT, name).inputs;
      assert.deepEqual(so.metadata.annotations, { "scaledobject.keda.sh/transfer-hpa-ownership": "true" });
      assert.equal(so.spec.advanced.horizontalPodAutoscalerConfig.name, so.spec.scaleTargetRef.name);
    }
    assert.equal(kedaOf(takeover).values.metricsServer.enabled, true);
    assert.deepEqual(adapterOf(takeover).values.rules.external, []);
    assert.deepEqual(
      adapterOf(takeover).values.rules.custom.map((r: any) => r.name.as),
      ["sonic_request_qps"],
      "the API's HPA reads its custom metric until KEDA adopts it",
    );
    assert.ok(
      waitsFor(takeover, only(takeover, T.release, "keda"), only(takeover, T.release, "prometheus-adapter")),
      "KEDA's APIService is created only after the adapter's upgrade removed its own",
    );
  });

  it("refuses a handover step without engine keda, and scale to zero while the adapter's HPA still scales, naming key and value", async () => {
    const a = autoscalingOf("prod");
    const stderr = await renderStackFailure("prod", [
      "--set",
      `autoscaling=${JSON.stringify({ ...a, handover: "standby" })}`,
    ]);
    assert.match(
      stderr,
      /sonic-observability:autoscaling\.handover: is a step of the move to 'autoscaling\.engine: keda'; set engine keda, or remove it, got "standby"/,
    );
    const zero = await renderStackFailure("prod", [
      "--set",
      `autoscaling=${JSON.stringify({ ...a, engine: "keda", handover: "standby", worker: { ...a.worker, minReplicas: 0 } })}`,
    ]);
    assert.match(
      zero,
      /sonic-observability:autoscaling\.worker\.minReplicas: 0 \(scale to zero\) waits for the end of the handover.*, got 0/,
    );
  });
});

describe("a bad stack config", () => {
  it("fails before any resource is registered, naming every bad key and value", async () => {
    const stderr = await renderStackFailure("dev", [
      "--set",
      'prometheus={"retention":"30 days","resources":{"requests":{"memory":"1Gi"}},"storage":{"size":"20Gi"}}',
      "--set",
      'autoscaling={"engine":"adapter","worker":{"minReplicas":0,"maxReplicas":2},"maxReplicas":2}',
    ]);
    assert.match(
      stderr,
      /sonic-observability:prometheus\.retention: expected a duration like 30d, got "30 days"/,
    );
    assert.match(
      stderr,
      /sonic-observability:autoscaling\.worker\.minReplicas: 0 \(scale to zero\) needs 'autoscaling\.engine: keda'.*, got 0/,
    );
    assert.match(
      stderr,
      /sonic-observability:autoscaling\.maxReplicas: moved with the split into an API and a worker tier: set 'autoscaling\.worker\.maxReplicas' .*, got 2/,
    );
    assert.match(stderr, /registered before the error: pulumi:pulumi:Stack\n/);
  });

  it("fails when a receiver needs a secret that is not set, saying how to set it", async () => {
    const stderr = await renderStackFailure("prod", ["--omit-secret", "pagerdutyRoutingKey"]);
    assert.match(
      stderr,
      /sonic-observability:pagerdutyRoutingKey: required because a receiver is pagerduty; set it with 'pulumi config set --secret pagerdutyRoutingKey <value>'/,
    );
  });
});

/** The kubernetes-models class of a registered object (ESM-only packages, hence import()). */
async function modelFor(r: RegisteredResource): Promise<new (data: unknown) => { validate(): void }> {
  const [, groupVersion, kind] = r.type.split(":");
  const [group, version] = groupVersion.split("/");
  const module =
    group === "monitoring.coreos.com"
      ? await import(`@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`)
      : await import(`kubernetes-models/${group === "core" ? "" : group + "/"}${version}/${kind}`);
  return module[kind];
}

/** A chart's default values: the values.yaml inside its archive. */
function chartDefaults(chart: string, version: string): unknown {
  return parse(archiveFile(resolveChartArchive(chart, version), chart));
}

/** Keys the chart documents only in comments (so they are absent from its parsed defaults). */
const COMMENTED_KEYS = new Set(["alertmanager.alertmanagerSpec.configSecret"]);
/** Subchart sections whose defaults live in charts not pinned here. */
const SUBCHARTS = new Set(["grafana", "kube-state-metrics", "prometheus-node-exporter"]);

/** Paths in `values` the chart's defaults do not define, below free-form ({} / [] / null) defaults excepted. */
function unknownKeys(values: any, defaults: any, prefix = ""): string[] {
  if (values === null || typeof values !== "object" || Array.isArray(values)) return [];
  const problems: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    const dotted = prefix ? `${prefix}.${key}` : key;
    if (!prefix && SUBCHARTS.has(key)) continue;
    if (COMMENTED_KEYS.has(dotted)) continue;
    if (!(key in defaults)) {
      problems.push(dotted);
      continue;
    }
    const d = defaults[key];
    const freeForm = d === null || (typeof d === "object" && Object.keys(d).length === 0);
    if (!freeForm) problems.push(...unknownKeys(value, d, dotted));
  }
  return problems;
}

describe("the reviewed snapshots in test/snapshots", () => {
  for (const stack of ["dev", "prod", "fleet"]) {
    it(`match what the ${stack} stack renders today (run 'npm run snapshots' and review the diff after a change)`, async () => {
      const run = await renderStack(stack);
      const dir = path.join(REPO_ROOT, "test", "snapshots", stack);
      const rendered = toObjects(run.resources);
      assert.deepEqual(
        rendered.map((o) => o.file),
        readdirSync(dir).sort(),
        "objects added or removed",
      );
      for (const o of rendered) {
        assert.equal(
          objectYaml(o),
          readFileSync(path.join(dir, o.file), "utf8"),
          `${stack}/${o.file} changed`,
        );
      }
    });
  }
});
