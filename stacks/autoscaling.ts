import * as pulumi from "@pulumi/pulumi";
import {
  AlertRules,
  Autoscaler,
  InferenceObservability,
  jobBacklogRecord,
  Keda,
  kedaRules,
  metricNames,
  MonitoringStack,
  PROMETHEUS_PORT,
  PrometheusAdapter,
  requestQpsRecord,
  ScaledObject,
  serviceAdapterRules,
  type CatalogueContext,
} from "../components";
import { promqlString } from "../contract";
import { chartRepositoryOf, type StackConfig } from "./config";

// The autoscaling engine of a stack (`autoscaling.engine`), wired in one place:
// - adapter: prometheus-adapter (custom + external metrics) and one HPA per tier;
// - keda: the KEDA chart and one ScaledObject per tier on the same recorded series, with
//   prometheus-adapter serving custom metrics only for onboarded services (or not installed), so the
//   two never both claim v1beta1.external.metrics.k8s.io.
// Never an HPA and a ScaledObject on one Deployment (policy: one-autoscaler-per-deployment).

/** The Sonic Service's name: the `job` of both tiers' series. */
export const SONIC_JOB = "sonic-generate-service";

export interface SonicAutoscalingArgs {
  config: StackConfig;
  /** Deployment names of the tiers (plain strings: ScaledObject and HPA names derive from them). */
  names: { api: string; worker: string };
  monitoring: MonitoringStack;
  observability: InferenceObservability;
  labels: Record<string, string>;
  /** What the autoscalers wait for: the Sonic namespace. */
  inSonicNamespace: pulumi.Resource[];
}

export interface SonicAutoscaling {
  /** The HPAs of the adapter engine. */
  hpas: Autoscaler[];
  /** The ScaledObjects of the keda engine. */
  scaledObjects: ScaledObject[];
  keda?: Keda;
  /** Undefined where nothing needs it (engine keda, no onboarded services). */
  adapter?: PrometheusAdapter;
}

/**
 * Where the move from engine adapter to keda stands (`autoscaling.engine`, `autoscaling.handover`): which
 * engine's objects this step has.
 */
interface EngineStep {
  /** Autoscaling on, with engine keda. */
  keda: boolean;
  /** KEDA installed beside the adapter's HPAs, with no metrics server and no ScaledObject yet. */
  standby: boolean;
  /** KEDA adopts the adapter's HPAs. */
  takeover: boolean;
}

/** The step a stack's `autoscaling` block asks for; engine keda only counts with autoscaling on. */
function engineStep(config: StackConfig): EngineStep {
  const a = config.autoscaling;
  const keda = a.enabled && a.engine === "keda";
  return { keda, standby: keda && a.handover === "standby", takeover: keda && a.handover === "takeover" };
}

/** The engine's objects for both tiers, and the cluster's one prometheus-adapter where needed. */
export function sonicAutoscaling(args: SonicAutoscalingArgs): SonicAutoscaling {
  const step = engineStep(args.config);
  const adapter = clusterAdapter(args, step);
  const result: SonicAutoscaling = { hpas: [], scaledObjects: [], adapter };
  if (!args.config.autoscaling.enabled) return result;
  // During a handover the adapter's HPAs keep scaling (standby) or are being adopted (takeover): with
  // takeover they leave the program, kept in the cluster by standby's retainOnDelete.
  if (!step.keda || step.standby) result.hpas.push(...adapterHpas(args, step));
  if (!step.keda) return result;
  result.keda = kedaRelease(args, step, adapter);
  // No ScaledObject in standby, not even a paused one: a paused ScaledObject makes KEDA delete the HPA it
  // names, and to pass KEDA's webhook beside the adapter's HPA it must name that very HPA. The real KEDA
  // 2.20.2 deleted both adapter HPAs in standby (found by test/cluster/controllers.cluster.ts), leaving
  // nothing to scale until takeover. Takeover creates them, and KEDA adopts the HPAs in place.
  if (!step.standby) result.scaledObjects.push(...kedaScaledObjects(args, step, result.keda));
  kedaAlerts(args, step);
  return result;
}

/** The cluster's one prometheus-adapter: Sonic's rules where its HPAs read them, and onboarded services'. */
function clusterAdapter(args: SonicAutoscalingArgs, step: EngineStep): PrometheusAdapter | undefined {
  const { config, labels } = args;
  const a = config.autoscaling;
  const { keda, standby, takeover } = step;
  const onboarded = config.onboardedServices.map((s) =>
    serviceAdapterRules({
      metricPrefix: s.metricPrefix,
      rateWindow: a.rateWindow,
      scrapeInterval: config.prometheus.scrapeInterval,
    }),
  );
  // With KEDA nothing of Sonic's reads the adapter: it serves only what onboarded services' HPAs need.
  // In a handover it stays, with Sonic's rules: the API's HPA reads its custom metric until adopted,
  // and removing the release in the step that installs KEDA's APIService would race it.
  const adapterRules =
    keda && !standby && !takeover ? onboarded : [args.observability.adapterRules, ...onboarded];
  return adapterRules.length === 0
    ? undefined
    : new PrometheusAdapter(
        "prometheus-adapter",
        {
          namespace: args.monitoring.namespace,
          prometheusUrl: args.monitoring.prometheusUrl,
          // One adapter per cluster: Sonic's rules and every onboarded service's.
          rules: adapterRules,
          replicas: config.monitoring.adapterReplicas,
          resources: config.monitoring.adapterResources,
          externalMetrics: config.monitoring.adapterExternalMetrics ?? (!keda || standby),
          chartRepository: chartRepositoryOf(config.charts, "prometheus-adapter"),
          labels,
        },
        { dependsOn: [args.monitoring.release] },
      );
}

/** Engine adapter (and handover standby): one HPA per tier. */
function adapterHpas(args: SonicAutoscalingArgs, step: EngineStep): Autoscaler[] {
  const { config, labels } = args;
  const a = config.autoscaling;
  const ns = config.sonic.namespace;
  const opts = { dependsOn: args.inSonicNamespace };
  const names = metricNames("sonic");
  // Kept in the cluster when they leave the program in standby's next step: KEDA adopts them.
  const retainOnDelete = step.standby;
  return [
    // The API scales on demand: submissions per second per pod, as they arrive.
    new Autoscaler(
      "sonic",
      {
        name: args.names.api,
        namespace: ns,
        deploymentName: args.names.api,
        minReplicas: a.api.minReplicas,
        scaleDownStabilizationSeconds: a.scaleDownStabilizationSeconds,
        maxReplicas: a.api.maxReplicas,
        customMetricName: names.requestQps,
        targetQpsPerPod: a.api.targetQpsPerPod,
        targetBacklogPerPod: 0,
        cpuUtilization: a.api.cpuUtilization,
        backlogSelector: { job: SONIC_JOB },
        retainOnDelete,
        labels,
      },
      // The one-Deployment layout made this HPA (same name, same Deployment) as InferenceObservability's
      // child: the alias makes the upgrade update it in place. Without it the engine creates the new one
      // first, and the API server refuses it (a server-side apply conflict with the old object).
      { ...opts, aliases: [{ parent: args.observability }] },
    ),
    // The GPU workers scale on the backlog: the pods the work in hand needs.
    new Autoscaler(
      "sonic-worker",
      {
        name: args.names.worker,
        namespace: ns,
        deploymentName: args.names.worker,
        minReplicas: a.worker.minReplicas,
        scaleDownStabilizationSeconds: a.scaleDownStabilizationSeconds,
        maxReplicas: a.worker.maxReplicas,
        targetQpsPerPod: 0,
        backlogMetricName: names.jobBacklog,
        backlogSelector: { job: SONIC_JOB },
        targetBacklogPerPod: a.worker.targetBacklogPerPod,
        retainOnDelete,
        labels,
      },
      opts,
    ),
  ];
}

/** Engine keda: the KEDA chart, with its metrics server unless the adapter still owns external metrics. */
function kedaRelease(
  args: SonicAutoscalingArgs,
  step: EngineStep,
  adapter: PrometheusAdapter | undefined,
): Keda {
  const { config, labels } = args;
  const { standby, takeover } = step;
  return new Keda(
    "keda",
    {
      prometheusSelectorLabels: args.monitoring.resourceSelectorLabels,
      prometheusNamespace: config.monitoring.namespace,
      // In standby the adapter still owns v1beta1.external.metrics.k8s.io: no second claimant.
      metricsServer: !standby,
      chartRepository: chartRepositoryOf(config.charts, "keda"),
      labels,
    },
    // Its ServiceMonitors need the monitoring release's CRDs; in a handover its APIService may only
    // come once the adapter's upgrade has given it up.
    { dependsOn: [args.monitoring.release, ...(takeover && adapter ? [adapter.release] : [])] },
  );
}

/** Engine keda: one ScaledObject per tier on the same recorded series as the HPAs. */
function kedaScaledObjects(args: SonicAutoscalingArgs, step: EngineStep, keda: Keda): ScaledObject[] {
  const { config, labels } = args;
  const a = config.autoscaling;
  const ns = config.sonic.namespace;
  const { takeover } = step;
  const prometheus = `http://${config.monitoring.releaseName}-prometheus.${config.monitoring.namespace}.svc:${PROMETHEUS_PORT}`;
  const c = { prefix: "sonic" } as CatalogueContext;
  const own = `{namespace=${promqlString(ns)}, job=${promqlString(SONIC_JOB)}}`;
  const afterKeda = { dependsOn: [...args.inSonicNamespace, keda] };
  const handover = { transferHpaOwnership: takeover };
  return [
    new ScaledObject(
      "sonic",
      {
        name: args.names.api,
        namespace: ns,
        deploymentName: args.names.api,
        hpaName: args.names.api,
        ...handover,
        minReplicas: a.api.minReplicas,
        scaleDownStabilizationSeconds: a.scaleDownStabilizationSeconds,
        maxReplicas: a.api.maxReplicas,
        pollingIntervalSeconds: a.pollingSeconds,
        triggers: [
          {
            name: "demand",
            serverAddress: prometheus,
            // Summed over the API pods: KEDA's AverageValue divides by the replicas, as the HPA's Pods metric.
            query: `sum(${requestQpsRecord(c, a.rateWindow)}{namespace=${promqlString(ns)}})`,
            threshold: a.api.targetQpsPerPod,
          },
        ],
        labels,
      },
      afterKeda,
    ),
    new ScaledObject(
      "sonic-worker",
      {
        name: args.names.worker,
        namespace: ns,
        deploymentName: args.names.worker,
        hpaName: args.names.worker,
        ...handover,
        minReplicas: a.worker.minReplicas,
        scaleDownStabilizationSeconds: a.scaleDownStabilizationSeconds,
        maxReplicas: a.worker.maxReplicas,
        pollingIntervalSeconds: a.pollingSeconds,
        cooldownPeriodSeconds: a.worker.cooldownSeconds,
        triggers: [
          {
            name: "backlog",
            serverAddress: prometheus,
            // 0 (not absent) with an empty queue and no worker: the recording divides by the configured slots.
            query: `max(${jobBacklogRecord(c)}${own})`,
            threshold: a.worker.targetBacklogPerPod,
            // One queued job wakes a tier scaled to zero.
            activationThreshold: 0,
          },
        ],
        labels,
      },
      afterKeda,
    ),
  ];
}

/** Engine keda: alerts on the ScaledObjects' scale loops. */
function kedaAlerts(args: SonicAutoscalingArgs, step: EngineStep): void {
  const { config, labels } = args;
  const ns = config.sonic.namespace;
  const { standby } = step;
  new AlertRules(
    "keda",
    {
      name: "keda-rules",
      namespace: config.monitoring.namespace,
      groups: [
        kedaRules({
          runbookBaseUrl: config.alerts.runbookBaseUrl,
          // In standby there is no ScaledObject to watch yet.
          scaledObjects: standby
            ? []
            : [args.names.api, args.names.worker].map((name) => ({ namespace: ns, name })),
        }),
      ],
      labels: { ...labels, ...args.monitoring.resourceSelectorLabels },
    },
    { dependsOn: [args.monitoring.release] },
  );
}
