import * as assert from "node:assert/strict";
import { workloadsOf } from "../../policy/workloads";
import { bodies, renderWithCharts, requireHelmAndCharts } from "../../testkit/charts";
import { connectionAdmitted, ingressAdmits, type PodIdentity } from "../../testkit/network-policy";
import type { RenderedObject } from "../../scripts/render";

// The NetworkPolicies the program gives the charts' pods (kube-prometheus-stack, prometheus-adapter,
// KEDA) must admit every connection the stack needs, or the policy pack's coverage rule would be met
// by policies that break monitoring. Who needs what is read from the rendered stack: the pods with
// the labels the charts (and prometheus-operator) give them, and their named ports.

/** Every pod of a rendered stack, by workload name, as the policies see it; plus strangers. */
function podsOf(objects: RenderedObject[]): Record<string, PodIdentity> {
  const typed = objects.map((o) => {
    const b = o.body as { apiVersion: string; kind: string };
    return {
      type: `kubernetes:${b.apiVersion.includes("/") ? b.apiVersion : `core/${b.apiVersion}`}:${b.kind}`,
      props: o.body,
    };
  });
  const pods: Record<string, PodIdentity> = {};
  for (const w of workloadsOf(typed)) {
    const ports: Record<string, number> = {};
    for (const c of (w.podSpec.containers ?? []) as any[])
      for (const p of c.ports ?? []) if (p.name) ports[p.name] = p.containerPort;
    pods[w.name] = { namespace: w.namespace, labels: w.podLabels, ports };
  }
  // The API server calls webhooks and aggregated APIs from the control plane: no pod a selector names.
  pods["the API server"] = { namespace: "(control plane)", labels: {} };
  pods["a debug pod in ai-inference"] = { namespace: "ai-inference", labels: { app: "debug" } };
  pods["a look-alike Prometheus in ai-inference"] = {
    namespace: "ai-inference",
    labels: { "app.kubernetes.io/name": "prometheus" },
  };
  return pods;
}

/** Whether each `[from, to, port]` gets through, both the source's egress and the target's ingress. */
function admitted(objects: RenderedObject[], flows: [string, string, number, string?][]): string[] {
  const policies = bodies(objects, "NetworkPolicy");
  const pods = podsOf(objects);
  return flows.map(([from, to, port, protocol]) => {
    assert.ok(pods[from] && pods[to], `no pod ${pods[from] ? to : from}`);
    const ok =
      protocol === "UDP"
        ? ingressAdmits(policies, pods[to], pods[from], port, "UDP")
        : connectionAdmitted(policies, pods[from], pods[to], port);
    return `${from} -> ${to}:${port}${protocol ? `/${protocol}` : ""} ${ok ? "admitted" : "refused"}`;
  });
}

const PROMETHEUS = "prometheus-stack-prometheus";
const ALERTMANAGER = "prometheus-stack-alertmanager";

/** Connections every cluster stack needs, whichever autoscaling engine it runs. */
const MONITORING_FLOWS: [string, string, number, string?][] = [
  ["prometheus-stack-grafana", PROMETHEUS, 9090],
  ["alert-analyst", PROMETHEUS, 9090],
  [PROMETHEUS, PROMETHEUS, 9090],
  [PROMETHEUS, PROMETHEUS, 8080],
  [PROMETHEUS, ALERTMANAGER, 9093],
  [PROMETHEUS, ALERTMANAGER, 8080],
  ["prometheus-stack-grafana", ALERTMANAGER, 9093],
  [ALERTMANAGER, "alert-analyst", 8090],
  [PROMETHEUS, "prometheus-stack-grafana", 3000],
  [PROMETHEUS, "prometheus-stack-kube-state-metrics", 8080],
  [PROMETHEUS, "prometheus-stack-operator", 10250],
  ["the API server", "prometheus-stack-operator", 10250],
];
/** Connections nothing needs: strangers to the monitoring namespace's pods, anyone to the admission jobs. */
const REFUSED_FLOWS: [string, string, number, string?][] = [
  ["a debug pod in ai-inference", PROMETHEUS, 9090],
  ["a look-alike Prometheus in ai-inference", "prometheus-stack-kube-state-metrics", 8080],
  ["a debug pod in ai-inference", ALERTMANAGER, 9093],
  ["a debug pod in ai-inference", "prometheus-stack-grafana", 3000],
  ["prometheus-stack-grafana", ALERTMANAGER, 9094],
  [PROMETHEUS, "prometheus-stack-admission-create", 10250],
];
const all = (flows: [string, string, number, string?][], verdict: "admitted" | "refused") =>
  flows.map(
    ([from, to, port, protocol]) => `${from} -> ${to}:${port}${protocol ? `/${protocol}` : ""} ${verdict}`,
  );

describe("the NetworkPolicies of the charts' pods", () => {
  before(requireHelmAndCharts);

  it("admit what dev's monitoring and KEDA need (Prometheus' scrapes and queries, KEDA's scaler, the API server's calls) and refuse strangers", async () => {
    const objects = await renderWithCharts("dev");
    const keda: [string, string, number][] = [
      ["keda-operator", PROMETHEUS, 9090],
      ["keda-operator-metrics-apiserver", "keda-operator", 9666],
      ["the API server", "keda-operator-metrics-apiserver", 6443],
      ["the API server", "keda-admission-webhooks", 9443],
      [PROMETHEUS, "keda-operator", 8080],
      [PROMETHEUS, "keda-operator-metrics-apiserver", 8080],
      [PROMETHEUS, "keda-admission-webhooks", 8080],
    ];
    assert.deepEqual(
      admitted(objects, [...MONITORING_FLOWS, ...keda]),
      all([...MONITORING_FLOWS, ...keda], "admitted"),
    );
    const kedaRefused: [string, string, number][] = [
      ["a debug pod in ai-inference", "keda-operator", 9666],
      ["a debug pod in ai-inference", "keda-operator", 8080],
    ];
    assert.deepEqual(
      admitted(objects, [...REFUSED_FLOWS, ...kedaRefused]),
      all([...REFUSED_FLOWS, ...kedaRefused], "refused"),
    );
  });

  it("admit what prod's HA monitoring needs (Alertmanager's mesh among its replicas, the adapter's API) and refuse strangers", async () => {
    const objects = await renderWithCharts("prod");
    // One rendered pod stands for every replica: a replica dials its peers with the same labels.
    const prod: [string, string, number, string?][] = [
      [ALERTMANAGER, ALERTMANAGER, 9094],
      [ALERTMANAGER, ALERTMANAGER, 9094, "UDP"],
      ["prometheus-adapter", PROMETHEUS, 9090],
      ["the API server", "prometheus-adapter", 10250],
    ];
    assert.deepEqual(
      admitted(objects, [...MONITORING_FLOWS, ...prod]),
      all([...MONITORING_FLOWS, ...prod], "admitted"),
    );
    assert.deepEqual(admitted(objects, REFUSED_FLOWS), all(REFUSED_FLOWS, "refused"));
  });
});
