import { SONIC_SETTING_NAMES, type AnalystServiceProfile } from "../../contract/analyst-service-profile";
import { counter, SeriesSpec } from "./history";
import { TWO_TIER_SCENARIOS } from "./two-tier-scenarios";
import { API_DEPLOYMENT, WORKER_DEPLOYMENT } from "./two-tier";

/** What the analyst receives and what its report must say. */
export interface Scenario {
  name: string;
  /** Every scenario has its own namespace: one Prometheus holds them all. */
  namespace: string;
  series: SeriesSpec[];
  /** The group's firing alerts: labels, annotations and the rule expression (its generatorURL). */
  alerts: { labels: Record<string, string>; annotations?: Record<string, string>; expr?: string }[];
  /** Alertmanager's group key. @default one naming the scenario */
  groupKey?: string;
  /** What Prometheus does: the backfilled one answers, or it fails like this. @default "up" */
  prometheus?: "up" | "refused" | "blackhole" | "502";
  expect: {
    /** The top cause's rule id; null when no rule should match. */
    top: string | null;
    /** Lines or fragments the Slack text must contain. */
    text?: RegExp[];
    /** Must not appear (live mentions, links, another pod as the headline). */
    notText?: RegExp[];
    /** Must not appear outside code spans: Slack links a bare URL, never one in code. */
    notBare?: RegExp[];
  };
}

const GIB = 2 ** 30;
const PODS = ["sonic-a", "sonic-b"];

/**
 * A healthy Sonic namespace: two pods, steady traffic, no failures, GPU memory at 40%, version 0.1.0,
 * every container ready. Scenarios replace the series their fault changes.
 */
function healthy(
  ns: string,
  change: Partial<
    Record<string, (pod: string, labels: Record<string, string>) => SeriesSpec["value"] | undefined>
  > = {},
): SeriesSpec[] {
  const series: SeriesSpec[] = [];
  const add = (name: string, labels: Record<string, string>, value: SeriesSpec["value"]) => {
    const key = `${name}${labels.container ? `/${labels.container}` : ""}${labels.reason ? `/${labels.reason}` : ""}${labels.status ? `/${labels.status}` : ""}${labels.version ? `/${labels.version}` : ""}`;
    series.push({
      name,
      labels: { namespace: ns, ...labels },
      value: change[key]?.(labels.pod, labels) ?? value,
    });
  };
  for (const pod of PODS) {
    const p = { pod };
    add("sonic_gpu_memory_used_bytes", { ...p, gpu: "0" }, () => 0.4 * 24 * GIB);
    add("sonic_gpu_memory_total_bytes", { ...p, gpu: "0" }, () => 24 * GIB);
    add(
      "sonic_job_submissions_total",
      p,
      counter(() => 30),
    );
    add(
      "sonic_request_total",
      { ...p, status: "success" },
      counter(() => 30),
    );
    add(
      "sonic_request_total",
      { ...p, status: "server_error" },
      counter(() => 0),
    );
    add("sonic_job_failures_total", { ...p, reason: "gpu_out_of_memory" }, () => 0);
    add("sonic_job_failures_total", { ...p, reason: "worker_unavailable" }, () => 0);
    add("sonic_job_failures_total", { ...p, reason: "worker_lost" }, () => 0);
    add("sonic_jobs_queued", p, () => 2);
    add("sonic_queue_store_up", p, () => 1);
    add("sonic_build_info", { ...p, version: "0.1.0" }, () => 1);
    add("sonic_process_resident_memory_bytes", p, () => 300 * 2 ** 20);
    add("up", { ...p, job: "sonic-generate-service" }, () => 1);
    for (const container of ["api", "model-server"]) {
      const c = { ...p, container };
      add("kube_pod_container_status_restarts_total", c, () => 0);
      add("kube_pod_container_status_ready", c, () => 1);
      add("kube_pod_container_status_waiting_reason", { ...c, reason: "CrashLoopBackOff" }, () => 0);
      add("kube_pod_container_status_last_terminated_reason", { ...c, reason: "OOMKilled" }, () => 0);
    }
  }
  series.push({
    name: "redis_up",
    labels: { namespace: ns, pod: "sonic-queue-0" },
    value: change.redis_up?.("sonic-queue-0", {}) ?? (() => 1),
  });
  return series;
}

/** Long inputs on one pod: GPU memory jumps from 40% to `ratio` 8 minutes ago, and jobs fail OOM. */
const largeInputs = (pod: string, ratio: number, oomPerMinute: number) => ({
  sonic_gpu_memory_used_bytes: only(pod, (m) => (m <= 8 ? ratio : 0.4) * 24 * GIB),
  "sonic_job_failures_total/gpu_out_of_memory": only(
    pod,
    counter((m) => (m <= 8 ? oomPerMinute : 0)),
  ),
});

const only = (pod: string, fault: SeriesSpec["value"]) => (p: string) => (p === pod ? fault : undefined);

const gpuExpr = (ns: string) =>
  `sonic_gpu_memory_used_bytes{namespace="${ns}"} / sonic_gpu_memory_total_bytes{namespace="${ns}"} > 0.9`;
const errorExpr = (ns: string) =>
  `sum by (namespace) (rate(sonic_request_total{namespace="${ns}",status="server_error"}[5m])) / sum by (namespace) (rate(sonic_request_total{namespace="${ns}"}[5m])) > 0.05`;
const annotations = (summary: string) => ({
  summary,
  description: summary,
  runbook_url: "https://runbooks.example/runbooks.md#x",
});

export const SCENARIOS: Scenario[] = [
  {
    name: "bad release",
    namespace: "scn-release",
    series: healthy("scn-release", {
      // 0.2.0 replaces 0.1.0 on both pods 10 minutes ago; errors start 4 minutes later.
      "sonic_build_info/0.1.0": () => (m) => (m > 10 ? 1 : undefined),
      "sonic_request_total/server_error": () => counter((m) => (m <= 6 ? 20 : 0)),
    }).concat(
      PODS.map((pod) => ({
        name: "sonic_build_info",
        labels: { namespace: "scn-release", pod, version: "0.2.0" },
        value: (m: number) => (m <= 10 ? 1 : undefined),
      })),
    ),
    alerts: [
      {
        labels: { alertname: "SonicHighErrorRate", severity: "warning" },
        expr: errorExpr("scn-release"),
        annotations: annotations("errors"),
      },
    ],
    expect: { top: "bad-release", text: [/version `0\.2\.0` appeared at/] },
  },
  {
    name: "inputs too large",
    namespace: "scn-inputs",
    // A batch of long clips: memory jumps from 40% to 98% within a minute, and jobs fail OOM.
    series: healthy("scn-inputs", largeInputs("sonic-a", 0.98, 2)),
    alerts: [
      {
        labels: { alertname: "HighGPUMemoryUsage", severity: "critical", pod: "sonic-a", gpu: "0" },
        expr: gpuExpr("scn-inputs"),
        annotations: annotations("GPU memory above 90%"),
      },
    ],
    expect: { top: "inputs-too-large", text: [/GPU memory jumped 58\.0% of the GPU in one step/] },
  },
  {
    name: "GPU memory leak, ending in OOMs",
    namespace: "scn-gpu-leak",
    series: healthy("scn-gpu-leak", {
      // A steady climb from 45% to 97% over two hours at flat load, OOMs in the last minutes.
      sonic_gpu_memory_used_bytes: only("sonic-b", (m) => (0.97 - (0.52 * m) / 120) * 24 * GIB),
      "sonic_job_failures_total/gpu_out_of_memory": only(
        "sonic-b",
        counter((m) => (m <= 3 ? 1 : 0)),
      ),
    }),
    alerts: [
      {
        labels: { alertname: "HighGPUMemoryUsage", severity: "critical", pod: "sonic-b", gpu: "0" },
        expr: gpuExpr("scn-gpu-leak"),
        annotations: annotations("GPU memory above 90%"),
      },
    ],
    expect: {
      top: "gpu-memory-leak",
      text: [
        /GPU memory of `sonic-b` climbs 2\d\.\d% of the GPU per hour/,
        /jobs failed with gpu_out_of_memory at the end/,
      ],
    },
  },
  {
    name: "GPU memory leak, before any OOM",
    namespace: "scn-gpu-leak-quiet",
    series: healthy("scn-gpu-leak-quiet", {
      sonic_gpu_memory_used_bytes: only("sonic-a", (m) => (0.92 - (0.4 * m) / 120) * 24 * GIB),
    }),
    alerts: [
      {
        labels: { alertname: "HighGPUMemoryUsage", severity: "critical", pod: "sonic-a", gpu: "0" },
        expr: gpuExpr("scn-gpu-leak-quiet"),
      },
    ],
    expect: { top: "gpu-memory-leak" },
  },
  {
    name: "OOM-killed pod (memory limit)",
    namespace: "scn-oomkill",
    series: healthy("scn-oomkill", {
      up: only("sonic-b", (m) => (m <= 4 ? 0 : 1)),
      "kube_pod_container_status_last_terminated_reason/api/OOMKilled": only("sonic-b", (m) =>
        m <= 6 ? 1 : 0,
      ),
      "kube_pod_container_status_restarts_total/api": only("sonic-b", (m) => (m <= 6 ? 3 : 0)),
    }),
    alerts: [
      {
        labels: { alertname: "SonicTargetDown", severity: "critical", pod: "sonic-b" },
        expr: `up{namespace="scn-oomkill"} == 0`,
      },
    ],
    expect: { top: "memory-limit", text: [/OOMKilled: `api` of `sonic-b`/] },
  },
  {
    name: "resident memory leak",
    namespace: "scn-rss-leak",
    series: healthy("scn-rss-leak", {
      sonic_process_resident_memory_bytes: only("sonic-a", (m) => (300 + ((120 - m) * 60) / 60) * 2 ** 20),
    }),
    alerts: [{ labels: { alertname: "SonicMemoryLeak", severity: "warning", pod: "sonic-a" } }],
    expect: { top: "memory-leak", text: [/resident memory grows 60\.0 MiB\/hour/] },
  },
  {
    name: "model server crash-looping",
    namespace: "scn-crashloop",
    series: healthy("scn-crashloop", {
      "kube_pod_container_status_restarts_total/model-server": only("sonic-a", (m) =>
        m <= 12 ? Math.floor((12 - m) / 3) : 0,
      ),
      "kube_pod_container_status_waiting_reason/model-server/CrashLoopBackOff": only("sonic-a", (m) =>
        m <= 10 ? 1 : 0,
      ),
      "kube_pod_container_status_ready/model-server": only("sonic-a", (m) => (m <= 12 ? 0 : 1)),
      sonic_jobs_queued: () => (m) => (m <= 12 ? 2 + (12 - m) * 3 : 2),
    }),
    alerts: [
      {
        labels: { alertname: "SonicQueueBacklog", severity: "warning" },
        expr: `max by (namespace) (sonic_jobs_queued{namespace="scn-crashloop"}) > 20`,
      },
    ],
    expect: {
      top: "model-server-down",
      text: [
        /`model-server` of `sonic-a` restarted \d times/,
        /`model-server` in CrashLoopBackOff on `sonic-a`/,
        /the backlog grew from \d+ to 38 jobs/,
        /0 failed jobs/,
      ],
    },
  },
  {
    name: "model server unreachable",
    namespace: "scn-unreachable",
    series: healthy("scn-unreachable", {
      "sonic_job_failures_total/worker_unavailable": () => counter((m) => (m <= 8 ? 3 : 0)),
      "sonic_request_total/server_error": () => counter((m) => (m <= 8 ? 3 : 0)),
    }),
    alerts: [
      {
        labels: { alertname: "SonicHighErrorRate", severity: "warning" },
        expr: errorExpr("scn-unreachable"),
      },
    ],
    expect: { top: "model-server-unreachable" },
  },
  {
    name: "node lost under jobs",
    namespace: "scn-node-lost",
    series: healthy("scn-node-lost", {
      "sonic_job_failures_total/worker_lost": only(
        "sonic-b",
        counter((m) => (m <= 5 ? 2 : 0)),
      ),
      "kube_pod_container_status_restarts_total/api": only("sonic-b", (m) => (m <= 5 ? 1 : 0)),
    }),
    alerts: [{ labels: { alertname: "SonicJobsLost", severity: "warning", reason: "worker_lost" } }],
    expect: { top: "pods-lost", text: [/jobs lost with their pods/] },
  },
  {
    name: "queue store down",
    namespace: "scn-store-down",
    series: healthy("scn-store-down", {
      sonic_queue_store_up: () => (m) => (m <= 7 ? 0 : 1),
      redis_up: () => (m) => (m <= 7 ? 0 : 1),
      "kube_pod_container_status_ready/api": () => (m) => (m <= 6 ? 0 : 1),
    }),
    alerts: [
      {
        labels: { alertname: "SonicQueueStoreUnreachable", severity: "critical" },
        expr: `min by (namespace) (sonic_queue_store_up{namespace="scn-store-down"}) == 0`,
      },
    ],
    expect: {
      top: "queue-store-down",
      text: [/2 of 2 pods report the job store unreachable/, /redis_up 0 for the store `sonic-queue-0`/],
    },
  },
  {
    name: "quiet namespace beside a noisy one",
    namespace: "scn-quiet",
    series: healthy("scn-quiet"),
    alerts: [{ labels: { alertname: "SonicHighLatencyP99", severity: "warning" } }],
    // scn-inputs has OOMs and a GPU at 98% at the same time: none of it may leak into this report.
    expect: { top: null, text: [/No known cause matched the evidence/], notText: [/gpu_out_of_memory/] },
  },
  {
    name: "group of two alerts, the second with the evidence",
    namespace: "scn-group",
    series: healthy("scn-group", {
      // Both GPUs above 90%, only sonic-b's at 98% with OOM failures: it is the one to headline.
      sonic_gpu_memory_used_bytes: (pod) => (m) =>
        (m <= 8 ? (pod === "sonic-b" ? 0.98 : 0.91) : 0.4) * 24 * GIB,
      "sonic_job_failures_total/gpu_out_of_memory": only(
        "sonic-b",
        counter((m) => (m <= 8 ? 2 : 0)),
      ),
    }),
    alerts: [
      {
        labels: { alertname: "HighGPUMemoryUsage", severity: "critical", pod: "sonic-a", gpu: "0" },
        expr: gpuExpr("scn-group"),
      },
      {
        labels: { alertname: "HighGPUMemoryUsage", severity: "critical", pod: "sonic-b", gpu: "0" },
        expr: gpuExpr("scn-group"),
      },
    ],
    expect: {
      top: "inputs-too-large",
      text: [
        /^\*Analysis:\* `HighGPUMemoryUsage` in `scn-group\/sonic-b`/,
        /^Group: 2 alerts firing \(`HighGPUMemoryUsage`\) on pods `sonic-a`, `sonic-b`/m,
      ],
    },
  },
  {
    name: "hostile namespace, pod and runbook_url",
    namespace: 'scn-"hostile\\',
    series: healthy('scn-"hostile\\', largeInputs("sonic-a", 0.99, 1)),
    alerts: [
      {
        labels: {
          alertname: "HighGPUMemoryUsage",
          severity: "critical",
          pod: "sonic-a",
          gpu: "0",
          team: "<!channel> https://phish.example/login \u202Eexe.txt",
        },
        annotations: {
          summary: "GPU memory above 90% <!here>",
          description: "see <https://phish.example/login|the runbook>",
          runbook_url: "https://runbooks.example/x|runbook> <!channel> <https://phish.example/login",
        },
      },
    ],
    // The queries stay valid with a `"` and a `\` in the namespace: the evidence still finds the cause.
    expect: { top: "inputs-too-large", notText: [/<!channel>|<!here>|<https:\/\/phish/, /\u202E/] },
  },
  ...(["refused", "blackhole", "502"] as const).map((mode): Scenario => ({
    name: `Prometheus ${mode === "refused" ? "refusing connections" : mode === "blackhole" ? "black-holing queries" : "answering 502 HTML"}`,
    namespace: `scn-prom-${mode}`,
    series: [],
    prometheus: mode,
    alerts: [
      {
        labels: { alertname: "SonicTargetDown", severity: "critical", pod: "sonic-a" },
        annotations: annotations("Prometheus cannot scrape a Sonic pod"),
      },
    ],
    expect: {
      top: null,
      text: [
        /_No evidence: every query to Prometheus failed/,
        {
          refused: /connection refused/,
          blackhole: /no answer within \d+ s/,
          "502": /Prometheus answered 502 with text\/html/,
        }[mode],
        /^Runbook: /m,
      ],
    },
  })),
  ...TWO_TIER_SCENARIOS,
];

/**
 * The services the suite's analyst knows: Sonic (KEDA-scaled, as the stack writes its profile), Sonic
 * in one namespace scaled by the adapter engine, and a TTS service with no profile.
 */
export const SCENARIO_SERVICES = "sonic,sonic@scn-adapter-max,tts@scn-tts";
const sonicProfile: AnalystServiceProfile = {
  prefix: "sonic",
  tiers: { api: API_DEPLOYMENT, worker: WORKER_DEPLOYMENT },
  coldStartSeconds: 600,
  autoscaler: "keda",
  settings: SONIC_SETTING_NAMES,
};
export const SCENARIO_PROFILES: AnalystServiceProfile[] = [
  sonicProfile,
  { ...sonicProfile, namespace: "scn-adapter-max", autoscaler: "adapter" },
];

/** The Alertmanager notification (webhook version 4) a scenario's group arrives as. */
export function scenarioWebhook(scenario: Scenario, groupKey: string, startsAt: string) {
  return {
    version: "4",
    receiver: "alert-analyst",
    status: "firing",
    groupKey,
    groupLabels: {},
    commonLabels: {},
    alerts: scenario.alerts.map((a, i) => ({
      status: "firing",
      labels: { namespace: scenario.namespace, ...a.labels },
      annotations: a.annotations ?? {},
      startsAt,
      fingerprint: `${groupKey}/${i}`,
      ...(a.expr
        ? { generatorURL: `http://prometheus:9090/graph?g0.expr=${encodeURIComponent(a.expr)}&g0.tab=1` }
        : {}),
    })),
  };
}
