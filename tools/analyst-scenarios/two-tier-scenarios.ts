import { counter, SeriesSpec } from "./history";
import type { Scenario } from "./scenarios";
import { apiPod, twoTier, WORKER_DEPLOYMENT, workerPod } from "./two-tier";

/**
 * Pages a KEDA-scaled, two-tier Sonic really produces (issue 24 §1): a cold start from zero, an
 * autoscaler that will not wake the workers, a crash loop in the API tier, a release whose pods never
 * turn ready, another service's release, and hostile text. Each namespace holds the series the tiers,
 * kube-state-metrics and Prometheus' `ALERTS` export (two-tier.ts).
 */

const API = [{ name: apiPod("x2x4q") }, { name: apiPod("k8m2p") }];
/** A worker that has run for hours. */
const OLD_WORKER = { name: workerPod("q7wzt") };

const backlogExpr = (ns: string, over: number) =>
  `max by (namespace) (sonic_jobs_queued{namespace="${ns}"}) > ${over}`;
const backlogAlert = (ns: string, over = 3) => ({
  labels: { alertname: "SonicQueueBacklog", severity: "warning" },
  expr: backlogExpr(ns, over),
  annotations: {
    summary: "Jobs wait",
    description: "The backlog grows",
    runbook_url: "https://runbooks.example/r.md#q",
  },
});
/** The queue: 0 until `since` minutes ago, then `perMinute` more each minute. */
const growingFrom =
  (since: number, perMinute = 2) =>
  (m: number) =>
    m <= since ? Math.round((since - m) * perMinute) + 1 : 0;

/** KEDA's alerts as the rule catalogue labels them (components/rules/keda.ts). */
const KEDA_STUCK: Record<string, { labels: Record<string, string>; why: RegExp }> = {
  KedaScaledObjectPaused: {
    labels: { alertname: "KedaScaledObjectPaused", scaledObject: WORKER_DEPLOYMENT, severity: "warning" },
    why: /is paused/,
  },
  KedaScalerErrors: {
    labels: {
      alertname: "KedaScalerErrors",
      scaledObject: WORKER_DEPLOYMENT,
      scaler: "prometheusScaler",
      metric: "s0-prometheus",
      severity: "warning",
    },
    why: /has a trigger that keeps erroring/,
  },
  KedaDown: {
    // Fires in KEDA's own namespace, for its job: not the service's.
    labels: {
      alertname: "KedaDown",
      namespace: "scn-keda-system",
      job: "keda-operator",
      severity: "critical",
    },
    why: /is not acted on: KEDA itself is down/,
  },
};

export const TWO_TIER_SCENARIOS: Scenario[] = [
  {
    name: "worker tier waking from zero (cold start)",
    namespace: "scn-cold-start",
    series: twoTier("scn-cold-start", {
      api: API,
      // KEDA woke the tier 5 minutes ago; its one pod started 4 minutes ago and loads the model.
      workers: [
        { name: workerPod("b6xzm"), startedAgo: 4, containers: { "model-server": { ready: () => 0 } } },
      ],
      workerHpa: { desired: (m) => (m <= 5 ? 1 : 0), current: (m) => (m <= 4 ? 1 : 0) },
      queued: growingFrom(6),
    }),
    alerts: [backlogAlert("scn-cold-start")],
    expect: {
      top: "cold-start",
      text: [
        /^Most likely: \*The worker tier is waking from zero: about [56]m left of its 10m cold start\*/m,
        /cold start 600s \(`sonic\.coldStartSeconds`\): \d+s left, until \d\d:\d\d UTC/,
        /Worry if a worker pod is still not ready after \d\d:\d\d UTC .* or if any of its containers restarts/,
        /it explains the model server is crash-looping or unready: `model-server` not ready/,
      ],
      notText: [/^Next: kubectl .* --previous/m],
    },
  },
  {
    name: "worker tier waking from zero, restarting: past worry",
    namespace: "scn-cold-start-crash",
    series: twoTier("scn-cold-start-crash", {
      api: API,
      workers: [
        {
          name: workerPod("c7rtn"),
          startedAgo: 4,
          containers: {
            "model-server": { ready: () => 0, restarts: (m) => (m <= 2 ? 2 : 0) },
          },
        },
      ],
      workerHpa: { desired: (m) => (m <= 5 ? 1 : 0), current: (m) => (m <= 4 ? 1 : 0) },
      queued: growingFrom(6),
    }),
    alerts: [backlogAlert("scn-cold-start-crash")],
    // Restarts within the cold start are no cold start: the model server's crash is the page.
    expect: {
      top: "model-server-down",
      // Told by tier: the restarts are the worker tier's.
      text: [
        /container restarts in 15m: worker tier: `model-server` of `sonic-generate-worker-5f7b9c8d4-c7rtn` \(2\)/,
      ],
      notText: [/^Most likely: \*The worker tier is waking/m],
    },
  },
  ...Object.entries(KEDA_STUCK).map(([alertname, k]): Scenario => ({
    name: `backlog while ${alertname} keeps the workers at zero`,
    namespace: `scn-keda-${alertname.toLowerCase()}`,
    series: twoTier(`scn-keda-${alertname.toLowerCase()}`, {
      api: API,
      workers: [],
      workerHpa: { desired: () => 0, current: () => 0 },
      queued: growingFrom(20, 1),
      alerts: [{ labels: k.labels, since: 30 }],
    }),
    alerts: [backlogAlert(`scn-keda-${alertname.toLowerCase()}`)],
    expect: {
      top: "autoscaler-not-waking",
      text: [
        new RegExp(
          `^Most likely: \\*KEDA will not wake the worker tier: ScaledObject \`scn-keda-${alertname.toLowerCase()}/sonic-generate-worker\` ${k.why.source}\\*`,
          "m",
        ),
        new RegExp(`\`${alertname}\` firing`),
        /21 jobs queued while HPA `sonic-generate-worker` desires 0 replicas/,
      ],
    },
  })),
  {
    name: "worker tier capped at its maximum (adapter engine)",
    // The analyst's profile for this namespace says the adapter engine scales it.
    namespace: "scn-adapter-max",
    series: twoTier("scn-adapter-max", {
      api: API,
      workers: ["q7wzt", "h4kdp", "m9tbs", "r2vln"].map((s) => ({ name: workerPod(s) })),
      workerHpa: { desired: () => 4, current: () => 4, max: 4, min: 1 },
      queued: (m) => 30 + Math.round((120 - m) / 4),
    }),
    alerts: [backlogAlert("scn-adapter-max", 40)],
    expect: {
      top: "autoscaler-at-max",
      text: [
        /capped at its maximum: the HPA \(prometheus-adapter\) holds HPA `sonic-generate-worker` at 4 of 4 replicas/,
        /raise the worker tier's maximum \(`autoscaling\.worker\.maxReplicas`\)/,
      ],
    },
  },
  {
    name: "api container crash-looping while the workers are fine",
    namespace: "scn-api-crash",
    series: twoTier("scn-api-crash", {
      api: API.map((p) => ({
        ...p,
        up: (m: number) => (m <= 10 ? 0 : 1),
        containers: {
          api: {
            ready: (m: number) => (m <= 10 ? 0 : 1),
            restarts: (m: number) => (m <= 10 ? Math.floor((10 - m) / 2) + 1 : 0),
            waiting: (m: number) => (m <= 9 ? "CrashLoopBackOff" : undefined),
          },
        },
      })),
      workers: [OLD_WORKER],
    }),
    alerts: [
      {
        labels: { alertname: "SonicTargetDown", severity: "critical", pod: apiPod("x2x4q") },
        expr: `up{namespace="scn-api-crash"} == 0`,
      },
    ],
    expect: {
      top: "container-crash-loop",
      text: [
        /^Most likely: \*The `api` container of the api tier is crash-looping\*/m,
        /api tier: `api` of `sonic-generate-service-7d9f8c6b5d-x2x4q` in `CrashLoopBackOff` \(\d+ restarts in the window\)/,
        /worker tier: no restarts/,
        /^Next: The API tier takes no jobs: while its pods are down clients get 503/m,
      ],
      notText: [/Pods dying under the jobs/, /^Next: .*k8m2p/m],
    },
  },
  {
    name: "new worker version whose model server never turns ready",
    namespace: "scn-rollout",
    series: twoTier("scn-rollout", {
      api: API,
      workers: [
        OLD_WORKER,
        {
          name: workerPod("v8npx", "7f8e9d6c4"),
          startedAgo: 10,
          version: "1.5.0",
          containers: { "model-server": { ready: () => 0 } },
        },
      ],
      workerHpa: { desired: () => 2, current: () => 2, min: 0 },
      queued: growingFrom(6, 3),
    }),
    alerts: [backlogAlert("scn-rollout")],
    expect: {
      top: "bad-release",
      text: [
        /^Most likely: \*A bad release \(`1\.5\.0`\)\*/m,
        /it explains the model server is crash-looping or unready: `model-server` not ready on `sonic-generate-worker-7f8e9d6c4-v8npx`/,
        /^Next: Roll back the image \(`sonic\.image`\) to the version before it/m,
      ],
      notText: [/^Other candidates:\n• The model server is crash-looping/m],
    },
  },
  {
    name: "another service's bad release (advice from its own config)",
    namespace: "scn-tts",
    series: ttsRelease("scn-tts"),
    alerts: [
      {
        labels: { alertname: "TtsHighErrorRate", severity: "warning" },
        expr: `sum by (namespace) (rate(tts_request_total{namespace="scn-tts",status="server_error"}[5m])) / sum by (namespace) (rate(tts_request_total{namespace="scn-tts"}[5m])) > 0.05`,
        annotations: { summary: "TTS errors", runbook_url: "https://tts.example/runbooks#ttshigherrorrate" },
      },
    ],
    expect: {
      top: "bad-release",
      text: [/^Next: Roll back the image to the version before it/m],
      notText: [/sonic\.image/, /^Runbook:/m, /SONIC_/],
    },
  },
  {
    name: "hostile alertname in the group key, a URL in the alert's text, a fraction of a failure",
    namespace: "scn-slack",
    series: twoTier("scn-slack", {
      api: API,
      workers: [OLD_WORKER],
      // 0.01 a minute: an increase of about 0.15 over the window, which rounds to 0.
      failuresPerMinute: { inference_error: () => 0.01 },
    }),
    groupKey: '{}/{}:{alertname="https://phish.example/group"}',
    alerts: [
      {
        labels: { alertname: "SonicHighErrorRate", severity: "warning" },
        annotations: {
          summary: "Errors up",
          description: "details at https://phish.example/alert and www.phish.example",
        },
      },
      { labels: { alertname: "https://phish.example/name", severity: "warning" } },
    ],
    expect: {
      top: null,
      text: [/failed jobs in 15m: 0\.1\d* `inference_error`/, /^_alert group `/m],
      notText: [/\b0 `?inference_error/],
      notBare: [/phish\.example/],
    },
  },
];

/** A TTS service (prefix `tts`, no profile): version 2.1.0 replaces 2.0.0 10 minutes ago, errors 4 later. */
function ttsRelease(ns: string): SeriesSpec[] {
  return ["tts-5c8d7f9b6-aa1bb", "tts-5c8d7f9b6-cc2dd"].flatMap((pod): SeriesSpec[] => [
    {
      name: "tts_build_info",
      labels: { namespace: ns, pod, version: "2.0.0" },
      value: (m) => (m > 10 ? 1 : undefined),
    },
    {
      name: "tts_build_info",
      labels: { namespace: ns, pod, version: "2.1.0" },
      value: (m) => (m <= 10 ? 1 : undefined),
    },
    {
      name: "tts_request_total",
      labels: { namespace: ns, pod, status: "success" },
      value: counter(() => 30),
    },
    {
      name: "tts_request_total",
      labels: { namespace: ns, pod, status: "server_error" },
      value: counter((m) => (m <= 6 ? 20 : 0)),
    },
  ]);
}
