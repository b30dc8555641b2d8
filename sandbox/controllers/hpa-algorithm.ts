/**
 * The Kubernetes HorizontalPodAutoscaler algorithm (autoscaling/v2), as pure functions: a SIMULATION
 * of the controller in kube-controller-manager, written from pkg/controller/podautoscaler/
 * horizontal.go and replica_calculator.go (Kubernetes 1.3x) and the "Horizontal Pod Autoscaling" docs.
 * It is what the sandbox's simulated controllers apply; it never talks to a cluster.
 *
 * Times are seconds on the controller's own clock (the loop may run that clock faster than the wall's).
 */

/** The controller's default `--horizontal-pod-autoscaler-tolerance`: ratios within 10% of 1 do not scale. */
export const HPA_TOLERANCE = 0.1;

/** The controller's default `--horizontal-pod-autoscaler-sync-period`, in seconds. */
export const HPA_SYNC_SECONDS = 15;

/** One `behavior.scaleUp` / `scaleDown` of an HPA (the fields the algorithm reads). */
export interface HpaScalingRules {
  stabilizationWindowSeconds: number;
  selectPolicy: "Max" | "Min" | "Disabled";
  policies: { type: "Pods" | "Percent"; value: number; periodSeconds: number }[];
}

export interface HpaBehavior {
  scaleUp: HpaScalingRules;
  scaleDown: HpaScalingRules;
}

/**
 * The API server's defaults for an HPA without `behavior` (or a direction left out): scale up by the
 * larger of 4 pods or 100% every 15 s with no window, scale down by up to 100% every 15 s after 300 s.
 */
export const DEFAULT_BEHAVIOR: HpaBehavior = {
  scaleUp: {
    stabilizationWindowSeconds: 0,
    selectPolicy: "Max",
    policies: [
      { type: "Pods", value: 4, periodSeconds: 15 },
      { type: "Percent", value: 100, periodSeconds: 15 },
    ],
  },
  scaleDown: {
    stabilizationWindowSeconds: 300,
    selectPolicy: "Max",
    policies: [{ type: "Percent", value: 100, periodSeconds: 15 }],
  },
};

/**
 * One metric's reading, in the shape the replica calculator needs:
 * - `external-average`: External metric with an `AverageValue` target; `value` is the sum of the
 *   metric's series (desired = ceil(value / target), whatever the current count);
 * - `external-value`: External metric with a `Value` target (desired = ceil(value / target x ready));
 * - `pods`: Pods metric (or Resource utilisation): one value per pod that reported, target per pod.
 */
export type MetricReading =
  | { kind: "external-average"; name: string; value: number; target: number }
  | { kind: "external-value"; name: string; value: number; target: number }
  | { kind: "pods"; name: string; values: Record<string, number>; target: number }
  | { kind: "error"; name: string; error: string };

/** A metric's proposal and the usage ratio it came from. */
export interface MetricProposal {
  name: string;
  replicas: number;
  ratio: number;
}

/**
 * Replicas one metric asks for (replica_calculator.go). `readyPods` are the target's ready pods (the
 * ones a Pods metric averages over); `current` is the scale's `spec.replicas`.
 */
export function replicasForMetric(
  reading: Exclude<MetricReading, { kind: "error" }>,
  current: number,
  readyPods: readonly string[],
  tolerance = HPA_TOLERANCE,
): MetricProposal {
  const within = (ratio: number) => Math.abs(1 - ratio) <= tolerance;
  switch (reading.kind) {
    case "external-average": {
      // GetExternalPerPodMetricReplicas: the ratio is against the current count, the proposal is not.
      const ratio = current === 0 ? Infinity : reading.value / (reading.target * current);
      const replicas = within(ratio) ? current : Math.ceil(reading.value / reading.target);
      return { name: reading.name, replicas, ratio };
    }
    case "external-value": {
      // GetExternalMetricReplicas -> calcPlainMetricReplicas over the ready pods.
      const ready = readyPods.length;
      const ratio = reading.value / reading.target;
      const replicas = within(ratio) ? current : Math.ceil(ratio * ready);
      return { name: reading.name, replicas, ratio };
    }
    case "pods":
      return podsMetricReplicas(reading, current, readyPods, tolerance);
  }
}

/**
 * calcPlainMetricReplicas: the average over the ready pods that reported; pods that did not report are
 * assumed at 0 when scaling up and at the target when scaling down (so a missing reading never makes
 * the move larger), and the move is dropped if that flips its direction or lands within tolerance.
 */
function podsMetricReplicas(
  reading: { name: string; values: Record<string, number>; target: number },
  current: number,
  readyPods: readonly string[],
  tolerance: number,
): MetricProposal {
  const reported = readyPods.filter((p) => reading.values[p] !== undefined);
  const missing = readyPods.length - reported.length;
  if (reported.length === 0) return { name: reading.name, replicas: current, ratio: 1 };
  const sum = reported.reduce((a, p) => a + reading.values[p], 0);
  const ratio = sum / reported.length / reading.target;
  if (missing === 0) {
    const replicas = Math.abs(1 - ratio) <= tolerance ? current : Math.ceil(ratio * reported.length);
    return { name: reading.name, replicas, ratio };
  }
  if (Math.abs(1 - ratio) <= tolerance) return { name: reading.name, replicas: current, ratio };
  const fill = ratio < 1 ? reading.target : 0;
  const newRatio = (sum + fill * missing) / readyPods.length / reading.target;
  if (Math.abs(1 - newRatio) <= tolerance || ratio < 1 !== newRatio < 1) {
    return { name: reading.name, replicas: current, ratio: newRatio };
  }
  const replicas = Math.ceil(newRatio * readyPods.length);
  // Counting the missing pods must never turn a scale-up into a scale-down or the reverse.
  if ((newRatio < 1 && replicas > current) || (newRatio > 1 && replicas < current)) {
    return { name: reading.name, replicas: current, ratio: newRatio };
  }
  return { name: reading.name, replicas, ratio: newRatio };
}

/**
 * computeReplicasForMetrics: the largest proposal wins. A metric that could not be read blocks a scale
 * down (the controller will not shrink on partial information); if none could be read, nothing moves.
 * `failed` is the controller's error return: that sync then changes nothing and records nothing.
 */
export function replicasForMetrics(
  readings: MetricReading[],
  current: number,
  readyPods: readonly string[],
  tolerance = HPA_TOLERANCE,
): { replicas: number; proposals: MetricProposal[]; errors: string[]; reason: string; failed: boolean } {
  const errors = readings.flatMap((r) => (r.kind === "error" ? [`${r.name}: ${r.error}`] : []));
  const proposals = readings.flatMap((r) =>
    r.kind === "error" ? [] : [replicasForMetric(r, current, readyPods, tolerance)],
  );
  if (proposals.length === 0) {
    return {
      replicas: current,
      proposals,
      errors,
      reason: "FailedGetMetrics: no metric could be read",
      failed: true,
    };
  }
  const best = proposals.reduce((a, b) => (b.replicas > a.replicas ? b : a));
  if (errors.length > 0 && best.replicas < current) {
    return {
      replicas: current,
      proposals,
      errors,
      reason: "some metrics could not be read: no scale down on partial information",
      failed: true,
    };
  }
  return {
    replicas: best.replicas,
    proposals,
    errors,
    reason: `largest proposal: ${best.name}`,
    failed: false,
  };
}

/** A recommendation or a scale event the controller remembers (its `recommendations` / `scaleUpEvents`). */
interface Timestamped {
  at: number;
  value: number;
}

/** What the controller keeps between syncs for one HPA. */
export interface HpaState {
  recommendations: Timestamped[];
  /** Replicas added (`value` > 0) per scale-up. */
  scaleUpEvents: Timestamped[];
  /** Replicas removed (`value` > 0) per scale-down. */
  scaleDownEvents: Timestamped[];
}

export function newHpaState(): HpaState {
  return { recommendations: [], scaleUpEvents: [], scaleDownEvents: [] };
}

/**
 * stabilizeRecommendationWithBehaviors: the recommendation is held between the lowest recommendation of
 * the scale-up window and the highest of the scale-down window (both including this one), starting from
 * the current count, so a brief spike or dip moves nothing. Records the raw recommendation.
 */
export function stabilize(
  state: HpaState,
  behavior: HpaBehavior,
  current: number,
  desired: number,
  now: number,
): { replicas: number; reason: string } {
  const upCutoff = now - behavior.scaleUp.stabilizationWindowSeconds;
  const downCutoff = now - behavior.scaleDown.stabilizationWindowSeconds;
  let up = desired;
  let down = desired;
  let oldIndex = -1;
  state.recommendations.forEach((rec, i) => {
    if (rec.at > upCutoff) up = Math.min(up, rec.value);
    if (rec.at > downCutoff) down = Math.max(down, rec.value);
    if (rec.at < upCutoff && rec.at < downCutoff) oldIndex = i;
  });
  let replicas = current;
  if (replicas < up) replicas = up;
  if (replicas > down) replicas = down;
  // The controller reuses one expired slot rather than growing the list forever.
  if (oldIndex >= 0) state.recommendations[oldIndex] = { at: now, value: desired };
  else state.recommendations.push({ at: now, value: desired });
  const reason =
    replicas === desired
      ? "ReadyForNewScale"
      : replicas < desired
        ? "ScaleUpStabilized: recent recommendations were lower"
        : "ScaleDownStabilized: recent recommendations were higher";
  return { replicas, reason };
}

/** getReplicasChangePerPeriod: replicas changed by events newer than `now - period`. */
function changedWithin(events: Timestamped[], periodSeconds: number, now: number): number {
  return events.filter((e) => e.at > now - periodSeconds).reduce((a, e) => a + e.value, 0);
}

/** calculateScaleUpLimitWithScalingRules: the most replicas the scale-up policies allow now. */
export function scaleUpLimit(state: HpaState, rules: HpaScalingRules, current: number, now: number): number {
  if (rules.selectPolicy === "Disabled") return current;
  const pick = rules.selectPolicy === "Min" ? Math.min : Math.max;
  let result = rules.selectPolicy === "Min" ? Infinity : -Infinity;
  for (const p of rules.policies) {
    // The count at the start of the period: the policy bounds the change over the whole period.
    const start =
      current -
      changedWithin(state.scaleUpEvents, p.periodSeconds, now) +
      changedWithin(state.scaleDownEvents, p.periodSeconds, now);
    const proposed = p.type === "Pods" ? start + p.value : Math.ceil(start * (1 + p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

/** calculateScaleDownLimitWithBehaviors: the fewest replicas the scale-down policies allow now. */
export function scaleDownLimit(
  state: HpaState,
  rules: HpaScalingRules,
  current: number,
  now: number,
): number {
  if (rules.selectPolicy === "Disabled") return current;
  // For a scale-down the smallest change is the highest count, hence the inverted pick.
  const pick = rules.selectPolicy === "Min" ? Math.max : Math.min;
  let result = rules.selectPolicy === "Min" ? -Infinity : Infinity;
  for (const p of rules.policies) {
    const start =
      current -
      changedWithin(state.scaleUpEvents, p.periodSeconds, now) +
      changedWithin(state.scaleDownEvents, p.periodSeconds, now);
    const proposed = p.type === "Pods" ? start - p.value : Math.floor(start * (1 - p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

/**
 * convertDesiredReplicasWithBehaviorRate: bounds the stabilised recommendation by the policies and by
 * min/max, in the direction it moves.
 */
export function applyRateLimits(
  state: HpaState,
  behavior: HpaBehavior,
  min: number,
  max: number,
  current: number,
  desired: number,
  now: number,
): { replicas: number; reason: string } {
  if (desired > current) {
    const limit = Math.max(scaleUpLimit(state, behavior.scaleUp, current, now), current);
    const allowed = Math.min(max, limit);
    const reason = max > limit ? "ScaleUpLimit" : "TooManyReplicas";
    if (desired > allowed) return { replicas: allowed, reason };
  } else if (desired < current) {
    const limit = Math.min(scaleDownLimit(state, behavior.scaleDown, current, now), current);
    const allowed = Math.max(min, limit);
    const reason = min < limit ? "ScaleDownLimit" : "TooFewReplicas";
    if (desired < allowed) return { replicas: allowed, reason };
  }
  return { replicas: desired, reason: "DesiredWithinRange" };
}

/** The part of an HPA spec the algorithm reads. */
export interface HpaSpec {
  minReplicas: number;
  maxReplicas: number;
  behavior?: Partial<HpaBehavior>;
}

/** One sync's outcome: what the controller would write to the scale, and why. */
export interface HpaDecision {
  current: number;
  /** The metrics' recommendation, before stabilisation and policies. */
  recommendation: number;
  desired: number;
  proposals: MetricProposal[];
  errors: string[];
  reason: string;
}

/**
 * One sync of reconcileAutoscaler for one HPA: out-of-range counts are corrected first, a target at 0
 * with `minReplicas` > 0 is left alone (scaling disabled: KEDA's job), else the metrics' recommendation
 * goes through stabilisation and the policies. Records the scale event when the count changes, so the
 * next sync's policies see it. Mutates `state`.
 */
export function hpaSync(
  spec: HpaSpec,
  state: HpaState,
  current: number,
  readings: MetricReading[],
  readyPods: readonly string[],
  now: number,
  tolerance = HPA_TOLERANCE,
): HpaDecision {
  const behavior: HpaBehavior = {
    scaleUp: spec.behavior?.scaleUp ?? DEFAULT_BEHAVIOR.scaleUp,
    scaleDown: spec.behavior?.scaleDown ?? DEFAULT_BEHAVIOR.scaleDown,
  };
  const base = { current, proposals: [] as MetricProposal[], errors: [] as string[] };
  let decision: HpaDecision;
  if (current === 0 && spec.minReplicas !== 0) {
    decision = { ...base, recommendation: 0, desired: 0, reason: "ScalingDisabled: the target is at zero" };
  } else if (current > spec.maxReplicas) {
    decision = {
      ...base,
      recommendation: spec.maxReplicas,
      desired: spec.maxReplicas,
      reason: "current replicas above maxReplicas",
    };
  } else if (current < spec.minReplicas) {
    decision = {
      ...base,
      recommendation: spec.minReplicas,
      desired: spec.minReplicas,
      reason: "current replicas below minReplicas",
    };
  } else {
    const metrics = replicasForMetrics(readings, current, readyPods, tolerance);
    if (metrics.failed) {
      // reconcileAutoscaler returns with the error: no recommendation recorded, no scale.
      const { proposals, errors, reason } = metrics;
      return { current, recommendation: current, desired: current, proposals, errors, reason };
    }
    const stable = stabilize(state, behavior, current, metrics.replicas, now);
    const limited = applyRateLimits(
      state,
      behavior,
      spec.minReplicas,
      spec.maxReplicas,
      current,
      stable.replicas,
      now,
    );
    decision = {
      current,
      recommendation: metrics.replicas,
      desired: limited.replicas,
      proposals: metrics.proposals,
      errors: metrics.errors,
      reason: [metrics.reason, stable.reason, limited.reason].join("; "),
    };
  }
  recordScale(state, current, decision.desired, now);
  return decision;
}

/** storeScaleEvent: remembers a change so the policies of later syncs count it against their period. */
export function recordScale(state: HpaState, from: number, to: number, now: number): void {
  if (to > from) state.scaleUpEvents.push({ at: now, value: to - from });
  if (to < from) state.scaleDownEvents.push({ at: now, value: from - to });
  // Older than any policy period: the controller drops those too (it keeps the longest period's).
  const horizon = 3600 * 2;
  state.scaleUpEvents = state.scaleUpEvents.filter((e) => e.at > now - horizon);
  state.scaleDownEvents = state.scaleDownEvents.filter((e) => e.at > now - horizon);
}
