/**
 * Who may open a connection to whom under a set of NetworkPolicies, as the API defines it. Ingress: a
 * pod no Ingress policy selects takes every connection; a selected pod takes one when any rule of any
 * policy selecting it admits both the peer and the port. Peers: a `podSelector` alone is a pod of the
 * policy's namespace, a `namespaceSelector` alone every pod of those namespaces, both together the pods
 * matching both, an `ipBlock` no pod (pod traffic is matched by selectors here). Egress, the mirror
 * image: a pod no Egress policy selects may dial anything; a selected pod may dial what a rule admits,
 * and an `ipBlock` there matches any address in it, pods' included (CNIs differ on pod addresses: the
 * wider reading is the one that cannot hide a hole).
 */

/** A pod as the policies see it: its namespace, its labels and its containers' named ports. */
export interface PodIdentity {
  namespace: string;
  labels: Record<string, string>;
  /** Named container ports (`http` -> 8480), for rules that name a port. @default {} */
  ports?: Record<string, number>;
  /** Its IPv4 address, for egress `ipBlock`s. @default none (no ipBlock matches it) */
  ip?: string;
}

/** An address outside the cluster (a managed Redis, the internet, a link-local cache): no pod, no policy. */
export interface ExternalAddress {
  ip: string;
}

/** Where a connection goes: a pod, or an address outside the cluster. */
export type Destination = PodIdentity | ExternalAddress;

const isPod = (d: Destination): d is PodIdentity => "namespace" in d;

/** Whether an IPv4 address is in a CIDR (`10.0.0.0/8`). */
export function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split("/");
  const n = (a: string) => a.split(".").reduce((v, o) => v * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits ?? 32));
  return Math.floor(n(ip) / size) === Math.floor(n(base) / size);
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

/** Whether `peer` may open a connection to `target` on `port` under `policies` (NetworkPolicy bodies). */
export function ingressAdmits(
  policies: any[],
  target: PodIdentity,
  peer: PodIdentity,
  port: number,
  protocol = "TCP",
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
      const portOk = portAdmits(rule.ports, port, protocol, target.ports);
      return peerOk && portOk;
    }),
  );
}

/** Whether a rule's `ports` admit `port` over `protocol` (a named port resolved on the destination pod). */
function portAdmits(
  ports: any[] | undefined,
  port: number,
  protocol: string,
  named: Record<string, number> = {},
): boolean {
  return (
    !ports ||
    ports.length === 0 ||
    ports.some(
      (r: any) =>
        (r.protocol ?? "TCP") === protocol &&
        (r.port === undefined || r.port === port || (typeof r.port === "string" && named[r.port] === port)),
    )
  );
}

/**
 * Whether `source` may dial `destination` on `port` under the Egress policies selecting it (its own
 * side of the connection only: see `connectionAdmitted` for both sides).
 */
export function egressAdmits(
  policies: any[],
  source: PodIdentity,
  destination: Destination,
  port: number,
  protocol = "TCP",
): boolean {
  const selecting = policies.filter(
    (p) =>
      p.metadata.namespace === source.namespace &&
      (p.spec.policyTypes ?? (p.spec.egress?.length ? ["Ingress", "Egress"] : ["Ingress"])).includes(
        "Egress",
      ) &&
      selectorMatches(p.spec.podSelector, source.labels),
  );
  if (selecting.length === 0) return true;
  return selecting.some((p) =>
    (p.spec.egress ?? []).some((rule: any) => {
      const peerOk =
        !rule.to ||
        rule.to.length === 0 ||
        rule.to.some((t: any) => {
          if (t.ipBlock)
            return (
              destination.ip !== undefined &&
              inCidr(destination.ip, t.ipBlock.cidr) &&
              !(t.ipBlock.except ?? []).some((e: string) => inCidr(destination.ip!, e))
            );
          if (!isPod(destination)) return false;
          const nsOk = t.namespaceSelector
            ? selectorMatches(t.namespaceSelector, namespaceLabels(destination.namespace))
            : destination.namespace === p.metadata.namespace;
          return nsOk && (!t.podSelector || selectorMatches(t.podSelector, destination.labels));
        });
      return peerOk && portAdmits(rule.ports, port, protocol, isPod(destination) ? destination.ports : {});
    }),
  );
}

/**
 * Whether a connection from `source` to `destination` on `port` gets through: the source's egress
 * admits it and, for a pod, the destination's ingress too.
 */
export function connectionAdmitted(
  policies: any[],
  source: PodIdentity,
  destination: Destination,
  port: number,
  protocol = "TCP",
): boolean {
  return (
    egressAdmits(policies, source, destination, port, protocol) &&
    (!isPod(destination) || protocol !== "TCP" || ingressAdmits(policies, destination, source, port))
  );
}
