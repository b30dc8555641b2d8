import * as assert from "node:assert/strict";
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import {
  apiServerValidation,
  gpuContainersBounded,
  hpaOwnsReplicas,
  noPlaintextSecretsInHelmValues,
  nonRootReadOnly,
  podSecurityAdmitted,
  prometheusAdminApiOff,
  resourcePolicies,
  serviceMonitorNamespaces,
  stackPolicies,
} from "../../policy/guardrails";
import { HARDENING_EXCEPTIONS } from "../../policy/exceptions";
import {
  containersBoundMemory,
  livenessIsNotReadiness,
  podsBehindNetworkPolicy,
  replicasSpreadAcrossNodes,
} from "../../policy/hardening";
import { renderWithCharts, requireHelmAndCharts } from "../../testkit/charts";
import { renderStack } from "../../testkit/render";
import { readProjectConfig } from "../../testkit/stack-file";

/** `--set` of prod's autoscaling block at a step of the handover to keda. */
function handover(step: string): string[] {
  const a = JSON.parse(readProjectConfig("prod").autoscaling);
  return ["--set", `autoscaling=${JSON.stringify({ ...a, engine: "keda", handover: step })}`];
}

/** `--set` of a stack's autoscaling block on the other engine (the workers at least 1 for the adapter). */
function onEngine(stack: string, engine: "adapter" | "keda"): string[] {
  const a = JSON.parse(readProjectConfig(stack).autoscaling);
  const worker =
    engine === "adapter" ? { ...a.worker, minReplicas: Math.max(1, a.worker.minReplicas) } : a.worker;
  return ["--set", `autoscaling=${JSON.stringify({ ...a, engine, worker })}`];
}

/** Runs one resource policy on one resource, as the policy engine would; returns the violations. */
function check(
  policy: ResourceValidationPolicy,
  type: string,
  props: Record<string, unknown>,
  name = "r",
): string[] {
  const violations: string[] = [];
  const validate = policy.validateResource as (args: unknown, report: (m: string) => void) => void;
  validate({ type, props, name, urn: `urn:pulumi:test::p::${type}::${name}` }, (m) => violations.push(m));
  return violations;
}

function checkStack(
  policy: StackValidationPolicy,
  resources: { type: string; props: Record<string, unknown>; name?: string }[],
): string[] {
  const violations: string[] = [];
  const validate = policy.validateStack as (args: unknown, report: (m: string) => void) => void;
  validate({ resources: resources.map((r) => ({ name: "r", urn: "u", ...r })) }, (m) => violations.push(m));
  return violations;
}

const gpuDeployment = (
  container: Record<string, unknown>,
  podSecurity: Record<string, unknown> = { runAsNonRoot: true },
) => ({
  metadata: { name: "sonic", namespace: "ai-inference" },
  spec: {
    template: { spec: { securityContext: podSecurity, containers: [{ name: "sonic", ...container }] } },
  },
});
const hardened = { securityContext: { readOnlyRootFilesystem: true } };

describe("the guardrails policy pack", () => {
  it("refuses a ServiceMonitor that scrapes any namespace, and accepts one that names them or keeps to its own", () => {
    const sm = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor";
    assert.deepEqual(
      check(serviceMonitorNamespaces, sm, { spec: { namespaceSelector: { any: true } } }, "sm"),
      ["ServiceMonitor 'sm': namespaceSelector.any is true; list namespaces in matchNames"],
    );
    // No selector: the CRD's default is the ServiceMonitor's own namespace.
    assert.deepEqual(check(serviceMonitorNamespaces, sm, { spec: {} }), []);
    assert.deepEqual(
      check(serviceMonitorNamespaces, sm, { spec: { namespaceSelector: { matchNames: ["ai-inference"] } } }),
      [],
    );
  });

  it("refuses kube-prometheus-stack with the Prometheus admin API on, and accepts it off", () => {
    const release = "kubernetes:helm.sh/v3:Release";
    const values = (on: boolean) => ({
      chart: "kube-prometheus-stack",
      values: { prometheus: { prometheusSpec: { enableAdminAPI: on } } },
    });
    assert.deepEqual(check(prometheusAdminApiOff, release, values(true), "kps"), [
      "Helm release 'kps': set values.prometheus.prometheusSpec.enableAdminAPI to false",
    ]);
    assert.deepEqual(check(prometheusAdminApiOff, release, values(false)), []);
  });

  it("refuses a GPU container without a GPU limit or CPU/memory requests, and accepts a bounded one", () => {
    const d = "kubernetes:apps/v1:Deployment";
    assert.deepEqual(
      check(
        gpuContainersBounded,
        d,
        gpuDeployment({ resources: { requests: { "nvidia.com/gpu": "1" } } }),
        "sonic",
      ),
      [
        "sonic/sonic: a GPU is requested but not limited; extended resources are set as limits",
        "sonic/sonic: a GPU container must set cpu and memory requests",
      ],
    );
    const bounded = gpuDeployment({
      resources: { limits: { "nvidia.com/gpu": "1" }, requests: { cpu: "2", memory: "8Gi" } },
    });
    assert.deepEqual(check(gpuContainersBounded, d, bounded), []);
  });

  it("refuses root or writable-root containers, and accepts non-root read-only ones", () => {
    const d = "kubernetes:apps/v1:Deployment";
    assert.deepEqual(check(nonRootReadOnly, d, gpuDeployment({}, {}), "sonic"), [
      "sonic/sonic: set securityContext.runAsNonRoot: true (pod or container)",
      "sonic/sonic: set securityContext.readOnlyRootFilesystem: true",
    ]);
    assert.deepEqual(check(nonRootReadOnly, d, gpuDeployment(hardened)), []);
  });

  it("refuses what the API server's validation refuses beyond its schema: both PDB budgets, a request above its limit, bad label values and port names", () => {
    const pdb = "kubernetes:policy/v1:PodDisruptionBudget";
    assert.deepEqual(
      check(apiServerValidation, pdb, {
        metadata: { name: "api" },
        spec: { minAvailable: 1, maxUnavailable: 1 },
      }),
      ["PodDisruptionBudget 'api': sets both spec.minAvailable (1) and spec.maxUnavailable (1); keep one"],
    );
    assert.deepEqual(
      check(apiServerValidation, pdb, { metadata: { name: "api" }, spec: { maxUnavailable: 1 } }),
      [],
    );
    const d = "kubernetes:apps/v1:Deployment";
    const deployment = (container: Record<string, unknown>, labels: Record<string, string> = {}) => ({
      metadata: { name: "api", labels },
      spec: { template: { metadata: { labels }, spec: { containers: [{ name: "api", ...container }] } } },
    });
    assert.deepEqual(
      check(
        apiServerValidation,
        d,
        deployment(
          {
            resources: {
              requests: { memory: "1Gi", "ephemeral-storage": "2Gi" },
              limits: { memory: "512Mi" },
            },
            ports: [
              { name: "http-web-metrics", containerPort: 8080 },
              { name: "web", containerPort: 8081 },
              { name: "web", containerPort: 8082 },
            ],
          },
          { owner: "AI Platform" },
        ),
      ),
      [
        `Deployment 'api': metadata.labels["owner"] ("AI Platform") is not a label value`,
        `Deployment 'api': the pod template's labels["owner"] ("AI Platform") is not a label value`,
        "Deployment 'api': container 'api': requests.memory (1Gi) is above limits.memory (512Mi)",
        "Deployment 'api': container 'api': port name 'http-web-metrics' is not an IANA service name (at most 15 of a-z, 0-9, '-', a letter among them)",
        "Deployment 'api': container 'api': port name 'web' is used twice in the pod",
      ],
    );
    assert.deepEqual(
      check(
        apiServerValidation,
        d,
        deployment(
          {
            resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "1", memory: "0.5Gi" } },
            ports: [{ name: "web", containerPort: 8080 }],
          },
          { team: "ai-platform", "app.kubernetes.io/component": "api" },
        ),
      ),
      [],
    );
  });

  it("refuses plaintext credentials in Helm values, and accepts references to Secrets", () => {
    const release = "kubernetes:helm.sh/v3:Release";
    const leaky = {
      values: {
        grafana: { adminPassword: "hunter2" },
        alertmanager: {
          config: {
            receivers: [{ slack_configs: [{ api_url: "https://hooks.slack.com/services/T0/B0/x" }] }],
          },
        },
      },
    };
    assert.deepEqual(check(noPlaintextSecretsInHelmValues, release, leaky, "kps"), [
      "Helm release 'kps': values.grafana.adminPassword looks like a plaintext credential; reference a Secret instead",
      "Helm release 'kps': values.alertmanager.config.receivers[0].slack_configs[0].api_url looks like a plaintext credential; reference a Secret instead",
    ]);
    const referenced = {
      values: {
        grafana: { admin: { existingSecret: "grafana-admin", passwordKey: "admin-password" } },
        alertmanager: { alertmanagerSpec: { configSecret: "alertmanager-config" } },
      },
    };
    assert.deepEqual(check(noPlaintextSecretsInHelmValues, release, referenced), []);
  });

  it("refuses a Deployment that sets replicas while an HPA scales it, and accepts one without", () => {
    const hpa = {
      type: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
      props: {
        metadata: { namespace: "ai-inference" },
        spec: { scaleTargetRef: { kind: "Deployment", name: "sonic" } },
      },
    };
    const deployment = (replicas?: number) => ({
      type: "kubernetes:apps/v1:Deployment",
      props: {
        metadata: { name: "sonic", namespace: "ai-inference" },
        spec: replicas === undefined ? {} : { replicas },
      },
    });
    assert.deepEqual(checkStack(hpaOwnsReplicas, [hpa, deployment(3)]), [
      "Deployment 'ai-inference/sonic' sets spec.replicas (3) but an HPA scales it; leave replicas out",
    ]);
    assert.deepEqual(checkStack(hpaOwnsReplicas, [hpa, deployment()]), []);
    assert.deepEqual(checkStack(hpaOwnsReplicas, [deployment(3)]), []);
  });

  it("refuses a workload its namespace's Pod Security level would reject, and a namespace that names no level", () => {
    const ns = (name: string, level?: string) => ({
      type: "kubernetes:core/v1:Namespace",
      props: { metadata: { name, labels: level ? { "pod-security.kubernetes.io/enforce": level } : {} } },
    });
    const pod = (namespace: string, spec: Record<string, unknown>) => ({
      type: "kubernetes:apps/v1:DaemonSet",
      props: { metadata: { name: "agent", namespace }, spec: { template: { spec } } },
    });
    const restrictedContainer = {
      name: "c",
      securityContext: {
        allowPrivilegeEscalation: false,
        runAsNonRoot: true,
        seccompProfile: { type: "RuntimeDefault" },
        capabilities: { drop: ["ALL"] },
      },
    };
    assert.deepEqual(
      checkStack(podSecurityAdmitted, [
        ns("apps", "restricted"),
        pod("apps", { hostNetwork: true, containers: [restrictedContainer] }),
      ]),
      ["DaemonSet 'apps/agent' breaks 'restricted' in its namespace: hostNetwork: true"],
    );
    assert.deepEqual(
      checkStack(podSecurityAdmitted, [
        ns("apps", "restricted"),
        pod("apps", { containers: [restrictedContainer] }),
      ]),
      [],
    );
    assert.deepEqual(
      checkStack(podSecurityAdmitted, [
        ns("infra", "privileged"),
        pod("infra", { hostNetwork: true, hostPID: true, containers: [{ name: "c" }] }),
      ]),
      [],
    );
    assert.deepEqual(checkStack(podSecurityAdmitted, [ns("bare")]), [
      "Namespace 'bare': label pod-security.kubernetes.io/enforce with the level it needs",
    ]);
  });

  describe("hardening rules", () => {
    const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
    const POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy";
    const labels = { app: "api" };
    /** A Deployment in `shop` whose pod runs `containers`, with `spec` merged into its pod spec. */
    const deployment = (
      containers: Record<string, unknown>[],
      extra: {
        replicas?: number;
        podSpec?: Record<string, unknown>;
        metadata?: Record<string, unknown>;
      } = {},
    ) => ({
      type: DEPLOYMENT,
      props: {
        metadata: { name: "api", namespace: "shop", ...extra.metadata },
        spec: {
          ...(extra.replicas === undefined ? {} : { replicas: extra.replicas }),
          template: { metadata: { labels }, spec: { containers, ...extra.podSpec } },
        },
      },
    });
    const bounded = { requests: { memory: "64Mi" }, limits: { memory: "128Mi" } };
    const networkPolicy = (policyTypes: string[], namespace = "shop") => ({
      type: POLICY,
      props: {
        metadata: { name: "api", namespace },
        spec: { podSelector: { matchLabels: labels }, policyTypes },
      },
    });

    it("refuses a container without a memory request or limit, naming the object, the container and the fix, and accepts a bounded one", () => {
      const bad = deployment([{ name: "api", resources: { requests: { memory: "64Mi" } } }], {
        podSpec: { initContainers: [{ name: "migrate" }] },
      });
      assert.deepEqual(checkStack(containersBoundMemory, [bad]), [
        "Deployment shop/api, container migrate: no memory requests or limits; set resources.requests.memory and resources.limits.memory",
        "Deployment shop/api, container api: no memory limits; set resources.limits.memory",
      ]);
      const fixed = deployment([{ name: "api", resources: bounded }], {
        podSpec: { initContainers: [{ name: "migrate", resources: bounded }] },
      });
      assert.deepEqual(checkStack(containersBoundMemory, [fixed]), []);
    });

    it("refuses a chart's container, a custom resource's and the operator's config-reloader without memory bounds, pointing at the chart's values", () => {
      const chartLabels = { "helm.sh/chart": "grafana-12.11.1" };
      const chart = deployment([{ name: "grafana" }], { metadata: { labels: chartLabels } });
      const alertmanager = {
        type: "kubernetes:monitoring.coreos.com/v1:Alertmanager",
        props: {
          metadata: { name: "am", namespace: "monitoring", labels: chartLabels },
          spec: { replicas: 1 },
        },
      };
      const operator = deployment(
        [{ name: "operator", resources: bounded, args: ["--config-reloader-memory-request=0"] }],
        { metadata: { name: "operator" } },
      );
      assert.deepEqual(checkStack(containersBoundMemory, [chart, alertmanager, operator]), [
        "Deployment shop/api, container grafana: no memory requests or limits; set resources.requests.memory and resources.limits.memory in the chart's values",
        "Alertmanager monitoring/am, container alertmanager: no memory requests or limits; set resources.requests.memory and resources.limits.memory in the chart's values",
        "Deployment shop/operator, container operator: --config-reloader-memory-request=0 leaves the config-reloader sidecars without memory bounds; set prometheusOperator.prometheusConfigReloader.resources",
      ]);
      const boundedAm = { ...alertmanager, props: { ...alertmanager.props, spec: { resources: bounded } } };
      assert.deepEqual(checkStack(containersBoundMemory, [boundedAm]), []);
    });

    it("refuses the program's pod without an Egress policy and a chart's pod without an Ingress one, and accepts them covered", () => {
      const ours = deployment([{ name: "api", resources: bounded }]);
      assert.deepEqual(checkStack(podsBehindNetworkPolicy, [ours, networkPolicy(["Ingress"])]), [
        'Deployment shop/api: no NetworkPolicy in \'shop\' selects its pods for Egress; add one whose podSelector matches {"app":"api"} with policyTypes ["Egress"] and the peers it needs',
      ]);
      // A policy of another namespace selects nothing here, whatever its selector says.
      assert.deepEqual(
        checkStack(podsBehindNetworkPolicy, [ours, networkPolicy(["Ingress", "Egress"], "other")]),
        [
          'Deployment shop/api: no NetworkPolicy in \'shop\' selects its pods for Ingress and Egress; add one whose podSelector matches {"app":"api"} with policyTypes ["Ingress","Egress"] and the peers it needs',
        ],
      );
      assert.deepEqual(checkStack(podsBehindNetworkPolicy, [ours, networkPolicy(["Ingress", "Egress"])]), []);
      const charts = deployment([{ name: "api" }], {
        metadata: { labels: { "app.kubernetes.io/managed-by": "Helm" } },
      });
      assert.deepEqual(checkStack(podsBehindNetworkPolicy, [charts]), [
        'Deployment shop/api: no NetworkPolicy in \'shop\' selects its pods for Ingress; add one whose podSelector matches {"app":"api"} with policyTypes ["Ingress"] and the peers it needs',
      ]);
      assert.deepEqual(checkStack(podsBehindNetworkPolicy, [charts, networkPolicy(["Ingress"])]), []);
    });

    it("refuses replicas that nothing spreads across nodes (fixed or up to an autoscaler's maximum), and accepts a hostname spread or anti-affinity selecting its own pods", () => {
      const spread = (topologyKey: string, selector = labels) => ({
        topologySpreadConstraints: [
          {
            maxSkew: 1,
            topologyKey,
            whenUnsatisfiable: "ScheduleAnyway",
            labelSelector: { matchLabels: selector },
          },
        ],
      });
      const message = (n: number) =>
        `Deployment shop/api: up to ${n} replicas with nothing keeping them on different nodes; add a topologySpreadConstraint (or a podAntiAffinity term) on kubernetes.io/hostname whose labelSelector matches {"app":"api"}`;
      assert.deepEqual(checkStack(replicasSpreadAcrossNodes, [deployment([], { replicas: 3 })]), [
        message(3),
      ]);
      const zoneOnly = deployment([], { replicas: 3, podSpec: spread("topology.kubernetes.io/zone") });
      assert.deepEqual(checkStack(replicasSpreadAcrossNodes, [zoneOnly]), [message(3)]);
      const otherPods = deployment([], {
        replicas: 3,
        podSpec: spread("kubernetes.io/hostname", { app: "web" }),
      });
      assert.deepEqual(checkStack(replicasSpreadAcrossNodes, [otherPods]), [message(3)]);
      const hpa = {
        type: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        props: {
          metadata: { namespace: "shop" },
          spec: { scaleTargetRef: { kind: "Deployment", name: "api" }, maxReplicas: 4 },
        },
      };
      assert.deepEqual(checkStack(replicasSpreadAcrossNodes, [deployment([]), hpa]), [message(4)]);
      assert.deepEqual(checkStack(replicasSpreadAcrossNodes, [deployment([], { replicas: 1 })]), []);
      const spreadOut = deployment([], { podSpec: spread("kubernetes.io/hostname") });
      assert.deepEqual(checkStack(replicasSpreadAcrossNodes, [spreadOut, hpa]), []);
      const antiAffinity = {
        affinity: {
          podAntiAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              {
                weight: 100,
                podAffinityTerm: {
                  topologyKey: "kubernetes.io/hostname",
                  labelSelector: { matchLabels: labels },
                },
              },
            ],
          },
        },
      };
      assert.deepEqual(
        checkStack(replicasSpreadAcrossNodes, [deployment([], { replicas: 3, podSpec: antiAffinity })]),
        [],
      );
    });

    it("refuses a liveness probe that checks what readiness checks without a startupProbe, timings aside, and accepts a distinct check or a guarded start", () => {
      const healthz = (periodSeconds: number) => ({
        httpGet: { path: "/healthz", port: "http" },
        periodSeconds,
      });
      const same = deployment([{ name: "api", livenessProbe: healthz(20), readinessProbe: healthz(5) }]);
      assert.deepEqual(checkStack(livenessIsNotReadiness, [same]), [
        'Deployment shop/api, container api: livenessProbe checks what readinessProbe checks ({"httpGet":{"headers":[],"host":"","path":"/healthz","port":"http","scheme":"HTTP"}}), so a slow start or a busy spell restarts it; point liveness at a check of the process alone, or add a startupProbe sized for the start',
      ]);
      const guarded = deployment([
        { name: "api", livenessProbe: healthz(20), readinessProbe: healthz(5), startupProbe: healthz(2) },
      ]);
      assert.deepEqual(checkStack(livenessIsNotReadiness, [guarded]), []);
      const distinct = deployment([
        {
          name: "api",
          livenessProbe: healthz(20),
          readinessProbe: { httpGet: { path: "/readyz", port: "http" } },
        },
      ]);
      assert.deepEqual(checkStack(livenessIsNotReadiness, [distinct]), []);
    });

    it("lists every exception with its reason, and grants it only to the workload and container it names", () => {
      for (const e of HARDENING_EXCEPTIONS)
        assert.ok(e.reason.length > 40, `${e.rule} ${e.name}: give the reason`);
      const probes = { httpGet: { path: "/", port: "http-metrics" } };
      const nodeExporter = (name: string, container: string) => ({
        type: "kubernetes:apps/v1:DaemonSet",
        props: {
          metadata: {
            name,
            namespace: "monitoring-node-exporter",
            labels: { "helm.sh/chart": "prometheus-node-exporter" },
          },
          spec: {
            template: {
              metadata: { labels },
              spec: { containers: [{ name: container, livenessProbe: probes, readinessProbe: probes }] },
            },
          },
        },
      });
      const excepted = nodeExporter("prometheus-stack-prometheus-node-exporter", "node-exporter");
      assert.deepEqual(checkStack(podsBehindNetworkPolicy, [excepted]), []);
      assert.deepEqual(checkStack(livenessIsNotReadiness, [excepted]), []);
      assert.equal(
        checkStack(podsBehindNetworkPolicy, [nodeExporter("other-exporter", "node-exporter")]).length,
        1,
      );
      assert.equal(
        checkStack(livenessIsNotReadiness, [
          nodeExporter("prometheus-stack-prometheus-node-exporter", "sidecar"),
        ]).length,
        1,
      );
    });
  });

  for (const { stack, title, extra } of [
    { stack: "dev", title: "dev stack (engine keda)", extra: [] },
    { stack: "prod", title: "prod stack (engine adapter)", extra: [] },
    { stack: "fleet", title: "fleet stack", extra: [] },
    { stack: "dev", title: "dev stack on engine adapter", extra: onEngine("dev", "adapter") },
    { stack: "prod", title: "prod stack on engine keda", extra: onEngine("prod", "keda") },
    { stack: "prod", title: "prod stack in the handover's standby", extra: handover("standby") },
    { stack: "prod", title: "prod stack in the handover's takeover", extra: handover("takeover") },
  ]) {
    it(`passes every mandatory policy on the ${title}'s objects, the charts' rendered objects included`, async () => {
      requireHelmAndCharts();
      const objects = (await renderWithCharts(stack, extra)).map((o) => {
        const body = o.body as { apiVersion: string; kind: string; metadata?: { name?: string } };
        const group = body.apiVersion.includes("/") ? body.apiVersion : `core/${body.apiVersion}`;
        return { type: `kubernetes:${group}:${body.kind}`, props: body as Record<string, any>, name: o.file };
      });
      const violations: string[] = [];
      for (const policy of resourcePolicies.filter((p) => p.enforcementLevel === "mandatory"))
        for (const r of objects) violations.push(...check(policy, r.type, r.props, r.name));
      for (const policy of stackPolicies) violations.push(...checkStack(policy, objects));
      assert.deepEqual(violations, []);
    });

    it(`passes every mandatory policy on the ${title}'s own resources`, async () => {
      const run = await renderStack(stack, extra);
      const violations: string[] = [];
      for (const policy of resourcePolicies.filter((p) => p.enforcementLevel === "mandatory")) {
        for (const r of run.resources.filter((x) => x.custom))
          violations.push(...check(policy, r.type, r.inputs, r.name));
      }
      for (const policy of stackPolicies) {
        violations.push(
          ...checkStack(
            policy,
            run.resources
              .filter((r) => r.custom)
              .map((r) => ({ type: r.type, props: r.inputs, name: r.name })),
          ),
        );
      }
      assert.deepEqual(violations, []);
    });
  }
});
