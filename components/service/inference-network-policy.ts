import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { namespaceIs } from "../shared/selectors";
import { childOptions } from "../shared/child-options";
import { InputPropertyError } from "../shared/errors";
import { WEB_PORT_NAME } from "./service-tiers";

/** Arguments of `InferenceNetworkPolicy`: the pods it protects and who may call them. */
export interface InferenceNetworkPolicyArgs {
  /** Namespace of the service. */
  namespace: pulumi.Input<string>;
  /** Labels of the pods to protect. */
  podSelector: Record<string, string>;
  /** Namespace of Prometheus, admitted to scrape `/metrics`. @default "monitoring" */
  monitoringNamespace?: string;
  /** Namespaces of the API's clients (or of the ingress controller), admitted to call the API. */
  clientNamespaces: string[];
  /** Port name admitted. The API and `/metrics` share it. @default "web" */
  port?: string;
  /** Labels on the NetworkPolicy. @default {} */
  labels?: Record<string, string>;
}

/**
 * Admits Prometheus and the configured API clients to the service's port, and nothing else. Because
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
    const port = [{ protocol: "TCP", port: args.port ?? WEB_PORT_NAME }];
    this.policy = new k8s.networking.v1.NetworkPolicy(
      name,
      {
        metadata: { name, namespace: args.namespace, labels: args.labels },
        spec: {
          podSelector: { matchLabels: args.podSelector },
          policyTypes: ["Ingress"],
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
        },
      },
      childOptions(this, opts),
    );
    this.registerOutputs({});
  }
}
