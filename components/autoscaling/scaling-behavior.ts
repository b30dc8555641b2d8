/** `autoscaling/v2` HPA behaviour, as both engines write it (HPA `spec.behavior`, KEDA `advanced.horizontalPodAutoscalerConfig.behavior`). */
export interface ScalingBehavior {
  /** How fast replicas are added. */
  scaleUp: ScalingRules;
  /** How fast replicas are removed. */
  scaleDown: ScalingRules;
}

/** One direction of an HPA's behaviour (`spec.behavior.scaleUp` or `.scaleDown`). */
export interface ScalingRules {
  /** Seconds of past recommendations considered: down takes their highest, up their lowest. */
  stabilizationWindowSeconds: number;
  /** Which policy wins when several allow a change: the larger (`Max`), the smaller, or none. */
  selectPolicy: "Max" | "Min" | "Disabled";
  /** Limits on the change per period. */
  policies: {
    /** `Pods`: `value` pods; `Percent`: `value` percent of the current replicas. */
    type: "Pods" | "Percent";
    /** How many pods, or what percentage. */
    value: number;
    /** Period the limit applies over, in seconds. */
    periodSeconds: number;
  }[];
}

/**
 * The behaviour of GPU pods that take minutes to schedule and load a model: scale up promptly but by
 * at most two pods every two minutes (a third pod would only wait behind the first two's model
 * load), scale down one pod every five minutes after a long stabilisation window, so a pause between
 * bursts does not hand back a GPU that the next burst needs again. One definition for the
 * prometheus-adapter HPA (Autoscaler) and the KEDA ScaledObject, so both engines scale alike.
 */
export function gpuScalingBehavior(scaleDownStabilizationSeconds = 600): ScalingBehavior {
  return {
    scaleUp: {
      stabilizationWindowSeconds: 60,
      selectPolicy: "Max",
      policies: [{ type: "Pods", value: 2, periodSeconds: 120 }],
    },
    scaleDown: {
      stabilizationWindowSeconds: scaleDownStabilizationSeconds,
      selectPolicy: "Min",
      policies: [{ type: "Pods", value: 1, periodSeconds: 300 }],
    },
  };
}
