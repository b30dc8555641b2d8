/**
 * KEDA's layer on top of the HPA, as pure functions: a SIMULATION of KEDA 2.20's operator (the scale
 * loop of pkg/scaling/executor/scale_scaledobjects.go) and of its metrics server's fallback
 * (pkg/fallback/fallback.go), not KEDA itself. KEDA owns 0 <-> minReplicas (activation, cooldown);
 * the HPA it creates owns max(minReplicaCount, 1)..maxReplicaCount on the triggers' metrics.
 *
 * Times are seconds on the controller's own clock.
 */

/** KEDA's defaults when the ScaledObject leaves them out. */
export const KEDA_DEFAULTS = { pollingInterval: 30, cooldownPeriod: 300, initialCooldownPeriod: 0 };

/** The part of a ScaledObject spec these functions read. */
export interface ScaledObjectSemantics {
  minReplicaCount: number;
  maxReplicaCount: number;
  pollingInterval: number;
  cooldownPeriod: number;
  initialCooldownPeriod: number;
  fallback?: {
    failureThreshold: number;
    replicas: number;
    behavior: "static" | "currentReplicas" | "currentReplicasIfHigher" | "currentReplicasIfLower";
  };
}

/** One trigger's reading at a poll: its value, or why it has none. */
export type TriggerReading = { value: number } | { error: string };

/** What KEDA keeps between polls (the ScaledObject's `status.lastActiveTime` and creation time). */
export interface KedaState {
  createdAt: number;
  lastActiveTime?: number;
}

/** One poll's outcome: the replicas KEDA writes to the scale, or `undefined` to leave them to the HPA. */
export interface KedaDecision {
  isActive: boolean;
  isError: boolean;
  scaleTo?: number;
  reason: string;
}

/**
 * The Prometheus scaler's reading of a query answer (pkg/scalers/prometheus_scaler.go): exactly one
 * sample is a value; no sample is 0 with `ignoreNullValues` and an error without (so the fallback can
 * hold the pods); several samples are an error; an infinite value is 0 or an error the same way.
 */
export function prometheusScalerValue(samples: number[], ignoreNullValues: boolean): TriggerReading {
  if (samples.length === 0) {
    return ignoreNullValues
      ? { value: 0 }
      : { error: "prometheus metrics 'prometheus' target may be lost, the result is empty" };
  }
  if (samples.length > 1) return { error: "prometheus query returned multiple elements" };
  const v = samples[0];
  if (!Number.isFinite(v)) {
    return ignoreNullValues ? { value: 0 } : { error: `prometheus query returned ${v}` };
  }
  return { value: v };
}

/**
 * A trigger is active while its value is strictly above its activation threshold (the scaler's
 * `IsActive`); a ScaledObject is active while any trigger is; a failing trigger is not active.
 */
export function activity(
  readings: TriggerReading[],
  activationThresholds: number[],
): { isActive: boolean; isError: boolean } {
  let isActive = false;
  let isError = false;
  readings.forEach((r, i) => {
    if ("error" in r) isError = true;
    else if (r.value > activationThresholds[i]) isActive = true;
  });
  return { isActive, isError };
}

/**
 * RequestScale of one poll. Active at 0 replicas: scale to max(minReplicaCount, 1) (the HPA then takes
 * over). Active above 0: only `lastActiveTime` moves. Inactive with an error and a fallback: nothing
 * (KEDA must not scale to zero, or its HPA could never apply the fallback). Inactive with minReplicaCount
 * 0: scale to 0 once `cooldownPeriod` has passed since the last active poll (or, never active,
 * `initialCooldownPeriod` since creation). Below minReplicaCount: up to it. Mutates `state`.
 */
export function kedaPoll(
  spec: ScaledObjectSemantics,
  state: KedaState,
  current: number,
  readings: TriggerReading[],
  activationThresholds: number[],
  now: number,
): KedaDecision {
  const { isActive, isError } = activity(readings, activationThresholds);
  const min = spec.minReplicaCount;
  if (isActive) {
    if (current === 0) {
      const to = Math.max(min, 1);
      state.lastActiveTime = now;
      return {
        isActive,
        isError,
        scaleTo: to,
        reason: `activated: a trigger is above its activation threshold, 0 -> ${to}`,
      };
    }
    if (isError) {
      return {
        isActive,
        isError,
        reason: "active, but some triggers failed (PartialTriggerError): left to the HPA",
      };
    }
    state.lastActiveTime = now;
    return { isActive, isError, reason: "active: the HPA scales" };
  }
  if (isError && spec.fallback && spec.fallback.replicas !== 0) {
    return {
      isActive,
      isError,
      reason: "triggers failing: the HPA applies the fallback after failureThreshold",
    };
  }
  if (isError) {
    return { isActive, isError, reason: "triggers failing and no fallback: nothing changes (Ready=False)" };
  }
  if (current > 0 && min === 0) {
    const cooled =
      state.lastActiveTime === undefined
        ? state.createdAt + spec.initialCooldownPeriod < now
        : state.lastActiveTime + spec.cooldownPeriod < now;
    if (cooled)
      return {
        isActive,
        isError,
        scaleTo: 0,
        reason: `deactivated: inactive past the cooldown, ${current} -> 0`,
      };
    const left = (state.lastActiveTime ?? state.createdAt) + spec.cooldownPeriod - now;
    return {
      isActive,
      isError,
      reason: `cooling down: ${Math.max(0, Math.round(left))}s before scale to zero`,
    };
  }
  if (current < min) {
    return { isActive, isError, scaleTo: min, reason: `below minReplicaCount: ${current} -> ${min}` };
  }
  return { isActive, isError, reason: current === 0 ? "inactive at zero" : "inactive: the HPA scales" };
}

/** Consecutive failures of each trigger's metric, as KEDA keeps them in `status.health`. */
export type FallbackHealth = Record<string, number>;

/**
 * GetMetricsWithFallback: what KEDA's metrics server hands the HPA for one trigger. A good reading
 * resets the failure count; a failure counts, and once the count is above `failureThreshold` the HPA
 * gets `target x fallback replicas` (AverageValue), so it asks for exactly those replicas:
 * `currentReplicasIfHigher` keeps a busier fleet as it is. Without a fallback the error goes to the HPA.
 */
export function metricWithFallback(
  spec: ScaledObjectSemantics,
  health: FallbackHealth,
  metric: string,
  reading: TriggerReading,
  target: number,
  currentReplicas: number,
): { value: number; fallback: boolean } | { error: string } {
  if ("value" in reading) {
    if (spec.fallback) health[metric] = 0;
    return { value: reading.value, fallback: false };
  }
  if (!spec.fallback) return { error: reading.error };
  health[metric] = (health[metric] ?? 0) + 1;
  if (health[metric] <= spec.fallback.failureThreshold) return { error: reading.error };
  return { value: target * fallbackReplicas(spec.fallback, currentReplicas), fallback: true };
}

/** doFallback's replica count for each `behavior`. */
export function fallbackReplicas(
  fallback: NonNullable<ScaledObjectSemantics["fallback"]>,
  current: number,
): number {
  switch (fallback.behavior) {
    case "currentReplicas":
      return current;
    case "currentReplicasIfHigher":
      return Math.max(current, fallback.replicas);
    case "currentReplicasIfLower":
      return Math.min(current, fallback.replicas);
    default:
      return fallback.replicas;
  }
}
