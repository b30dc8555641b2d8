import type * as k8s from "@pulumi/kubernetes";
import { InputPropertyError, quote } from "../shared/errors";

type PolicySpec = k8s.types.input.networking.v1.NetworkPolicySpec;

/** Prometheus' web port, and the config-reloader's beside Prometheus and Alertmanager. */
const PROMETHEUS_WEB = 9090;
const RELOADER_WEB = 8080;
const ALERTMANAGER_WEB = 9093;
/** Alertmanager's cluster port: replicas gossip over TCP and UDP to share silences and deduplicate. */
const ALERTMANAGER_MESH = 9094;
const GRAFANA_WEB = 3000;
/** kube-state-metrics' metrics and its own telemetry. */
const KSM_PORTS = [8080, 8081];
/** The operator's HTTPS port: its admission webhook and its metrics. */
const OPERATOR_WEB = 10250;

const tcp = (...ports: number[]) => ports.map((port) => ({ protocol: "TCP", port }));
/** A peer without a namespace selector is a pod of the policy's own namespace. */
const ownNamespace = { podSelector: {} };
const namespaces = (names: string[]) => ({
  namespaceSelector: {
    matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: names }],
  },
});

/** What `monitoringNetworkPolicySpecs` needs: the release's names and who else queries Prometheus. */
export interface MonitoringNetworkPolicyArgs {
  /** kube-prometheus-stack's release name (`fullnameOverride`): it names the Prometheus and Alertmanager. */
  releaseName: string;
  /** Namespaces whose pods query Prometheus besides the monitoring namespace's own (KEDA's). @default [] */
  prometheusClientNamespaces?: string[];
}

/**
 * The monitoring namespace's NetworkPolicies for kube-prometheus-stack's pods, by name. Ingress only,
 * as for the fleet's charts (fleet-network-policy.ts): what each chart pod dials is its chart
 * version's business, while who may reach it is ours. Pods of the namespace are Grafana, the
 * adapter, the analyst and Prometheus itself (every scrape of this namespace's targets comes from it):
 * - Prometheus: its web port from the namespace and `prometheusClientNamespaces` (KEDA's Prometheus
 *   scaler); its config-reloader's from the namespace;
 * - Alertmanager: web and reloader from the namespace (Prometheus sends, Grafana reads); the mesh
 *   port from its own replicas only;
 * - Grafana and kube-state-metrics: from the namespace (Grafana is reached by port-forward, which no
 *   policy governs, or through an Ingress controller the operator admits with a policy of its own);
 * - the operator: its webhook port from anywhere, as the API server calls it from the control plane,
 *   which is no pod any selector could name;
 * - the admission jobs (certificate create and patch): from nobody, they serve nothing.
 * node-exporter runs on the host's network, where no NetworkPolicy applies (policy/exceptions.ts).
 */
export function monitoringNetworkPolicySpecs(args: MonitoringNetworkPolicyArgs): Record<string, PolicySpec> {
  const release = args.releaseName;
  const clients = args.prometheusClientNamespaces ?? [];
  clients.forEach((ns, i) => {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns))
      throw new InputPropertyError(
        `prometheusClientNamespaces[${i}]`,
        `expected a namespace name, got ${quote(ns)}`,
      );
  });
  const pods = (matchLabels: Record<string, string>) => ({ matchLabels });
  return {
    [`${release}-prometheus`]: {
      podSelector: pods({
        "app.kubernetes.io/name": "prometheus",
        "operator.prometheus.io/name": `${release}-prometheus`,
      }),
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [ownNamespace, ...(clients.length > 0 ? [namespaces(clients)] : [])],
          ports: tcp(PROMETHEUS_WEB),
        },
        { from: [ownNamespace], ports: tcp(RELOADER_WEB) },
      ],
    },
    [`${release}-alertmanager`]: {
      podSelector: pods({
        "app.kubernetes.io/name": "alertmanager",
        alertmanager: `${release}-alertmanager`,
      }),
      policyTypes: ["Ingress"],
      ingress: [
        { from: [ownNamespace], ports: tcp(ALERTMANAGER_WEB, RELOADER_WEB) },
        {
          from: [{ podSelector: pods({ alertmanager: `${release}-alertmanager` }) }],
          ports: [...tcp(ALERTMANAGER_MESH), { protocol: "UDP", port: ALERTMANAGER_MESH }],
        },
      ],
    },
    [`${release}-grafana`]: {
      podSelector: pods({ "app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": release }),
      policyTypes: ["Ingress"],
      ingress: [{ from: [ownNamespace], ports: tcp(GRAFANA_WEB) }],
    },
    [`${release}-kube-state-metrics`]: {
      podSelector: pods({
        "app.kubernetes.io/name": "kube-state-metrics",
        "app.kubernetes.io/instance": release,
      }),
      policyTypes: ["Ingress"],
      ingress: [{ from: [ownNamespace], ports: tcp(...KSM_PORTS) }],
    },
    [`${release}-operator`]: {
      podSelector: pods({ app: "kube-prometheus-stack-operator", release }),
      policyTypes: ["Ingress"],
      ingress: [{ ports: tcp(OPERATOR_WEB) }],
    },
    [`${release}-admission`]: {
      podSelector: {
        matchExpressions: [
          {
            key: "app",
            operator: "In",
            values: ["kube-prometheus-stack-admission-create", "kube-prometheus-stack-admission-patch"],
          },
        ],
        matchLabels: { release },
      },
      policyTypes: ["Ingress"],
      ingress: [],
    },
  };
}
