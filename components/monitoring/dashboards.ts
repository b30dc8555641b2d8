import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions } from "../shared/child-options";
import { overviewDashboard, OverviewDashboardOptions } from "./overview-dashboard";

/** Arguments of `Dashboards`: the overview's options, and where Grafana's sidecar finds the ConfigMap. */
export interface DashboardsArgs extends OverviewDashboardOptions {
  /** Labels that make Grafana's sidecar load the ConfigMap. @default { grafana_dashboard: "1" } */
  sidecarLabels?: Record<string, string>;
  /** Extra labels on the ConfigMap. @default {} */
  labels?: Record<string, string>;
  /** `metadata.name` of the ConfigMap. @default "<prefix>-dashboards" */
  name?: string;
}

/**
 * Grafana dashboards of a service as a ConfigMap the kube-prometheus-stack Grafana sidecar provisions
 * (it watches every namespace for the `grafana_dashboard: "1"` label), so the team owns its dashboards
 * next to its service.
 */
export class Dashboards extends pulumi.ComponentResource {
  /** The ConfigMap holding the dashboard JSON. */
  public readonly configMapName: pulumi.Output<string>;
  /** Dashboard UIDs provisioned. */
  public readonly uids: string[];

  constructor(name: string, args: DashboardsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:Dashboards", name, {}, opts);
    const overview = overviewDashboard(args);
    this.uids = [overview.uid!];
    const configMap = new k8s.core.v1.ConfigMap(
      name,
      {
        metadata: {
          name: args.name ?? `${args.metricPrefix ?? "sonic"}-dashboards`,
          namespace: args.namespace,
          labels: { ...args.labels, ...(args.sidecarLabels ?? { grafana_dashboard: "1" }) },
        },
        data: { [`${overview.uid}.json`]: JSON.stringify(overview) },
      },
      childOptions(this, opts),
    );
    this.configMapName = configMap.metadata.name;
    this.registerOutputs({ configMapName: this.configMapName, uids: this.uids });
  }
}
