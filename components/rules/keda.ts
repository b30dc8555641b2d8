import { parseDuration } from "../durations";
import type { RuleGroup } from "./types";

/** A ScaledObject the platform expects KEDA to be running a scale loop for. */
export interface ExpectedScaledObject {
  namespace: string;
  name: string;
}

export interface KedaRuleOptions {
  /** Base of runbook links; each alert links to `<base>#<alertname lower-cased>`. */
  runbookBaseUrl: string;
  /** Namespace KEDA runs in (its own targets' `namespace`). @default "keda" */
  kedaNamespace?: string;
  /**
   * ScaledObjects that must have a running scale loop: one missing (rejected by KEDA's checks, e.g. a
   * second HPA on its Deployment, or its target gone) fires KedaScaledObjectNotReady.
   * @default []
   */
  scaledObjects?: ExpectedScaledObject[];
  /** How long a scaler must keep erroring now and then before KedaScalerErrors. @default "10m" */
  scalerErrorsFor?: string;
  /**
   * How long a scaler must fail without pause before KedaScaledObjectFallbackActive: longer than the
   * ScaledObject's `fallback.failureThreshold` x `pollingInterval` (3 x 30 s by default).
   * @default "3m"
   */
  fallbackAfter?: string;
  /** How long a ScaledObject may stay paused before KedaScaledObjectPaused. @default "1h" */
  pausedFor?: string;
  /** How long a ScaledObject may be broken before KedaScaledObjectNotReady. @default "10m" */
  notReadyFor?: string;
  /** How long KEDA's operator or metrics server may be unscrapeable before KedaDown. @default "5m" */
  downFor?: string;
}

/** Alert names of {@link kedaRules}. */
export const KEDA_ALERTS = [
  "KedaDown",
  "KedaScaledObjectNotReady",
  "KedaScaledObjectFallbackActive",
  "KedaScalerErrors",
  "KedaScaledObjectPaused",
] as const;

/**
 * KEDA's own health, from the series KEDA 2.20 exports (pkg/metricscollector/prommetrics.go at
 * v2.20.2): `keda_scaler_detail_errors_total` and `keda_scaler_active` per trigger,
 * `keda_scaled_object_errors_total` and `keda_scaled_object_paused` per ScaledObject, all labelled
 * `namespace` (the ScaledObject's, restored by KEDA_NAMESPACE_RELABELINGS) and `scaledObject`.
 *
 * KEDA exports no series for its `Fallback` condition (nor for `Ready`): a trigger falls back once it
 * has failed more than `failureThreshold` polls in a row (pkg/fallback), so continuous scaler errors
 * for longer than that are the fallback, and `kubectl get scaledobject` (column FALLBACK) or the event
 * `ScaledObjectFallbackActivated` confirm it. A ScaledObject KEDA rejects has no scale loop and so no
 * `keda_scaler_active` series: the expected ones are checked by name.
 *
 * A separate group, deployed once per cluster beside KEDA, not part of a service's catalogue.
 */
export function kedaRules(options: KedaRuleOptions): RuleGroup {
  const ns = options.kedaNamespace ?? "keda";
  const durations = {
    scalerErrorsFor: options.scalerErrorsFor ?? "10m",
    fallbackAfter: options.fallbackAfter ?? "3m",
    pausedFor: options.pausedFor ?? "1h",
    notReadyFor: options.notReadyFor ?? "10m",
    downFor: options.downFor ?? "5m",
  };
  for (const [key, value] of Object.entries(durations)) parseDuration(key, value);
  const url = (alert: string) => `${options.runbookBaseUrl}#${alert.toLowerCase()}`;
  const scalerErrors = (window: string) =>
    `sum by (namespace, scaledObject, scaler, metric) (rate(keda_scaler_detail_errors_total{type="scaledobject"}[${window}])) > 0`;
  const objectErrors = `sum by (namespace, scaledObject) (rate(keda_scaled_object_errors_total[5m])) > 0`;
  const triggerErrors = `sum by (namespace, scaledObject) (rate(keda_scaler_detail_errors_total{type="scaledobject"}[5m])) > 0`;
  const missing = (options.scaledObjects ?? []).map(
    (so) => `absent(keda_scaler_active{namespace="${so.namespace}", scaledObject="${so.name}"})`,
  );
  const kedaJobs = ["keda-operator", "keda-operator-metrics-apiserver"];
  return {
    name: "keda",
    rules: [
      {
        alert: "KedaDown",
        expr: [
          `sum by (namespace, job) (up{namespace="${ns}", job=~"${kedaJobs.join("|")}"}) == 0`,
          ...kedaJobs.map((job) => `absent(up{namespace="${ns}", job="${job}"})`),
        ].join(" or "),
        for: durations.downFor,
        labels: { severity: "critical" },
        annotations: {
          summary: "KEDA cannot be scraped: nothing it scales is being scaled",
          description: `{{ $labels.namespace }}/{{ $labels.job }} has had no scrapeable target for ${durations.downFor}: without the operator no ScaledObject wakes from zero or returns to it; without the metrics server the HPAs KEDA created read no external metric.`,
          runbook_url: url("KedaDown"),
        },
      },
      {
        alert: "KedaScaledObjectNotReady",
        expr: [`(${objectErrors}) unless on (namespace, scaledObject) (${triggerErrors})`, ...missing].join(
          " or ",
        ),
        for: durations.notReadyFor,
        labels: { severity: "critical" },
        annotations: {
          summary: "A ScaledObject has no working scale loop",
          description: `KEDA cannot run ScaledObject {{ $labels.namespace }}/{{ $labels.scaledObject }} for ${durations.notReadyFor} (its scalers cannot be built, or it was rejected and has no scale loop): its Deployment is not autoscaled.`,
          runbook_url: url("KedaScaledObjectNotReady"),
        },
      },
      {
        alert: "KedaScaledObjectFallbackActive",
        expr: scalerErrors("2m"),
        for: durations.fallbackAfter,
        labels: { severity: "critical" },
        annotations: {
          summary: "A KEDA trigger keeps failing: the ScaledObject holds its fallback replicas",
          description: `Trigger {{ $labels.scaler }} ({{ $labels.metric }}) of ScaledObject {{ $labels.namespace }}/{{ $labels.scaledObject }} has failed every poll for ${durations.fallbackAfter}: past its failureThreshold KEDA holds fallback.replicas (or, without a fallback, scaling is frozen where it is) until the trigger answers again.`,
          runbook_url: url("KedaScaledObjectFallbackActive"),
        },
      },
      {
        alert: "KedaScalerErrors",
        expr: scalerErrors("5m"),
        for: durations.scalerErrorsFor,
        labels: { severity: "warning" },
        annotations: {
          summary: "A KEDA trigger errors now and then",
          description: `Trigger {{ $labels.scaler }} ({{ $labels.metric }}) of ScaledObject {{ $labels.namespace }}/{{ $labels.scaledObject }} has errored in every 5m window for ${durations.scalerErrorsFor} ({{ $value | humanize }} errors/s): each failed poll is a scaling decision skipped.`,
          runbook_url: url("KedaScalerErrors"),
        },
      },
      {
        alert: "KedaScaledObjectPaused",
        expr: `max by (namespace, scaledObject) (keda_scaled_object_paused) == 1`,
        for: durations.pausedFor,
        labels: { severity: "warning" },
        annotations: {
          summary: "A ScaledObject has been paused for long",
          description: `ScaledObject {{ $labels.namespace }}/{{ $labels.scaledObject }} has been paused (annotation autoscaling.keda.sh/paused or paused-replicas) for ${durations.pausedFor}: its Deployment does not follow the load.`,
          runbook_url: url("KedaScaledObjectPaused"),
        },
      },
    ],
  };
}
