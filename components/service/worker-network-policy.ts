import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions } from "../shared/child-options";
import { InputPropertyError, quote, requireInteger } from "../shared/errors";
import { dnsEgress, namespaceIs } from "../shared/selectors";
import { WEB_PORT_NAME } from "./service-tiers";

/** Where the worker pods reach the shared queue store. */
export type QueueStoreEndpoint =
  /** The in-cluster store (JobQueue): its pods, in the workers' namespace, on its port. */
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

/** Arguments of `WorkerNetworkPolicy`: the worker pods, who may scrape them, and the store they reach. */
export interface WorkerNetworkPolicyArgs {
  /** Namespace of the worker pods. */
  namespace: pulumi.Input<string>;
  /** Labels of the worker pods. */
  podSelector: Record<string, string>;
  /** Namespace of Prometheus, admitted to scrape `/metrics`. @default "monitoring" */
  monitoringNamespace?: string;
  /** The queue store the workers pull jobs from and write results to. */
  queueStore: QueueStoreEndpoint;
  /** Admit DNS to NodeLocal DNSCache (169.254.20.10) too. @default false */
  nodeLocalDns?: boolean;
  /**
   * More egress, e.g. a model hub the model server downloads weights from at start. @default [] (none:
   * a model server that downloads at start needs its hub listed here, or weights baked into its image)
   */
  extraEgress?: k8s.types.input.networking.v1.NetworkPolicyEgressRule[];
  /** Port name Prometheus scrapes. @default "web" */
  port?: string;
  /** Labels on the NetworkPolicy. @default {} */
  labels?: Record<string, string>;
}

/**
 * The worker tier's NetworkPolicy: nobody calls a worker, so the only ingress is Prometheus on the
 * metrics port; egress only to DNS and the queue store (the model server is on the pod's localhost,
 * which no policy governs). A compromised model image then cannot reach anything else.
 */
export class WorkerNetworkPolicy extends pulumi.ComponentResource {
  /** The NetworkPolicy object. */
  public readonly policy: k8s.networking.v1.NetworkPolicy;

  constructor(name: string, args: WorkerNetworkPolicyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:WorkerNetworkPolicy", name, {}, opts);
    const store = args.queueStore;
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
    if ("podSelector" in store && Object.keys(store.podSelector).length === 0) {
      throw new InputPropertyError(
        "queueStore.podSelector",
        `must name the store's pod labels (an empty selector admits every pod), got ${quote(store.podSelector)}`,
      );
    }
    this.policy = new k8s.networking.v1.NetworkPolicy(
      name,
      {
        metadata: { name, namespace: args.namespace, labels: args.labels },
        spec: {
          podSelector: { matchLabels: args.podSelector },
          policyTypes: ["Ingress", "Egress"],
          ingress: [
            {
              from: [
                {
                  ...namespaceIs([args.monitoringNamespace ?? "monitoring"]),
                  podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
                },
              ],
              ports: [{ protocol: "TCP", port: args.port ?? WEB_PORT_NAME }],
            },
          ],
          egress: [...dnsEgress(args.nodeLocalDns ?? false), storeEgress, ...(args.extraEgress ?? [])],
        },
      },
      childOptions(this, opts),
    );
    this.registerOutputs({});
  }
}
