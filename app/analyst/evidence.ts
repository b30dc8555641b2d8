import { alertPrefixOf } from "../../contract/metrics";
import { GENERIC_SIGNALS, relatedSignals, SignalName, signalQueries } from "../../contract/analyst-signals";
import type { AnalystServiceProfile } from "../../contract/analyst-service-profile";
import { promqlString } from "../../contract/promql";
import type { PrometheusClient, Sample, Series } from "./prometheus";
import { codeSpan } from "./slack-text";
import { tierOf } from "./tiers";

/** One alert of an Alertmanager webhook payload (version 4). */
export interface WebhookAlert {
  status: "firing" | "resolved";
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  generatorURL?: string;
  fingerprint?: string;
}

/** An Alertmanager webhook payload: one alert group. */
export interface WebhookPayload {
  receiver: string;
  status: "firing" | "resolved";
  groupKey: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  externalURL?: string;
  alerts: WebhookAlert[];
}

/** One piece of evidence, numbered so a report (or a model) can cite it: `E1`, `E2`... */
export interface EvidenceItem {
  id: string;
  name: string;
  query: string;
  /** What it showed, in words with numbers. */
  summary: string;
}

/** A container of a pod, as kube-state-metrics names it. */
export interface ContainerRef {
  pod: string;
  container: string;
}

/** What the analyst knows about an alert, as numbers the attribution rules read. */
export interface Facts {
  alertname: string;
  namespace: string;
  pod?: string;
  startsAt: number;
  /** The alert's own expression now (first series), and when it first held within the look-back. */
  valueNow?: number;
  conditionSince?: number;
  gpuMemoryMax?: { pod: string; ratio: number };
  /** Steepest GPU memory trend over the look-back, as a share of the GPU's memory per hour. */
  gpuMemoryGrowthPerHour?: { pod: string; ratio: number };
  /** Largest single step up of GPU memory in the look-back, as a share of the GPU's memory. */
  gpuMemoryLargestJump?: { pod: string; ratio: number };
  failures: Record<string, number>;
  /** Container restarts in the window, all containers together. */
  restarts: number;
  restartsByContainer: (ContainerRef & { count: number })[];
  oomKilledPods: string[];
  oomKilled: ContainerRef[];
  notReady: ContainerRef[];
  crashLooping: ContainerRef[];
  /** Every container waiting, with kube-state-metrics' reason (`CrashLoopBackOff`, `ImagePullBackOff`...). */
  waiting: (ContainerRef & { reason: string })[];
  /** When each pod started (unix seconds): with `now`, its age. */
  podStarts: { pod: string; at: number }[];
  /** The version each pod reports (`<prefix>_build_info`). */
  podVersions: { pod: string; version: string }[];
  /** HPAs of the namespace (the adapter's, or KEDA's), by name; `minCurrent` is the fewest replicas in the look-back. */
  hpas: { name: string; desired?: number; current?: number; max?: number; minCurrent?: number }[];
  /** KEDA's alerts under which a ScaledObject cannot wake its Deployment, firing now. */
  autoscalerAlerts: { alertname: string; namespace?: string; scaledObject?: string; scaler?: string }[];
  /** ScaledObjects of the namespace that KEDA reads as paused now (`keda_scaled_object_paused` 1). */
  pausedScaledObjects: string[];
  /** The namespace's Deployments and the replicas their spec asks for (what is left once KEDA deletes an HPA). */
  deployments: { name: string; replicas: number }[];
  /**
   * The namespace's pods as the scheduler saw them (kube-state-metrics): when each was created and bound
   * (unix seconds), whether it was unschedulable within the look-back, is still Pending, is Ready, and
   * how many `nvidia.com/gpu` it requests. Only pods that exist now.
   */
  scheduling: {
    pod: string;
    created: number;
    scheduledAt?: number;
    unschedulable: boolean;
    pending: boolean;
    ready?: boolean;
    gpus: number;
  }[];
  /** The cluster's `nvidia.com/gpu` by node: allocatable, and requested by the pods bound there. */
  gpuNodes: { node: string; allocatable: number; requested: number }[];
  /** When the evidence was read (unix seconds). */
  now: number;
  /** A version first seen within the look-back: a deploy. */
  deploy?: { version: string; at: number };
  residentMemorySlopeBytesPerHour?: number;
  submissionRate?: number;
  submissionRateBefore?: number;
  targetsDown: number;
  queueDepth?: number;
  /** The queue one window earlier: with `queueDepth`, whether the backlog grows. */
  queueDepthBefore?: number;
  /** Pods that report the shared job store unreachable, of all pods reporting it. */
  queueStore?: { downPods: string[]; pods: number };
  /** redis_exporter's view of an in-cluster store; empty when there is no exporter (a managed store). */
  redisUp?: { pod: string; up: number }[];
  errorRatio?: number;
  otherAlerts: { alertname: string; pod?: string; severity?: string }[];
}

export interface Evidence {
  facts: Facts;
  items: EvidenceItem[];
  /** Every query that was run, for links and for the model. */
  expr?: string;
  /** Evidence that could not be fetched, and why: a report shows it, so partial evidence reads as partial. */
  unavailable: { name: string; reason: string }[];
}

export interface GatherOptions {
  prometheus: PrometheusClient;
  /** Metric prefix of the service (`sonic`); none when no service's labels match: generic signals only. */
  prefix?: string;
  /** The service's profile: evidence about pods is told by tier when it names the tiers. @default none */
  profile?: AnalystServiceProfile;
  /** The alert's rule expression, when the catalogue has it. */
  expr?: string;
  /** Rate window of the signals. @default "15m" */
  window?: string;
  /** How far back to look for a deploy and for the start of the condition. @default "1h" */
  lookback?: string;
  /** Range-query step in seconds. @default 30 */
  stepSeconds?: number;
  now?: number;
  /** Aborts every query still running: the evidence deadline. @default none */
  signal?: AbortSignal;
  /** Answers shared by the alerts of one group: the same query is sent once. @default none */
  cache?: Map<string, Promise<unknown>>;
}

const seconds = (d: string) =>
  Number(d.slice(0, -1)) * { s: 1, m: 60, h: 3600, d: 86400 }[d.slice(-1) as "s"];
const pct = (r: number) => `${(r * 100).toFixed(1)}%`;
const minutes = (s: number) => `${Math.round(s / 60)}m`;
const refs = (list: ContainerRef[]) =>
  list.map((c) => `${codeSpan(c.container)} of ${codeSpan(c.pod)}`).join(", ");

/** Facts before any evidence: the alert's own. */
export function alertFacts(alert: WebhookAlert): Facts {
  return {
    alertname: alert.labels.alertname ?? "",
    namespace: alert.labels.namespace ?? "",
    pod: alert.labels.pod,
    startsAt: Date.parse(alert.startsAt) / 1000,
    failures: {},
    restarts: 0,
    restartsByContainer: [],
    oomKilledPods: [],
    oomKilled: [],
    notReady: [],
    crashLooping: [],
    waiting: [],
    podStarts: [],
    podVersions: [],
    hpas: [],
    autoscalerAlerts: [],
    pausedScaledObjects: [],
    deployments: [],
    scheduling: [],
    gpuNodes: [],
    now: Date.now() / 1000,
    targetsDown: 0,
    otherAlerts: [],
  };
}

/**
 * Gathers the evidence for one firing alert from the Prometheus HTTP API. A query that fails (refused,
 * timed out, a 502 page, a query error) costs only its own evidence: it is listed in `unavailable` with
 * the reason, and everything else is still gathered. Each kind of evidence is recorded by a function
 * of its own: the alert's own expression, the signals ({@link SIGNAL_RECORDERS}), the HPAs together,
 * a deploy, and the other alerts firing.
 */
export async function gatherEvidence(alert: WebhookAlert, options: GatherOptions): Promise<Evidence> {
  const window = options.window ?? "15m";
  const lookback = options.lookback ?? "1h";
  const step = options.stepSeconds ?? 30;
  const now = options.now ?? Date.now() / 1000;
  const start = now - seconds(lookback);
  const p = options.prometheus;
  const items: EvidenceItem[] = [];
  const unavailable: Evidence["unavailable"] = [];
  const facts = alertFacts(alert);
  facts.now = now;
  const namespace = facts.namespace;
  const cached = <T>(key: string, run: () => Promise<T>): Promise<T> => {
    if (!options.cache) return run();
    if (!options.cache.has(key)) options.cache.set(key, run());
    return options.cache.get(key) as Promise<T>;
  };
  const instant = (q: string) => cached(`i ${q}`, () => p.query(q, now, options.signal));
  const range = (q: string) => cached(`r ${q}`, () => p.queryRange(q, start, now, step, options.signal));
  /** Runs one fetch; a failure is recorded under `name` and yields undefined. */
  const attempt = async <T>(name: string, run: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await run();
    } catch (err) {
      unavailable.push({ name, reason: (err as Error).message });
      return undefined;
    }
  };
  const r: Recording = {
    facts,
    add: (name, query, summary) => items.push({ id: `E${items.length + 1}`, name, query, summary }),
    byTier: (list, show) => byTier(list, show, options.profile),
    window,
    lookback,
    now,
    start,
    step,
    pods: new Map(),
  };

  const queries = signalQueries({ prefix: options.prefix ?? "", namespace, window, lookback });
  // No service of ours matches the alert's labels: only Kubernetes' and Prometheus' own series apply.
  const wanted = options.prefix
    ? relatedSignals(facts.alertname, alertPrefixOf(options.prefix))
    : GENERIC_SIGNALS;
  const othersQuery = `ALERTS{alertstate="firing", namespace=${promqlString(namespace)}}`;
  // Everything at once: the slowest query, not their sum, bounds the time to a report.
  const [own, results, versions, others] = await Promise.all([
    options.expr ? attempt("alert expression", () => range(options.expr!)) : undefined,
    Promise.all(
      wanted
        .filter((name) => name !== "versions")
        .map(async (name) => [name, await attempt(name, () => instant(queries[name]))] as const),
    ),
    wanted.includes("versions") ? attempt("versions", () => range(queries.versions)) : undefined,
    attempt("other alerts firing", () => instant(othersQuery)),
  ]);

  if (options.expr && own) recordAlertExpression(r, own, options.expr);
  for (const [name, samples] of results) if (samples) SIGNAL_RECORDERS[name](r, samples, queries[name], name);
  recordHpas(
    r,
    wanted
      .filter((n) => n.startsWith("hpa_"))
      .map((n) => queries[n])
      .join("\n"),
  );
  recordDeployments(r, queries.deployment_replicas);
  recordScheduling(r, queries);
  if (versions) recordDeploy(r, versions, queries.versions);
  if (others) recordOtherAlerts(r, others, othersQuery);
  return { facts, items, expr: options.expr, unavailable };
}

/** What one kind of evidence is recorded into: the facts, the numbered items, and how to tell them. */
interface Recording {
  facts: Facts;
  /** Adds a numbered item (`E<n>`). */
  add(name: string, query: string, summary: string): void;
  /** A list told by tier when the service's profile names the tiers. */
  byTier<T extends { pod: string }>(list: T[], show: (l: T[]) => string): string;
  window: string;
  lookback: string;
  now: number;
  /** Start of the look-back and the range queries' step (seconds). */
  start: number;
  step: number;
  /** The per-pod scheduling signals' samples by pod, put together by {@link recordScheduling}. */
  pods: Map<string, Partial<Record<PodSignal, number>>>;
}

/** Records one signal's samples (an instant query's answer) as facts and, when it says something, an item. */
type SignalRecorder = (r: Recording, samples: Sample[], query: string, name: SignalName) => void;

/** A list told by tier (`api tier: …; worker tier: …`) when the profile names the tiers. */
function byTier<T extends { pod: string }>(
  list: T[],
  show: (l: T[]) => string,
  profile: AnalystServiceProfile | undefined,
): string {
  if (!profile?.tiers) return show(list);
  const groups = new Map<string, T[]>();
  for (const item of list) {
    const tier = tierOf(item.pod, profile) ?? "other";
    groups.set(tier, [...(groups.get(tier) ?? []), item]);
  }
  // Pods of no tier (another workload of the namespace) are listed plainly.
  if (groups.size === 1 && groups.has("other")) return show(list);
  return [...groups]
    .map(([tier, l]) => `${tier}${tier === "other" ? " pods" : " tier"}: ${show(l)}`)
    .join("; ");
}

/** The alert's own expression over the look-back: its value now and when the current episode began. */
function recordAlertExpression({ facts, add, now, step }: Recording, own: Series[], expr: string): void {
  // A cluster-wide expression (KEDA's alerts) has series of every namespace: the alert's own first.
  const ofPod = own.filter((s) => !facts.pod || s.labels.pod === facts.pod);
  const mine = ofPod.find((s) => s.labels.namespace === facts.namespace) ?? ofPod[0] ?? own[0];
  if (!mine || mine.points.length === 0) return;
  facts.valueNow = mine.points[mine.points.length - 1][1];
  facts.conditionSince = episodeStart(mine.points, step);
  add(
    "alert expression",
    expr,
    `held since ${clock(facts.conditionSince)} (${minutes(now - facts.conditionSince)} ago), value now ${round(facts.valueNow)}`,
  );
}

/** The HPAs' figures, gathered from the `hpa_*` signals, as one item. */
function recordHpas({ facts, add, lookback }: Recording, query: string): void {
  if (facts.hpas.length === 0) return;
  add(
    "hpa_replicas",
    query,
    facts.hpas
      .map(
        (h) =>
          `HPA ${codeSpan(h.name)}: desired ${h.desired ?? "?"}, current ${h.current ?? "?"}, max ${h.max ?? "?"}, fewest in ${lookback} ${h.minCurrent ?? "?"}`,
      )
      .join("; "),
  );
}

/**
 * A deploy: a version whose series begins within the look-back while another version was already
 * running (a fresh Prometheus, with no history, is not a deploy).
 */
function recordDeploy(
  { facts, add, lookback, start, step }: Recording,
  versions: Series[],
  query: string,
): void {
  const firstSeen = (s: { points: [number, number][] }) => s.points[0]?.[0] ?? Infinity;
  const fresh = versions
    .filter(
      (s) => firstSeen(s) > start + step && versions.some((o) => o !== s && firstSeen(o) < firstSeen(s)),
    )
    .map((s) => ({ version: s.labels.version, at: firstSeen(s) }))
    .sort((a, b) => b.at - a.at)[0];
  if (fresh) {
    facts.deploy = fresh;
    add("versions", query, `version ${codeSpan(fresh.version)} first seen at ${clock(fresh.at)}`);
  } else if (versions.length > 0) {
    add(
      "versions",
      query,
      `no new version in ${lookback} (running ${versions.map((s) => codeSpan(s.labels.version)).join(", ")})`,
    );
  }
}

/** Deployments left without an HPA (KEDA deletes a paused ScaledObject's): their replicas are the figure. */
function recordDeployments({ facts, add }: Recording, query: string): void {
  const bare = facts.deployments.filter((d) => !facts.hpas.some((h) => h.name === d.name));
  if (bare.length > 0)
    add(
      "deployment_replicas",
      query,
      bare.map((d) => `Deployment ${codeSpan(d.name)}: ${d.replicas} replicas, no HPA`).join("; "),
    );
}

/** The per-pod signals of scheduling, gathered by pod and read together by {@link recordScheduling}. */
type PodSignal =
  "pod_created" | "pod_scheduled" | "pods_unschedulable" | "pods_pending" | "pod_ready" | "gpu_requests";

/**
 * The pods' scheduling, put together from the per-pod signals: each pod that exists now, when it was
 * created and bound, and whether it waited. Items only when a pod waited for a node: a wait is the
 * news, and the cluster's GPUs are told only when a pod that waited asks for one.
 */
function recordScheduling(
  { facts, add, byTier, lookback, now, pods }: Recording,
  queries: Record<SignalName, string>,
): void {
  facts.scheduling = [...pods]
    .filter(([, v]) => v.pod_created !== undefined)
    .map(([pod, v]) => ({
      pod,
      created: v.pod_created!,
      ...(v.pod_scheduled !== undefined ? { scheduledAt: v.pod_scheduled } : {}),
      unschedulable: (v.pods_unschedulable ?? 0) > 0,
      pending: v.pods_pending === 1,
      ...(v.pod_ready !== undefined ? { ready: v.pod_ready === 1 } : {}),
      gpus: v.gpu_requests ?? 0,
    }));
  const waited = facts.scheduling.filter((p) => p.unschedulable);
  if (waited.length === 0) return;
  add(
    "scheduling",
    [queries.pods_unschedulable, queries.pod_created, queries.pod_scheduled].join("\n"),
    `pods unschedulable within ${lookback}: ${byTier(waited, (list) =>
      list
        .sort((a, b) => a.created - b.created)
        .slice(0, 5)
        .map((p) =>
          p.scheduledAt === undefined
            ? `${codeSpan(p.pod)} still unscheduled after ${minutes(now - p.created)}`
            : `${codeSpan(p.pod)} waited ${minutes(p.scheduledAt - p.created)} (bound ${clock(p.scheduledAt)})`,
        )
        .join(", "),
    )}`,
  );
  if (facts.gpuNodes.length > 0 && waited.some((p) => p.gpus > 0)) {
    const allocatable = facts.gpuNodes.reduce((a, n) => a + n.allocatable, 0);
    const requested = facts.gpuNodes.reduce((a, n) => a + n.requested, 0);
    add(
      "gpu_capacity",
      [queries.gpus_allocatable, queries.gpus_requested].join("\n"),
      `\`nvidia.com/gpu\` now: ${count(requested)} of ${count(allocatable)} allocatable requested on ${facts.gpuNodes.length} nodes, ${count(gpusFree(facts))} free`,
    );
  }
}

/** GPUs no bound pod requests, summed over the nodes (a node over-committed counts 0, not less). */
export function gpusFree(facts: Pick<Facts, "gpuNodes">): number {
  return facts.gpuNodes.reduce((a, n) => a + Math.max(0, n.allocatable - n.requested), 0);
}

/** Other alerts firing in the namespace. */
function recordOtherAlerts({ facts, add }: Recording, others: Sample[], query: string): void {
  facts.otherAlerts = others
    .filter((a) => a.labels.alertname !== facts.alertname)
    .map((a) => ({ alertname: a.labels.alertname, pod: a.labels.pod, severity: a.labels.severity }));
  if (facts.otherAlerts.length > 0)
    add(
      "other alerts firing",
      query,
      facts.otherAlerts
        .map((a) => `${codeSpan(a.alertname)}${a.pod ? ` on ${codeSpan(a.pod)}` : ""}`)
        .join(", "),
    );
}

const finite = (samples: Sample[]) => samples.filter((s) => Number.isFinite(s.value));
/** The sample with the largest finite value. */
const topOf = (samples: Sample[]): Sample | undefined =>
  [...finite(samples)].sort((a, b) => b.value - a.value)[0];
const containers = (list: Sample[]): ContainerRef[] =>
  list.map((s) => ({ pod: s.labels.pod ?? "?", container: s.labels.container ?? "?" }));

const gpuMemoryRatio: SignalRecorder = ({ facts, add }, samples, query, name) => {
  const top = topOf(samples);
  if (!top) return;
  facts.gpuMemoryMax = { pod: top.labels.pod ?? "?", ratio: top.value };
  add(name, query, `GPU memory at ${pct(top.value)} on ${codeSpan(top.labels.pod)}`);
};

const gpuMemoryGrowth: SignalRecorder = ({ facts, add, lookback }, samples, query, name) => {
  const top = topOf(samples);
  if (!top) return;
  facts.gpuMemoryGrowthPerHour = { pod: top.labels.pod ?? "?", ratio: top.value };
  add(
    name,
    query,
    `GPU memory of ${codeSpan(top.labels.pod)} trends ${top.value >= 0 ? "up" : "down"} ${pct(Math.abs(top.value))} of the GPU per hour over ${lookback}`,
  );
};

const gpuMemoryJump: SignalRecorder = ({ facts, add, lookback }, samples, query, name) => {
  const top = topOf(samples);
  if (!top) return;
  facts.gpuMemoryLargestJump = { pod: top.labels.pod ?? "?", ratio: top.value };
  add(
    name,
    query,
    `largest single step up of GPU memory in ${lookback}: ${pct(top.value)} of the GPU on ${codeSpan(top.labels.pod)}`,
  );
};

const failuresByReason: SignalRecorder = ({ facts, add, window }, samples, query, name) => {
  // The real figure: `increase()` extrapolates, and 0.4 failures printed as "0" reads as none.
  for (const s of finite(samples)) if (s.value > 0) facts.failures[s.labels.reason] = s.value;
  const text = Object.entries(facts.failures)
    .map(([r, n]) => `${count(n)} ${codeSpan(r)}`)
    .join(", ");
  add(name, query, text ? `failed jobs in ${window}: ${text}` : `no failed jobs in ${window}`);
};

const restarts: SignalRecorder = ({ facts, add, byTier, window }, samples, query, name) => {
  facts.restartsByContainer = finite(samples)
    .filter((s) => Math.round(s.value) > 0)
    .map((s) => ({
      pod: s.labels.pod ?? "?",
      container: s.labels.container ?? "?",
      count: Math.round(s.value),
    }))
    .sort((a, b) => b.count - a.count);
  facts.restarts = facts.restartsByContainer.reduce((a, c) => a + c.count, 0);
  if (facts.restarts > 0)
    add(
      name,
      query,
      `${facts.restarts} container restarts in ${window}: ${byTier(facts.restartsByContainer, (list) =>
        list
          .slice(0, 5)
          .map((c) => `${codeSpan(c.container)} of ${codeSpan(c.pod)} (${c.count})`)
          .join(", "),
      )}`,
    );
};

const oomKilled: SignalRecorder = ({ facts, add }, samples, query, name) => {
  facts.oomKilled = containers(finite(samples).filter((s) => s.value > 0));
  facts.oomKilledPods = [...new Set(facts.oomKilled.map((c) => c.pod))];
  if (facts.oomKilled.length > 0) add(name, query, `last termination OOMKilled: ${refs(facts.oomKilled)}`);
};

const notReady: SignalRecorder = ({ facts, add }, samples, query, name) => {
  facts.notReady = containers(samples);
  if (facts.notReady.length > 0) add(name, query, `containers not ready: ${refs(facts.notReady)}`);
};

const crashLooping: SignalRecorder = ({ facts, add }, samples, query, name) => {
  facts.crashLooping = containers(samples);
  if (facts.crashLooping.length > 0)
    add(name, query, `containers in CrashLoopBackOff: ${refs(facts.crashLooping)}`);
};

const waiting: SignalRecorder = ({ facts, add, byTier }, samples, query, name) => {
  facts.waiting = finite(samples).map((s) => ({
    pod: s.labels.pod ?? "?",
    container: s.labels.container ?? "?",
    reason: s.labels.reason ?? "?",
  }));
  if (facts.waiting.length > 0)
    add(
      name,
      query,
      `containers waiting: ${byTier(facts.waiting, (list) =>
        list
          .slice(0, 5)
          .map((c) => `${codeSpan(c.container)} of ${codeSpan(c.pod)} (${codeSpan(c.reason)})`)
          .join(", "),
      )}`,
    );
};

const podStart: SignalRecorder = ({ facts, add, byTier, lookback, now }, samples, query, name) => {
  facts.podStarts = finite(samples).map((s) => ({ pod: s.labels.pod ?? "?", at: s.value }));
  const young = facts.podStarts.filter((p) => now - p.at < seconds(lookback));
  if (young.length > 0)
    add(
      name,
      query,
      `pods started within ${lookback}: ${byTier(young, (list) =>
        list
          .sort((a, b) => b.at - a.at)
          .slice(0, 5)
          .map((p) => `${codeSpan(p.pod)} ${minutes(now - p.at)} ago`)
          .join(", "),
      )}`,
    );
};

const podVersions: SignalRecorder = ({ facts }, samples) => {
  facts.podVersions = samples.map((s) => ({
    pod: s.labels.pod ?? "?",
    version: s.labels.version ?? "?",
  }));
};

/** One figure of each HPA (told together by {@link recordHpas}). */
const HPA_FIELDS = {
  hpa_desired: "desired",
  hpa_current: "current",
  hpa_max: "max",
  hpa_current_min: "minCurrent",
} as const;

const hpaFigure: SignalRecorder = ({ facts }, samples, _query, name) => {
  const field = HPA_FIELDS[name as keyof typeof HPA_FIELDS];
  for (const s of finite(samples)) {
    const hpaName = s.labels.horizontalpodautoscaler ?? "?";
    let hpa = facts.hpas.find((h) => h.name === hpaName);
    if (!hpa) facts.hpas.push((hpa = { name: hpaName }));
    hpa[field] = s.value;
  }
};

const autoscalerAlerts: SignalRecorder = ({ facts, add }, samples, query, name) => {
  facts.autoscalerAlerts = samples.map((s) => ({
    alertname: s.labels.alertname ?? "?",
    namespace: s.labels.namespace,
    scaledObject: s.labels.scaledObject,
    scaler: s.labels.scaler,
  }));
  if (facts.autoscalerAlerts.length > 0)
    add(
      name,
      query,
      `KEDA alerts firing: ${facts.autoscalerAlerts
        .map(
          (a) =>
            `${codeSpan(a.alertname)}${a.scaledObject ? ` for ${codeSpan(`${a.namespace ?? "?"}/${a.scaledObject}`)}` : a.namespace ? ` in ${codeSpan(a.namespace)}` : ""}`,
        )
        .join(", ")}`,
    );
};

const scaledObjectPaused: SignalRecorder = ({ facts, add }, samples, query, name) => {
  facts.pausedScaledObjects = finite(samples)
    .filter((s) => s.value === 1)
    .map((s) => s.labels.scaledObject ?? "?");
  if (facts.pausedScaledObjects.length > 0)
    add(
      name,
      query,
      `KEDA reads ScaledObject ${facts.pausedScaledObjects.map((o) => codeSpan(`${facts.namespace}/${o}`)).join(", ")} as paused (\`keda_scaled_object_paused\` 1)`,
    );
};

const deploymentReplicas: SignalRecorder = ({ facts }, samples) => {
  facts.deployments = finite(samples).map((s) => ({ name: s.labels.deployment ?? "?", replicas: s.value }));
};

/** One figure per pod of the scheduling signals (told together by {@link recordScheduling}). */
const podFigure: SignalRecorder = ({ pods }, samples, _query, name) => {
  for (const s of finite(samples)) {
    const pod = s.labels.pod;
    if (!pod) continue;
    pods.set(pod, { ...pods.get(pod), [name as PodSignal]: s.value });
  }
};

const gpuNodeFigure: SignalRecorder = ({ facts }, samples, _query, name) => {
  for (const s of finite(samples)) {
    const nodeName = s.labels.node ?? "?";
    let node = facts.gpuNodes.find((n) => n.node === nodeName);
    if (!node) facts.gpuNodes.push((node = { node: nodeName, allocatable: 0, requested: 0 }));
    node[name === "gpus_allocatable" ? "allocatable" : "requested"] = s.value;
  }
};

const residentMemorySlope: SignalRecorder = ({ facts, add }, samples, query, name) => {
  const top = topOf(samples);
  if (!top) return;
  facts.residentMemorySlopeBytesPerHour = top.value;
  add(
    name,
    query,
    `resident memory of ${codeSpan(top.labels.pod)} grows ${(top.value / 2 ** 20).toFixed(1)} MiB/hour`,
  );
};

const submissionRate: SignalRecorder = ({ facts, add, lookback }, samples, query, name) => {
  const v = samples[0]?.value;
  if (v === undefined || !Number.isFinite(v)) return;
  if (name === "submission_rate") facts.submissionRate = v;
  else facts.submissionRateBefore = v;
  add(
    name,
    query,
    `${v.toFixed(3)} submissions/s${name === "submission_rate_before" ? ` ${lookback} earlier` : " now"}`,
  );
};

const targetsDown: SignalRecorder = ({ facts, add }, samples, query, name) => {
  facts.targetsDown = samples[0]?.value ?? 0;
  if (facts.targetsDown > 0) add(name, query, `${facts.targetsDown} scrape targets down`);
};

const queueDepth: SignalRecorder = ({ facts, add }, samples, query, name) => {
  facts.queueDepth = samples[0]?.value;
  if (facts.queueDepth !== undefined) add(name, query, `${facts.queueDepth} jobs queued service-wide`);
};

const queueDepthBefore: SignalRecorder = ({ facts, add, window }, samples, query, name) => {
  facts.queueDepthBefore = samples[0]?.value;
  if (facts.queueDepthBefore !== undefined)
    add(name, query, `${facts.queueDepthBefore} jobs queued ${window} earlier`);
};

const queueStoreUp: SignalRecorder = ({ facts, add }, samples, query, name) => {
  const up = finite(samples);
  if (up.length === 0) return;
  const downPods = up.filter((s) => s.value === 0).map((s) => s.labels.pod ?? "?");
  facts.queueStore = { downPods, pods: up.length };
  add(
    name,
    query,
    downPods.length > 0
      ? `${downPods.length} of ${up.length} pods cannot reach the job store: ${downPods.map((p) => codeSpan(p)).join(", ")}`
      : `all ${up.length} pods reach the job store`,
  );
};

const redisUp: SignalRecorder = ({ facts, add }, samples, query, name) => {
  facts.redisUp = finite(samples).map((s) => ({
    pod: s.labels.pod ?? s.labels.instance ?? "?",
    up: s.value,
  }));
  add(
    name,
    query,
    facts.redisUp.length === 0
      ? "no redis_exporter in the namespace (a managed store, or no exporter)"
      : facts.redisUp.map((r) => `redis_up ${r.up} on ${codeSpan(r.pod)}`).join(", "),
  );
};

const errorRatio: SignalRecorder = ({ facts, add, window }, samples, query, name) => {
  facts.errorRatio = samples[0]?.value;
  if (facts.errorRatio !== undefined && Number.isFinite(facts.errorRatio))
    add(name, query, `${pct(facts.errorRatio)} of jobs failing over ${window}`);
};

/**
 * One recorder per signal, every signal named (the type makes the table exhaustive). `versions` is a
 * range query, recorded by {@link recordDeploy}.
 */
const SIGNAL_RECORDERS: Record<SignalName, SignalRecorder> = {
  gpu_memory_ratio: gpuMemoryRatio,
  gpu_memory_growth: gpuMemoryGrowth,
  gpu_memory_jump: gpuMemoryJump,
  failures_by_reason: failuresByReason,
  restarts,
  oom_killed: oomKilled,
  not_ready: notReady,
  crash_looping: crashLooping,
  waiting,
  pod_start: podStart,
  pod_versions: podVersions,
  hpa_desired: hpaFigure,
  hpa_current: hpaFigure,
  hpa_max: hpaFigure,
  hpa_current_min: hpaFigure,
  autoscaler_alerts: autoscalerAlerts,
  scaled_object_paused: scaledObjectPaused,
  deployment_replicas: deploymentReplicas,
  pod_created: podFigure,
  pod_scheduled: podFigure,
  pods_unschedulable: podFigure,
  pods_pending: podFigure,
  pod_ready: podFigure,
  gpu_requests: podFigure,
  gpus_allocatable: gpuNodeFigure,
  gpus_requested: gpuNodeFigure,
  resident_memory_slope: residentMemorySlope,
  submission_rate: submissionRate,
  submission_rate_before: submissionRate,
  targets_down: targetsDown,
  queue_depth: queueDepth,
  queue_depth_before: queueDepthBefore,
  queue_store_up: queueStoreUp,
  redis_up: redisUp,
  error_ratio: errorRatio,
  versions: () => undefined,
};

/** Start of the last unbroken run of points: the current episode, not an earlier one in the window. */
export function episodeStart(points: [number, number][], stepSeconds: number): number {
  let i = points.length - 1;
  while (i > 0 && points[i][0] - points[i - 1][0] <= 2 * stepSeconds) i--;
  return points[i][0];
}

export function clock(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().slice(11, 16) + " UTC";
}

/** A count as it is: whole numbers plain, an extrapolated 0.4 as 0.4 (never rounded away to 0). */
export function count(v: number): string {
  return Number.isInteger(v) ? String(v) : round(v);
}

function round(v: number): string {
  return Math.abs(v) < 10 ? String(Number(v.toPrecision(3))) : String(Math.round(v));
}
