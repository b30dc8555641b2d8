import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { InputPropertyError, quote, requireInteger } from "../shared/errors";
import { dnsEgress } from "../shared/selectors";

/** Where a tier's pods reach the shared queue store. */
export type QueueStoreEndpoint =
  /** The in-cluster store (JobQueue): its pods, in the clients' namespace, on its port. */
  | {
      /** Labels of the store's pods. */
      podSelector: Record<string, string>;
      /** The port clients connect to, by number or name. */
      port: number | string;
    }
  /**
   * A managed Redis outside the cluster: its ports, anywhere (its address is a secret, resolved by
   * DNS). `JobQueue.externalPorts` reads them from the URL.
   */
  | {
      /** Ports the managed Redis listens on. */
      ports: pulumi.Input<number[]>;
      /** Where it may be. @default "0.0.0.0/0" (anywhere) */
      cidr?: string;
    };

/**
 * The egress of a client of the queue store and nothing else: DNS (and NodeLocal DNSCache with
 * `nodeLocalDns`), then the store, then `extraEgress`. Both tiers' NetworkPolicies are built from it,
 * so the API and the workers reach the store the same way. Throws an {@link InputPropertyError} naming
 * `queueStore.podSelector` or `queueStore.ports[i]` for a store that would admit every pod or no port.
 */
export function queueClientEgress(
  store: QueueStoreEndpoint,
  nodeLocalDns: boolean,
  extraEgress: k8s.types.input.networking.v1.NetworkPolicyEgressRule[] = [],
): k8s.types.input.networking.v1.NetworkPolicyEgressRule[] {
  if ("podSelector" in store && Object.keys(store.podSelector).length === 0) {
    throw new InputPropertyError(
      "queueStore.podSelector",
      `must name the store's pod labels (an empty selector admits every pod), got ${quote(store.podSelector)}`,
    );
  }
  const tcpPorts = (ports: number[]) => {
    if (ports.length === 0)
      throw new InputPropertyError(
        "queueStore.ports",
        "must name at least one port of the managed Redis, got []",
      );
    ports.forEach((p, i) => requireInteger(`queueStore.ports[${i}]`, p, 1, 65535));
    return ports.map((port) => ({ protocol: "TCP", port }));
  };
  const storeEgress =
    "podSelector" in store
      ? {
          to: [{ podSelector: { matchLabels: store.podSelector } }],
          ports: [{ protocol: "TCP", port: store.port }],
        }
      : {
          to: [{ ipBlock: { cidr: store.cidr ?? "0.0.0.0/0" } }],
          // Known now: checked now; from a URL (an Output): checked once it resolves.
          ports: Array.isArray(store.ports)
            ? tcpPorts(store.ports)
            : pulumi.output(store.ports).apply(tcpPorts),
        };
  return [...dnsEgress(nodeLocalDns), storeEgress, ...extraEgress];
}
