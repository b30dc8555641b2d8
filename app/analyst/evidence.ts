import { alertPrefixOf } from "../../contract/metrics";
import { GENERIC_SIGNALS, relatedSignals, SignalName, signalQueries } from "../../contract/analyst-signals";
import type { AnalystServiceProfile } from "../../contract/analyst-service-profile";
import { promqlString } from "../../contract/promql";
import type { PrometheusClient, Sample } from "./prometheus";
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
    now: Date.now() / 1000,
    targetsDown: 0,
    otherAlerts: [],
  };
}

/**
 * Gathers the evidence for one firing alert from the Prometheus HTTP API. A query that fails (refused,
 * timed out, a 502 page, a query error) costs only its own evidence: it is listed in `unavailable` with
 * the reason, and everything else is still gathered.
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
  const add = (name: string, query: string, summary: string) =>
    items.push({ id: `E${items.length + 1}`, name, query, summary });
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

  /** A list told by tier (`api tier: …; worker tier: …`) when the profile names the tiers. */
  const byTier = <T extends { pod: string }>(list: T[], show: (l: T[]) => string): string => {
    if (!options.profile?.tiers) return show(list);
    const groups = new Map<string, T[]>();
    for (const item of list) {
      const tier = tierOf(item.pod, options.profile) ?? "other";
      groups.set(tier, [...(groups.get(tier) ?? []), item]);
    }
    // Pods of no tier (another workload of the namespace) are listed plainly.
    if (groups.size === 1 && groups.has("other")) return show(list);
    return [...groups]
      .map(([tier, l]) => `${tier}${tier === "other" ? " pods" : " tier"}: ${show(l)}`)
      .join("; ");
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

  if (options.expr && own) {
    const mine = own.find((s) => !facts.pod || s.labels.pod === facts.pod) ?? own[0];
    if (mine && mine.points.length > 0) {
      facts.valueNow = mine.points[mine.points.length - 1][1];
      facts.conditionSince = episodeStart(mine.points, step);
      add(
        "alert expression",
        options.expr,
        `held since ${clock(facts.conditionSince)} (${minutes(now - facts.conditionSince)} ago), value now ${round(facts.valueNow)}`,
      );
    }
  }
  for (const [name, samples] of results) if (samples) record(name, samples, queries[name]);
  if (facts.hpas.length > 0)
    add(
      "hpa_replicas",
      wanted
        .filter((n) => n.startsWith("hpa_"))
        .map((n) => queries[n])
        .join("\n"),
      facts.hpas
        .map(
          (h) =>
            `HPA ${codeSpan(h.name)}: desired ${h.desired ?? "?"}, current ${h.current ?? "?"}, max ${h.max ?? "?"}, fewest in ${lookback} ${h.minCurrent ?? "?"}`,
        )
        .join("; "),
    );

  if (versions) {
    // A deploy: a version whose series begins within the look-back while another version was
    // already running (a fresh Prometheus, with no history, is not a deploy).
    const firstSeen = (s: { points: [number, number][] }) => s.points[0]?.[0] ?? Infinity;
    const fresh = versions
      .filter(
        (s) => firstSeen(s) > start + step && versions.some((o) => o !== s && firstSeen(o) < firstSeen(s)),
      )
      .map((s) => ({ version: s.labels.version, at: firstSeen(s) }))
      .sort((a, b) => b.at - a.at)[0];
    if (fresh) {
      facts.deploy = fresh;
      add(
        "versions",
        queries.versions,
        `version ${codeSpan(fresh.version)} first seen at ${clock(fresh.at)}`,
      );
    } else if (versions.length > 0) {
      add(
        "versions",
        queries.versions,
        `no new version in ${lookback} (running ${versions.map((s) => codeSpan(s.labels.version)).join(", ")})`,
      );
    }
  }

  if (others) {
    facts.otherAlerts = others
      .filter((a) => a.labels.alertname !== facts.alertname)
      .map((a) => ({ alertname: a.labels.alertname, pod: a.labels.pod, severity: a.labels.severity }));
    if (facts.otherAlerts.length > 0)
      add(
        "other alerts firing",
        othersQuery,
        facts.otherAlerts
          .map((a) => `${codeSpan(a.alertname)}${a.pod ? ` on ${codeSpan(a.pod)}` : ""}`)
          .join(", "),
      );
  }
  return { facts, items, expr: options.expr, unavailable };

  function record(name: SignalName, samples: Sample[], query: string): void {
    const finite = samples.filter((s) => Number.isFinite(s.value));
    const top = [...finite].sort((a, b) => b.value - a.value)[0];
    const containers = (list: Sample[]) =>
      list.map((s) => ({ pod: s.labels.pod ?? "?", container: s.labels.container ?? "?" }));
    switch (name) {
      case "gpu_memory_ratio": {
        if (!top) return;
        facts.gpuMemoryMax = { pod: top.labels.pod ?? "?", ratio: top.value };
        add(name, query, `GPU memory at ${pct(top.value)} on ${codeSpan(top.labels.pod)}`);
        return;
      }
      case "gpu_memory_growth": {
        if (!top) return;
        facts.gpuMemoryGrowthPerHour = { pod: top.labels.pod ?? "?", ratio: top.value };
        add(
          name,
          query,
          `GPU memory of ${codeSpan(top.labels.pod)} trends ${top.value >= 0 ? "up" : "down"} ${pct(Math.abs(top.value))} of the GPU per hour over ${lookback}`,
        );
        return;
      }
      case "gpu_memory_jump": {
        if (!top) return;
        facts.gpuMemoryLargestJump = { pod: top.labels.pod ?? "?", ratio: top.value };
        add(
          name,
          query,
          `largest single step up of GPU memory in ${lookback}: ${pct(top.value)} of the GPU on ${codeSpan(top.labels.pod)}`,
        );
        return;
      }
      case "failures_by_reason": {
        // The real figure: `increase()` extrapolates, and 0.4 failures printed as "0" reads as none.
        for (const s of finite) if (s.value > 0) facts.failures[s.labels.reason] = s.value;
        const text = Object.entries(facts.failures)
          .map(([r, n]) => `${count(n)} ${codeSpan(r)}`)
          .join(", ");
        add(name, query, text ? `failed jobs in ${window}: ${text}` : `no failed jobs in ${window}`);
        return;
      }
      case "restarts": {
        facts.restartsByContainer = finite
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
        return;
      }
      case "oom_killed": {
        facts.oomKilled = containers(finite.filter((s) => s.value > 0));
        facts.oomKilledPods = [...new Set(facts.oomKilled.map((c) => c.pod))];
        if (facts.oomKilled.length > 0)
          add(name, query, `last termination OOMKilled: ${refs(facts.oomKilled)}`);
        return;
      }
      case "not_ready": {
        facts.notReady = containers(samples);
        if (facts.notReady.length > 0) add(name, query, `containers not ready: ${refs(facts.notReady)}`);
        return;
      }
      case "crash_looping": {
        facts.crashLooping = containers(samples);
        if (facts.crashLooping.length > 0)
          add(name, query, `containers in CrashLoopBackOff: ${refs(facts.crashLooping)}`);
        return;
      }
      case "waiting": {
        facts.waiting = finite.map((s) => ({
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
        return;
      }
      case "pod_start": {
        facts.podStarts = finite.map((s) => ({ pod: s.labels.pod ?? "?", at: s.value }));
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
        return;
      }
      case "pod_versions":
        facts.podVersions = samples.map((s) => ({
          pod: s.labels.pod ?? "?",
          version: s.labels.version ?? "?",
        }));
        return;
      case "hpa_desired":
      case "hpa_current":
      case "hpa_max":
      case "hpa_current_min": {
        const field = (
          {
            hpa_desired: "desired",
            hpa_current: "current",
            hpa_max: "max",
            hpa_current_min: "minCurrent",
          } as const
        )[name];
        for (const s of finite) {
          const hpaName = s.labels.horizontalpodautoscaler ?? "?";
          let hpa = facts.hpas.find((h) => h.name === hpaName);
          if (!hpa) facts.hpas.push((hpa = { name: hpaName }));
          hpa[field] = s.value;
        }
        return;
      }
      case "autoscaler_alerts": {
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
        return;
      }
      case "resident_memory_slope": {
        if (!top) return;
        facts.residentMemorySlopeBytesPerHour = top.value;
        add(
          name,
          query,
          `resident memory of ${codeSpan(top.labels.pod)} grows ${(top.value / 2 ** 20).toFixed(1)} MiB/hour`,
        );
        return;
      }
      case "submission_rate":
      case "submission_rate_before": {
        const v = samples[0]?.value;
        if (v === undefined || !Number.isFinite(v)) return;
        if (name === "submission_rate") facts.submissionRate = v;
        else facts.submissionRateBefore = v;
        add(
          name,
          query,
          `${v.toFixed(3)} submissions/s${name === "submission_rate_before" ? ` ${lookback} earlier` : " now"}`,
        );
        return;
      }
      case "targets_down":
        facts.targetsDown = samples[0]?.value ?? 0;
        if (facts.targetsDown > 0) add(name, query, `${facts.targetsDown} scrape targets down`);
        return;
      case "queue_depth":
        facts.queueDepth = samples[0]?.value;
        if (facts.queueDepth !== undefined) add(name, query, `${facts.queueDepth} jobs queued service-wide`);
        return;
      case "queue_depth_before":
        facts.queueDepthBefore = samples[0]?.value;
        if (facts.queueDepthBefore !== undefined)
          add(name, query, `${facts.queueDepthBefore} jobs queued ${window} earlier`);
        return;
      case "queue_store_up": {
        if (finite.length === 0) return;
        const downPods = finite.filter((s) => s.value === 0).map((s) => s.labels.pod ?? "?");
        facts.queueStore = { downPods, pods: finite.length };
        add(
          name,
          query,
          downPods.length > 0
            ? `${downPods.length} of ${finite.length} pods cannot reach the job store: ${downPods.map((p) => codeSpan(p)).join(", ")}`
            : `all ${finite.length} pods reach the job store`,
        );
        return;
      }
      case "redis_up": {
        facts.redisUp = finite.map((s) => ({ pod: s.labels.pod ?? s.labels.instance ?? "?", up: s.value }));
        add(
          name,
          query,
          facts.redisUp.length === 0
            ? "no redis_exporter in the namespace (a managed store, or no exporter)"
            : facts.redisUp.map((r) => `redis_up ${r.up} on ${codeSpan(r.pod)}`).join(", "),
        );
        return;
      }
      case "error_ratio":
        facts.errorRatio = samples[0]?.value;
        if (facts.errorRatio !== undefined && Number.isFinite(facts.errorRatio))
          add(name, query, `${pct(facts.errorRatio)} of jobs failing over ${window}`);
        return;
      case "versions":
        return;
      default: {
        const unreachable: never = name;
        throw new Error(`unknown signal ${String(unreachable)}`);
      }
    }
  }
}

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
