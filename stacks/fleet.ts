import * as random from "@pulumi/random";
import * as pulumi from "@pulumi/pulumi";
import { FleetGrafana, FleetNetworkPolicies, FleetRuler, fleetRules, GlobalStore } from "../components";
import { chartRepositoryOf } from "./config";
import { loadFleetConfig } from "./fleet-config";

// The fleet stack: the global store every cluster stack writes to, its ruler and its Grafana.
const config = loadFleetConfig();
const f = config.fleet;
const labels = { team: config.labels.team, service: config.labels.service, env: config.env };

// One generated password per cluster; the cluster's team copies it into its own stack's
// `remoteWritePassword` (docs/fleet.md, 'Adding a cluster to the fleet').
const passwords = Object.fromEntries(
  f.clusters.map((c) => [
    c.name,
    new random.RandomPassword(`write-password-${c.name}`, { length: 32, special: false }).result,
  ]),
);

const store = new GlobalStore("fleet-store", {
  namespace: f.namespace,
  tenants: f.tenants,
  clusters: f.clusters,
  writePasswords: passwords,
  retention: f.retention,
  dedupInterval: f.dedupInterval,
  storage: f.storage,
  replicas: f.replicas,
  replicationFactor: f.replicationFactor,
  resources: {
    storage: f.resources.storage,
    insert: f.resources.insert,
    select: f.resources.select,
    auth: f.resources.auth,
  },
  spread: { zones: f.spreadAcrossZones },
  ingress: f.ingress,
  chartRepository: chartRepositoryOf(config.charts, "victoria-metrics-cluster"),
  labels,
});

// One ruler per tenant that has clusters: it only sees its own tenant's series.
const tenantsInUse = [...new Set(f.clusters.map((c) => c.tenant))];
for (const tenant of tenantsInUse) {
  new FleetRuler(
    `fleet-ruler-${tenant}`,
    {
      namespace: f.namespace,
      queryUrl: store.queryUrls[tenant],
      alertmanagerUrl: f.alertmanagerUrl,
      evaluationInterval: f.evaluationInterval,
      resources: f.resources.ruler,
      spread: { zones: f.spreadAcrossZones },
      chartRepository: chartRepositoryOf(config.charts, "victoria-metrics-alert"),
      groups: fleetRules({
        clusters: f.clusters.filter((c) => c.tenant === tenant).map((c) => c.name),
        services: f.services.map((s) => s.metricPrefix),
        thresholds: f.thresholds,
        runbookBaseUrl: f.runbookBaseUrl,
      }),
      labels,
    },
    { dependsOn: [store.namespaceResource] },
  );
}

const grafana = new FleetGrafana(
  "fleet-grafana",
  {
    namespace: f.namespace,
    queryUrls: Object.fromEntries(tenantsInUse.map((t) => [t, store.queryUrls[t]])),
    scrapeInterval: f.dedupInterval,
    resources: { grafana: f.resources.grafana, sidecar: f.resources.grafanaSidecar },
    chartRepository: chartRepositoryOf(config.charts, "grafana"),
    adminPassword:
      config.secrets.grafanaAdminPassword ??
      new random.RandomPassword("fleet-grafana-admin-password", { length: 24, special: false }).result,
    dashboards: f.services.map((s) => ({
      metricPrefix: s.metricPrefix,
      namespace: s.namespace,
      hpaName: s.hpaName,
    })),
    labels,
  },
  { dependsOn: [store.namespaceResource] },
);

// Only vmauth is reachable from outside the namespace; vminsert, vmselect and vmstorage only from their callers.
new FleetNetworkPolicies(
  "fleet-network-policies",
  { namespace: f.namespace, labels },
  { dependsOn: [store.namespaceResource] },
);

export const fleetNamespace = store.namespace;
/** What every cluster stack sets as `prometheus.remoteWrite.url` (with its tenant and user). */
export const writeUrl = store.writeUrl;
/** Each cluster's `remoteWritePassword`: `pulumi stack output --show-secrets writePasswords`. */
export const writePasswords = pulumi.secret(pulumi.all(passwords));
export const queryUrls = store.queryUrls;
export const grafanaService = grafana.serviceName;
export const dashboards = grafana.uids;
