import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CHART_PINS, chartSource } from "../shared/chart-pins";
import { childOptions } from "../shared/child-options";
import { parseDuration } from "../shared/durations";
import { InputPropertyError, quote, requireInteger } from "../shared/errors";
import type { ContainerResources } from "../service/tier-args";
import { FleetSpread, VM_SECURITY, vmSpread } from "./global-store";
import type { RuleGroup } from "../rules/types";

/** Arguments of `FleetRuler`: the store it evaluates over, its rules and where alerts go. */
export interface FleetRulerArgs {
  /** Namespace of the ruler (the store's). */
  namespace: string;
  /** Helm release name. @default the resource name */
  releaseName?: string;
  /** victoria-metrics-alert chart version. @default `CHART_PINS.victoriaMetricsAlert.version` (the pinned version) */
  chartVersion?: string;
  /**
   * Where the chart is fetched from: a mirror for air-gapped networks, either a Helm repository
   * (`https://charts.example.com`: ChartMuseum, Artifactory, Harbor) or an OCI registry
   * (`oci://registry.example.com/charts`, holding the chart at `<that>/<chart>`). See `chartSource`.
   * @default `CHART_PINS.victoriaMetricsAlert.repository` (the chart's public repository)
   */
  chartRepository?: string;
  /** PromQL endpoint of the tenant whose series the rules read (`GlobalStore.queryUrls[tenant]`). */
  queryUrl: pulumi.Input<string>;
  /** Alertmanager the fleet's alerts go to, e.g. the fleet cluster's own `http://prometheus-stack-alertmanager.monitoring.svc:9093`. */
  alertmanagerUrl: string;
  /** The rules, usually `fleetRules(...)`. */
  groups: RuleGroup[];
  /** How often every group is evaluated (the "one evaluation" of time-to-page). @default "30s" */
  evaluationInterval?: string;
  /** vmalert replicas; both evaluate and notify, Alertmanager deduplicates. @default 2 */
  replicas?: number;
  /** Requests and limits of vmalert's container. @default none (BestEffort; the fleet stack requires them) */
  resources?: ContainerResources;
  /** Spread of the replicas (nodes always, zones on request). @default { zones: false } */
  spread?: FleetSpread;
  /** Labels on every object. @default {} */
  labels?: Record<string, string>;
}

/** Helm values of victoria-metrics-alert: the rules as the chart's rule ConfigMap, the store as data source. */
export function fleetRulerValues(
  args: FleetRulerArgs,
  releaseName: string,
  queryUrl: string,
): Record<string, unknown> {
  const replicas = args.replicas ?? 2;
  return {
    fullnameOverride: releaseName,
    global: { extraLabels: args.labels ?? {} },
    server: {
      ...VM_SECURITY,
      replicaCount: replicas,
      ...(args.resources ? { resources: args.resources } : {}),
      topologySpreadConstraints: vmSpread(replicas, args.spread),
      datasource: { url: queryUrl },
      notifier: { url: args.alertmanagerUrl },
      extraArgs: { evaluationInterval: args.evaluationInterval ?? "30s" },
      podDisruptionBudget: { enabled: replicas > 1, minAvailable: 1 },
      config: { alerts: { groups: args.groups } },
    },
  };
}

/**
 * The fleet's ruler: vmalert from its upstream chart, evaluating the fleet rules over one tenant of the
 * global store and notifying an Alertmanager. It pages when a whole cluster is gone, which no
 * in-cluster rule can do.
 */
export class FleetRuler extends pulumi.ComponentResource {
  /** The Helm release (vmalert). */
  public readonly release: k8s.helm.v3.Release;

  constructor(name: string, args: FleetRulerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:FleetRuler", name, {}, opts);
    const pin = CHART_PINS.victoriaMetricsAlert;
    const source = chartSource(pin.chart, pin.repository, args.chartRepository);
    if (!/^https?:\/\/[^\s]+$/.test(args.alertmanagerUrl))
      throw new InputPropertyError(
        "alertmanagerUrl",
        `expected an http(s) URL, got ${quote(args.alertmanagerUrl)}`,
      );
    if (args.groups.length === 0)
      throw new InputPropertyError("groups", "expected at least one rule group, got []");
    parseDuration("evaluationInterval", args.evaluationInterval ?? "30s");
    requireInteger("replicas", args.replicas ?? 2, 1);
    const releaseName = args.releaseName ?? name;
    this.release = new k8s.helm.v3.Release(
      name,
      {
        name: releaseName,
        namespace: args.namespace,
        ...source,
        version: args.chartVersion ?? pin.version,
        values: pulumi.output(args.queryUrl).apply((url) => fleetRulerValues(args, releaseName, url)),
        cleanupOnFail: true,
      },
      childOptions(this, opts),
    );
    this.registerOutputs({});
  }
}
