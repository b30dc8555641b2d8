import * as random from "@pulumi/random";
import * as pulumi from "@pulumi/pulumi";
import {
  GpuInferenceService,
  InferenceNetworkPolicy,
  InferenceObservability,
  MonitoringStack,
  PROMETHEUS_PORT,
  PrometheusAdapter,
  renderAlertmanagerConfig,
  TeamMonitoringAccess,
} from "../components";
import { loadStackConfig } from "./config";

// Validate everything before the first resource: a bad value fails the preview with the key named.
const config = loadStackConfig();
const { runbookBaseUrl, ...thresholds } = config.alerts;
const labels = { team: config.labels.team, service: config.labels.service, env: config.env };

const grafanaAdminPassword =
  config.secrets.grafanaAdminPassword ??
  new random.RandomPassword("grafana-admin-password", { length: 24, special: false }).result;

const monitoring = new MonitoringStack("monitoring", {
  namespace: config.monitoring.namespace,
  releaseName: config.monitoring.releaseName,
  chartVersion: config.monitoring.chartVersion,
  labels,
  prometheus: {
    ...config.prometheus,
    externalLabels: { cluster: config.cluster, env: config.env },
    remoteWrite: config.prometheus.remoteWrite
      ? [{ ...config.prometheus.remoteWrite, password: config.secrets.remoteWritePassword }]
      : [],
  },
  alertmanagerReplicas: config.alertmanager.replicas,
  alertmanagerConfig: renderAlertmanagerConfig({
    receivers: config.alertmanager.receivers,
    slackChannel: config.alertmanager.slackChannel,
    repeatInterval: config.alertmanager.repeatInterval,
    slackWebhookUrl: config.secrets.slackWebhookUrl,
    pagerdutyRoutingKey: config.secrets.pagerdutyRoutingKey,
    webhookUrl: config.secrets.alertWebhookUrl,
  }),
  grafanaAdminPassword,
});

const sonic = new GpuInferenceService("sonic", {
  namespace: config.sonic.namespace,
  image: config.sonic.image,
  gpuCount: config.sonic.gpuCount,
  resources: config.sonic.resources,
  nodeSelector: config.sonic.nodeSelector,
  autoscaled: config.autoscaling.enabled,
  replicas: config.sonic.replicas,
  terminationGracePeriodSeconds: config.sonic.terminationGracePeriodSeconds,
  env: {
    SONIC_BACKEND: "http",
    SONIC_WORKER_URL: config.sonic.workerUrl,
    SONIC_CONCURRENCY_PER_GPU: String(config.sonic.concurrencyPerGpu),
    // Finish draining before the kubelet's SIGKILL at the end of terminationGracePeriodSeconds.
    SONIC_SHUTDOWN_GRACE_SECONDS: String(Math.max(0, config.sonic.terminationGracePeriodSeconds - 30)),
  },
  labels,
});

const observability = new InferenceObservability(
  "sonic",
  {
    namespace: config.sonic.namespace,
    serviceName: "sonic-generate-service",
    selector: sonic.selectorLabels,
    metricPrefix: "sonic",
    prometheusSelectorLabels: monitoring.resourceSelectorLabels,
    scrape: { interval: config.prometheus.scrapeInterval, scrapeTimeout: config.prometheus.scrapeTimeout },
    thresholds,
    runbookBaseUrl,
    rateWindow: config.autoscaling.rateWindow,
    autoscaling: config.autoscaling.enabled ? config.autoscaling : false,
    labels,
  },
  { dependsOn: [monitoring.release, sonic] },
);

const adapter = new PrometheusAdapter(
  "prometheus-adapter",
  {
    namespace: monitoring.namespace,
    prometheusUrl: monitoring.prometheusUrl,
    rules: observability.adapterRules,
    replicas: config.monitoring.adapterReplicas,
    labels,
  },
  { dependsOn: [monitoring.release] },
);

new InferenceNetworkPolicy(
  "sonic",
  {
    namespace: config.sonic.namespace,
    podSelector: sonic.selectorLabels,
    monitoringNamespace: config.monitoring.namespace,
    clientNamespaces: config.sonic.apiClientNamespaces,
    labels,
  },
  { dependsOn: [sonic] },
);

new TeamMonitoringAccess(
  "sonic-team",
  { namespace: config.sonic.namespace, group: config.sonic.teamGroup, labels },
  { dependsOn: [sonic] },
);

export const monitoringNamespace = monitoring.namespace;
export const sonicNamespace = sonic.namespace;
export const prometheusService = monitoring.prometheusServiceName;
export const prometheusUrl = pulumi.interpolate`${monitoring.prometheusUrl}:${PROMETHEUS_PORT}`;
export const alertmanagerService = monitoring.alertmanagerServiceName;
export const grafanaService = monitoring.grafanaServiceName;
export const grafanaAdminSecret = "grafana-admin";
export const sonicService = sonic.serviceName;
export const serviceMonitor = observability.serviceMonitor.name;
export const prometheusRule = observability.alertRules.name;
export const hpa = observability.autoscaler?.name;
export const customMetric = observability.customMetricName;
export const adapterMetrics = adapter.metricNames;
export const dashboardConfigMap = observability.dashboards?.configMapName;
