/** Label selectors more than one component writes. */

/** Labels kube-prometheus-stack's Prometheus selects ServiceMonitors and PrometheusRules by (its release name). */
export const DEFAULT_PROMETHEUS_SELECTOR: Record<string, string> = { release: "prometheus-stack" };

/** A NetworkPolicy peer matching namespaces by name (the label every namespace carries since 1.22). */
export function namespaceIs(names: string[]) {
  return {
    namespaceSelector: {
      matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: names }],
    },
  };
}

/** NodeLocal DNSCache's link-local address (the node-local-dns add-on's default). */
export const NODE_LOCAL_DNS_IP = "169.254.20.10";

/**
 * Egress rules for DNS: the cluster DNS pods in kube-system, and with `nodeLocalDns` the node-local
 * cache, which answers from the host network (no pod selector can match it).
 */
export function dnsEgress(nodeLocalDns: boolean) {
  const ports = [
    { protocol: "UDP", port: 53 },
    { protocol: "TCP", port: 53 },
  ];
  return [
    { to: [namespaceIs(["kube-system"])], ports },
    ...(nodeLocalDns ? [{ to: [{ ipBlock: { cidr: `${NODE_LOCAL_DNS_IP}/32` } }], ports }] : []),
  ];
}
