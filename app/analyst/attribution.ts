import type { Facts } from "./evidence";
import { clock } from "./evidence";
import { codeSpan } from "./slack-text";

/** A likely cause, with the numbers behind it. */
export interface Hypothesis {
  id: string;
  title: string;
  /** 0..1: how strongly the facts point here (a fixed weight per rule when its conditions hold). */
  confidence: number;
  /** The evidence, in words with numbers. */
  facts: string[];
  /**
   * What to do next (read-only advice: the analyst never acts). `<namespace>` and `<pod>` stand for
   * the alert's own; the report fills them in.
   */
  next: string;
}

/** One deterministic attribution rule: when `match` finds its facts, the cause is likely. */
export interface AttributionRule {
  id: string;
  title: string;
  confidence: number;
  next: string;
  /** The supporting facts as sentences, or undefined when the rule does not apply. */
  match(f: Facts, options: AttributionOptions): string[] | undefined;
}

export interface AttributionOptions {
  /** A release counts as the cause when errors begin within this many seconds after it. @default 900 */
  releaseWindowSeconds?: number;
  /** Resident-memory growth per hour that counts as a leak. @default 20 MiB */
  leakBytesPerHour?: number;
  /** GPU memory growth per hour, as a share of the GPU, that counts as a leak. @default 0.05 */
  gpuLeakRatioPerHour?: number;
  /** A single step up of GPU memory, as a share of the GPU, that reads as one large input. @default 0.1 */
  gpuJumpRatio?: number;
}

/** The container of a Sonic pod that runs the model (components/gpu-inference-service.ts). */
export const MODEL_SERVER_CONTAINER = "model-server";

const pct = (r: number) => `${(r * 100).toFixed(1)}%`;
const MIB = 2 ** 20;

/** Relative change of traffic between the look-back's start and now; undefined when unknown. */
function trafficChange(f: Facts): number | undefined {
  if (f.submissionRate === undefined || f.submissionRateBefore === undefined) return undefined;
  const now = f.submissionRate;
  const before = f.submissionRateBefore;
  return before > 0 ? Math.abs(now - before) / before : now > 0 ? 1 : 0;
}

/** The rules, as data: each names the facts it needs; `rankHypotheses` orders what matched. */
export const ATTRIBUTION_RULES: AttributionRule[] = [
  {
    id: "queue-store-down",
    title: "The job queue's store (Redis/Valkey) is down or unreachable",
    confidence: 0.95,
    next: "kubectl -n <namespace> get pods,events for the store (in-cluster Valkey) or check the managed Redis' status and network path; until it is back, submissions answer 503 queue_unavailable and the pods are unready.",
    match: (f) => {
      const down = f.queueStore?.downPods ?? [];
      const redisDown = (f.redisUp ?? []).filter((r) => r.up === 0);
      if (down.length === 0 && redisDown.length === 0) return undefined;
      return [
        ...(down.length > 0
          ? [
              `${down.length} of ${f.queueStore!.pods} pods report the job store unreachable (${down
                .slice(0, 5)
                .map((p) => codeSpan(p))
                .join(", ")})`,
            ]
          : []),
        ...(redisDown.length > 0
          ? [
              `redis_exporter reads redis_up 0 for the store ${redisDown.map((r) => codeSpan(r.pod)).join(", ")}`,
            ]
          : f.redisUp && f.redisUp.length === 0
            ? ["no redis_exporter in the namespace: an external (managed) store"]
            : []),
      ];
    },
  },
  {
    id: "gpu-memory-leak",
    title: "A GPU memory leak (steady growth at flat load, no large jumps)",
    confidence: 0.92,
    next: "Restart the model-server container of <pod> to recover; find what keeps GPU memory between jobs (cached tensors, a growing cache). Lowering concurrency or input limits will not fix it.",
    match: (f, o) => {
      const growth = f.gpuMemoryGrowthPerHour;
      const jump = f.gpuMemoryLargestJump;
      const change = trafficChange(f);
      if (!growth || growth.ratio < (o.gpuLeakRatioPerHour ?? 0.05)) return undefined;
      if (!jump || jump.ratio >= (o.gpuJumpRatio ?? 0.1)) return undefined;
      if (change === undefined || change > 0.2) return undefined;
      const oom = f.failures.gpu_out_of_memory ?? 0;
      return [
        `GPU memory of ${codeSpan(growth.pod)} climbs ${pct(growth.ratio)} of the GPU per hour`,
        `its largest single step up is ${pct(jump.ratio)}`,
        `traffic changed ${pct(change)} in the same time`,
        ...(oom > 0 ? [`${oom} jobs failed with gpu_out_of_memory at the end`] : []),
      ];
    },
  },
  {
    id: "inputs-too-large",
    title: "Inputs too large for the GPU (out of GPU memory)",
    confidence: 0.9,
    next: "Lower sonic.concurrencyPerGpu, or cap SONIC_MAX_AUDIO_SECONDS / SONIC_MAX_IMAGE_SIDE; check which inputs failed.",
    match: (f, o) => {
      const oom = f.failures.gpu_out_of_memory ?? 0;
      if (oom === 0 || !f.gpuMemoryMax || f.gpuMemoryMax.ratio < 0.95) return undefined;
      // Memory that only ever crept up is a leak, not an input: large inputs show as jumps.
      const jump = f.gpuMemoryLargestJump;
      if (jump && jump.ratio < (o.gpuJumpRatio ?? 0.1)) return undefined;
      return [
        `${oom} jobs failed with gpu_out_of_memory`,
        `GPU memory at ${pct(f.gpuMemoryMax.ratio)} on ${codeSpan(f.gpuMemoryMax.pod)}`,
        ...(jump ? [`GPU memory jumped ${pct(jump.ratio)} of the GPU in one step`] : []),
      ];
    },
  },
  {
    id: "model-server-down",
    title: "The model server is crash-looping or unready",
    confidence: 0.88,
    next: "kubectl -n <namespace> logs <pod> -c model-server --previous; kubectl -n <namespace> describe pod <pod> (last state, exit code). Its pod pulls no jobs until the model server is ready, so the backlog grows meanwhile.",
    match: (f) => {
      const mine = (c: { container: string }) => c.container === MODEL_SERVER_CONTAINER;
      const restarts = f.restartsByContainer.filter(mine);
      const looping = f.crashLooping.filter(mine);
      const unready = f.notReady.filter(mine);
      if (restarts.length + looping.length + unready.length === 0) return undefined;
      const list = (l: { pod: string }[]) => l.map((c) => codeSpan(c.pod)).join(", ");
      const grew =
        f.queueDepth !== undefined && f.queueDepthBefore !== undefined && f.queueDepth > f.queueDepthBefore;
      const failed = Object.values(f.failures).reduce((a, n) => a + n, 0);
      return [
        ...restarts.map((c) => `${codeSpan(c.container)} of ${codeSpan(c.pod)} restarted ${c.count} times`),
        ...(looping.length > 0
          ? [`${codeSpan(MODEL_SERVER_CONTAINER)} in CrashLoopBackOff on ${list(looping)}`]
          : []),
        ...(unready.length > 0 ? [`${codeSpan(MODEL_SERVER_CONTAINER)} not ready on ${list(unready)}`] : []),
        ...(grew ? [`the backlog grew from ${f.queueDepthBefore} to ${f.queueDepth} jobs`] : []),
        ...(failed === 0 ? ["0 failed jobs: the work waits rather than fails"] : []),
      ];
    },
  },
  {
    id: "bad-release",
    title: "A bad release",
    confidence: 0.85,
    next: "Compare the new version's changes; roll back the image (sonic.image) if the errors began with it.",
    match: (f, o) => {
      if (!f.deploy || f.conditionSince === undefined) return undefined;
      const after = f.conditionSince - f.deploy.at;
      if (after < 0 || after > (o.releaseWindowSeconds ?? 900)) return undefined;
      return [
        `version ${codeSpan(f.deploy.version)} appeared at ${clock(f.deploy.at)}`,
        `the alert's condition began ${Math.round(after / 60)}m later, at ${clock(f.conditionSince)}`,
      ];
    },
  },
  {
    id: "memory-limit",
    title: "A memory limit too low (pods OOM-killed)",
    confidence: 0.85,
    next: "Raise the container's memory limit (sonic.resources / modelServer.resources) or find what grew.",
    match: (f) =>
      f.targetsDown > 0 && f.oomKilled.length > 0
        ? [
            `${f.targetsDown} targets down`,
            `OOMKilled: ${f.oomKilled.map((c) => `${codeSpan(c.container)} of ${codeSpan(c.pod)}`).join(", ")}`,
            `${f.restarts} restarts`,
          ]
        : undefined,
  },
  {
    id: "memory-leak",
    title: "A memory leak (steady growth without more traffic)",
    confidence: 0.7,
    next: "Take a heap snapshot of the pod before it restarts; look at caches that hold per-job data.",
    match: (f, o) => {
      const slope = f.residentMemorySlopeBytesPerHour;
      if (slope === undefined || slope < (o.leakBytesPerHour ?? 20 * MIB)) return undefined;
      const now = f.submissionRate ?? 0;
      const before = f.submissionRateBefore ?? 0;
      const change = before > 0 ? Math.abs(now - before) / before : now > 0 ? 1 : 0;
      if (change > 0.2) return undefined;
      return [
        `resident memory grows ${(slope / MIB).toFixed(1)} MiB/hour`,
        `traffic changed ${pct(change)} in the same time`,
      ];
    },
  },
  {
    id: "model-server-unreachable",
    title: "The model server is unreachable or timing out",
    confidence: 0.6,
    next: "kubectl -n <namespace> logs <pod> -c model-server; check its readiness and GPU health (nvidia-smi).",
    match: (f) => {
      const n = (f.failures.worker_unavailable ?? 0) + (f.failures.worker_timeout ?? 0);
      return n > 0 ? [`${n} jobs failed reaching the model server`] : undefined;
    },
  },
  {
    id: "pods-lost",
    title: "Pods dying under the jobs (node loss, eviction, crash)",
    confidence: 0.5,
    next: "kubectl get events -n <namespace>; check node pressure and spot preemption.",
    match: (f) => {
      const lost = (f.failures.worker_lost ?? 0) + (f.failures.shutdown ?? 0);
      if (lost === 0 && f.restarts === 0) return undefined;
      return [
        ...(lost > 0 ? [`${lost} jobs lost with their pods`] : []),
        ...(f.restarts > 0
          ? [
              `${f.restarts} container restarts (${f.restartsByContainer
                .slice(0, 3)
                .map((c) => `${codeSpan(c.container)} of ${codeSpan(c.pod)}`)
                .join(", ")})`,
            ]
          : []),
      ];
    },
  },
];

/** The rules that hold, most confident first (ties keep the rules' order). */
export function rankHypotheses(facts: Facts, options: AttributionOptions = {}): Hypothesis[] {
  return ATTRIBUTION_RULES.flatMap((rule): Hypothesis[] => {
    const found = rule.match(facts, options);
    return found
      ? [{ id: rule.id, title: rule.title, confidence: rule.confidence, facts: found, next: rule.next }]
      : [];
  }).sort((a, b) => b.confidence - a.confidence);
}
