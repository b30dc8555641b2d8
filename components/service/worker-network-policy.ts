import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions } from "../shared/child-options";
import { namespaceIs } from "../shared/selectors";
import { queueClientEgress, type QueueStoreEndpoint } from "./queue-store-egress";
import { WEB_PORT_NAME } from "./service-tiers";

export type { QueueStoreEndpoint } from "./queue-store-egress";

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
          egress: queueClientEgress(args.queueStore, args.nodeLocalDns ?? false, args.extraEgress),
        },
      },
      childOptions(this, opts),
    );
    this.registerOutputs({});
  }
}
