import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { podSecurityLabels } from "./pod-hardening";

/**
 * A namespace whose every pod must meet the `restricted` Pod Security Standard (enforced, warned and
 * audited): what a component creates for workloads that need no host access.
 */
export function restrictedNamespace(
  name: string,
  namespace: pulumi.Input<string>,
  labels: Record<string, string> | undefined,
  opts: pulumi.CustomResourceOptions,
): k8s.core.v1.Namespace {
  return new k8s.core.v1.Namespace(
    name,
    { metadata: { name: namespace, labels: { ...labels, ...podSecurityLabels("restricted") } } },
    opts,
  );
}
