import type { AnalystServiceProfile } from "../../contract/analyst-service-profile";
import type { ContainerRef, Facts } from "./evidence";
import { clock, count, gpusFree } from "./evidence";
import { codeSpan } from "./slack-text";
import { Tier, TIER_IMPACT, tierOf } from "./tiers";

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
  /** The pods its facts are about: a cause explains a symptom on the same pods. @default none */
  pods?: string[];
  /** Symptoms folded into this cause (their rule ids): they are its evidence, not rivals. */
  explained?: string[];
}

/** What a rule found when it holds: its facts, and where the finding refines the rule's own text. */
export interface Finding {
  facts: string[];
  /** A headline naming what was found (the tier and container). @default the rule's title */
  title?: string;
  /** Advice fitting what was found (the tier). @default the rule's */
  next?: string;
  /** The pods it is about. @default none */
  pods?: string[];
}

/** Advice, fixed or written from the service's own settings (a TTS page never quotes `sonic.image`). */
export type Advice = string | ((options: AttributionOptions) => string);

/** One deterministic attribution rule: when `match` finds its facts, the cause is likely. */
export interface AttributionRule {
  id: string;
  title: string;
  confidence: number;
  next: Advice;
  /**
   * Symptoms this cause explains (rule ids): when both hold and every pod of the symptom is one of this
   * cause's pods, the symptom becomes this cause's evidence and the cause ranks at least as high.
   * @default none
   */
  explains?: string[];
  /** The supporting facts as sentences (or a finding), or undefined when the rule does not apply. */
  match(f: Facts, options: AttributionOptions): string[] | Finding | undefined;
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
  /**
   * A wait for a node that ended this many seconds ago, its pods all ready since, is no longer news.
   * @default 900
   */
  schedulingWindowSeconds?: number;
  /** The alert's service: its tiers, cold start, autoscaler and setting names. @default none */
  profile?: AnalystServiceProfile;
}

/** The container of a Sonic pod that runs the model (components/service/gpu-inference-service.ts). */
export const MODEL_SERVER_CONTAINER = "model-server";

const pct = (r: number) => `${(r * 100).toFixed(1)}%`;
const minutes = (seconds: number) => `${Math.round(seconds / 60)}m`;
const MIB = 2 ** 20;

/** Relative change of traffic between the look-back's start and now; undefined when unknown. */
function trafficChange(f: Facts): number | undefined {
  if (f.submissionRate === undefined || f.submissionRateBefore === undefined) return undefined;
  const now = f.submissionRate;
  const before = f.submissionRateBefore;
  return before > 0 ? Math.abs(now - before) / before : now > 0 ? 1 : 0;
}

/** ` (`sonic.image`)` when the service's profile names that setting; nothing for another service. */
function setting(o: AttributionOptions, key: keyof NonNullable<AnalystServiceProfile["settings"]>): string {
  const name = o.profile?.settings?.[key];
  return name ? ` (${codeSpan(name)})` : "";
}

/** The worker tier's HPA: the adapter's, or the one KEDA creates, both named after the Deployment. */
function workerHpa(f: Facts, o: AttributionOptions): Facts["hpas"][number] | undefined {
  const worker = o.profile?.tiers?.worker;
  return worker ? f.hpas.find((h) => h.name === worker) : undefined;
}

/** What scales the worker tier, in on-call's words. */
function autoscalerName(o: AttributionOptions): string {
  const engine = o.profile?.autoscaler;
  switch (engine) {
    case "keda":
      return "KEDA";
    case "adapter":
      return "the HPA (prometheus-adapter)";
    case undefined:
      return "the autoscaler";
    default: {
      const unreachable: never = engine;
      return unreachable;
    }
  }
}

const tierName = (tier: Tier | undefined) => (tier ? `${tier} tier: ` : "");

/** Waiting reasons of a container that will not start by itself: a crash loop or a broken spec. */
const BROKEN_WAITING = new Set([
  "CrashLoopBackOff",
  "ImagePullBackOff",
  "ErrImagePull",
  "InvalidImageName",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
]);

/** Why KEDA does not wake a ScaledObject, and what brings it back (by KEDA's alert, as data). */
export const AUTOSCALER_STUCK: Record<string, { why: string; next: string }> = {
  KedaScaledObjectPaused: {
    why: "is paused",
    next: "Unpause it if nobody paused it on purpose: kubectl -n <namespace> annotate scaledobject <scaledobject> autoscaling.keda.sh/paused- autoscaling.keda.sh/paused-replicas-. Until then queued jobs wait; nothing is lost.",
  },
  KedaScalerErrors: {
    why: "has a trigger that keeps erroring",
    next: "kubectl -n <namespace> describe scaledobject <scaledobject> and the keda-operator's logs: the trigger's Prometheus query or serverAddress fails. Until it answers, KEDA cannot see the backlog and the workers stay at zero.",
  },
  KedaScaledObjectNotReady: {
    why: "has no working scale loop",
    next: "kubectl -n <namespace> describe scaledobject <scaledobject> (its Ready condition says why: a second HPA on the Deployment, a missing target, a bad trigger). Until it is Ready nothing wakes the workers.",
  },
  KedaDown: {
    why: "is not acted on: KEDA itself is down",
    next: "kubectl -n keda get pods,events: bring back keda-operator (it wakes Deployments from zero) and keda-operator-metrics-apiserver. Until then no ScaledObject of the cluster scales from or to zero.",
  },
};

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
    id: "autoscaler-not-waking",
    title: "The autoscaler will not wake the worker tier",
    confidence: 0.93,
    next: "Bring the autoscaler back; until then queued jobs wait.",
    match: (f, o) => {
      const worker = o.profile?.tiers?.worker;
      if (!worker || (f.queueDepth ?? 0) <= 0) return undefined;
      // KEDA deletes a paused ScaledObject's HPA (and a rejected one never gets one): then the
      // Deployment's own replicas are the figure. An HPA deleted within the look-back is still known by
      // name, with no value now (seen with the real KEDA: a ScaledObject paused right after it adopted
      // the adapter's HPA): it is gone all the same.
      const known = workerHpa(f, o);
      const hpa = known && (known.desired !== undefined || known.current !== undefined) ? known : undefined;
      const deployment = f.deployments.find((d) => d.name === worker);
      if ((hpa ? (hpa.desired ?? hpa.current) : deployment?.replicas) !== 0) return undefined;
      // The ScaledObject carries the worker Deployment's name (stacks/autoscaling.ts).
      const alerts = f.autoscalerAlerts.filter(
        (a) =>
          AUTOSCALER_STUCK[a.alertname] &&
          (a.alertname === "KedaDown" || a.scaledObject === undefined || a.scaledObject === worker),
      );
      // KEDA's own series reads paused at once (its alert waits out a `for:`), and a paused
      // ScaledObject has no scale loop for another alert to be about. Else the ScaledObject's own
      // alert (it says what is wrong with this one), then KEDA down.
      const paused = f.pausedScaledObjects.includes(worker);
      const alert = paused
        ? alerts.find((a) => a.alertname === "KedaScaledObjectPaused")
        : (alerts.find((a) => a.alertname !== "KedaDown") ?? alerts.find((a) => a.alertname === "KedaDown"));
      const stuck = paused ? "KedaScaledObjectPaused" : alert?.alertname;
      if (!stuck) return undefined;
      const object = `${f.namespace}/${worker}`;
      const cause = AUTOSCALER_STUCK[stuck];
      return {
        title: `KEDA will not wake the worker tier: ScaledObject ${codeSpan(object)} ${cause.why}`,
        facts: [
          hpa
            ? `${count(f.queueDepth!)} jobs queued while HPA ${codeSpan(hpa.name)} desires ${hpa.desired ?? "?"} replicas (current ${hpa.current ?? "?"})`
            : `${count(f.queueDepth!)} jobs queued while Deployment ${codeSpan(worker)} runs 0 replicas and has no HPA${paused ? " (KEDA deletes a paused ScaledObject's HPA)" : ""}`,
          ...(paused ? [`KEDA's own \`keda_scaled_object_paused\` reads 1 for ${codeSpan(object)}`] : []),
          ...(alert
            ? [
                `${codeSpan(alert.alertname)} firing${alert.scaler ? ` (trigger ${codeSpan(alert.scaler)})` : ""}`,
              ]
            : []),
        ],
        next: cause.next.replace(/<scaledobject>/g, codeSpan(worker)),
      };
    },
  },
  {
    id: "waiting-for-node",
    title: "Pods waited for a node (unschedulable), not a crash",
    confidence: 0.9,
    next: "kubectl -n <namespace> describe pod <pod>: its events say what no node has.",
    // Young model servers unready because they got their node late, and a cold start that overran
    // because of that wait, are what the wait did.
    explains: ["model-server-down", "cold-start"],
    match: (f, o) => {
      const window = o.schedulingWindowSeconds ?? 900;
      const waitOf = (p: Facts["scheduling"][number]) => (p.scheduledAt ?? f.now) - p.created;
      // A wait is news while it lasts, while a pod that waited is not ready yet, and shortly after.
      const waited = f.scheduling.filter(
        (p) =>
          p.unschedulable &&
          waitOf(p) >= 60 &&
          (p.scheduledAt === undefined || p.ready !== true || f.now - p.scheduledAt <= window),
      );
      if (waited.length === 0) return undefined;
      const pods = waited.map((p) => p.pod);
      // Bound, then crashing or broken: the crash rules speak.
      const broken = (c: { pod: string; reason: string }) =>
        pods.includes(c.pod) && BROKEN_WAITING.has(c.reason);
      if (f.restartsByContainer.some((c) => pods.includes(c.pod)) || f.waiting.some(broken)) return undefined;

      const tiers = [...new Set(waited.map((p) => tierOf(p.pod, o.profile)))];
      const tier = tiers.length === 1 ? tiers[0] : undefined;
      const who = tier ? `The ${tier} tier` : "Pods";
      const ofTier = tier ? f.scheduling.filter((p) => tierOf(p.pod, o.profile) === tier) : waited;
      const gpu = waited.every((p) => p.gpus > 0);
      const node = gpu ? "a GPU node" : "a node";
      const longest = Math.max(...waited.map(waitOf));
      const still = waited.filter((p) => p.scheduledAt === undefined);
      const restarted = tier
        ? f.restartsByContainer.filter((c) => tierOf(c.pod, o.profile) === tier).length > 0
        : false;
      const ready = ofTier.filter((p) => p.ready === true);
      const notReady = ofTier.filter((p) => p.ready !== true);
      const budget = tier === "worker" ? o.profile?.coldStartSeconds : undefined;

      const facts = waited
        .slice(0, 3)
        .map(
          (p) =>
            `${codeSpan(p.pod)} Pending, unschedulable ${minutes(waitOf(p))}: created ${clock(p.created)}, ${p.scheduledAt === undefined ? "not bound yet" : `bound ${clock(p.scheduledAt)}`}`,
        );
      if (waited.length > 3) facts.push(`${waited.length - 3} more pods waited as long`);
      if (gpu && f.gpuNodes.length > 0) {
        const allocatable = f.gpuNodes.reduce((a, n) => a + n.allocatable, 0);
        const requested = f.gpuNodes.reduce((a, n) => a + n.requested, 0);
        const free = gpusFree(f);
        facts.push(
          `each asks ${[...new Set(waited.map((p) => count(p.gpus)))].join(" or ")} \`nvidia.com/gpu\`; the cluster's GPU nodes now: ${count(requested)} of ${count(allocatable)} requested, ${count(free)} free` +
            (still.length > 0 && free > 0
              ? " (so something else keeps it off them too: taints, node selector, affinity)"
              : ""),
        );
      }
      if (!restarted) facts.push(`no container of ${tier ? `the ${tier} tier` : "these pods"} restarted`);
      facts.push(
        `${ready.length} of ${ofTier.length} ${tier ? `${tier} ` : ""}pods ready now` +
          (notReady.length > 0
            ? `; not ready yet: ${notReady
                .slice(0, 2)
                .map((p) =>
                  p.scheduledAt === undefined
                    ? `${codeSpan(p.pod)} (unscheduled)`
                    : `${codeSpan(p.pod)} (bound ${minutes(f.now - p.scheduledAt)} ago${p.pending ? ", still Pending" : ""})`,
                )
                .join(", ")}`
            : ""),
      );
      const hpa = tier === "worker" ? workerHpa(f, o) : undefined;
      if (hpa?.minCurrent === 0)
        facts.push(
          `HPA ${codeSpan(hpa.name)} was at 0 replicas within the look-back and now desires ${hpa.desired ?? "?"} (current ${hpa.current ?? "?"})`,
        );
      const firstCreated = Math.min(...waited.map((p) => p.created));
      if (budget !== undefined)
        facts.push(
          `cold start ${budget}s${setting(o, "coldStart")}: ${minutes(f.now - firstCreated)} since the pods were created, ${minutes(longest)} of it waiting for ${node}`,
        );

      const worst = [...waited].sort((a, b) => waitOf(b) - waitOf(a))[0];
      const lastBound = Math.max(...waited.map((p) => p.scheduledAt ?? f.now));
      const next =
        still.length > 0
          ? `kubectl -n <namespace> describe pod ${codeSpan(still[0].pod)}: its events say what no node has (e.g. Insufficient ${gpu ? "nvidia.com/gpu" : "cpu"}). Then check the ${gpu ? "GPU " : ""}node pool: the cluster autoscaler's (or Karpenter's) maximum, the cloud quota, the zone's stock. Queued jobs wait; nothing is lost.`
          : `Nothing is broken: the pods got ${node} late and are starting; queued jobs are served as they turn ready.` +
            (budget !== undefined && notReady.length > 0
              ? ` Worry if a pod is still not ready after ${clock(lastBound + budget)} (its cold start counted from its node) or a container restarts.`
              : "") +
            ` To shorten the next wait: keep ${gpu ? "a GPU node" : "a node"} warm (node pool minimum, or a worker minimum above 0), or count the node's start in the cold start${setting(o, "coldStart")}; kubectl -n <namespace> describe pod ${codeSpan(worst.pod)} shows the scheduler's events.`;
      return {
        title:
          still.length > 0
            ? `${who} is waiting for ${node}: ${still.length} pod${still.length === 1 ? "" : "s"} unschedulable for ${minutes(longest)}${restarted ? "" : "; no restart"}`
            : `${who} waited ${minutes(longest)} for ${node} (pods unschedulable)${restarted ? "" : "; no restart"}; ${ready.length} of ${ofTier.length} pods ready now`,
        facts,
        next,
        pods,
      };
    },
  },
  {
    id: "autoscaler-at-max",
    title: "The worker tier is capped at its maximum replicas",
    confidence: 0.8,
    next: (o) =>
      `The autoscaler asks for more workers than it may run: raise the worker tier's maximum${setting(o, "workerMaxReplicas")} if the GPU quota and nodes allow, or accept the wait: the backlog drains at the pods' pace.`,
    match: (f, o) => {
      const hpa = workerHpa(f, o);
      if (!hpa || hpa.max === undefined || hpa.max === 0 || (f.queueDepth ?? 0) <= 0) return undefined;
      if ((hpa.desired ?? 0) < hpa.max || (hpa.current ?? 0) < hpa.max) return undefined;
      const grew =
        f.queueDepthBefore !== undefined && f.queueDepth! > f.queueDepthBefore
          ? `, up from ${count(f.queueDepthBefore)}`
          : "";
      return {
        title: `The worker tier is capped at its maximum: ${autoscalerName(o)} holds HPA ${codeSpan(hpa.name)} at ${hpa.max} of ${hpa.max} replicas`,
        facts: [
          `HPA ${codeSpan(hpa.name)} desires ${hpa.desired}, runs ${hpa.current}, may run at most ${hpa.max}`,
          `${count(f.queueDepth!)} jobs queued${grew}`,
        ],
      };
    },
  },
  {
    id: "cold-start",
    title: "The worker tier is waking from zero (cold start)",
    confidence: 0.8,
    next: "Nothing to do yet: queued jobs wait and are served once the model is loaded.",
    // Young model servers are unready while they load the model: that is the cold start itself.
    explains: ["model-server-down"],
    match: (f, o) => {
      const budget = o.profile?.coldStartSeconds;
      const hpa = workerHpa(f, o);
      if (budget === undefined || !hpa || hpa.minCurrent !== 0 || (hpa.desired ?? hpa.current ?? 0) < 1)
        return undefined;
      const workers = f.podStarts.filter((p) => tierOf(p.pod, o.profile) === "worker");
      if (workers.length === 0) return undefined;
      const oldest = Math.min(...workers.map((p) => p.at));
      const age = f.now - oldest;
      const pods = workers.map((p) => p.pod);
      // Past the budget, or restarting: no longer a cold start, the other rules speak.
      const restarts = f.restartsByContainer.filter((c) => pods.includes(c.pod));
      const broken = f.waiting.filter((c) => pods.includes(c.pod) && BROKEN_WAITING.has(c.reason));
      if (age > budget || restarts.length > 0 || broken.length > 0) return undefined;
      const left = budget - age;
      const until = clock(oldest + budget);
      const unready = f.notReady.filter((c) => pods.includes(c.pod));
      return {
        title: `The worker tier is waking from zero: about ${Math.ceil(left / 60)}m left of its ${Math.round(budget / 60)}m cold start`,
        facts: [
          `HPA ${codeSpan(hpa.name)} was at 0 replicas within the look-back and now desires ${hpa.desired ?? "?"} (current ${hpa.current ?? "?"})`,
          `${workers.length} worker pod${workers.length === 1 ? "" : "s"} started ${Math.round(age / 60)}m ago (${pods
            .slice(0, 3)
            .map((p) => codeSpan(p))
            .join(", ")}), 0 restarts`,
          `cold start ${budget}s${setting(o, "coldStart")}: ${Math.round(left)}s left, until ${until}`,
          ...(unready.length > 0
            ? [
                `not ready yet: ${unready.map((c) => `${codeSpan(c.container)} of ${codeSpan(c.pod)}`).join(", ")}`,
              ]
            : []),
        ],
        next: `Nothing to do yet: queued jobs wait and are served once the model is loaded. Worry if a worker pod is still not ready after ${until} (the end of the cold start) or if any of its containers restarts: then kubectl -n <namespace> describe pod and logs -c model-server --previous.`,
        pods,
      };
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
        ...(oom > 0 ? [`${count(oom)} jobs failed with gpu_out_of_memory at the end`] : []),
      ];
    },
  },
  {
    id: "inputs-too-large",
    title: "Inputs too large for the GPU (out of GPU memory)",
    confidence: 0.9,
    next: (o) =>
      `Lower the jobs per GPU${setting(o, "concurrency")}, or cap the inputs' size${setting(o, "inputLimits")}; check which inputs failed.`,
    match: (f, o) => {
      const oom = f.failures.gpu_out_of_memory ?? 0;
      if (oom === 0 || !f.gpuMemoryMax || f.gpuMemoryMax.ratio < 0.95) return undefined;
      // Memory that only ever crept up is a leak, not an input: large inputs show as jumps.
      const jump = f.gpuMemoryLargestJump;
      if (jump && jump.ratio < (o.gpuJumpRatio ?? 0.1)) return undefined;
      return [
        `${count(oom)} jobs failed with gpu_out_of_memory`,
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
      const pods = [...new Set([...restarts, ...looping, ...unready].map((c) => c.pod))];
      return {
        pods,
        facts: [
          ...restarts.map((c) => `${codeSpan(c.container)} of ${codeSpan(c.pod)} restarted ${c.count} times`),
          ...(looping.length > 0
            ? [`${codeSpan(MODEL_SERVER_CONTAINER)} in CrashLoopBackOff on ${list(looping)}`]
            : []),
          ...(unready.length > 0
            ? [`${codeSpan(MODEL_SERVER_CONTAINER)} not ready on ${list(unready)}`]
            : []),
          ...(grew ? [`the backlog grew from ${f.queueDepthBefore} to ${f.queueDepth} jobs`] : []),
          ...(failed === 0 ? ["0 failed jobs: the work waits rather than fails"] : []),
        ],
      };
    },
  },
  {
    id: "container-crash-loop",
    title: "A container is crash-looping",
    confidence: 0.88,
    // A crash loop is pods dying: the same restarts, told by their cause.
    explains: ["pods-lost"],
    next: "kubectl -n <namespace> logs <pod> --previous for the looping container; kubectl -n <namespace> describe pod <pod> (last state, exit code).",
    match: (f, o) => {
      // The model server has its own rule (model-server-down): its unready spell is the usual symptom.
      const broken = f.waiting.filter(
        (c) => BROKEN_WAITING.has(c.reason) && c.container !== MODEL_SERVER_CONTAINER,
      );
      const looping = [
        ...broken,
        ...f.crashLooping
          .filter((c) => c.container !== MODEL_SERVER_CONTAINER)
          .filter((c) => !broken.some((b) => b.pod === c.pod && b.container === c.container))
          .map((c) => ({ ...c, reason: "CrashLoopBackOff" })),
      ];
      if (looping.length === 0) return undefined;
      const restartsOf = (c: ContainerRef) =>
        f.restartsByContainer.find((r) => r.pod === c.pod && r.container === c.container)?.count ?? 0;
      // The worst container, the alert's own pod first among equals: the advice names it.
      const worst = [...looping].sort(
        (a, b) => restartsOf(b) - restartsOf(a) || Number(b.pod === f.pod) - Number(a.pod === f.pod),
      )[0];
      const tier = tierOf(worst.pod, o.profile);
      // One fact per container (a fact is capped), each told by its tier.
      const facts = looping.map(
        (c) =>
          `${tierName(tierOf(c.pod, o.profile))}${codeSpan(c.container)} of ${codeSpan(c.pod)} in ${codeSpan(c.reason)} (${restartsOf(c)} restarts in the window)`,
      );
      // Every tier of the service is named: "workers fine" is evidence too.
      if (o.profile?.tiers)
        for (const other of ["api", "worker"] as const) {
          if (!o.profile.tiers[other] || looping.some((c) => tierOf(c.pod, o.profile) === other)) continue;
          const mine = f.restartsByContainer.filter((c) => tierOf(c.pod, o.profile) === other);
          facts.push(
            `${other} tier: ${mine.length === 0 ? "no restarts" : `${mine.reduce((a, c) => a + c.count, 0)} restarts`}`,
          );
        }
      const podList = [...new Set(looping.map((c) => c.pod))];
      return {
        title: `The ${codeSpan(worst.container)} container${tier ? ` of the ${tier} tier` : ""} is crash-looping`,
        facts,
        next: `${tier ? `${TIER_IMPACT[tier]} ` : ""}kubectl -n <namespace> logs ${codeSpan(worst.pod)} -c ${codeSpan(worst.container)} --previous; kubectl -n <namespace> describe pod ${codeSpan(worst.pod)} (last state, exit code).`,
        pods: podList,
      };
    },
  },
  {
    id: "bad-release",
    title: "A bad release",
    confidence: 0.85,
    next: (o) =>
      `Roll back the image${setting(o, "image")} to the version before it; then compare the new version's changes.`,
    // A release's own pods crash-looping, unready or lost are what the release did, not a second cause.
    explains: ["model-server-down", "container-crash-loop", "pods-lost"],
    match: (f, o) => {
      if (!f.deploy || f.conditionSince === undefined) return undefined;
      const deploy = f.deploy;
      const after = f.conditionSince - deploy.at;
      if (after < 0 || after > (o.releaseWindowSeconds ?? 900)) return undefined;
      // Its pods: those reporting the new version, and those started since (a pod that never turns
      // ready may report nothing yet).
      const pods = [
        ...new Set([
          ...f.podVersions.filter((p) => p.version === deploy.version).map((p) => p.pod),
          ...f.podStarts.filter((p) => p.at >= deploy.at - 60).map((p) => p.pod),
        ]),
      ];
      return {
        facts: [
          `version ${codeSpan(deploy.version)} appeared at ${clock(deploy.at)}`,
          `the alert's condition began ${Math.round(after / 60)}m later, at ${clock(f.conditionSince)}`,
        ],
        title: `A bad release (${codeSpan(deploy.version)})`,
        pods,
      };
    },
  },
  {
    id: "memory-limit",
    title: "A memory limit too low (pods OOM-killed)",
    confidence: 0.85,
    next: (o) => `Raise the container's memory limit${setting(o, "resources")} or find what grew.`,
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
      return n > 0 ? [`${count(n)} jobs failed reaching the model server`] : undefined;
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
      // Restarts alone are about their pods (a crash loop or a release may explain them); lost jobs
      // say nothing of which pods, so nothing explains them away.
      const pods = lost === 0 ? [...new Set(f.restartsByContainer.map((c) => c.pod))] : undefined;
      return {
        ...(pods ? { pods } : {}),
        facts: [
          ...(lost > 0 ? [`${count(lost)} jobs lost with their pods`] : []),
          ...(f.restarts > 0
            ? [
                `${f.restarts} container restarts (${f.restartsByContainer
                  .slice(0, 3)
                  .map((c) => `${codeSpan(c.container)} of ${codeSpan(c.pod)}`)
                  .join(", ")})`,
              ]
            : []),
        ],
      };
    },
  },
];

/**
 * The rules that hold, most confident first (ties keep the rules' order). A cause that explains a
 * symptom on the same pods takes it in: the symptom's facts become the cause's evidence, the symptom
 * leaves the candidates, and the cause ranks at least as high as the symptom did (cause before symptom).
 */
export function rankHypotheses(facts: Facts, options: AttributionOptions = {}): Hypothesis[] {
  const found = ATTRIBUTION_RULES.flatMap((rule): (Hypothesis & { rule: AttributionRule })[] => {
    const m = rule.match(facts, options);
    if (!m) return [];
    const finding: Finding = Array.isArray(m) ? { facts: m } : m;
    const next = finding.next ?? (typeof rule.next === "function" ? rule.next(options) : rule.next);
    return [
      {
        rule,
        id: rule.id,
        title: finding.title ?? rule.title,
        confidence: rule.confidence,
        facts: finding.facts,
        next,
        ...(finding.pods ? { pods: finding.pods } : {}),
      },
    ];
  });
  const folded = new Set<Hypothesis>();
  for (const cause of found) {
    for (const symptom of found) {
      if (symptom === cause || folded.has(symptom) || folded.has(cause)) continue;
      if (!cause.rule.explains?.includes(symptom.id)) continue;
      const pods = symptom.pods ?? [];
      if (pods.length === 0 || !pods.every((p) => cause.pods?.includes(p))) continue;
      folded.add(symptom);
      cause.facts = [
        ...cause.facts,
        `it explains ${symptom.title.charAt(0).toLowerCase()}${symptom.title.slice(1)}: ${symptom.facts.join("; ")}`,
      ];
      cause.confidence = Math.max(cause.confidence, symptom.confidence);
      cause.explained = [...(cause.explained ?? []), symptom.id];
    }
  }
  return found
    .filter((h) => !folded.has(h))
    .map(({ rule: _rule, ...h }) => h)
    .sort((a, b) => b.confidence - a.confidence);
}
