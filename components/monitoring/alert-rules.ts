import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions } from "../shared/child-options";
import type { RuleGroup } from "../rules";

/** Arguments of `AlertRules`: the rule groups and the labels Prometheus selects them by. */
export interface AlertRulesArgs {
  /** Namespace of the PrometheusRule (the service's own namespace, so its team owns it). */
  namespace: string;
  /** Rule groups, usually `ruleCatalogue(...)`. */
  groups: RuleGroup[];
  /** Labels of the PrometheusRule; must match the Prometheus `ruleSelector`. */
  labels: Record<string, string>;
  /** `metadata.name`. @default the resource name */
  name?: string;
}

/** A prometheus-operator PrometheusRule holding a rule catalogue. Depend it on the monitoring release (CRDs). */
export class AlertRules extends pulumi.ComponentResource {
  /** `metadata.name` of the PrometheusRule. */
  public readonly name: pulumi.Output<string>;
  /** The PrometheusRule object. */
  public readonly resource: k8s.apiextensions.CustomResource;

  constructor(name: string, args: AlertRulesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:AlertRules", name, {}, opts);
    this.resource = new k8s.apiextensions.CustomResource(
      name,
      {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "PrometheusRule",
        metadata: { name: args.name ?? name, namespace: args.namespace, labels: args.labels },
        spec: { groups: args.groups },
      },
      childOptions(this, opts),
    );
    this.name = this.resource.metadata.name;
    this.registerOutputs({ name: this.name });
  }
}
