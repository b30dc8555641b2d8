import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions } from "../shared/child-options";

/** Arguments of `TeamMonitoringAccess`: the team's namespace and group. */
export interface TeamMonitoringAccessArgs {
  /** The team's namespace: the only place the binding grants anything. */
  namespace: pulumi.Input<string>;
  /** Identity-provider group of the team (a Kubernetes RBAC `Group` subject). */
  group: string;
  /** Labels on the Role and RoleBinding. @default {} */
  labels?: Record<string, string>;
}

/**
 * Lets a team manage ServiceMonitors, PodMonitors and PrometheusRules in its own namespace only: a
 * namespaced Role, so the article's "each team scrapes only its own services" is enforced, not hoped.
 */
export class TeamMonitoringAccess extends pulumi.ComponentResource {
  constructor(name: string, args: TeamMonitoringAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:TeamMonitoringAccess", name, {}, opts);
    const role = new k8s.rbac.v1.Role(
      name,
      {
        metadata: { name: "monitoring-editor", namespace: args.namespace, labels: args.labels },
        rules: [
          {
            apiGroups: ["monitoring.coreos.com"],
            resources: ["servicemonitors", "podmonitors", "prometheusrules"],
            verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
          },
        ],
      },
      childOptions(this, opts),
    );
    new k8s.rbac.v1.RoleBinding(
      name,
      {
        metadata: { name: "monitoring-editor", namespace: args.namespace, labels: args.labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: args.group }],
      },
      childOptions(this, opts),
    );
    this.registerOutputs({});
  }
}
