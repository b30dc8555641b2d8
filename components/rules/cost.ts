import { matchers, num } from "./format";
import type { CatalogueContext, RuleGroup } from "./types";

/** Share of the service's slots generating, over 5m (0..1): how much of the GPUs it holds do work. */
export const gpuBusyRatioRecord = (c: CatalogueContext) => `${c.prefix}:gpu_busy:ratio`;
/** GPUs held by the service's pods (one series per GPU the pods report). */
export const gpusAllocatedRecord = (c: CatalogueContext) => `${c.prefix}:gpus_allocated:count`;
/** GPUs held and not working: allocated x (1 - busy ratio). */
export const gpusIdleRecord = (c: CatalogueContext) => `${c.prefix}:gpus_idle:count`;
/** GPU-seconds allocated per second of video delivered, over 1h: the efficiency of the whole service. */
export const gpuSecondsPerVideoSecondRecord = (c: CatalogueContext) =>
  `${c.prefix}:gpu_seconds_per_video_second:ratio1h`;
/** Idle GPU-hours over the last day. */
export const gpuIdleHoursRecord = (c: CatalogueContext) => `${c.prefix}:gpu_idle_hours:1d`;
/** Price of one minute of generated video, over 1h, labelled with its currency. */
export const videoMinuteCostRecord = (c: CatalogueContext) => `${c.prefix}:video_minute_cost:1h`;
/** Price of the last day's idle GPU-hours, labelled with its currency. */
export const gpuIdleCostRecord = (c: CatalogueContext) => `${c.prefix}:gpu_idle_cost:1d`;

/**
 * Efficiency and cost. An idle GPU node is the largest line on a GPU service's bill, so the
 * catalogue measures it: busy time is the integral of jobs in progress (`slot_busy_seconds_total`)
 * over the slots the pods hold, and a video is priced by the GPU-seconds the service held per
 * second of video it delivered, idle time included, because idle time is paid for too.
 */
export function costRules(c: CatalogueContext): RuleGroup {
  const t = c.thresholds;
  const n = c.names;
  const own = matchers({ job: c.job, namespace: c.namespace });
  const hpa = matchers({ namespace: c.namespace, horizontalpodautoscaler: c.hpaName });
  const money = c.cost
    ? [
        {
          record: videoMinuteCostRecord(c),
          expr: `${gpuSecondsPerVideoSecondRecord(c)}${own} * 60 * ${num(c.cost.gpuHourly)} / 3600`,
          labels: { currency: c.cost.currency ?? "USD" },
        },
        {
          record: gpuIdleCostRecord(c),
          expr: `${gpuIdleHoursRecord(c)}${own} * ${num(c.cost.gpuHourly)}`,
          labels: { currency: c.cost.currency ?? "USD" },
        },
      ]
    : [];
  return {
    name: `${c.prefix}-cost`,
    rules: [
      {
        record: gpuBusyRatioRecord(c),
        expr: `sum by (namespace, job) (rate(${n.slotBusySeconds}${own}[5m])) / sum by (namespace, job) (${n.jobSlots}${own} > 0)`,
      },
      {
        // 0, not absent, while the service is up with no GPU pod (a worker tier scaled to zero, whose
        // API still exports the queue depth): the averages over time below count those hours as 0
        // GPUs rather than leaving them out, which would price them as if the GPUs had been held.
        record: gpusAllocatedRecord(c),
        expr: `count by (namespace, job) (${n.gpuMemoryTotal}${own}) or max by (namespace, job) (${n.jobsQueued}${own}) * 0`,
      },
      {
        record: gpusIdleRecord(c),
        expr: `${gpusAllocatedRecord(c)}${own} * (1 - clamp_max(${gpuBusyRatioRecord(c)}${own}, 1)) or ${gpusAllocatedRecord(c)}${own} == 0`,
      },
      {
        // No video in the hour: no series, rather than +Inf on the dashboard.
        record: gpuSecondsPerVideoSecondRecord(c),
        expr: `avg_over_time(${gpusAllocatedRecord(c)}${own}[1h]) / (sum by (namespace, job) (rate(${n.videoOutputSeconds}${own}[1h])) > 0)`,
      },
      {
        record: gpuIdleHoursRecord(c),
        expr: `avg_over_time(${gpusIdleRecord(c)}${own}[1d]) * 24`,
      },
      ...money,
      {
        // Idle GPUs are a cost problem only where the tier cannot shrink: at the HPA's minimum (or
        // with no HPA at all). Above it, the autoscaler is already bringing the count down.
        alert: `${c.alertPrefix}GpuIdle`,
        expr:
          `${gpuBusyRatioRecord(c)}${own} < ${num(t.gpuIdleRatio)}` +
          ` unless on (namespace) (kube_horizontalpodautoscaler_status_current_replicas${hpa} > on (namespace, horizontalpodautoscaler) kube_horizontalpodautoscaler_spec_min_replicas${hpa})`,
        for: t.gpuIdleFor,
        labels: { severity: "warning" },
        annotations: {
          summary: `${c.alertPrefix} GPUs are mostly idle`,
          description: `The GPUs of {{ $labels.namespace }}/{{ $labels.job }} were busy {{ $value | humanizePercentage }} of the time for ${t.gpuIdleFor} while the service cannot scale lower: they are paid for and unused.`,
          runbook_url: c.runbookUrl(`${c.alertPrefix}GpuIdle`),
        },
      },
    ],
  };
}
