import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_PROMETHEUS_SELECTOR } from "./shared/selectors";
import { childOptions } from "./shared/child-options";
import { AlertRules } from "./monitoring/alert-rules";
import { Dashboards } from "./monitoring/dashboards";
import { Autoscaler } from "./autoscaling/autoscaler";
import { serviceAdapterRules, ServiceAdapterRules } from "./autoscaling/custom-metric";
import { metricNames } from "../contract/metrics";
import { AlertThresholds, GpuCost, ruleCatalogue, RuleConcern, RuleGroup } from "./rules";
import { InputPropertyError } from "./shared/errors";
import { TIER_LABEL } from "./service/service-tiers";
import { ScrapeSettings, ServiceMonitor } from "./monitoring/service-monitor";

/** The HPA of a service: replica bounds and its targets. */
export interface AutoscalingSettings {
  /** Fewest replicas. @default 1 */
  minReplicas?: number;
  /** Most replicas. @default 4 */
  maxReplicas?: number;
  /** Target submissions per second per pod. @default 0.05 */
  targetQpsPerPod?: number;
  /** Target backlog per pod, in pods' worth of slots; `0` to leave out. @default 1 */
  targetBacklogPerPod?: number;
  /** CPU utilisation target in percent (needs metrics-server), `0` to leave out. @default 0 */
  cpuUtilization?: number;
}

/** One tier of a service that runs behind more than one Service, scraped by its own ServiceMonitor. */
export interface ScrapedTier {
  /** The tier, as its pods' `app.kubernetes.io/component` label says (`api`, `worker`). */
  tier: string;
  /** Name of the tier's ServiceMonitor (its Service's name). */
  name: string;
  /** Labels of the tier's Service. */
  selector: Record<string, string>;
}

/** Arguments of `InferenceObservability`: a service on the metric contract, and what it gets. */
export interface InferenceObservabilityArgs {
  /** Namespace of the service; the ServiceMonitor, rules and HPA are created there. */
  namespace: string;
  /** Name of the service's Kubernetes Service: also the `job` label of its series. */
  serviceName: string;
  /** Labels that select the service's Service (and pods); with `tiers`, unused. */
  selector: Record<string, string>;
  /**
   * The service's tiers, when it runs behind more than one Service (Sonic: the API and the GPU
   * workers): one ServiceMonitor each, all with `jobLabel`, so every tier's series carry the one `job`
   * the rules select (`serviceName`), and with the tier label copied from the pods
   * (`app_kubernetes_io_component` on the series). The first tier's ServiceMonitor is `serviceMonitor`.
   * @default none: one ServiceMonitor on `selector`
   */
  tiers?: ScrapedTier[];
  /** Service label whose value is every tier's `job` (only with `tiers`; every tier's Service carries it). @default "app" */
  jobLabel?: string;
  /**
   * Job slots of one pod of the tier that runs the jobs (GPUs x concurrency per GPU): the backlog
   * recording divides by it, so it reads (0 with an empty queue) while no such pod is up to export
   * `<prefix>_job_slots`, which a tier scaled to zero needs to be woken; prometheus-adapter then
   * serves the backlog from that recording.
   * @default none: the largest `<prefix>_job_slots` (1 while no pod exports it)
   */
  slotsPerPod?: number;
  /**
   * Name of the HPA of the tier that holds the GPUs, when another component creates it (`autoscaling:
   * false`; KEDA names its HPAs `keda-hpa-<ScaledObject>`): idle GPUs are costed against it and the
   * dashboard shows it.
   * @default the HPA this component creates: `deploymentName`
   */
  hpaName?: string;
  /** Every HPA of the service (one per tier), each watched for running at its maximum. @default [hpaName] */
  hpaNames?: string[];
  /** Deployment the HPA scales. @default `serviceName` */
  deploymentName?: string;
  /** Metric prefix of the metric contract (`sonic`, `tts`...). @default "sonic" */
  metricPrefix?: string;
  /** Labels the platform's Prometheus selects ServiceMonitors and PrometheusRules by. @default { release: "prometheus-stack" } */
  prometheusSelectorLabels?: Record<string, string>;
  /** How the service is scraped. @default port "web", path "/metrics", every 15s */
  scrape?: ScrapeSettings;
  /**
   * The alert concerns that apply to the service (errors, latency, gpu, av-sync, memory, inputs,
   * availability, autoscaling, queue, cost).
   * @default all of them for metricPrefix sonic; errors, latency, memory, availability, autoscaling and queue otherwise
   */
  concerns?: readonly RuleConcern[];
  /** Alert thresholds and `for:` durations over the defaults. @default {} */
  thresholds?: Partial<AlertThresholds>;
  /** Price of one GPU-hour: records the cost of a video-minute and of idle GPUs. @default none: GPU-hours only */
  cost?: GpuCost;
  /** Base URL of the runbooks. @default this repository's docs/runbooks.md */
  runbookBaseUrl?: string;
  /** Rate window of the QPS signal (>= 4x the scrape interval). @default "2m" */
  rateWindow?: string;
  /** HPA settings, or `false` for a fixed-size service. @default {} (autoscaling on, defaults) */
  autoscaling?: AutoscalingSettings | false;
  /** Provision the service's Grafana overview dashboard. @default true */
  dashboards?: boolean;
  /** Labels of the label convention put on every object. @default {} */
  labels?: Record<string, string>;
}

/**
 * Everything a service that follows the metric contract needs to be watched and scaled: ServiceMonitor,
 * the alert catalogue as a PrometheusRule, the demand and backlog rules for prometheus-adapter, an HPA
 * and the Grafana overview dashboard.
 *
 * prometheus-adapter is one per cluster, so this component does not install it: hand `adapterRules`
 * to the platform's `PrometheusAdapter`. Pass the monitoring release (CRDs) and the service's namespace
 * in `dependsOn`, never the workload: these objects must exist while the pods fail to turn Ready.
 */
export class InferenceObservability extends pulumi.ComponentResource {
  /** The ServiceMonitor of the service (of its first tier, with `tiers`). */
  public readonly serviceMonitor: ServiceMonitor;
  /** One ServiceMonitor per tier (just `serviceMonitor` without `tiers`). */
  public readonly serviceMonitors: ServiceMonitor[];
  /** The service's PrometheusRule (its rule catalogue). */
  public readonly alertRules: AlertRules;
  /** The service's HPA; none with `autoscaling: false`. */
  public readonly autoscaler?: Autoscaler;
  /** The service's dashboards; none with `dashboards: false`. */
  public readonly dashboards?: Dashboards;
  /** The rule groups deployed, as data (for rule files and tests). */
  public readonly ruleGroups: RuleGroup[];
  /**
   * The prometheus-adapter rules this service needs. The adapter is one per cluster: the platform
   * hands the rules of every onboarded service to its one `PrometheusAdapter`.
   */
  public readonly adapterRules: ServiceAdapterRules;
  /** Custom metric the HPA scales on, e.g. `sonic_request_qps`. */
  public readonly customMetricName: string;
  /** External backlog metric the HPA scales on, e.g. `sonic_job_backlog`. */
  public readonly backlogMetricName: string;

  constructor(name: string, args: InferenceObservabilityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:InferenceObservability", name, {}, opts);
    const prefix = args.metricPrefix ?? "sonic";
    const labels = args.labels ?? {};
    const selectorLabels = args.prometheusSelectorLabels ?? DEFAULT_PROMETHEUS_SELECTOR;
    const rateWindow = args.rateWindow ?? "2m";
    const hpaName = args.hpaName ?? args.deploymentName ?? args.serviceName;

    this.adapterRules = serviceAdapterRules({
      metricPrefix: prefix,
      rateWindow,
      scrapeInterval: args.scrape?.interval ?? "15s",
      backlogFromRecording: args.slotsPerPod !== undefined,
    });
    this.customMetricName = metricNames(prefix).requestQps;
    this.backlogMetricName = metricNames(prefix).jobBacklog;
    this.ruleGroups = ruleCatalogue({
      metricPrefix: prefix,
      job: args.serviceName,
      namespace: args.namespace,
      hpaName,
      hpaNames: args.hpaNames,
      slotsPerPod: args.slotsPerPod,
      thresholds: args.thresholds,
      concerns: args.concerns,
      runbookBaseUrl: args.runbookBaseUrl,
      rateWindow,
      cost: args.cost,
    });

    if (args.tiers !== undefined && args.tiers.length === 0)
      throw new InputPropertyError("tiers", "must list at least one tier, or be left out, got []");
    const tiers = args.tiers ?? [{ tier: "", name: args.serviceName, selector: args.selector }];
    this.serviceMonitors = tiers.map(
      (t, i) =>
        new ServiceMonitor(
          i === 0 ? name : `${name}-${t.tier}`,
          {
            ...args.scrape,
            ...(args.tiers
              ? {
                  jobLabel: args.jobLabel ?? "app",
                  podTargetLabels: [...new Set([...(args.scrape?.podTargetLabels ?? []), TIER_LABEL])],
                }
              : {}),
            name: t.name,
            namespace: args.namespace,
            selector: t.selector,
            labels: { ...labels, ...selectorLabels },
          },
          childOptions(this, opts),
        ),
    );
    this.serviceMonitor = this.serviceMonitors[0];
    this.alertRules = new AlertRules(
      name,
      {
        name: `${args.serviceName}-rules`,
        namespace: args.namespace,
        groups: this.ruleGroups,
        labels: { ...labels, ...selectorLabels },
      },
      childOptions(this, opts),
    );
    if (args.autoscaling !== false) {
      this.autoscaler = new Autoscaler(
        name,
        {
          ...args.autoscaling,
          name: hpaName,
          namespace: args.namespace,
          deploymentName: args.deploymentName ?? args.serviceName,
          customMetricName: this.customMetricName,
          backlogMetricName: this.backlogMetricName,
          backlogSelector: { job: args.serviceName },
          labels,
        },
        childOptions(this, opts),
      );
    }
    if (args.dashboards ?? true) {
      this.dashboards = new Dashboards(
        name,
        {
          metricPrefix: prefix,
          namespace: args.namespace,
          hpaName,
          sloTarget: args.thresholds?.sloTarget,
          gpuMemoryRatio: args.thresholds?.gpuMemoryRatio,
          gpuIdleRatio: args.thresholds?.gpuIdleRatio,
          cost: args.cost,
          rateWindow,
          labels,
        },
        childOptions(this, opts),
      );
    }
    this.registerOutputs({
      serviceMonitorName: this.serviceMonitor.name,
      ruleName: this.alertRules.name,
      hpaName: this.autoscaler?.name,
      customMetricName: this.customMetricName,
      backlogMetricName: this.backlogMetricName,
      dashboardConfigMap: this.dashboards?.configMapName,
    });
  }
}
