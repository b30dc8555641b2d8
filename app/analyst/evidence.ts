import { alertPrefixOf } from "../../contract/metrics";
import { relatedSignals, SignalName, signalQueries } from "../../contract/analyst-signals";
import type { PrometheusClient, Sample } from "./prometheus";

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

/** What the analyst knows about an alert group, as numbers the attribution rules read. */
export interface Facts {
  alertname: string;
  namespace: string;
  pod?: string;
  startsAt: number;
  /** The alert's own expression now (first series), and when it first held within the look-back. */
  valueNow?: number;
  conditionSince?: number;
  gpuMemoryMax?: { pod: string; ratio: number };
  failures: Record<string, number>;
  restarts: number;
  oomKilledPods: string[];
  /** A version first seen within the look-back: a deploy. */
  deploy?: { version: string; at: number };
  residentMemorySlopeBytesPerHour?: number;
  submissionRate?: number;
  submissionRateBefore?: number;
  targetsDown: number;
  queueDepth?: number;
  errorRatio?: number;
  otherAlerts: { alertname: string; pod?: string; severity?: string }[];
}

export interface Evidence {
  facts: Facts;
  items: EvidenceItem[];
  /** Every query that was run, for links and for the model. */
  expr?: string;
}

export interface GatherOptions {
  prometheus: PrometheusClient;
  /** Metric prefix of the service (`sonic`). */
  prefix: string;
  /** The alert's rule expression, when the catalogue has it. */
  expr?: string;
  /** Rate window of the signals. @default "15m" */
  window?: string;
  /** How far back to look for a deploy and for the start of the condition. @default "1h" */
  lookback?: string;
  /** Range-query step in seconds. @default 30 */
  stepSeconds?: number;
  now?: number;
}

const seconds = (d: string) =>
  Number(d.slice(0, -1)) * { s: 1, m: 60, h: 3600, d: 86400 }[d.slice(-1) as "s"];
const pct = (r: number) => `${(r * 100).toFixed(1)}%`;
const minutes = (s: number) => `${Math.round(s / 60)}m`;

/** Gathers the evidence for the first firing alert of a group from the Prometheus HTTP API. */
export async function gatherEvidence(alert: WebhookAlert, options: GatherOptions): Promise<Evidence> {
  const window = options.window ?? "15m";
  const lookback = options.lookback ?? "1h";
  const step = options.stepSeconds ?? 30;
  const now = options.now ?? Date.now() / 1000;
  const start = now - seconds(lookback);
  const namespace = alert.labels.namespace ?? "";
  const p = options.prometheus;
  const items: EvidenceItem[] = [];
  const add = (name: string, query: string, summary: string) =>
    items.push({ id: `E${items.length + 1}`, name, query, summary });
  const facts: Facts = {
    alertname: alert.labels.alertname,
    namespace,
    pod: alert.labels.pod,
    startsAt: Date.parse(alert.startsAt) / 1000,
    failures: {},
    restarts: 0,
    oomKilledPods: [],
    targetsDown: 0,
    otherAlerts: [],
  };

  if (options.expr) {
    const series = await p.queryRange(options.expr, start, now, step);
    const mine = series.find((s) => !facts.pod || s.labels.pod === facts.pod) ?? series[0];
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

  const queries = signalQueries({ prefix: options.prefix, namespace, window, lookback });
  const wanted = relatedSignals(facts.alertname, alertPrefixOf(options.prefix));
  const results = await Promise.all(
    wanted.map(async (name) => [name, name === "versions" ? [] : await p.query(queries[name], now)] as const),
  );
  for (const [name, samples] of results) record(name as SignalName, samples, queries[name as SignalName]);

  if (wanted.includes("versions")) {
    const series = await p.queryRange(queries.versions, start, now, step);
    // A deploy: a version whose series begins within the look-back while another version was
    // already running (a fresh Prometheus, with no history, is not a deploy).
    const firstSeen = (s: { points: [number, number][] }) => s.points[0]?.[0] ?? Infinity;
    const fresh = series
      .filter(
        (s) => firstSeen(s) > start + step && series.some((o) => o !== s && firstSeen(o) < firstSeen(s)),
      )
      .map((s) => ({ version: s.labels.version, at: firstSeen(s) }))
      .sort((a, b) => b.at - a.at)[0];
    if (fresh) {
      facts.deploy = fresh;
      add("versions", queries.versions, `version ${fresh.version} first seen at ${clock(fresh.at)}`);
    } else if (series.length > 0) {
      add(
        "versions",
        queries.versions,
        `no new version in ${lookback} (running ${series.map((s) => s.labels.version).join(", ")})`,
      );
    }
  }

  const others = await p.query(`ALERTS{alertstate="firing", namespace="${namespace}"}`, now);
  facts.otherAlerts = others
    .filter((a) => a.labels.alertname !== facts.alertname)
    .map((a) => ({ alertname: a.labels.alertname, pod: a.labels.pod, severity: a.labels.severity }));
  if (facts.otherAlerts.length > 0)
    add(
      "other alerts firing",
      `ALERTS{alertstate="firing", namespace="${namespace}"}`,
      facts.otherAlerts.map((a) => `${a.alertname}${a.pod ? ` on ${a.pod}` : ""}`).join(", "),
    );
  return { facts, items, expr: options.expr };

  function record(name: SignalName, samples: Sample[], query: string): void {
    switch (name) {
      case "gpu_memory_ratio": {
        const top = samples.filter((s) => Number.isFinite(s.value)).sort((a, b) => b.value - a.value)[0];
        if (!top) return;
        facts.gpuMemoryMax = { pod: top.labels.pod ?? "?", ratio: top.value };
        add(name, query, `GPU memory at ${pct(top.value)} on ${top.labels.pod ?? "?"}`);
        return;
      }
      case "failures_by_reason": {
        for (const s of samples) if (s.value > 0) facts.failures[s.labels.reason] = Math.round(s.value);
        const text = Object.entries(facts.failures)
          .map(([r, n]) => `${n} ${r}`)
          .join(", ");
        add(name, query, text ? `failed jobs in ${window}: ${text}` : `no failed jobs in ${window}`);
        return;
      }
      case "restarts": {
        facts.restarts = Math.round(samples.reduce((a, s) => a + s.value, 0));
        if (facts.restarts > 0) add(name, query, `${facts.restarts} container restarts in ${window}`);
        return;
      }
      case "oom_killed": {
        facts.oomKilledPods = samples.filter((s) => s.value > 0).map((s) => s.labels.pod);
        if (facts.oomKilledPods.length > 0)
          add(name, query, `last termination OOMKilled: ${facts.oomKilledPods.join(", ")}`);
        return;
      }
      case "resident_memory_slope": {
        const top = samples.sort((a, b) => b.value - a.value)[0];
        if (!top) return;
        facts.residentMemorySlopeBytesPerHour = top.value;
        add(
          name,
          query,
          `resident memory of ${top.labels.pod ?? "?"} grows ${(top.value / 2 ** 20).toFixed(1)} MiB/hour`,
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

function round(v: number): string {
  return Math.abs(v) < 10 ? String(Number(v.toPrecision(3))) : String(Math.round(v));
}
