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
  KEDA_KUBE_STATE_METRICS_VALUES,
  queueMemoryBytes,
  renderAlertmanagerConfig,
  TeamMonitoringAccess,
  WorkerNetworkPolicy,
} from "../components";
import { SONIC_JOB, sonicAutoscaling } from "./autoscaling";
import { chartRepositoryOf, loadStackConfig } from "./config";
import { API_SETTINGS, SONIC_SETTING_NAMES } from "../contract";

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
  chartRepository: chartRepositoryOf(config.charts, "kube-prometheus-stack"),
  clusterFlavor: config.clusterFlavor,
  labels,
  // KEDA exports no series for a ScaledObject's fallback: kube-state-metrics reads its conditions.
  ...(config.autoscaling.enabled && config.autoscaling.engine === "keda"
    ? { kubeStateMetricsValues: KEDA_KUBE_STATE_METRICS_VALUES }
    : {}),
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
  // KEDA's Prometheus scaler queries Prometheus from KEDA's namespace (Keda's default, the stack's).
  prometheusClientNamespaces:
    config.autoscaling.enabled && config.autoscaling.engine === "keda" ? ["keda"] : [],
  alertmanagerReplicas: config.alertmanager.replicas,
  alertmanagerResources: config.alertmanager.resources,
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

/** The tiers' Deployments: the API keeps the name clients call; the GPU workers are new beside it. */
const TIERS = { api: SONIC_JOB, worker: "sonic-generate-worker" };

if (config.analyst.enabled) {
  const receivers = Object.values(config.alertmanager.receivers);
  new AlertAnalyst(
    "alert-analyst",
    {
      namespace: config.monitoring.namespace,
      image: config.sonic.image,
      prometheusUrl: pulumi.interpolate`${monitoring.prometheusUrl}:${PROMETHEUS_PORT}`,
      services: [
        {
          prefix: "sonic",
          namespace: config.sonic.namespace,
          tiers: TIERS,
          coldStartSeconds: config.sonic.coldStartSeconds ?? API_SETTINGS.SONIC_COLD_START_SECONDS.default,
          ...(config.autoscaling.enabled ? { autoscaler: config.autoscaling.engine } : {}),
          settings: SONIC_SETTING_NAMES,
        },
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
const a = config.autoscaling;
const sonic = new GpuInferenceService("sonic", {
  namespace: config.sonic.namespace,
  appName: TIERS.api,
  workerName: TIERS.worker,
  image: config.sonic.image,
  modelServer: { ...config.sonic.modelServer, gpuCount: config.sonic.gpuCount },
  concurrencyPerGpu: config.sonic.concurrencyPerGpu,
  api: { autoscaled: a.enabled, replicas: config.sonic.api.replicas, resources: config.sonic.api.resources },
  resources: config.sonic.resources,
  nodeSelector: config.sonic.nodeSelector,
  tolerations: config.sonic.tolerations,
  autoscaled: a.enabled,
  replicas: config.sonic.replicas,
  terminationGracePeriodSeconds: config.sonic.terminationGracePeriodSeconds,
  rolloutTimeout: config.sonic.rolloutTimeout,
  settings: {
    backlogLimit: config.sonic.backlogLimit,
    maxUploadBytes: config.sonic.maxUploadBytes,
    jobHistory: config.sonic.jobHistory,
    coldStartSeconds: config.sonic.coldStartSeconds,
    version: config.sonic.image.split(/[:@]/)[1] ?? "unknown",
  },
  // From the JobQueue's Secret, never in plaintext.
  env: jobQueueClientEnv(QUEUE_NAME, config.queue.mode === "external"),
  labels,
});

/** Objects in the Sonic namespace wait for the namespace, never for the GPU pods to turn Ready. */
const inSonicNamespace = sonic.namespaceResource ? [sonic.namespaceResource] : [];

// Redis memory that holds every job the backlog admits: in-cluster it is `maxmemory`; for a managed
// Redis it is what the instance must offer (a stack output says so). Uploads race the backlog check
// on the API replicas, which take them.
const queueMemoryNeeded = queueMemoryBytes({
  backlogLimit: config.sonic.backlogLimit,
  maxUploadBytes: config.sonic.maxUploadBytes,
  maxReplicas: a.enabled ? a.api.maxReplicas : config.sonic.api.replicas,
  jobHistory: config.sonic.jobHistory,
});
const queue = new JobQueue(
  "sonic-queue",
  {
    namespace: config.sonic.namespace,
    name: QUEUE_NAME,
    externalUrl: config.queue.mode === "external" ? config.secrets.queueRedisUrl : undefined,
    maxmemoryBytes: queueMemoryNeeded,
    aofReplayBytesPerCpuSecond: config.queue.aofReplayBytesPerCpuSecond,
    storage: config.queue.storage,
    // Both tiers: the API enqueues and answers polls, the workers pull and write results.
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
    serviceName: SONIC_JOB,
    selector: sonic.selectorLabels,
    // One ServiceMonitor per tier, both `job: sonic-generate-service`, told apart by the tier label.
    tiers: [
      { tier: "api", name: TIERS.api, selector: sonic.apiSelectorLabels },
      { tier: "worker", name: TIERS.worker, selector: sonic.workerSelectorLabels },
    ],
    metricPrefix: "sonic",
    prometheusSelectorLabels: monitoring.resourceSelectorLabels,
    scrape: { interval: config.prometheus.scrapeInterval, scrapeTimeout },
    thresholds,
    runbookBaseUrl,
    cost: config.cost,
    rateWindow: a.rateWindow,
    slotsPerPod: sonic.slotsPerPod,
    // The engine's autoscalers are created below (stacks/autoscaling.ts); the rules watch them.
    autoscaling: false,
    // Each tier's HPA is named after its Deployment on both engines (KEDA is told the name through
    // horizontalPodAutoscalerConfig.name), so the rules read the same series before and after a handover.
    hpaName: TIERS.worker,
    hpaNames: [TIERS.api, TIERS.worker],
    labels,
  },
  // The CRDs and the namespace; not the Deployments: monitoring must exist while the pods fail.
  { dependsOn: [monitoring.release, ...inSonicNamespace] },
);

const scaling = sonicAutoscaling({
  config,
  names: TIERS,
  monitoring,
  observability,
  labels,
  inSonicNamespace,
});

new InferenceNetworkPolicy(
  "sonic",
  {
    namespace: config.sonic.namespace,
    podSelector: sonic.apiSelectorLabels,
    monitoringNamespace: config.monitoring.namespace,
    clientNamespaces: config.sonic.apiClientNamespaces,
    // The API parses untrusted uploads and dials only the queue store (app/queue: its one client):
    // out only to DNS and the store, as the workers.
    queueStore: queue.storePods ?? { ports: queue.externalPorts! },
    nodeLocalDns: config.nodeLocalDns ?? NODE_LOCAL_DNS_BY_DEFAULT[config.clusterFlavor],
    labels,
  },
  { dependsOn: inSonicNamespace },
);
new WorkerNetworkPolicy(
  "sonic-worker",
  {
    namespace: config.sonic.namespace,
    podSelector: sonic.workerSelectorLabels,
    monitoringNamespace: config.monitoring.namespace,
    // A managed Redis' address is a secret: the port its URL names, anywhere.
    queueStore: queue.storePods ?? { ports: queue.externalPorts! },
    nodeLocalDns: config.nodeLocalDns ?? NODE_LOCAL_DNS_BY_DEFAULT[config.clusterFlavor],
    // A model server that fetches weights at start reaches its hub only if the stack says where.
    extraEgress: config.sonic.modelServer.egress.map(({ cidr, ports }) => ({
      to: [{ ipBlock: { cidr } }],
      ports: ports.map((port) => ({ protocol: "TCP", port })),
    })),
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
export const sonicWorkerDeployment = sonic.workerDeploymentName;
export const serviceMonitors = observability.serviceMonitors.map((m) => m.name);
export const prometheusRule = observability.alertRules.name;
/** The engine (and handover step) and each tier's HPA: ours, or the one KEDA creates under the same name. */
export const autoscalers = a.enabled
  ? {
      engine: a.engine,
      ...(a.handover ? { handover: a.handover } : {}),
      api: TIERS.api,
      worker: TIERS.worker,
    }
  : undefined;
export const scaledObjects = scaling.scaledObjects.map((o) => o.name);
export const customMetric = observability.customMetricName;
export const backlogMetric = observability.backlogMetricName;
/**
 * Whether the cluster needs metrics-server (`metrics.k8s.io`): only a CPU target reads it. Without it
 * such a target fails and the HPA skips every scale-down.
 */
export const resourceMetrics =
  a.enabled && a.engine === "adapter" && a.api.cpuUtilization > 0
    ? "required: autoscaling.api.cpuUtilization reads metrics.k8s.io; install metrics-server (an EKS add-on; built into GKE and AKS)"
    : a.engine === "keda" && a.handover !== "standby"
      ? "not needed: KEDA's ScaledObjects read Prometheus directly"
      : "not needed: the HPAs read only sonic_request_qps and sonic_job_backlog from prometheus-adapter";
export const queueSecret = queue.secretName;
/** Redis memory the backlog needs: `maxmemory` in-cluster; the least a managed Redis must offer. */
export const queueMemoryBytesNeeded = queueMemoryNeeded;
export const adapterMetrics = scaling.adapter?.metricNames ?? [];
export const dashboardConfigMap = observability.dashboards?.configMapName;
