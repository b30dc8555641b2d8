import * as assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { parseRunbooks } from "../../app/analyst/report";
import {
  Autoscaler,
  DEFAULT_RUNBOOK_BASE_URL,
  isAlert,
  Keda,
  KEDA_ALERTS,
  CHART_PINS,
  KEDA_DEFAULT_RESOURCES,
  KEDA_NAMESPACE_RELABELINGS,
  kedaRules,
  ruleFileYaml,
  ScaledObject,
  type AlertRule,
  type ScaledObjectArgs,
} from "../../components";
import {
  hpaOwnsReplicas,
  oneAutoscalerPerDeployment,
  podSecurityViolations,
  stackPolicies,
} from "../../policy/guardrails";
import { findHelm, helmTemplate, HELM_INSTALL_HINT, type ReleaseInputs } from "../../testkit/helm";
import { resolveChartArchive } from "../../testkit/chart-archives";
import type { RenderedObject } from "../../scripts/render";
import { REPO_ROOT } from "../../testkit/stack-file";
import { crdValidators, modelOf } from "../../testkit/charts";
import { registered, useMocks, valueOf } from "../../testkit/mocks";
import { selectorsOf } from "../../testkit/promql";
import { promtool, requirePromtool } from "../../testkit/promtool";

useMocks();

const RELEASE = "kubernetes:helm.sh/v3:Release";
const SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject";
const PROMETHEUS = "http://prometheus-stack-prometheus.monitoring.svc:9090";
const backlog = {
  name: "backlog",
  serverAddress: PROMETHEUS,
  query: 'max(sonic:job_backlog:ratio{namespace="ai-inference"})',
  threshold: 1,
  activationThreshold: 0,
};

/** The KEDA release a Keda component registers, as `helm template` renders it, as render objects. */
async function renderKeda(
  name: string,
  args: ConstructorParameters<typeof Keda>[1],
): Promise<RenderedObject[]> {
  const helm = findHelm();
  if (!helm) throw new Error(HELM_INSTALL_HINT);
  new Keda(name, args);
  const release = (await registered(RELEASE, name)) as ReleaseInputs;
  const archive = resolveChartArchive(release.chart, release.version);
  return helmTemplate(helm, archive, release).map((o) => ({
    file: "",
    kind: String(o.kind),
    name: String(o.metadata?.name),
    namespace: o.metadata?.namespace,
    body: o,
  }));
}

const ofKind = (objects: RenderedObject[], kind: string): any[] =>
  objects.filter((o) => o.kind === kind).map((o) => o.body);
const matches = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

describe("the Keda component, rendered by Helm from the pinned chart", function () {
  this.timeout(300_000);
  let dev: RenderedObject[];
  let prod: RenderedObject[];
  before(async () => {
    dev = await renderKeda("keda-dev", {});
    prod = await renderKeda("keda-prod", {
      namespace: "keda-prod",
      replicas: 2,
      prometheusSelectorLabels: { release: "monitoring" },
    });
  });

  it("installs the pinned KEDA chart from kedacore's repository into its own restricted namespace", async () => {
    const release = await registered(RELEASE, "keda-dev");
    assert.deepEqual(
      [release.chart, release.version, release.repositoryOpts.repo, release.name, release.namespace],
      ["keda", CHART_PINS.keda.version, CHART_PINS.keda.repository, "keda", "keda"],
    );
    const ns = await registered("kubernetes:core/v1:Namespace", "keda-dev");
    assert.equal(ns.metadata.labels["pod-security.kubernetes.io/enforce"], "restricted");
  });

  it("sends no null value, which Pulumi's Release would drop where helm template keeps it", async () => {
    const nulls = (v: unknown, at: string): string[] =>
      v === null
        ? [at]
        : typeof v === "object"
          ? Object.entries(v as object).flatMap(([k, x]) => nulls(x, `${at}.${k}`))
          : [];
    for (const name of ["keda-dev", "keda-prod"])
      assert.deepEqual(nulls((await registered(RELEASE, name)).values, "values"), [], name);
  });

  it("ships the ScaledObject CRD and claims v1beta1.external.metrics.k8s.io for its metrics server", () => {
    const crds = ofKind(dev, "CustomResourceDefinition").map((c) => c.metadata.name);
    assert.ok(
      crds.includes("scaledobjects.keda.sh") && crds.includes("triggerauthentications.keda.sh"),
      crds.join(),
    );
    const [api] = ofKind(dev, "APIService");
    assert.equal(api.metadata.name, "v1beta1.external.metrics.k8s.io");
    assert.deepEqual(api.spec.service, {
      name: "keda-operator-metrics-apiserver",
      namespace: "keda",
      port: 443,
    });
  });

  it("labels the operator's, metrics server's and webhooks' ServiceMonitors for the Prometheus selector", () => {
    for (const [objects, labels] of [
      [dev, { release: "prometheus-stack" }],
      [prod, { release: "monitoring" }],
    ] as const) {
      const monitors = ofKind(objects, "ServiceMonitor");
      assert.deepEqual(monitors.map((m) => m.metadata.name).sort(), [
        "keda-admission-webhooks",
        "keda-operator",
        "keda-operator-metrics-apiserver",
      ]);
      for (const m of monitors) assert.ok(matches(labels, m.metadata.labels), `${m.metadata.name} labels`);
    }
  });

  it("points every ServiceMonitor at a named Service port that a container of the selected pods really listens on", () => {
    for (const sm of ofKind(dev, "ServiceMonitor")) {
      const services = ofKind(dev, "Service").filter((s) =>
        matches(sm.spec.selector.matchLabels, s.metadata.labels),
      );
      assert.equal(services.length, 1, `${sm.metadata.name}: ${services.length} Services selected`);
      const [service] = services;
      assert.deepEqual(sm.spec.namespaceSelector.matchNames, ["keda"]);
      for (const endpoint of sm.spec.endpoints) {
        const port = service.spec.ports.find((p: any) => p.name === endpoint.port);
        assert.ok(
          port,
          `${sm.metadata.name}: Service ${service.metadata.name} has no port named ${endpoint.port}`,
        );
        const pods = ofKind(dev, "Deployment").filter((d) =>
          matches(service.spec.selector, d.spec.template.metadata.labels),
        );
        assert.equal(pods.length, 1, `${service.metadata.name} selects ${pods.length} Deployments`);
        const listens = pods[0].spec.template.spec.containers.flatMap((c: any) => c.ports ?? []);
        assert.ok(
          listens.some((p: any) => p.containerPort === port.targetPort || p.name === port.targetPort),
          `${service.metadata.name}: no container listens on ${port.targetPort}`,
        );
      }
    }
  });

  it("puts the ScaledObject's namespace back into `namespace` on the operator's series", () => {
    const operator = ofKind(dev, "ServiceMonitor").find((m) => m.metadata.name === "keda-operator");
    const [restore, drop] = operator.spec.endpoints[0].metricRelabelings;
    assert.deepEqual(
      [restore.sourceLabels, restore.targetLabel, restore.action, drop.regex, drop.action],
      [["exported_namespace"], "namespace", "replace", "exported_namespace", "labeldrop"],
    );
    assert.deepEqual(operator.spec.endpoints[0].metricRelabelings, KEDA_NAMESPACE_RELABELINGS);
  });

  it("validates every rendered object: built-in kinds against Kubernetes' schemas, ServiceMonitors against prometheus-operator's", async () => {
    const problems: string[] = [];
    for (const o of dev) {
      const { apiVersion, kind } = o.body as { apiVersion: string; kind: string };
      try {
        new (await modelOf(apiVersion, kind))(o.body).validate();
      } catch (err) {
        problems.push(`${kind} ${o.name}: ${(err as Error).message.slice(0, 300)}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it("runs every pod under Pod Security restricted, with requests and limits", () => {
    for (const objects of [dev, prod]) {
      const deployments = ofKind(objects, "Deployment");
      assert.equal(deployments.length, 3);
      for (const d of deployments) {
        assert.deepEqual(podSecurityViolations(d.spec.template.spec, "restricted"), [], d.metadata.name);
        for (const c of d.spec.template.spec.containers) {
          assert.deepEqual(c.resources, KEDA_DEFAULT_RESOURCES.operator, c.name);
        }
      }
    }
  });

  it("runs two of each workload in production, spread over nodes, each kept by a PDB", () => {
    const deployments = ofKind(prod, "Deployment");
    assert.deepEqual(
      deployments.map((d) => d.spec.replicas),
      [2, 2, 2],
    );
    for (const d of deployments)
      assert.equal(d.spec.template.spec.topologySpreadConstraints[0].topologyKey, "kubernetes.io/hostname");
    const pdbs = ofKind(prod, "PodDisruptionBudget");
    assert.equal(pdbs.length, 3);
    for (const d of deployments) {
      const pdb = pdbs.filter((p) => matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels));
      assert.equal(pdb.length, 1, d.metadata.name);
      assert.equal(pdb[0].spec.minAvailable, 1);
    }
    assert.equal(ofKind(dev, "PodDisruptionBudget").length, 0, "one replica: a PDB would block every drain");
  });

  it("refuses a replica count of zero and an empty Prometheus selector, naming the property", () => {
    assert.throws(() => new Keda("keda-zero", { replicas: 0 }), {
      message: "replicas: must be an integer in [1, 5], got 0",
    });
    assert.throws(() => new Keda("keda-nosel", { prometheusSelectorLabels: {} }), {
      message:
        "prometheusSelectorLabels: must name at least one label: Prometheus selects ServiceMonitors by label, got {}",
    });
    assert.throws(() => new Keda("keda-interval", { scrapeInterval: "30 seconds" }), {
      message: 'scrapeInterval: expected a duration like 30d, got "30 seconds"',
    });
  });

  describe("ScaledObjects, against the chart's own ScaledObject CRD", () => {
    const validate = (objects: RenderedObject[], so: any): string[] => {
      const check = crdValidators(objects).get("keda.sh/v1alpha1/ScaledObject");
      assert.ok(check, "the chart ships keda.sh/v1alpha1 ScaledObject");
      return check(so) ? [] : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
    };
    const build = async (name: string, args: Partial<ScaledObjectArgs>) => {
      new ScaledObject(name, {
        namespace: "ai-inference",
        deploymentName: "sonic-worker",
        triggers: [backlog],
        ...args,
      });
      return registered(SCALED_OBJECT, name);
    };

    it("accepts the default GPU worker object, scale-to-zero, and one without a fallback", async () => {
      const objects = [
        await build("so-default", {}),
        await build("so-zero", {
          minReplicas: 0,
          maxReplicas: 8,
          cooldownPeriodSeconds: 600,
          initialCooldownPeriodSeconds: 900,
        }),
        await build("so-nofallback", { fallback: false, triggers: [{ ...backlog, metricType: "Value" }] }),
      ];
      for (const so of objects) assert.deepEqual(validate(dev, so), [], so.metadata.name);
      assert.equal(objects[0].metadata.name, "so-default");
    });

    it("is judged by a validator that refuses what the CRD refuses", async () => {
      const so = await build("so-judged", {});
      assert.notDeepEqual(validate(dev, { ...so, spec: { ...so.spec, minReplicaCount: -1 } }), []);
      assert.notDeepEqual(
        validate(dev, { ...so, spec: { ...so.spec, fallback: { ...so.spec.fallback, behavior: "never" } } }),
        [],
      );
    });

    it("wakes from zero on one queued job and never falls back to zero", async () => {
      const so = await build("so-worker", { minReplicas: 0 });
      assert.deepEqual(so.spec.scaleTargetRef, {
        apiVersion: "apps/v1",
        kind: "Deployment",
        name: "sonic-worker",
      });
      assert.equal(so.spec.minReplicaCount, 0);
      assert.deepEqual(so.spec.triggers[0], {
        type: "prometheus",
        name: "backlog",
        metricType: "AverageValue",
        metadata: {
          serverAddress: PROMETHEUS,
          query: backlog.query,
          threshold: "1",
          activationThreshold: "0",
          ignoreNullValues: "false",
        },
      });
      assert.deepEqual(so.spec.fallback, {
        failureThreshold: 3,
        replicas: 1,
        behavior: "currentReplicasIfHigher",
      });
      assert.deepEqual(
        [so.spec.pollingInterval, so.spec.cooldownPeriod, so.spec.initialCooldownPeriod],
        [30, 300, 0],
      );
    });

    it("scales with the same GPU behaviour as the adapter path's HPA", async () => {
      new Autoscaler("hpa-for-comparison", { namespace: "a", deploymentName: "a", backlogSelector: {} });
      const hpa = await registered("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "hpa-for-comparison");
      const so = await build("so-behaviour", {});
      assert.deepEqual(so.spec.advanced.horizontalPodAutoscalerConfig.behavior, hpa.spec.behavior);
    });
  });
});

describe("ScaledObject's checks", () => {
  const make = (args: Partial<ScaledObjectArgs>) => () =>
    new ScaledObject("bad-so", { namespace: "a", deploymentName: "a", triggers: [backlog], ...args });

  it("names KEDA's HPA, takes over an existing one and stands by paused when asked, and refuses a takeover of no HPA", async () => {
    const so = new ScaledObject("handover-so", {
      namespace: "a",
      deploymentName: "sonic-generate-worker",
      triggers: [backlog],
      hpaName: "sonic-generate-worker",
      transferHpaOwnership: true,
      paused: true,
    });
    const body = await registered(SCALED_OBJECT, "handover-so");
    assert.deepEqual(body.metadata.annotations, {
      "scaledobject.keda.sh/transfer-hpa-ownership": "true",
      "autoscaling.keda.sh/paused": "true",
    });
    assert.equal(body.spec.advanced.horizontalPodAutoscalerConfig.name, "sonic-generate-worker");
    assert.equal(await valueOf(so.hpaName), "sonic-generate-worker");
    assert.throws(make({ transferHpaOwnership: true }), {
      message: "transferHpaOwnership: needs 'hpaName': the existing HPA KEDA is to take over, got true",
    });
  });

  it("refuses minReplicas above maxReplicas, quoting both", () => {
    assert.throws(make({ minReplicas: 5, maxReplicas: 4 }), {
      message: "minReplicas: (5) must be <= 'maxReplicas' (4)",
    });
  });

  it("refuses a threshold of zero and a negative activation threshold", () => {
    assert.throws(make({ triggers: [{ ...backlog, threshold: 0 }] }), {
      message: "triggers[0].threshold: must be a number > 0, got 0",
    });
    assert.throws(make({ triggers: [backlog, { ...backlog, activationThreshold: -1 }] }), {
      message: "triggers[1].activationThreshold: must be a number >= 0, got -1",
    });
  });

  it("refuses a fallback of zero replicas or beyond the maximum", () => {
    assert.throws(make({ minReplicas: 0, fallback: { replicas: 0 } }), {
      message: "fallback.replicas: must be an integer in [1, 4], got 0",
    });
    assert.throws(make({ fallback: { replicas: 5 } }), {
      message: "fallback.replicas: must be an integer in [1, 4], got 5",
    });
  });

  it("refuses a Value trigger while a fallback is set, since KEDA cannot fall back on it with no pod ready", () => {
    assert.throws(make({ triggers: [backlog, { ...backlog, metricType: "Value" }] }), {
      message:
        'triggers[1].metricType: must be "AverageValue" while a fallback is set (KEDA cannot fall back on a Value trigger with no pod ready), got "Value"',
    });
  });

  it("refuses a query that is not PromQL and an address that is not a URL", () => {
    assert.throws(make({ triggers: [{ ...backlog, query: "sum(rate(x[1m])" }] }), {
      message: 'triggers[0].query: is not valid PromQL (syntax error at 15), got "sum(rate(x[1m])"',
    });
    assert.throws(make({ triggers: [{ ...backlog, serverAddress: "prometheus:9090" }] }), {
      message: 'triggers[0].serverAddress: must be an http(s) URL of Prometheus, got "prometheus:9090"',
    });
  });

  it("refuses an object without triggers and a polling interval of zero", () => {
    assert.throws(make({ triggers: [] }), { message: "triggers: must list at least one trigger, got []" });
    assert.throws(make({ pollingIntervalSeconds: 0 }), {
      message: "pollingIntervalSeconds: must be an integer in [1, 3600], got 0",
    });
  });
});

/** Series KEDA 2.20.2 exports (pkg/metricscollector/prommetrics.go), and Prometheus' own `up`. */
const KEDA_SERIES = new Set([
  "up",
  "keda_scaler_detail_errors_total",
  "keda_scaled_object_errors_total",
  "keda_scaled_object_paused",
  "keda_scaler_active",
  // Not KEDA's: kube-state-metrics' series of the ScaledObjects' conditions (KEDA_KUBE_STATE_METRICS_VALUES).
  "kube_customresource_scaledobject_condition",
]);

describe("KEDA's health rules", function () {
  this.timeout(120_000);
  const group = kedaRules({
    runbookBaseUrl: DEFAULT_RUNBOOK_BASE_URL,
    scaledObjects: [{ namespace: "ai-inference", name: "sonic-worker" }],
  });
  const alerts = group.rules.filter(isAlert) as AlertRule[];

  it("are one group of the five KEDA alerts, reading only series KEDA 2.20 exports", () => {
    assert.equal(group.name, "keda");
    assert.deepEqual(
      alerts.map((a) => a.alert),
      [...KEDA_ALERTS],
    );
    assert.deepEqual(
      alerts.flatMap((a) => selectorsOf(a.expr)).filter((name) => !KEDA_SERIES.has(name)),
      [],
    );
  });

  it("give every alert a severity, summary, a description naming the namespace and object, and its runbook", () => {
    const runbooks = parseRunbooks(readFileSync(path.join(REPO_ROOT, "docs", "runbooks.md"), "utf8"));
    for (const a of alerts) {
      assert.ok(["critical", "warning", "info"].includes(a.labels.severity), a.alert);
      assert.ok(a.annotations.summary.length > 10, a.alert);
      assert.match(
        a.annotations.description,
        /\{\{ \$labels\.namespace \}\}\/\{\{ \$labels\.(scaledObject|job) \}\}/,
        a.alert,
      );
      assert.equal(a.annotations.runbook_url, `${DEFAULT_RUNBOOK_BASE_URL}#${a.alert.toLowerCase()}`);
      assert.ok(runbooks.get(a.alert)?.resolve, `${a.alert}: no runbook entry with Resolve steps`);
    }
  });

  it("pass promtool check and the promtool suite of test/rules/keda, firing and silent for every alert", () => {
    requirePromtool();
    const dir = mkdtempSync(path.join(tmpdir(), "sonic-keda-rules-"));
    writeFileSync(path.join(dir, "keda.rules.yaml"), ruleFileYaml([group]));
    assert.match(promtool(["check", "rules", "keda.rules.yaml"], dir), /SUCCESS: 5 rules found/);
    const suite = path.join(REPO_ROOT, "test", "rules", "keda", "keda.yaml");
    copyFileSync(suite, path.join(dir, "keda.yaml"));
    assert.match(promtool(["test", "rules", "keda.yaml"], dir), /SUCCESS/);
    const cases = parse(readFileSync(suite, "utf8")).tests.flatMap((t: any) => t.alert_rule_test ?? []);
    for (const a of alerts) {
      const mine = cases.filter((c: any) => c.alertname === a.alert);
      assert.ok(
        mine.some((c: any) => c.exp_alerts.length > 0),
        `${a.alert} never fires`,
      );
      assert.ok(
        mine.some((c: any) => c.exp_alerts.length === 0),
        `${a.alert} is never silent`,
      );
    }
  });

  it("refuses a duration that is not one, naming it", () => {
    assert.throws(() => kedaRules({ runbookBaseUrl: "x", fallbackAfter: "3 minutes" }), {
      message: 'fallbackAfter: expected a duration like 30d, got "3 minutes"',
    });
  });
});

describe("the guardrails policy pack, with KEDA", () => {
  const checkStack = (
    resources: { type: string; props: Record<string, unknown> }[],
    policy = oneAutoscalerPerDeployment,
  ): string[] => {
    const violations: string[] = [];
    const validate = policy.validateStack as (a: unknown, r: (m: string) => void) => void;
    validate({ resources: resources.map((r) => ({ name: "r", urn: "u", ...r })) }, (m) => violations.push(m));
    return violations;
  };
  const target = (name: string) => ({
    metadata: { name, namespace: "ai-inference" },
    spec: { scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "sonic-worker" } },
  });
  const hpa = { type: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", props: target("sonic") };
  const so = { type: SCALED_OBJECT, props: target("sonic-worker") };
  const deployment = (replicas?: number) => ({
    type: "kubernetes:apps/v1:Deployment",
    props: { metadata: { name: "sonic-worker", namespace: "ai-inference" }, spec: { replicas } },
  });

  it("is part of the pack's stack policies", () => {
    assert.ok(stackPolicies.includes(oneAutoscalerPerDeployment));
  });

  it("refuses an HPA and a ScaledObject on one Deployment, and accepts either alone", () => {
    assert.deepEqual(checkStack([hpa, so, deployment()]), [
      "Deployment 'ai-inference/sonic-worker' is scaled by HorizontalPodAutoscaler 'sonic' and ScaledObject 'sonic-worker'; keep one",
    ]);
    assert.deepEqual(checkStack([so, deployment()]), []);
    assert.deepEqual(checkStack([hpa, deployment(2)]), []);
  });

  it("lets a paused ScaledObject stand by beside the HPA it will take over", () => {
    const standby = {
      type: SCALED_OBJECT,
      props: {
        ...target("sonic-worker"),
        metadata: {
          name: "sonic-worker",
          namespace: "ai-inference",
          annotations: { "autoscaling.keda.sh/paused": "true" },
        },
      },
    };
    assert.deepEqual(checkStack([hpa, standby, deployment()]), []);
  });

  it("refuses replicas on a Deployment a ScaledObject scales", () => {
    assert.deepEqual(checkStack([so, deployment(0)], hpaOwnsReplicas), [
      "Deployment 'ai-inference/sonic-worker' sets spec.replicas (0) but a ScaledObject scales it; leave replicas out",
    ]);
  });
});
