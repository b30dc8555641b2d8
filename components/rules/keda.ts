import { parseDuration } from "../shared/durations";
import type { RuleGroup } from "./types";

/** kube-state-metrics' series of a ScaledObject's `status.conditions` (1 = "True"), from {@link KEDA_KUBE_STATE_METRICS_VALUES}. */
export const KEDA_CONDITION_SERIES = "kube_customresource_scaledobject_condition";

/**
 * Values of kube-prometheus-stack's `kube-state-metrics` subchart that export every ScaledObject's
 * conditions (`Ready`, `Active`, `Fallback`, `Paused`) as `kube_customresource_scaledobject_condition`
 * with the labels `namespace`, `scaledObject` and `type`: KEDA itself exports none of them. The
 * ClusterRole gets list/watch on `keda.sh` ScaledObjects.
 */
export const KEDA_KUBE_STATE_METRICS_VALUES = {
  rbac: {
    extraRules: [{ apiGroups: ["keda.sh"], resources: ["scaledobjects"], verbs: ["list", "watch"] }],
  },
  customResourceState: {
    enabled: true,
    config: {
      kind: "CustomResourceStateMetrics",
      spec: {
        resources: [
          {
            groupVersionKind: { group: "keda.sh", version: "v1alpha1", kind: "ScaledObject" },
            labelsFromPath: { namespace: ["metadata", "namespace"], scaledObject: ["metadata", "name"] },
            metrics: [
              {
                name: "scaledobject_condition",
                help: "A condition of a KEDA ScaledObject: 1 when its status is True.",
                each: {
                  type: "Gauge",
                  gauge: {
                    path: ["status", "conditions"],
                    labelsFromPath: { type: ["type"] },
                    valueFrom: ["status"],
                  },
                },
              },
            ],
          },
        ],
      },
    },
  },
};

/** A ScaledObject the platform expects KEDA to be running a scale loop for. */
export interface ExpectedScaledObject {
  /** Namespace of the ScaledObject. */
  namespace: string;
  /** `metadata.name` of the ScaledObject. */
  name: string;
}

/** Arguments of the KEDA rule catalogue: where KEDA runs and which ScaledObjects must be scaling. */
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
   * How long a ScaledObject must be in its fallback (or, without one, fail every poll) before
   * KedaScaledObjectFallbackActive.
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
 * KEDA exports no series for its `Fallback` condition (nor for `Ready`), and once a trigger has failed
 * more than `failureThreshold` polls in a row, `GetMetricsWithFallback` (pkg/fallback) hands back the
 * fallback metric *without an error*: `keda_scaler_detail_errors_total` stops counting after the
 * first few failures and `keda_scaler_active` reads 1 for as long as the fallback lasts. So the
 * fallback is read from the ScaledObject's `status.conditions`, which kube-state-metrics exports with
 * {@link KEDA_KUBE_STATE_METRICS_VALUES} (`MonitoringStack.kubeStateMetricsValues`) as
 * `kube_customresource_scaledobject_condition{type="Fallback"}`; without a fallback set, errors on
 * every poll are the frozen state. A ScaledObject KEDA rejects has no scale loop and so no
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
        // The Fallback condition (kube-state-metrics), or, where no fallback is set, errors on every
        // poll: with a fallback KEDA stops counting errors once it falls back (see above).
        expr: `max by (namespace, scaledObject) (${KEDA_CONDITION_SERIES}{type="Fallback"}) == 1 or sum by (namespace, scaledObject) (rate(keda_scaler_detail_errors_total{type="scaledobject"}[2m])) > 0`,
        for: durations.fallbackAfter,
        labels: { severity: "critical" },
        annotations: {
          summary: "A KEDA trigger keeps failing: the ScaledObject holds its fallback replicas",
          description: `ScaledObject {{ $labels.namespace }}/{{ $labels.scaledObject }} has had a trigger failing past its fallback.failureThreshold for ${durations.fallbackAfter} (KEDA's Fallback condition, or an error on every poll where no fallback is set): KEDA holds fallback.replicas (or, without a fallback, scaling is frozen where it is) until the trigger answers again.`,
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
