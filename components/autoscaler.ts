import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions } from "./child-options";
import { InputPropertyError, quote, requireInteger } from "./errors";

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
  /** Target average of the custom metric per pod, in requests per second (0.05 = 3 jobs a minute). @default 0.05 */
  targetQpsPerPod?: number;
  /** Target CPU utilisation in percent of requests; `0` leaves CPU out. @default 80 */
  cpuUtilization?: number;
  /** Target memory utilisation in percent of requests; `0` leaves memory out. @default 85 */
  memoryUtilization?: number;
  /** Seconds of sustained lower recommendation before scaling down (GPU pods are slow to replace). @default 600 */
  scaleDownStabilizationSeconds?: number;
  /** Labels on the HPA. @default {} */
  labels?: Record<string, string>;
}

/** Kubernetes quantity for a rate: 0.05 -> "50m", 2 -> "2". */
export function rateQuantity(perSecond: number): string {
  const milli = Math.round(perSecond * 1000);
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/**
 * An `autoscaling/v2` HPA on the per-pod request rate, plus CPU and memory utilisation. Behaviour is
 * tuned for GPU pods that take minutes to schedule and load a model: scale up promptly but by at most
 * two pods a period, scale down one pod at a time after a long stabilisation window.
 */
export class Autoscaler extends pulumi.ComponentResource {
  public readonly name: pulumi.Output<string>;
  public readonly customMetricName: string;
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
    if (!(qps >= 0.001)) {
      throw new InputPropertyError("targetQpsPerPod", `must be a number >= 0.001, got ${quote(qps)}`);
    }
    const cpu = args.cpuUtilization ?? 80;
    const memory = args.memoryUtilization ?? 85;
    requireInteger("cpuUtilization", cpu, 0, 100);
    requireInteger("memoryUtilization", memory, 0, 100);
    const stabilization = args.scaleDownStabilizationSeconds ?? 600;
    requireInteger("scaleDownStabilizationSeconds", stabilization, 0, 3600);
    this.customMetricName = args.customMetricName ?? "sonic_request_qps";

    const utilization = (resource: "cpu" | "memory", percent: number) =>
      percent === 0
        ? []
        : [
            {
              type: "Resource",
              resource: { name: resource, target: { type: "Utilization", averageUtilization: percent } },
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
          metrics: [
            {
              type: "Pods",
              pods: {
                metric: { name: this.customMetricName },
                target: { type: "AverageValue", averageValue: rateQuantity(qps) },
              },
            },
            ...utilization("cpu", cpu),
            ...utilization("memory", memory),
          ],
          behavior: {
            scaleUp: {
              stabilizationWindowSeconds: 60,
              selectPolicy: "Max",
              policies: [{ type: "Pods", value: 2, periodSeconds: 120 }],
            },
            scaleDown: {
              stabilizationWindowSeconds: stabilization,
              selectPolicy: "Min",
              policies: [{ type: "Pods", value: 1, periodSeconds: 300 }],
            },
          },
        },
      },
      childOptions(this, opts),
    );
    this.name = this.hpa.metadata.name;
    this.registerOutputs({ name: this.name, customMetricName: this.customMetricName });
  }
}
