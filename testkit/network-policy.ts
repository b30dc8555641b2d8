/**
 * Who may open a connection to whom under a set of NetworkPolicies, as the API defines it (ingress
 * only): a pod no Ingress policy selects takes every connection; a selected pod takes one when any
 * rule of any policy selecting it admits both the peer and the port. Peers: a `podSelector` alone is a
 * pod of the policy's namespace, a `namespaceSelector` alone every pod of those namespaces, both
 * together the pods matching both, an `ipBlock` no pod (pod traffic is matched by selectors here).
 */

/** A pod as the policies see it: its namespace, its labels and its containers' named ports. */
export interface PodIdentity {
  namespace: string;
  labels: Record<string, string>;
  /** Named container ports (`http` -> 8480), for rules that name a port. @default {} */
  ports?: Record<string, number>;
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Whether a label selector matches labels (an empty selector matches everything). */
export function selectorMatches(
  selector: LabelSelector | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    const ok =
      e.operator === "In"
        ? has && (e.values ?? []).includes(labels[e.key])
        : e.operator === "NotIn"
          ? !has || !(e.values ?? []).includes(labels[e.key])
          : e.operator === "Exists"
            ? has
            : e.operator === "DoesNotExist"
              ? !has
              : (() => {
                  throw new Error(`unknown selector operator ${e.operator}`);
                })();
    if (!ok) return false;
  }
  return true;
}

const namespaceLabels = (namespace: string) => ({ "kubernetes.io/metadata.name": namespace });

/** Whether `peer` may open a TCP connection to `target` on `port` under `policies` (NetworkPolicy bodies). */
export function ingressAdmits(
  policies: any[],
  target: PodIdentity,
  peer: PodIdentity,
  port: number,
): boolean {
  const selecting = policies.filter(
    (p) =>
      p.metadata.namespace === target.namespace &&
      (p.spec.policyTypes ?? ["Ingress"]).includes("Ingress") &&
      selectorMatches(p.spec.podSelector, target.labels),
  );
  if (selecting.length === 0) return true;
  return selecting.some((p) =>
    (p.spec.ingress ?? []).some((rule: any) => {
      const peerOk =
        !rule.from ||
        rule.from.length === 0 ||
        rule.from.some((f: any) => {
          if (f.ipBlock) return false;
          const nsOk = f.namespaceSelector
            ? selectorMatches(f.namespaceSelector, namespaceLabels(peer.namespace))
            : peer.namespace === p.metadata.namespace;
          return nsOk && (!f.podSelector || selectorMatches(f.podSelector, peer.labels));
        });
      const portOk =
        !rule.ports ||
        rule.ports.length === 0 ||
        rule.ports.some(
          (r: any) =>
            (r.protocol ?? "TCP") === "TCP" &&
            (r.port === undefined ||
              r.port === port ||
              (typeof r.port === "string" && target.ports?.[r.port] === port)),
        );
      return peerOk && portOk;
    }),
  );
}
