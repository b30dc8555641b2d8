import type { Facts } from "./evidence";
import { clock } from "./evidence";

/** A likely cause, with the numbers behind it. */
export interface Hypothesis {
  id: string;
  title: string;
  /** 0..1: how strongly the facts point here (a fixed weight per rule when its conditions hold). */
  confidence: number;
  /** The evidence, in words with numbers. */
  facts: string[];
  /** What to do next (read-only advice: the analyst never acts). */
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
}

const pct = (r: number) => `${(r * 100).toFixed(1)}%`;
const MIB = 2 ** 20;

/** The rules, as data: each names the facts it needs; `rankHypotheses` orders what matched. */
export const ATTRIBUTION_RULES: AttributionRule[] = [
  {
    id: "inputs-too-large",
    title: "Inputs too large for the GPU (out of GPU memory)",
    confidence: 0.9,
    next: "Lower sonic.concurrencyPerGpu, or cap SONIC_MAX_AUDIO_SECONDS / SONIC_MAX_IMAGE_SIDE; check which inputs failed.",
    match: (f) => {
      const oom = f.failures.gpu_out_of_memory ?? 0;
      if (oom === 0 || !f.gpuMemoryMax || f.gpuMemoryMax.ratio < 0.95) return undefined;
      return [
        `${oom} jobs failed with gpu_out_of_memory`,
        `GPU memory at ${pct(f.gpuMemoryMax.ratio)} on ${f.gpuMemoryMax.pod}`,
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
        `version ${f.deploy.version} appeared at ${clock(f.deploy.at)}`,
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
      f.targetsDown > 0 && f.oomKilledPods.length > 0
        ? [
            `${f.targetsDown} targets down`,
            `OOMKilled: ${f.oomKilledPods.join(", ")}`,
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
    next: "kubectl logs <pod> -c model-server; check its readiness and GPU health (nvidia-smi).",
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
        ...(f.restarts > 0 ? [`${f.restarts} container restarts`] : []),
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
