import * as random from "@pulumi/random";
import * as pulumi from "@pulumi/pulumi";
import {
  AlertAnalyst,
  alertAnalystUrl,
  GpuInferenceService,
  InferenceNetworkPolicy,
  InferenceObservability,
  MonitoringStack,
  NODE_LOCAL_DNS_BY_DEFAULT,
  PROMETHEUS_PORT,
  JobQueue,
  jobQueueClientEnv,
  PrometheusAdapter,
  queueMemoryBytes,
  renderAlertmanagerConfig,
  serviceAdapterRules,
  TeamMonitoringAccess,
} from "../components";
import { loadStackConfig } from "./config";

// Validate everything before the first resource: a bad value fails the preview with the key named.
const config = loadStackConfig();
const { runbookBaseUrl, ...thresholds } = config.alerts;
const { scrapeTimeout, ...prometheusSettings } = config.prometheus;
const labels = { team: config.labels.team, service: config.labels.service, env: config.env };

const grafanaAdminPassword =
  config.secrets.grafanaAdminPassword ??
  new random.RandomPassword("grafana-admin-password", { length: 24, special: false }).result;

// The analyst refuses notifications without this token; Alertmanager sends it (both from secrets).
const analystToken = config.analyst.enabled
  ? new random.RandomPassword("alert-analyst-webhook-token", { length: 40, special: false })
  : undefined;
const monitoring = new MonitoringStack("monitoring", {
  namespace: config.monitoring.namespace,
  releaseName: config.monitoring.releaseName,
  chartVersion: config.monitoring.chartVersion,
  clusterFlavor: config.clusterFlavor,
  labels,
  prometheus: {
    // scrapeTimeout is the Sonic scrape's (InferenceObservability below), not the stack's.
    ...prometheusSettings,
    externalLabels: { cluster: config.cluster, env: config.env },
    remoteWrite: config.prometheus.remoteWrite
      ? [
          {
            ...config.prometheus.remoteWrite,
            password: config.secrets.remoteWritePassword,
            metricPrefixes: ["sonic", ...config.onboardedServices.map((s) => s.metricPrefix)],
          },
        ]
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
    // Every alert of ours also goes to the analyst (continue: true); delivery is unchanged.
    analystUrl: config.analyst.enabled ? alertAnalystUrl(config.monitoring.namespace) : undefined,
    analystToken: analystToken?.result,
    // Pages only for what this platform owns: its own namespace and the onboarded services'.
    pageNamespaces: [
      config.monitoring.namespace,
      config.sonic.namespace,
      ...config.onboardedServices.map((s) => s.namespace),
    ],
  }),
  grafanaAdminPassword,
});

if (config.analyst.enabled) {
  const receivers = Object.values(config.alertmanager.receivers);
  new AlertAnalyst(
    "alert-analyst",
    {
      namespace: config.monitoring.namespace,
      image: config.sonic.image,
      prometheusUrl: pulumi.interpolate`${monitoring.prometheusUrl}:${PROMETHEUS_PORT}`,
      services: [
        { prefix: "sonic", namespace: config.sonic.namespace },
        ...config.onboardedServices.map((s) => ({ prefix: s.metricPrefix, namespace: s.namespace })),
      ],
      webhookToken: analystToken?.result,
      runbookBaseUrl,
      // Reports go where the alerts go: the Slack channel and/or the webhook.
      delivery: {
        slackWebhookUrl: receivers.includes("slack") ? config.secrets.slackWebhookUrl : undefined,
        slackChannel: receivers.includes("slack") ? config.alertmanager.slackChannel : undefined,
        webhookUrl: receivers.includes("webhook") ? config.secrets.alertWebhookUrl : undefined,
      },
      model: config.analyst.model && { ...config.analyst.model, apiKey: config.secrets.analystModelApiKey },
      prometheusSelectorLabels: monitoring.resourceSelectorLabels,
      nodeLocalDns: config.nodeLocalDns ?? NODE_LOCAL_DNS_BY_DEFAULT[config.clusterFlavor],
      labels,
      crdDependsOn: [monitoring.release],
    },
    { dependsOn: [monitoring.namespaceResource] },
  );
}

const QUEUE_NAME = "sonic-queue";
const sonic = new GpuInferenceService("sonic", {
  namespace: config.sonic.namespace,
  image: config.sonic.image,
  modelServer: { ...config.sonic.modelServer, gpuCount: config.sonic.gpuCount },
  concurrencyPerGpu: config.sonic.concurrencyPerGpu,
  resources: config.sonic.resources,
  nodeSelector: config.sonic.nodeSelector,
  tolerations: config.sonic.tolerations,
  autoscaled: config.autoscaling.enabled,
  replicas: config.sonic.replicas,
  terminationGracePeriodSeconds: config.sonic.terminationGracePeriodSeconds,
  rolloutTimeout: config.sonic.rolloutTimeout,
  settings: {
    backlogLimit: config.sonic.backlogLimit,
    maxUploadBytes: config.sonic.maxUploadBytes,
    jobHistory: config.sonic.jobHistory,
    version: config.sonic.image.split(/[:@]/)[1] ?? "unknown",
  },
  // From the JobQueue's Secret, never in plaintext.
  env: jobQueueClientEnv(QUEUE_NAME, config.queue.mode === "external"),
  labels,
});

/** Objects in the Sonic namespace wait for the namespace, never for the GPU pods to turn Ready. */
const inSonicNamespace = sonic.namespaceResource ? [sonic.namespaceResource] : [];

// Redis memory that holds every job the backlog admits: in-cluster it is `maxmemory`; for a managed
// Redis it is what the instance must offer (a stack output says so).
const queueMemoryNeeded = queueMemoryBytes({
  backlogLimit: config.sonic.backlogLimit,
  maxUploadBytes: config.sonic.maxUploadBytes,
  maxReplicas: config.autoscaling.enabled ? config.autoscaling.maxReplicas : config.sonic.replicas || 1,
  jobHistory: config.sonic.jobHistory,
});
const queue = new JobQueue(
  "sonic-queue",
  {
    namespace: config.sonic.namespace,
    name: QUEUE_NAME,
    externalUrl: config.queue.mode === "external" ? config.secrets.queueRedisUrl : undefined,
    maxmemoryBytes: queueMemoryNeeded,
    storage: config.queue.storage,
    clientSelector: sonic.selectorLabels,
    monitoringNamespace: config.monitoring.namespace,
    prometheusSelectorLabels: monitoring.resourceSelectorLabels,
    labels,
    serviceMonitorDependsOn: [monitoring.release],
  },
  { dependsOn: inSonicNamespace },
);

const observability = new InferenceObservability(
  "sonic",
  {
    namespace: config.sonic.namespace,
    serviceName: "sonic-generate-service",
    selector: sonic.selectorLabels,
    metricPrefix: "sonic",
    prometheusSelectorLabels: monitoring.resourceSelectorLabels,
    scrape: { interval: config.prometheus.scrapeInterval, scrapeTimeout },
    thresholds,
    runbookBaseUrl,
    cost: config.cost,
    rateWindow: config.autoscaling.rateWindow,
    autoscaling: config.autoscaling.enabled ? config.autoscaling : false,
    labels,
  },
  // The CRDs and the namespace; not the Deployment: monitoring must exist while the pods fail.
  { dependsOn: [monitoring.release, ...inSonicNamespace] },
);

const adapter = new PrometheusAdapter(
  "prometheus-adapter",
  {
    namespace: monitoring.namespace,
    prometheusUrl: monitoring.prometheusUrl,
    // One adapter per cluster: Sonic's rules and every onboarded service's.
    rules: [
      observability.adapterRules,
      ...config.onboardedServices.map((s) =>
        serviceAdapterRules({
          metricPrefix: s.metricPrefix,
          rateWindow: config.autoscaling.rateWindow,
          scrapeInterval: config.prometheus.scrapeInterval,
        }),
      ),
    ],
    replicas: config.monitoring.adapterReplicas,
    externalMetrics: config.monitoring.adapterExternalMetrics,
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
  { dependsOn: inSonicNamespace },
);

new TeamMonitoringAccess(
  "sonic-team",
  { namespace: config.sonic.namespace, group: config.sonic.teamGroup, labels },
  { dependsOn: inSonicNamespace },
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
export const backlogMetric = observability.backlogMetricName;
/**
 * Whether the cluster needs metrics-server (`metrics.k8s.io`): only a CPU target reads it. Without it
 * such a target fails and the HPA skips every scale-down, so GPU pods are never released.
 */
export const resourceMetrics =
  config.autoscaling.enabled && config.autoscaling.cpuUtilization > 0
    ? "required: autoscaling.cpuUtilization reads metrics.k8s.io; install metrics-server (an EKS add-on; built into GKE and AKS)"
    : "not needed: the HPA reads only sonic_request_qps and sonic_job_backlog from prometheus-adapter";
export const queueSecret = queue.secretName;
/** Redis memory the backlog needs: `maxmemory` in-cluster; the least a managed Redis must offer. */
export const queueMemoryBytesNeeded = queueMemoryNeeded;
export const adapterMetrics = adapter.metricNames;
export const dashboardConfigMap = observability.dashboards?.configMapName;
