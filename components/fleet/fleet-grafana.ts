import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CHART_PINS, chartSource } from "../shared/chart-pins";
import { childOptions } from "../shared/child-options";
import { parseDuration } from "../shared/durations";
import { InputPropertyError } from "../shared/errors";
import { fleetDashboard, FleetDashboardOptions } from "./fleet-dashboard";
import type { ContainerResources } from "../service/tier-args";
import { GRAFANA_STARTUP_PROBE } from "../shared/grafana-startup-probe";

/** Arguments of `FleetGrafana`: the tenants it reads, the dashboard, its chart and admin. */
export interface FleetGrafanaArgs {
  /** Namespace (the store's). */
  namespace: string;
  /** Helm release name; also the Grafana objects' names. @default "fleet-grafana" */
  releaseName?: string;
  /** grafana chart version (grafana-community). @default `CHART_PINS.grafana.version` (the pinned version) */
  chartVersion?: string;
  /**
   * Where the chart is fetched from: a mirror for air-gapped networks, either a Helm repository
   * (`https://charts.example.com`: ChartMuseum, Artifactory, Harbor) or an OCI registry
   * (`oci://registry.example.com/charts`, holding the chart at `<that>/<chart>`). See `chartSource`.
   * @default `CHART_PINS.grafana.repository` (the chart's public repository)
   */
  chartRepository?: string;
  /** One data source per tenant: tenant -> PromQL URL (`GlobalStore.queryUrls`). The first is the default. */
  queryUrls: Record<string, string>;
  /** The clusters' scrape interval (Grafana's minimum step on these data sources). @default "15s" */
  scrapeInterval?: string;
  /** Admin password (a Pulumi secret), stored in a Secret the chart reads. */
  adminPassword: pulumi.Input<string>;
  /** Dashboards: one fleet dashboard per service. @default [{ namespace: "ai-inference", hpaName: "sonic-generate-worker" }] */
  dashboards?: FleetDashboardOptions[];
  /**
   * Requests and limits of Grafana's container and of its dashboard sidecar. One replica: nothing to
   * spread. @default none (BestEffort; the fleet stack requires them)
   */
  resources?: {
    /** The grafana container. */
    grafana?: ContainerResources;
    /** The sidecar that loads the dashboards' ConfigMaps. */
    sidecar?: ContainerResources;
  };
  /** Labels on every object. @default {} */
  labels?: Record<string, string>;
}

/** The data source provisioning file: the store's tenants as Prometheus data sources. */
export function fleetDatasources(queryUrls: Record<string, string>, scrapeInterval: string) {
  return {
    apiVersion: 1,
    datasources: Object.entries(queryUrls).map(([tenant, url], i) => ({
      name: `Fleet (${tenant})`,
      uid: `fleet-${tenant}`,
      type: "prometheus",
      access: "proxy",
      url,
      isDefault: i === 0,
      jsonData: { timeInterval: scrapeInterval, prometheusType: "Prometheus" },
    })),
  };
}

/**
 * The fleet's Grafana, from the upstream grafana chart: the global store's tenants as data sources and
 * the fleet dashboards as code (a ConfigMap its sidecar loads from this namespace).
 */
export class FleetGrafana extends pulumi.ComponentResource {
  /** The Helm release. */
  public readonly release: k8s.helm.v3.Release;
  /** Grafana's Service. */
  public readonly serviceName: pulumi.Output<string>;
  /** Provisioned dashboard uids. */
  public readonly uids: string[];

  constructor(name: string, args: FleetGrafanaArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:FleetGrafana", name, {}, opts);
    const pin = CHART_PINS.grafana;
    const source = chartSource(pin.chart, pin.repository, args.chartRepository);
    if (Object.keys(args.queryUrls).length === 0)
      throw new InputPropertyError("queryUrls", "expected at least one tenant's URL, got {}");
    const scrapeInterval = args.scrapeInterval ?? "15s";
    parseDuration("scrapeInterval", scrapeInterval);
    const releaseName = args.releaseName ?? "fleet-grafana";
    const labels = args.labels ?? {};
    const adminSecret = new k8s.core.v1.Secret(
      `${name}-admin`,
      {
        metadata: { name: `${releaseName}-admin`, namespace: args.namespace, labels },
        stringData: { "admin-user": "admin", "admin-password": pulumi.secret(args.adminPassword) },
      },
      childOptions(this, opts),
    );
    const boards = (args.dashboards ?? [{ namespace: "ai-inference", hpaName: "sonic-generate-worker" }]).map(
      fleetDashboard,
    );
    this.uids = boards.map((b) => b.uid!);
    const dashboards = new k8s.core.v1.ConfigMap(
      `${name}-dashboards`,
      {
        metadata: {
          name: `${releaseName}-dashboards`,
          namespace: args.namespace,
          labels: { ...labels, grafana_dashboard: "1" },
        },
        data: Object.fromEntries(boards.map((b) => [`${b.uid}.json`, JSON.stringify(b)])),
      },
      childOptions(this, opts),
    );
    this.release = new k8s.helm.v3.Release(
      name,
      {
        name: releaseName,
        namespace: args.namespace,
        ...source,
        version: args.chartVersion ?? pin.version,
        values: {
          fullnameOverride: releaseName,
          extraLabels: labels,
          admin: {
            existingSecret: `${releaseName}-admin`,
            userKey: "admin-user",
            passwordKey: "admin-password",
          },
          datasources: { "datasources.yaml": fleetDatasources(args.queryUrls, scrapeInterval) },
          ...(args.resources?.grafana ? { resources: args.resources.grafana } : {}),
          startupProbe: GRAFANA_STARTUP_PROBE,
          sidecar: {
            ...(args.resources?.sidecar ? { resources: args.resources.sidecar } : {}),
            dashboards: { enabled: true, label: "grafana_dashboard", labelValue: "1" },
          },
        },
        cleanupOnFail: true,
      },
      childOptions(this, opts, adminSecret, dashboards),
    );
    this.serviceName = pulumi.output(releaseName);
    this.registerOutputs({ serviceName: this.serviceName, uids: this.uids });
  }
}
