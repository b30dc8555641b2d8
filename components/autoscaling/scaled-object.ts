import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions } from "../shared/child-options";
import { InputPropertyError, quote, requireInteger } from "../shared/errors";
import { PromqlSyntaxError, promqlSelectors } from "./promql";
import { gpuScalingBehavior, type ScalingBehavior } from "./scaling-behavior";

/** How KEDA hands a trigger's value to the HPA: divided by the current pods, or as is. */
export type KedaMetricType = "AverageValue" | "Value";

/**
 * Replicas KEDA asks for while a trigger keeps failing (KEDA 2.20 `fallback.behavior`): `static` is
 * `replicas`; `currentReplicasIfHigher` keeps the pods running when there are more than `replicas`
 * (a busy fleet is not shrunk because Prometheus went away), else `replicas`.
 */
export type KedaFallbackBehavior =
  "static" | "currentReplicas" | "currentReplicasIfHigher" | "currentReplicasIfLower";

/** A KEDA `prometheus` trigger: one PromQL query that returns one number. */
export interface PrometheusTrigger {
  /** Trigger name (KEDA `name`), shown in KEDA's metrics and events. @default none: KEDA names it by index */
  name?: string;
  /** Prometheus base URL *with* the port, e.g. `http://prometheus-stack-prometheus.monitoring.svc:9090` (`MonitoringStack.prometheusUrl` + `:9090`). */
  serverAddress: string;
  /** PromQL returning a single sample, best a recorded series (`sonic:job_backlog:ratio`, the one the adapter path reads). */
  query: string;
  /** Target of the metric: per pod for `AverageValue`, in total for `Value`. Must be > 0. */
  threshold: number;
  /**
   * KEDA scales from zero only while the value is above this (and to zero once it is not, after the
   * cooldown). `0` wakes the target on any positive value, e.g. one queued job.
   * @default 0
   */
  activationThreshold?: number;
  /** @default "AverageValue" (the only type whose fallback still works with no pod ready) */
  metricType?: KedaMetricType;
  /**
   * KEDA's `ignoreNullValues`: `true` reads an empty answer as 0, which lets a missing series scale
   * GPUs to zero while work waits; `false` makes it an error, so the fallback holds the pods instead.
   * Write `or vector(0)` into the query where empty really means none.
   * @default false
   */
  ignoreNullValues?: boolean;
}

/** What KEDA does when a trigger keeps failing (Prometheus unreachable, query erroring). */
export interface ScaledObjectFallback {
  /** Consecutive failed polls before the fallback applies (KEDA counts failures beyond this). @default 3 */
  failureThreshold?: number;
  /** Replicas to hold while the trigger fails; at least 1 so GPUs never go to zero blind. @default max(1, minReplicas) */
  replicas?: number;
  /** @default "currentReplicasIfHigher" */
  behavior?: KedaFallbackBehavior;
}

/** Arguments of `ScaledObject`: the Deployment KEDA scales, its bounds, triggers and behaviour. */
export interface ScaledObjectArgs {
  /** Namespace of the Deployment (a ScaledObject lives beside its target). */
  namespace: pulumi.Input<string>;
  /** The Deployment to scale. It must not set `spec.replicas`, and no HPA of ours may target it. */
  deploymentName: pulumi.Input<string>;
  /** `metadata.name` of the ScaledObject (KEDA names its HPA `keda-hpa-<name>`). @default the resource name */
  name?: string;
  /** `minReplicaCount`; `0` lets KEDA scale the target to zero when every trigger is inactive. @default 1 */
  minReplicas?: number;
  /** `maxReplicaCount`. @default 4 */
  maxReplicas?: number;
  /** Seconds between KEDA's polls of the triggers (activation and scale to/from zero). @default 30 */
  pollingIntervalSeconds?: number;
  /** Seconds after the last active poll before KEDA scales to zero (only with `minReplicas: 0`). @default 300 */
  cooldownPeriodSeconds?: number;
  /**
   * Seconds after the ScaledObject is created before KEDA may scale to zero, so a fresh deployment is
   * not scaled away before its first job arrives.
   * @default 0
   */
  initialCooldownPeriodSeconds?: number;
  /** The triggers; the HPA KEDA creates takes the largest recommendation among them. At least one. */
  triggers: PrometheusTrigger[];
  /**
   * What to hold when a trigger fails `failureThreshold` polls in a row; `false` for none (then an
   * unreachable Prometheus leaves the replicas where they are, and at zero stays at zero).
   * @default { failureThreshold: 3, replicas: max(1, minReplicas), behavior: "currentReplicasIfHigher" }
   */
  fallback?: ScaledObjectFallback | false;
  /** Seconds of sustained lower recommendation before scaling down (used by the default `behavior`). @default 600 */
  scaleDownStabilizationSeconds?: number;
  /** HPA behaviour KEDA passes to its HPA. @default gpuScalingBehavior(scaleDownStabilizationSeconds), as the Autoscaler's */
  behavior?: ScalingBehavior;
  /** Labels on the ScaledObject. @default {} */
  labels?: Record<string, string>;
  /**
   * Name of the HPA KEDA creates (`advanced.horizontalPodAutoscalerConfig.name`): the name of an HPA
   * that scales the Deployment today lets KEDA adopt that very object (with `transferHpaOwnership`),
   * so the Deployment is never without one.
   * @default KEDA's: `keda-hpa-<name>`
   */
  hpaName?: string;
  /** Let KEDA take over the existing HPA named `hpaName` (`scaledobject.keda.sh/transfer-hpa-ownership`). @default false */
  transferHpaOwnership?: boolean;
  /**
   * Paused (`autoscaling.keda.sh/paused: "true"`): KEDA creates no HPA and leaves the replicas alone,
   * so the object can stand by beside the HPA it will take over.
   * @default false
   */
  paused?: boolean;
}

/** The `spec` of a `keda.sh/v1alpha1` ScaledObject, validated; what {@link ScaledObject} registers. */
export function scaledObjectSpec(
  args: Omit<
    ScaledObjectArgs,
    "namespace" | "deploymentName" | "name" | "labels" | "transferHpaOwnership" | "paused"
  >,
  deploymentName: pulumi.Input<string>,
): Record<string, unknown> {
  const min = args.minReplicas ?? 1;
  const max = args.maxReplicas ?? 4;
  requireInteger("minReplicas", min, 0);
  requireInteger("maxReplicas", max, 1);
  if (min > max) {
    throw new InputPropertyError("minReplicas", `(${min}) must be <= 'maxReplicas' (${max})`);
  }
  const polling = args.pollingIntervalSeconds ?? 30;
  requireInteger("pollingIntervalSeconds", polling, 1, 3600);
  const cooldown = args.cooldownPeriodSeconds ?? 300;
  requireInteger("cooldownPeriodSeconds", cooldown, 0, 86400);
  const initialCooldown = args.initialCooldownPeriodSeconds ?? 0;
  requireInteger("initialCooldownPeriodSeconds", initialCooldown, 0, 86400);
  const stabilization = args.scaleDownStabilizationSeconds ?? 600;
  requireInteger("scaleDownStabilizationSeconds", stabilization, 0, 3600);
  if (args.triggers.length === 0) {
    throw new InputPropertyError("triggers", "must list at least one trigger, got []");
  }
  const triggers = args.triggers.map((t, i) => triggerSpec(t, `triggers[${i}]`));

  const fallback =
    args.fallback === false ? undefined : fallbackSpec(args.fallback ?? {}, min, max, args.triggers);
  return {
    scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: deploymentName },
    minReplicaCount: min,
    maxReplicaCount: max,
    pollingInterval: polling,
    cooldownPeriod: cooldown,
    initialCooldownPeriod: initialCooldown,
    ...(fallback ? { fallback } : {}),
    advanced: {
      horizontalPodAutoscalerConfig: {
        ...(args.hpaName ? { name: args.hpaName } : {}),
        behavior: args.behavior ?? gpuScalingBehavior(stabilization),
      },
    },
    triggers,
  };
}

function triggerSpec(t: PrometheusTrigger, at: string): Record<string, unknown> {
  let url: URL | undefined;
  try {
    url = new URL(t.serverAddress);
  } catch {
    url = undefined;
  }
  if (!url || !/^https?:$/.test(url.protocol)) {
    throw new InputPropertyError(
      `${at}.serverAddress`,
      `must be an http(s) URL of Prometheus, got ${quote(t.serverAddress)}`,
    );
  }
  if (t.query.trim() === "") {
    throw new InputPropertyError(`${at}.query`, `must be a PromQL query, got ${quote(t.query)}`);
  }
  try {
    promqlSelectors(t.query);
  } catch (e) {
    if (!(e instanceof PromqlSyntaxError)) throw e;
    throw new InputPropertyError(
      `${at}.query`,
      `is not valid PromQL (syntax error at ${e.position}), got ${quote(t.query)}`,
    );
  }
  if (!(Number.isFinite(t.threshold) && t.threshold > 0)) {
    throw new InputPropertyError(`${at}.threshold`, `must be a number > 0, got ${quote(t.threshold)}`);
  }
  const activation = t.activationThreshold ?? 0;
  if (!(Number.isFinite(activation) && activation >= 0)) {
    throw new InputPropertyError(
      `${at}.activationThreshold`,
      `must be a number >= 0, got ${quote(t.activationThreshold)}`,
    );
  }
  return {
    type: "prometheus",
    ...(t.name ? { name: t.name } : {}),
    metricType: t.metricType ?? "AverageValue",
    // KEDA reads every metadata value as a string.
    metadata: {
      serverAddress: t.serverAddress,
      query: t.query,
      threshold: String(t.threshold),
      activationThreshold: String(activation),
      ignoreNullValues: String(t.ignoreNullValues ?? false),
    },
  };
}

function fallbackSpec(
  f: ScaledObjectFallback,
  min: number,
  max: number,
  triggers: PrometheusTrigger[],
): Record<string, unknown> {
  const failureThreshold = f.failureThreshold ?? 3;
  requireInteger("fallback.failureThreshold", failureThreshold, 1, 100);
  const replicas = f.replicas ?? Math.max(1, min);
  // Zero would let a failing trigger scale GPUs to zero while work waits: the case a fallback is for.
  requireInteger("fallback.replicas", replicas, Math.max(1, min), max);
  // KEDA 2.20 computes a Value trigger's fallback by dividing by the ready pods and gives up when
  // there are none (pkg/fallback doFallback): at zero replicas it would never wake. AverageValue only.
  triggers.forEach((t, i) => {
    if ((t.metricType ?? "AverageValue") !== "AverageValue") {
      throw new InputPropertyError(
        `triggers[${i}].metricType`,
        `must be "AverageValue" while a fallback is set (KEDA cannot fall back on a Value trigger with no pod ready), got ${quote(t.metricType)}`,
      );
    }
  });
  return { failureThreshold, replicas, behavior: f.behavior ?? "currentReplicasIfHigher" };
}

/**
 * A KEDA `ScaledObject` (`keda.sh/v1alpha1`) on a Deployment, from Prometheus triggers: KEDA polls
 * them to wake the Deployment from zero (activation) and to put it back after the cooldown, and serves
 * them to the HPA it creates for 1..max. Defaults suit GPU workers: the Autoscaler's behaviour, and a
 * fallback that holds at least one pod while Prometheus cannot be read. It needs the KEDA chart's CRDs:
 * pass the {@link Keda} component (or its release) in `dependsOn`.
 */
export class ScaledObject extends pulumi.ComponentResource {
  /** `metadata.name` of the ScaledObject. */
  public readonly name: pulumi.Output<string>;
  /** The HPA KEDA creates and owns for this object (`hpaName`, else `keda-hpa-<name>`); never create another on the Deployment. */
  public readonly hpaName: pulumi.Output<string>;
  /** The ScaledObject object. */
  public readonly scaledObject: k8s.apiextensions.CustomResource;

  constructor(name: string, args: ScaledObjectArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:ScaledObject", name, {}, opts);
    const spec = scaledObjectSpec(args, args.deploymentName);
    if (args.transferHpaOwnership && !args.hpaName)
      throw new InputPropertyError(
        "transferHpaOwnership",
        "needs 'hpaName': the existing HPA KEDA is to take over, got true",
      );
    const annotations = {
      ...(args.transferHpaOwnership ? { "scaledobject.keda.sh/transfer-hpa-ownership": "true" } : {}),
      ...(args.paused ? { "autoscaling.keda.sh/paused": "true" } : {}),
    };
    this.scaledObject = new k8s.apiextensions.CustomResource(
      name,
      {
        apiVersion: "keda.sh/v1alpha1",
        kind: "ScaledObject",
        metadata: {
          name: args.name ?? name,
          namespace: args.namespace,
          labels: args.labels,
          ...(Object.keys(annotations).length ? { annotations } : {}),
        },
        spec,
      },
      childOptions(this, opts),
    );
    this.name = this.scaledObject.metadata.name;
    this.hpaName = args.hpaName ? pulumi.output(args.hpaName) : this.name.apply((n) => `keda-hpa-${n}`);
    this.registerOutputs({ name: this.name, hpaName: this.hpaName });
  }
}
