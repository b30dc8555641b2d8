import type * as k8s from "@pulumi/kubernetes";
import { InputPropertyError, quote } from "../shared/errors";

type PolicySpec = k8s.types.input.networking.v1.NetworkPolicySpec;
/** KEDA's three workloads (keda.ts' `KedaPart`, spelled out: keda.ts imports this file). */
type KedaPart = "operator" | "metricServer" | "webhooks";

/** The port each KEDA workload serves its API on (gRPC metrics service, metrics API, webhook). */
const SERVING_PORTS: Record<KedaPart, number> = { operator: 9666, metricServer: 6443, webhooks: 9443 };
/** Where each workload serves its Prometheus metrics. */
const METRICS_PORT = 8080;

const tcp = (port: number) => ({ protocol: "TCP", port });

/**
 * KEDA's NetworkPolicies, by workload name (`workloads`: the names the chart gives them, `app` on their pods). Ingress only, like every chart's pods here (what KEDA
 * dials, its scalers' sources and the API server, is its own): the chart's own `networkPolicy` was not
 * used, as its `kubernetes` flavour admits the API server only from pods (`namespaceSelector: {}`), and
 * the API server calls the metrics API and the webhook from the control plane, no pod. So:
 * - the operator's gRPC metrics service from the metrics API server only;
 * - the metrics API server's and the webhook's port from anywhere (the API server);
 * - every workload's metrics port from Prometheus' namespace.
 */
export function kedaNetworkPolicySpecs(
  prometheusNamespace: string,
  workloads: Record<KedaPart, string>,
): Record<string, PolicySpec> {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(prometheusNamespace))
    throw new InputPropertyError(
      "prometheusNamespace",
      `expected a namespace name, got ${quote(prometheusNamespace)}`,
    );
  const scrape = {
    from: [
      {
        namespaceSelector: {
          matchExpressions: [
            { key: "kubernetes.io/metadata.name", operator: "In", values: [prometheusNamespace] },
          ],
        },
      },
    ],
    ports: [tcp(METRICS_PORT)],
  };
  const serving = (part: KedaPart) =>
    part === "operator"
      ? {
          from: [{ podSelector: { matchLabels: { app: workloads.metricServer } } }],
          ports: [tcp(SERVING_PORTS[part])],
        }
      : { ports: [tcp(SERVING_PORTS[part])] };
  return Object.fromEntries(
    (Object.keys(SERVING_PORTS) as KedaPart[]).map((part) => [
      workloads[part],
      {
        podSelector: { matchLabels: { app: workloads[part] } },
        policyTypes: ["Ingress"],
        ingress: [serving(part), scrape],
      },
    ]),
  );
}
