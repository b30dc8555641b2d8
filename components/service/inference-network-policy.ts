import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { namespaceIs } from "../shared/selectors";
import { childOptions } from "../shared/child-options";
import { InputPropertyError, quote } from "../shared/errors";
import { queueClientEgress, type QueueStoreEndpoint } from "./queue-store-egress";
import { WEB_PORT_NAME } from "./service-tiers";

/** Arguments of `InferenceNetworkPolicy`: the pods it protects, who may call them, and what they may reach. */
export interface InferenceNetworkPolicyArgs {
  /** Namespace of the service. */
  namespace: pulumi.Input<string>;
  /** Labels of the pods to protect. */
  podSelector: Record<string, string>;
  /** Namespace of Prometheus, admitted to scrape `/metrics`. @default "monitoring" */
  monitoringNamespace?: string;
  /** Namespaces of the API's clients (or of the ingress controller), admitted to call the API. */
  clientNamespaces: string[];
  /**
   * The queue store the API enqueues jobs in and reads them back from: with it the policy also covers
   * Egress, and lets the pods out only to DNS and this store (what the API really dials: its only
   * client is the store's, app/queue), plus `extraEgress`. The API tier is the one that parses untrusted
   * uploads; a parser exploit then reaches nothing else.
   * @default none: egress is left open (Ingress only), as before this option existed
   */
  queueStore?: QueueStoreEndpoint;
  /** With `queueStore`: admit DNS to NodeLocal DNSCache (169.254.20.10) too. @default false */
  nodeLocalDns?: boolean;
  /** With `queueStore`: more egress, e.g. a service another team's API calls out to. @default [] */
  extraEgress?: k8s.types.input.networking.v1.NetworkPolicyEgressRule[];
  /** Port name admitted. The API and `/metrics` share it. @default "web" */
  port?: string;
  /** Labels on the NetworkPolicy. @default {} */
  labels?: Record<string, string>;
}

/**
 * Admits Prometheus and the configured API clients to the service's port, and nothing else; with
 * `queueStore`, lets the pods out only to DNS and the queue store (as `WorkerNetworkPolicy` does). Because
 * the API and `/metrics` share one port, a client namespace can also read `/metrics`: keep the client
 * list to the ingress controller or gateway namespaces.
 */
export class InferenceNetworkPolicy extends pulumi.ComponentResource {
  /** The NetworkPolicy object. */
  public readonly policy: k8s.networking.v1.NetworkPolicy;

  constructor(name: string, args: InferenceNetworkPolicyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:InferenceNetworkPolicy", name, {}, opts);
    if (args.clientNamespaces.length === 0) {
      throw new InputPropertyError(
        "clientNamespaces",
        "must name at least one namespace (an API nobody may call), got []",
      );
    }
    // Egress options without the store would read as a lockdown that is not there.
    for (const key of ["nodeLocalDns", "extraEgress"] as const) {
      if (args.queueStore === undefined && args[key] !== undefined)
        throw new InputPropertyError(
          key,
          `locks nothing down without 'queueStore' (egress stays open): set 'queueStore' too, got ${quote(args[key])}`,
        );
    }
    const port = [{ protocol: "TCP", port: args.port ?? WEB_PORT_NAME }];
    this.policy = new k8s.networking.v1.NetworkPolicy(
      name,
      {
        metadata: { name, namespace: args.namespace, labels: args.labels },
        spec: {
          podSelector: { matchLabels: args.podSelector },
          policyTypes: args.queueStore ? ["Ingress", "Egress"] : ["Ingress"],
          ingress: [
            {
              from: [
                {
                  ...namespaceIs([args.monitoringNamespace ?? "monitoring"]),
                  podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
                },
              ],
              ports: port,
            },
            { from: [namespaceIs(args.clientNamespaces)], ports: port },
          ],
          ...(args.queueStore
            ? { egress: queueClientEgress(args.queueStore, args.nodeLocalDns ?? false, args.extraEgress) }
            : {}),
        },
      },
      childOptions(this, opts),
    );
    this.registerOutputs({});
  }
}
