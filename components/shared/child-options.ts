import * as pulumi from "@pulumi/pulumi";

/**
 * Options for a component's children: parented to the component, and waiting for whatever the
 * component was told to wait for. Pulumi does not pass a component's `dependsOn` down to its children,
 * so without this a Role could be created before its namespace, or a ServiceMonitor before its CRD.
 */
export function childOptions(
  parent: pulumi.ComponentResource,
  opts: pulumi.ComponentResourceOptions | undefined,
  ...more: pulumi.Resource[]
): pulumi.CustomResourceOptions {
  const inherited = opts?.dependsOn;
  const list: pulumi.Input<pulumi.Resource>[] =
    inherited === undefined
      ? []
      : Array.isArray(inherited)
        ? [...inherited]
        : [inherited as pulumi.Input<pulumi.Resource>];
  return { parent, dependsOn: [...list, ...more] };
}
