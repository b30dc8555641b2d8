import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions } from "../shared/child-options";
import { InputPropertyError, quote, requireInteger } from "../shared/errors";
import { gpuScalingBehavior } from "./scaling-behavior";

/** Arguments of `Autoscaler`: the Deployment it scales, its bounds and targets. */
export interface AutoscalerArgs {
  /** Namespace of the Deployment. */
  namespace: pulumi.Input<string>;
  /** Name of the Deployment to scale. It must not set `spec.replicas` (see GpuInferenceService `autoscaled`). */
  deploymentName: pulumi.Input<string>;
  /** `metadata.name` of the HPA. @default the resource name */
  name?: string;
  /** @default 1 */
  minReplicas?: number;
  /** @default 4 */
  maxReplicas?: number;
  /** Custom Pods metric served by prometheus-adapter. @default "sonic_request_qps" */
  customMetricName?: string;
  /**
   * Target average of the custom metric per pod, in submissions per second (0.05 = 3 jobs a minute);
   * `0` leaves it out (a worker tier that never takes a submission scales on the backlog alone).
   * @default 0.05
   */
  targetQpsPerPod?: number;
  /** External metric of the backlog (jobs queued + running / slots per pod). @default "sonic_job_backlog" */
  backlogMetricName?: string;
  /** Labels selecting this service's series of the backlog metric (its `job`). */
  backlogSelector: Record<string, string>;
  /**
   * Backlog per pod to aim for, in pods' worth of slots: 1 means "a slot for every job queued or
   * running"; 1.5 lets half a pod's slots of jobs wait per pod. `0` leaves the backlog out.
   * @default 1
   */
  targetBacklogPerPod?: number;
  /**
   * Target CPU utilisation in percent of the pod's requests (API plus model server); needs
   * metrics-server. `0` leaves CPU out: a GPU pod's CPU says little about its load.
   * @default 0
   */
  cpuUtilization?: number;
  /** Seconds of sustained lower recommendation before scaling down (GPU pods are slow to replace). @default 600 */
  scaleDownStabilizationSeconds?: number;
  /** Labels on the HPA. @default {} */
  labels?: Record<string, string>;
  /**
   * Leave the HPA in the cluster when it leaves the program (Pulumi's `retainOnDelete`): set while a
   * KEDA ScaledObject stands by to take it over, so the handover never deletes the object KEDA adopted.
   * @default false
   */
  retainOnDelete?: boolean;
}

/** Kubernetes quantity for a rate: 0.05 -> "50m", 2 -> "2". */
export function rateQuantity(perSecond: number): string {
  const milli = Math.round(perSecond * 1000);
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/**
 * An `autoscaling/v2` HPA on demand and backlog: submissions per second per pod (custom metric), and
 * jobs queued plus running per pod's slots (external metric); CPU only on request. The HPA takes the
 * largest recommendation. Behaviour is {@link gpuScalingBehavior}, shared with the KEDA ScaledObject.
 */
export class Autoscaler extends pulumi.ComponentResource {
  /** `metadata.name` of the HPA. */
  public readonly name: pulumi.Output<string>;
  /** Per-pod metric the HPA reads (`sonic_request_qps`). */
  public readonly customMetricName: string;
  /** External metric the HPA reads (`sonic_job_backlog`). */
  public readonly backlogMetricName: string;
  /** The HorizontalPodAutoscaler object. */
  public readonly hpa: k8s.autoscaling.v2.HorizontalPodAutoscaler;

  constructor(name: string, args: AutoscalerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:Autoscaler", name, {}, opts);
    const min = args.minReplicas ?? 1;
    const max = args.maxReplicas ?? 4;
    requireInteger("minReplicas", min, 1);
    requireInteger("maxReplicas", max, 1);
    if (min > max) {
      throw new InputPropertyError("minReplicas", `(${min}) must be <= 'maxReplicas' (${max})`);
    }
    const qps = args.targetQpsPerPod ?? 0.05;
    if (!(qps === 0 || qps >= 0.001)) {
      throw new InputPropertyError(
        "targetQpsPerPod",
        `must be 0 (off) or a number >= 0.001, got ${quote(qps)}`,
      );
    }
    const cpu = args.cpuUtilization ?? 0;
    requireInteger("cpuUtilization", cpu, 0, 100);
    const backlog = args.targetBacklogPerPod ?? 1;
    if (!(backlog === 0 || backlog >= 0.1)) {
      throw new InputPropertyError("targetBacklogPerPod", `must be 0 (off) or >= 0.1, got ${quote(backlog)}`);
    }
    const stabilization = args.scaleDownStabilizationSeconds ?? 600;
    requireInteger("scaleDownStabilizationSeconds", stabilization, 0, 3600);
    if (qps === 0 && backlog === 0 && cpu === 0) {
      throw new InputPropertyError(
        "targetQpsPerPod",
        "is 0 and so are 'targetBacklogPerPod' and 'cpuUtilization': an HPA needs at least one metric",
      );
    }
    this.customMetricName = args.customMetricName ?? "sonic_request_qps";
    this.backlogMetricName = args.backlogMetricName ?? "sonic_job_backlog";

    const cpuMetric =
      cpu === 0
        ? []
        : [
            {
              type: "Resource",
              resource: { name: "cpu", target: { type: "Utilization", averageUtilization: cpu } },
            },
          ];
    const qpsMetric =
      qps === 0
        ? []
        : [
            {
              type: "Pods",
              pods: {
                metric: { name: this.customMetricName },
                target: { type: "AverageValue", averageValue: rateQuantity(qps) },
              },
            },
          ];
    // desired = ceil(backlog / target): the pods the work in hand needs, whatever the current count.
    const backlogMetric =
      backlog === 0
        ? []
        : [
            {
              type: "External",
              external: {
                metric: { name: this.backlogMetricName, selector: { matchLabels: args.backlogSelector } },
                target: { type: "AverageValue", averageValue: rateQuantity(backlog) },
              },
            },
          ];
    this.hpa = new k8s.autoscaling.v2.HorizontalPodAutoscaler(
      name,
      {
        metadata: { name: args.name ?? name, namespace: args.namespace, labels: args.labels },
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: args.deploymentName },
          minReplicas: min,
          maxReplicas: max,
          metrics: [...qpsMetric, ...backlogMetric, ...cpuMetric],
          behavior: gpuScalingBehavior(stabilization),
        },
      },
      { ...childOptions(this, opts), ...(args.retainOnDelete ? { retainOnDelete: true } : {}) },
    );
    this.name = this.hpa.metadata.name;
    this.registerOutputs({
      name: this.name,
      customMetricName: this.customMetricName,
      backlogMetricName: this.backlogMetricName,
    });
  }
}
