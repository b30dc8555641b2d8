import { matchers, num } from "./format";
import type { CatalogueContext, RuleGroup } from "./types";

/** Jobs queued + running across the service, in pods' worth of slots: the HPA's backlog signal. */
export const jobBacklogRecord = (c: CatalogueContext) => `${c.prefix}:job_backlog:ratio`;

/**
 * Jobs queued + running over the slots of one pod. `jobs_queued` is service-wide (the same on every
 * pod, the API's included): max, never sum. With no worker pod there are no running jobs and no
 * `job_slots`: the running jobs count 0 and the slots are the configured ones (`slotsPerPod`), or 1
 * when the catalogue was not told them, so one queued job reads > 0 and wakes a worker tier scaled to
 * zero, and an empty queue reads 0, never nothing (an absent series is a failing trigger to KEDA).
 */
function jobBacklogExpr(c: CatalogueContext): string {
  const own = matchers({ job: c.job, namespace: c.namespace });
  const n = c.names;
  const by = "by (namespace, job)";
  const queued = `max ${by} (${n.jobsQueued}${own})`;
  const running = `(sum ${by} (${n.jobsInProgress}${own}) or ${queued} * 0)`;
  const slots =
    c.slotsPerPod !== undefined
      ? num(c.slotsPerPod)
      : `(max ${by} (${n.jobSlots}${own}) or ${queued} * 0 + 1)`;
  return `(${queued} + ${running}) / ${slots}`;
}

/**
 * The shared job queue: its backlog, the store it lives in (Redis, seen from the app and from
 * redis_exporter), and jobs lost to the platform rather than to the model.
 */
export function queueRules(c: CatalogueContext): RuleGroup {
  const t = c.thresholds;
  const own = matchers({ job: c.job, namespace: c.namespace });
  const redis = matchers({ namespace: c.namespace });
  const n = c.names;
  return {
    name: `${c.prefix}-queue`,
    rules: [
      { record: jobBacklogRecord(c), expr: jobBacklogExpr(c) },
      {
        alert: `${c.alertPrefix}QueueBacklog`,
        expr: `max by (namespace, job) (${n.jobsQueued}${own}) > ${num(t.queueBacklog)}`,
        for: t.queueBacklogFor,
        labels: { severity: "warning" },
        annotations: {
          summary: `${c.alertPrefix} jobs are piling up`,
          description: `{{ $value }} jobs wait in the shared queue of {{ $labels.namespace }}/{{ $labels.job }}.`,
          runbook_url: c.runbookUrl(`${c.alertPrefix}QueueBacklog`),
        },
      },
      {
        alert: `${c.alertPrefix}QueueStoreUnreachable`,
        expr: `min by (namespace, job) (${n.queueStoreUp}${own}) == 0`,
        for: t.queueStoreDownFor,
        labels: { severity: "critical" },
        annotations: {
          summary: `${c.alertPrefix} pods cannot reach the job queue`,
          description: `A pod of {{ $labels.namespace }}/{{ $labels.job }} has not reached Redis for ${t.queueStoreDownFor}: submissions answer 503 queue_unavailable and the pods are unready.`,
          runbook_url: c.runbookUrl(`${c.alertPrefix}QueueStoreUnreachable`),
        },
      },
      {
        // redis_exporter beside an in-cluster Redis; silent for a managed Redis without one.
        alert: `${c.alertPrefix}QueueStoreDown`,
        expr: `redis_up${redis} == 0`,
        for: t.queueStoreDownFor,
        labels: { severity: "critical" },
        annotations: {
          summary: `The ${c.alertPrefix} job queue's Redis is down`,
          description: `redis_exporter in {{ $labels.namespace }}/{{ $labels.pod }} cannot reach Redis for ${t.queueStoreDownFor}.`,
          runbook_url: c.runbookUrl(`${c.alertPrefix}QueueStoreDown`),
        },
      },
      {
        alert: `${c.alertPrefix}QueueStoreMemoryHigh`,
        expr: `redis_memory_used_bytes${redis} / (redis_memory_max_bytes${redis} > 0) > ${num(t.queueStoreMemoryRatio)}`,
        for: t.queueStoreMemoryFor,
        labels: { severity: "warning" },
        annotations: {
          summary: `The ${c.alertPrefix} job queue's Redis is near maxmemory`,
          description: `Redis in {{ $labels.namespace }}/{{ $labels.pod }} uses {{ $value | humanizePercentage }} of maxmemory; at 100% it refuses new jobs (noeviction).`,
          runbook_url: c.runbookUrl(`${c.alertPrefix}QueueStoreMemoryHigh`),
        },
      },
      {
        alert: `${c.alertPrefix}QueueStoreRejectedConnections`,
        expr: `increase(redis_rejected_connections_total${redis}[5m]) > 0`,
        for: "0m",
        labels: { severity: "warning" },
        annotations: {
          summary: `The ${c.alertPrefix} job queue's Redis refuses connections`,
          description: `Redis in {{ $labels.namespace }}/{{ $labels.pod }} rejected {{ $value }} connections in 5m (maxclients reached).`,
          runbook_url: c.runbookUrl(`${c.alertPrefix}QueueStoreRejectedConnections`),
        },
      },
      {
        // Failures the model did not cause: pods dying mid-job, a drain cut short, inputs outliving
        // their TTL in the queue.
        alert: `${c.alertPrefix}JobsLost`,
        expr: `sum by (namespace, job, reason) (increase(${n.jobFailures}{job="${c.job}", namespace="${c.namespace}", reason=~"worker_lost|shutdown|input_expired"}[15m])) > 0`,
        for: "0m",
        labels: { severity: "warning" },
        annotations: {
          summary: `${c.alertPrefix} jobs failed because of the platform, not the model`,
          description: `{{ $value }} jobs of {{ $labels.namespace }}/{{ $labels.job }} failed with reason {{ $labels.reason }} in 15m.`,
          runbook_url: c.runbookUrl(`${c.alertPrefix}JobsLost`),
        },
      },
    ],
  };
}
