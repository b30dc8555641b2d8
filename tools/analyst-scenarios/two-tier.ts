import { counter, SeriesSpec } from "./history";

/**
 * The series a two-tier Sonic namespace really exports: the `api` Deployment's pods (container `api`)
 * and the GPU `worker` Deployment's pods (containers `worker` and `model-server`), named as a
 * ReplicaSet names them, each with kube-state-metrics' pod and container series for as long as it
 * lives; the tiers' HPAs as kube-state-metrics exports them (the adapter's, or the one KEDA creates:
 * both carry the Deployment's name, stacks/autoscaling.ts); and firing alerts as Prometheus' `ALERTS`.
 */

/** The tiers' Deployments, as the stack names them (stacks/index.ts `TIERS`). */
export const API_DEPLOYMENT = "sonic-generate-service";
export const WORKER_DEPLOYMENT = "sonic-generate-worker";

const GIB = 2 ** 30;
/** A value as a function of minutes before now. */
type Over = (minutesAgo: number) => number;
const always =
  (v: number): Over =>
  () =>
    v;

/** One container's state over time; unset: running, ready, never restarted. */
export interface ContainerState {
  ready?: Over;
  restarts?: Over;
  /** kube-state-metrics' waiting reason, or undefined while the container runs. */
  waiting?: (minutesAgo: number) => string | undefined;
}

export interface PodSpec {
  name: string;
  /** Minutes ago it started; its series exist from then on. @default history's start (before the look-back) */
  startedAgo?: number;
  version?: string;
  containers?: Record<string, ContainerState>;
  /** Scraped (`up`)? @default 1 */
  up?: Over;
}

export interface TwoTierSpec {
  api: PodSpec[];
  workers: PodSpec[];
  /** Jobs queued service-wide, as every pod reports it. @default 2 */
  queued?: Over;
  /** Replicas of the worker tier's HPA. @default 1 desired and current, 4 at most, never 0 */
  workerHpa?: { desired?: Over; current?: Over; max?: number; min?: number };
  /** Failed jobs per minute by reason, on the first worker. @default none */
  failuresPerMinute?: Record<string, Over>;
  /** Alerts firing (beyond the one analysed), as `ALERTS` series from `since` minutes ago. */
  alerts?: { labels: Record<string, string>; since: number }[];
}

/** The suffix characters a ReplicaSet gives its pods. */
export const apiPod = (suffix: string) => `${API_DEPLOYMENT}-7d9f8c6b5d-${suffix}`;
export const workerPod = (suffix: string, hash = "5f7b9c8d4") => `${WORKER_DEPLOYMENT}-${hash}-${suffix}`;

/** Every series of a two-tier namespace. */
export function twoTier(ns: string, spec: TwoTierSpec): SeriesSpec[] {
  const series: SeriesSpec[] = [];
  const add = (name: string, labels: Record<string, string>, value: SeriesSpec["value"]) =>
    series.push({ name, labels: { namespace: ns, ...labels }, value });
  const startedAt = Math.floor(Date.now() / 1000);
  const queued = spec.queued ?? always(2);

  const pod = (p: PodSpec, tier: "api" | "worker") => {
    const started = p.startedAgo ?? Infinity;
    const alive =
      (f: Over): SeriesSpec["value"] =>
      (m) =>
        m <= started ? f(m) : undefined;
    const labels = { pod: p.name };
    add(
      "kube_pod_start_time",
      labels,
      alive(() => (p.startedAgo === undefined ? startedAt - 86_400 : startedAt - p.startedAgo * 60)),
    );
    const containers: Record<string, ContainerState> =
      tier === "api" ? { api: {}, ...p.containers } : { worker: {}, "model-server": {}, ...p.containers };
    for (const [container, state] of Object.entries(containers)) {
      const c = { ...labels, container };
      add("kube_pod_container_status_restarts_total", c, alive(state.restarts ?? always(0)));
      add("kube_pod_container_status_ready", c, alive(state.ready ?? always(1)));
      // kube-state-metrics exports a waiting reason's series only while the container waits for it.
      const reasons = new Set<string>();
      for (let m = 0; m <= 130; m++) {
        const r = state.waiting?.(m);
        if (r) reasons.add(r);
      }
      for (const reason of reasons)
        add(
          "kube_pod_container_status_waiting_reason",
          { ...c, reason },
          alive((m) => (state.waiting?.(m) === reason ? 1 : 0)),
        );
    }
    add("up", { ...labels, job: API_DEPLOYMENT }, alive(p.up ?? always(1)));
    add("sonic_build_info", { ...labels, version: p.version ?? "1.4.0" }, alive(always(1)));
    add("sonic_jobs_queued", labels, alive(queued));
    add("sonic_queue_store_up", labels, alive(always(1)));
    add("sonic_process_resident_memory_bytes", labels, alive(always(300 * 2 ** 20)));
    if (tier === "api") {
      add("sonic_job_submissions_total", labels, alive(counter(() => 10)));
      add("sonic_request_total", { ...labels, status: "success" }, alive(counter(() => 10)));
      add("sonic_request_total", { ...labels, status: "server_error" }, alive(always(0)));
    } else {
      add("sonic_gpu_memory_used_bytes", { ...labels, gpu: "0" }, alive(always(0.4 * 24 * GIB)));
      add("sonic_gpu_memory_total_bytes", { ...labels, gpu: "0" }, alive(always(24 * GIB)));
      for (const reason of ["gpu_out_of_memory", "worker_lost", "inference_error"]) {
        const perMinute = p === spec.workers[0] ? spec.failuresPerMinute?.[reason] : undefined;
        add(
          "sonic_job_failures_total",
          { ...labels, reason },
          alive(perMinute ? counter(perMinute) : always(0)),
        );
      }
    }
  };
  for (const p of spec.api) pod(p, "api");
  for (const p of spec.workers) pod(p, "worker");

  const hpa = (name: string, desired: Over, current: Over, max: number, min: number) => {
    const labels = { horizontalpodautoscaler: name };
    add("kube_horizontalpodautoscaler_status_desired_replicas", labels, desired);
    add("kube_horizontalpodautoscaler_status_current_replicas", labels, current);
    add("kube_horizontalpodautoscaler_spec_max_replicas", labels, always(max));
    add("kube_horizontalpodautoscaler_spec_min_replicas", labels, always(min));
  };
  hpa(API_DEPLOYMENT, always(spec.api.length), always(spec.api.length), 6, 1);
  const w = spec.workerHpa ?? {};
  hpa(WORKER_DEPLOYMENT, w.desired ?? always(1), w.current ?? always(1), w.max ?? 4, w.min ?? 0);

  for (const a of spec.alerts ?? [])
    series.push({
      name: "ALERTS",
      labels: { alertstate: "firing", namespace: ns, ...a.labels },
      value: (m) => (m <= a.since ? 1 : undefined),
    });
  return series;
}
