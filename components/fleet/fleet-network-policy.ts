import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions } from "../shared/child-options";
import { InputPropertyError, quote } from "../shared/errors";

/** vmauth's port: the store's only entry from outside the namespace. */
export const VMAUTH_PORT = 8427;
const INSERT_PORT = 8480;
const SELECT_PORT = 8481;
/** vmstorage's ports for vminsert (writes) and vmselect (reads). */
const STORAGE_INSERT_PORT = 8400;
const STORAGE_SELECT_PORT = 8401;

/**
 * Labels the victoria-metrics-cluster chart puts on a component's pods (`vm.selectorLabels`): the
 * release as `app.kubernetes.io/instance`, the component as `app`.
 */
export function storePodLabels(
  storeRelease: string,
  component: "vmauth" | "vminsert" | "vmselect" | "vmstorage",
): Record<string, string> {
  return { "app.kubernetes.io/instance": storeRelease, app: component };
}

/** Labels the victoria-metrics-alert chart puts on vmalert's pods (every ruler of the namespace). */
export const RULER_POD_LABELS: Record<string, string> = {
  "app.kubernetes.io/name": "victoria-metrics-alert",
  app: "server",
};

/** Labels the grafana chart puts on Grafana's pods. */
export function grafanaPodLabels(grafanaRelease: string): Record<string, string> {
  return { "app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": grafanaRelease };
}

/** Arguments of `FleetNetworkPolicies`: the namespace and the releases whose pods they select. */
export interface FleetNetworkPoliciesArgs {
  /** Namespace of the store, its rulers and Grafana. */
  namespace: pulumi.Input<string>;
  /** The store's Helm release name (`GlobalStoreArgs.releaseName`). @default "fleet-store" */
  storeRelease?: string;
  /** Grafana's Helm release name (`FleetGrafanaArgs.releaseName`). @default "fleet-grafana" */
  grafanaRelease?: string;
  /** Labels on the NetworkPolicies. @default {} */
  labels?: Record<string, string>;
}

type PolicySpec = k8s.types.input.networking.v1.NetworkPolicySpec;
const fromPods = (matchLabels: Record<string, string>) => ({ podSelector: { matchLabels } });
const tcp = (port: number) => [{ protocol: "TCP", port }];

/**
 * The fleet namespace's NetworkPolicies, by name (Ingress only: the store's pods dial only each other,
 * DNS and the Alertmanager the ruler notifies, and Grafana nothing but vmselect, so ingress alone keeps
 * every tenant's data behind vmauth):
 * - vmauth: its port, from anywhere (the Ingress controller, or a port-forward);
 * - vminsert: from vmauth only, so every write carries a cluster's password and tenant header;
 * - vmselect: from vmauth, the rulers and Grafana;
 * - vmstorage: its insert port from vminsert, its select port from vmselect;
 * - the rulers and Grafana: from nobody (Grafana by port-forward, which no policy governs).
 * A peer without a namespace selector is a pod of this namespace only.
 */
export function fleetNetworkPolicySpecs(
  args: Pick<FleetNetworkPoliciesArgs, "storeRelease" | "grafanaRelease">,
): Record<string, PolicySpec> {
  const store = args.storeRelease ?? "fleet-store";
  const grafana = args.grafanaRelease ?? "fleet-grafana";
  for (const [key, value] of [
    ["storeRelease", store],
    ["grafanaRelease", grafana],
  ] as const)
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value))
      throw new InputPropertyError(key, `expected a Helm release name, got ${quote(value)}`);
  const pods = (matchLabels: Record<string, string>) => ({ matchLabels });
  return {
    [`${store}-vmauth`]: {
      podSelector: pods(storePodLabels(store, "vmauth")),
      policyTypes: ["Ingress"],
      ingress: [{ ports: tcp(VMAUTH_PORT) }],
    },
    [`${store}-vminsert`]: {
      podSelector: pods(storePodLabels(store, "vminsert")),
      policyTypes: ["Ingress"],
      ingress: [{ from: [fromPods(storePodLabels(store, "vmauth"))], ports: tcp(INSERT_PORT) }],
    },
    [`${store}-vmselect`]: {
      podSelector: pods(storePodLabels(store, "vmselect")),
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [
            fromPods(storePodLabels(store, "vmauth")),
            fromPods(RULER_POD_LABELS),
            fromPods(grafanaPodLabels(grafana)),
          ],
          ports: tcp(SELECT_PORT),
        },
      ],
    },
    [`${store}-vmstorage`]: {
      podSelector: pods(storePodLabels(store, "vmstorage")),
      policyTypes: ["Ingress"],
      ingress: [
        { from: [fromPods(storePodLabels(store, "vminsert"))], ports: tcp(STORAGE_INSERT_PORT) },
        { from: [fromPods(storePodLabels(store, "vmselect"))], ports: tcp(STORAGE_SELECT_PORT) },
      ],
    },
    "fleet-ruler": { podSelector: pods(RULER_POD_LABELS), policyTypes: ["Ingress"], ingress: [] },
    [grafana]: { podSelector: pods(grafanaPodLabels(grafana)), policyTypes: ["Ingress"], ingress: [] },
  };
}

/**
 * One NetworkPolicy per component of the fleet namespace (`fleetNetworkPolicySpecs`): only vmauth is
 * reachable from outside it, so no pod can write or read a tenant's series without vmauth's credentials
 * except the rulers and Grafana, which read by design.
 */
export class FleetNetworkPolicies extends pulumi.ComponentResource {
  /** The NetworkPolicies, by name. */
  public readonly policies: Record<string, k8s.networking.v1.NetworkPolicy>;

  constructor(name: string, args: FleetNetworkPoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:FleetNetworkPolicies", name, {}, opts);
    const specs = fleetNetworkPolicySpecs(args);
    this.policies = Object.fromEntries(
      Object.entries(specs).map(([policyName, spec]) => [
        policyName,
        new k8s.networking.v1.NetworkPolicy(
          policyName,
          { metadata: { name: policyName, namespace: args.namespace, labels: args.labels }, spec },
          childOptions(this, opts),
        ),
      ]),
    );
    this.registerOutputs({});
  }
}
