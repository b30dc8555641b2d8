import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { gunzipSync } from "node:zlib";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { getItems, kubectl } from "../../cluster/kubectl";
import { POD_DIR } from "../../cluster/pods/volumes";
import { metricNames } from "../../contract/metrics";
import { sendBurst } from "../../sandbox/load-burst";
import { deployOk, eventually, LOCAL_CHART_ARGS } from "./support";

/**
 * The real controllers act on what the program deploys (npm run cluster -- up --controllers): the pod runtime
 * runs prometheus-operator, Prometheus 3.14, Alertmanager 0.34, prometheus-adapter, KEDA, kube-state-metrics
 * and Sonic's own programs for the pods the dev stack makes; kube-controller-manager's HPA controller scales.
 * Nothing here is simulated but the nodes (kwok) and the GPU behind the model server.
 */
const SONIC_NS = "ai-inference";
const PROMETHEUS = "http://prometheus-stack-prometheus.monitoring.svc:9090";
const ALERTMANAGER = "http://prometheus-stack-alertmanager.monitoring.svc:9093";
const API = `http://sonic-generate-service.${SONIC_NS}.svc:8080`;
const SONIC = metricNames("sonic");

/**
 * ServiceMonitors that the operator rightly skips here, each with the reason (checked: the operator's own
 * event names it). The chart's monitor of the operator reads its TLS CA from the Secret that the chart's
 * certgen Job writes, and kwok completes Jobs without running them.
 */
const SKIPPED_MONITORS: Record<string, string> = {
  "monitoring/prometheus-stack-operator":
    "its TLS CA is in Secret prometheus-stack-admission (the certgen Job's)",
};

/** Faster than the stack files' timings, so that each scale happens within the suite's minutes. */
const FAST = [
  "autoscaling.scaleDownStabilizationSeconds=30",
  "autoscaling.rateWindow=1m",
  "autoscaling.pollingSeconds=5",
  "autoscaling.worker.cooldownSeconds=30",
];

/**
 * Where Slack messages go in this suite: a receiver of the test's own on an address of the pod range (a
 * pod's 127.0.0.1 is its pod IP here, so loopback would not reach the test), for Alertmanager's Slack
 * receivers and the analyst's reports alike. A TargetDown pages after 30 s instead of 5 min.
 */
const SLACK = { host: "172.30.255.250", port: 18080 };
const PAGING = [`slackWebhookUrl=http://${SLACK.host}:${SLACK.port}/slack`, "alerts.targetDownFor=30s"];

function devArgs(...config: string[]): string[] {
  return [
    "dev",
    "up",
    "--stand-in-secrets",
    ...LOCAL_CHART_ARGS,
    ...[...PAGING, ...config].flatMap((c) => ["--config", c]),
  ];
}

async function json<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** A gzipped key of a Secret the operator writes, parsed. */
function generatedSecret(name: string, key: string): Record<string, unknown> {
  const b64 = kubectl([
    "get",
    "secret",
    name,
    "-n",
    "monitoring",
    "-o",
    `jsonpath={.data.${key.replace(/\./g, "\\.")}}`,
  ]);
  return parse(gunzipSync(Buffer.from(b64, "base64")).toString("utf8")) as Record<string, unknown>;
}

interface Monitor {
  metadata: { namespace: string; name: string };
  spec: { endpoints: unknown[] };
}

interface RuleObject {
  metadata: { namespace: string; name: string };
  spec: { groups: { name: string; rules: { alert?: string; record?: string }[] }[] };
}

function ruleNames(groups: { rules: { alert?: string; record?: string }[] }[]): string[] {
  return groups
    .flatMap((g) => g.rules.map((r) => (r.alert ? `alert ${r.alert}` : `record ${r.record}`)))
    .sort();
}

interface Hpa {
  metadata: { name: string; ownerReferences?: { kind: string; name: string }[] };
  spec: { minReplicas?: number; maxReplicas: number };
  status: {
    desiredReplicas?: number;
    currentReplicas?: number;
    currentMetrics?: {
      type: string;
      pods?: { metric: { name: string }; current: { averageValue?: string } };
      external?: { metric: { name: string }; current: { averageValue?: string; value?: string } };
    }[];
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}

function hpa(name: string): Hpa {
  return JSON.parse(kubectl(["get", "hpa", name, "-n", SONIC_NS, "-o", "json"])) as Hpa;
}

function replicas(deployment: string): { spec: number; ready: number } {
  return replicasIn(SONIC_NS, deployment);
}

function replicasIn(namespace: string, deployment: string): { spec: number; ready: number } {
  const d = JSON.parse(kubectl(["get", "deployment", deployment, "-n", namespace, "-o", "json"])) as {
    spec: { replicas?: number };
    status: { readyReplicas?: number };
  };
  return { spec: d.spec.replicas ?? 1, ready: d.status.readyReplicas ?? 0 };
}

/** The HPA's metrics as the HPA controller last read them; an entry without a value is `<unknown>`. */
function currentMetricValues(h: Hpa): string[] {
  return (h.status.currentMetrics ?? []).map((m) => {
    const value =
      m.pods?.current.averageValue ?? m.external?.current.averageValue ?? m.external?.current.value;
    return `${m.pods?.metric.name ?? m.external?.metric.name}=${value ?? "<unknown>"}`;
  });
}

/**
 * Where the chain from ServiceMonitor to target stopped, for a failure message: the Sonic jobs in the generated
 * Secret and in the configuration Prometheus loaded, the targets it dropped, and the reloader's own counters.
 */
async function scrapeDiagnosis(isSonic: (pool: string) => boolean): Promise<string[]> {
  const facts: string[] = [];
  const note = async (what: string, read: () => Promise<string> | string) =>
    facts.push(
      `${what}: ${await Promise.resolve()
        .then(read)
        .catch((e: Error) => e.message)}`,
    );
  await note("Sonic jobs in the operator's Secret", () =>
    (
      generatedSecret("prometheus-prometheus-stack-prometheus", "prometheus.yaml.gz") as {
        scrape_configs: { job_name: string }[];
      }
    ).scrape_configs
      .map((s) => s.job_name)
      .filter(isSonic)
      .join(" "),
  );
  await note("Sonic jobs in the configuration Prometheus loaded", async () => {
    const status = await json<{ data: { yaml: string } }>(`${PROMETHEUS}/api/v1/status/config`);
    return (parse(status.data.yaml) as { scrape_configs: { job_name: string }[] }).scrape_configs
      .map((s) => s.job_name)
      .filter(isSonic)
      .join(" ");
  });
  await note("dropped Sonic targets", async () => {
    const dropped = await json<{ data: { droppedTargets: { discoveredLabels: Record<string, string> }[] } }>(
      `${PROMETHEUS}/api/v1/targets?state=dropped`,
    );
    return String(dropped.data.droppedTargets.filter((t) => isSonic(t.discoveredLabels.job ?? "")).length);
  });
  await note("config reloader", async () => {
    const res = await fetch(`${PROMETHEUS.replace(/:9090$/, ":8080")}/metrics`);
    return (await res.text())
      .split("\n")
      .filter((l) => /^reloader_(last_reload_success|config_apply_operations|reloads)/.test(l))
      .join("; ");
  });
  return facts;
}

/** Worker pods, and worker processes the pod runtime still runs: none once the tier is really at zero. */
function workersLeft(): string[] {
  const pods = getItems<{ metadata: { name: string } }>([
    "pods",
    "-n",
    SONIC_NS,
    "-l",
    "app.kubernetes.io/component=worker",
  ]);
  const runtime = (
    JSON.parse(readFileSync(path.join(POD_DIR, "status.json"), "utf8")) as { pod: string }[]
  ).filter((p) => p.pod.startsWith(`${SONIC_NS}/sonic-generate-worker-`));
  return [...pods.map((p) => `pod ${p.metadata.name}`), ...runtime.map((p) => `processes of ${p.pod}`)];
}

/** Polls an async check every two seconds until it returns no problems. */
async function until(what: string, check: () => Promise<string[]>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string[] = [];
  while (Date.now() < deadline) {
    last = await check().catch((error: Error) => [error.message]);
    if (last.length === 0) return;
    await new Promise((r) => setTimeout(r, 2000));
  }
  throw new Error(`${what} after ${timeoutMs / 1000} s:\n  ${last.join("\n  ")}`);
}

/** Submissions at a steady rate until `until` says stop; resolves with the number accepted. */
async function steadyLoad(perSecond: number, until: () => boolean, maxMs: number): Promise<number> {
  let accepted = 0;
  const end = Date.now() + maxMs;
  while (!until() && Date.now() < end) {
    const started = Date.now();
    const burst = await sendBurst(API, perSecond, 1);
    accepted += burst.jobs.length;
    await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - started))));
  }
  return accepted;
}

interface SlackMessage {
  username?: string;
  text?: string;
  attachments?: { title?: string; text?: string }[];
}

/** The suite's Slack: every message Alertmanager's Slack receivers and the analyst post, as received. */
async function slackReceiver(): Promise<{ received: SlackMessage[]; close: () => void }> {
  const received: SlackMessage[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      try {
        received.push(JSON.parse(body) as SlackMessage);
      } catch {
        received.push({ text: body });
      }
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(SLACK.port, SLACK.host, resolve));
  return { received, close: () => server.close() };
}

/** Waits for the analyst's report whose text holds `key` (an alert name or a group key); resolves with it. */
async function awaitAnalystReport(received: SlackMessage[], key: string, timeoutMs: number): Promise<string> {
  let report = "";
  await until(
    `no analyst report with ${key}`,
    async () => {
      report = analystReport(received, key) ?? "";
      return report ? [] : [`${received.length} Slack messages, none the analyst's with ${key}`];
    },
    timeoutMs,
  );
  return report;
}

/** The analyst's latest report on an alert, from the suite's Slack. */
function analystReport(received: SlackMessage[], alertname: string): string | undefined {
  return received
    .filter((m) => m.username === "alert-analyst" && `${m.text}`.includes(alertname))
    .map((m) => `${m.text}`)
    .pop();
}

describe("the real controllers act on what the dev stack deploys (cluster up --controllers)", function () {
  this.timeout(20 * 60_000);

  describe("engine adapter: the seed's path", () => {
    before(async () => {
      await deployOk(
        devArgs(
          "autoscaling.engine=adapter",
          "autoscaling.worker.minReplicas=1",
          "monitoring.adapterExternalMetrics=true",
          ...FAST,
        ),
      );
    });

    it("has prometheus-operator write one scrape job per ServiceMonitor, none missing and none foreign", async () => {
      const monitors = getItems<Monitor>(["servicemonitors", "-A"]);
      const expected = monitors
        .filter((m) => !(`${m.metadata.namespace}/${m.metadata.name}` in SKIPPED_MONITORS))
        .flatMap((m) =>
          m.spec.endpoints.map((_, i) => `serviceMonitor/${m.metadata.namespace}/${m.metadata.name}/${i}`),
        )
        .sort();
      assert.ok(expected.some((j) => j.includes(`/${SONIC_NS}/sonic-generate-service/`)));
      await eventually("the operator's scrape jobs differ from the ServiceMonitors", () => {
        const config = generatedSecret("prometheus-prometheus-stack-prometheus", "prometheus.yaml.gz") as {
          scrape_configs: { job_name: string }[];
        };
        const jobs = config.scrape_configs.map((s) => s.job_name).sort();
        const missing = expected.filter((j) => !jobs.includes(j));
        const foreign = jobs.filter((j) => !expected.includes(j));
        return [...missing.map((j) => `missing ${j}`), ...foreign.map((j) => `foreign ${j}`)];
      });
      // Each skip is the operator's own decision, with its reason in an event on the object.
      const invalid = kubectl([
        "get",
        "events",
        "-n",
        "monitoring",
        "--field-selector",
        "reason=InvalidConfiguration,involvedObject.kind=ServiceMonitor",
        "-o",
        "jsonpath={.items[*].involvedObject.name}",
      ]);
      for (const skipped of Object.keys(SKIPPED_MONITORS))
        assert.ok(invalid.includes(skipped.split("/")[1]), `no InvalidConfiguration event on ${skipped}`);
    });

    it("loads every alert and recording rule of every PrometheusRule into a real Prometheus 3.14", async () => {
      const objects = getItems<RuleObject>(["prometheusrules", "-A"]);
      const expected = ruleNames(objects.flatMap((o) => o.spec.groups));
      assert.ok(
        expected.includes("alert SonicHighErrorRate") || expected.some((r) => r.startsWith("alert Sonic")),
      );
      const build = await json<{ data: { version: string } }>(`${PROMETHEUS}/api/v1/status/buildinfo`);
      assert.equal(build.data.version, "3.14.0");
      // The reloader's first reload retries until Prometheus listens, and it watches the rule directories only
      // after: a rule file written in those seconds (the Sonic rules arrive as Prometheus starts) waits for its
      // 3-minute re-read (thanos pkg/reloader v0.42.2, Watch; seen in CI: reloads at start and 3 min later).
      const deadline = Date.now() + 240_000;
      let diff: string[] = [];
      while (Date.now() < deadline) {
        const loaded = await json<{ data: { groups: { rules: { type: string; name: string }[] }[] } }>(
          `${PROMETHEUS}/api/v1/rules`,
        );
        const names = loaded.data.groups
          .flatMap((g) => g.rules.map((r) => `${r.type === "alerting" ? "alert" : "record"} ${r.name}`))
          .sort();
        diff = [
          ...expected.filter((n) => !names.includes(n)).map((n) => `not loaded: ${n}`),
          ...names.filter((n) => !expected.includes(n)).map((n) => `foreign: ${n}`),
        ];
        if (diff.length === 0) break;
        await new Promise((r) => setTimeout(r, 3000));
      }
      assert.deepEqual(diff, []);
    });

    it("has the operator's Alertmanager configuration route by severity to the documented receivers, the analyst first, in a real Alertmanager 0.34", async () => {
      const source = parse(
        Buffer.from(
          kubectl([
            "get",
            "secret",
            "alertmanager-config",
            "-n",
            "monitoring",
            "-o",
            "jsonpath={.data.alertmanager\\.yaml}",
          ]),
          "base64",
        ).toString("utf8"),
      ) as { route: unknown; receivers: { name: string }[] };
      const generated = generatedSecret(
        "alertmanager-prometheus-stack-alertmanager-generated",
        "alertmanager.yaml.gz",
      ) as { route: unknown; receivers: { name: string }[] };
      // The operator passes the program's configuration through: the same routes, the same receivers.
      assert.deepEqual(generated.route, source.route);
      assert.deepEqual(
        generated.receivers.map((r) => r.name),
        source.receivers.map((r) => r.name),
      );
      const status = await json<{ versionInfo: { version: string }; config: { original: string } }>(
        `${ALERTMANAGER}/api/v2/status`,
      );
      assert.equal(status.versionInfo.version, "0.34.0");
      const loaded = parse(status.config.original) as { receivers: { name: string }[] };
      assert.deepEqual(
        loaded.receivers.map((r) => r.name),
        source.receivers.map((r) => r.name),
      );
      // Where a page from the Sonic namespace goes, by Alertmanager's own routing code (amtool) on the file the
      // operator generated (the status above shows it with its secrets redacted, which amtool cannot read).
      const file = path.join(mkdtempSync(path.join(tmpdir(), "sonic-am-")), "alertmanager.yaml");
      writeFileSync(file, stringify(generated), { mode: 0o600 });
      const routes = (labels: string[]) => {
        const run = spawnSync("amtool", ["config", "routes", "test", `--config.file=${file}`, ...labels], {
          encoding: "utf8",
        });
        assert.equal(run.status, 0, `amtool: ${run.stderr}`);
        return run.stdout
          .trim()
          .split(",")
          .map((s) => s.trim());
      };
      assert.deepEqual(routes(["severity=critical", `namespace=${SONIC_NS}`]), [
        "alert-analyst",
        "critical-slack",
      ]);
      assert.deepEqual(routes(["severity=warning", `namespace=${SONIC_NS}`]), [
        "alert-analyst",
        "warning-slack",
      ]);
      assert.deepEqual(routes(["severity=critical", "namespace=kube-system"]), ["warning-slack"]);
    });

    it("has every Sonic target up in the operator-configured Prometheus", async () => {
      // The config reaches Prometheus through a Secret volume and the config reloader: on a change event, or at
      // the latest on the reloader's 3-minute re-read (its --watch-interval): a change written while its first
      // reload still waits for Prometheus to listen is seen only then. The wait covers that re-read.
      const deadline = Date.now() + 240_000;
      const isSonic = (pool: string) => pool.includes(`/${SONIC_NS}/`) || pool.includes("/alert-analyst/");
      let down: string[] = ["none seen"];
      while (Date.now() < deadline) {
        const targets = await json<{
          data: {
            activeTargets: { health: string; scrapePool: string; scrapeUrl: string; lastError: string }[];
          };
        }>(`${PROMETHEUS}/api/v1/targets`);
        const sonic = targets.data.activeTargets.filter((t) => isSonic(t.scrapePool));
        down =
          sonic.length < 4
            ? [`only ${sonic.length} Sonic targets: ${sonic.map((t) => t.scrapeUrl).join(", ")}`]
            : sonic
                .filter((t) => t.health !== "up")
                .map((t) => `${t.scrapePool} ${t.scrapeUrl}: ${t.lastError}`);
        if (down.length === 0) break;
        await new Promise((r) => setTimeout(r, 3000));
      }
      if (down.length > 0) down.push(...(await scrapeDiagnosis(isSonic)));
      assert.deepEqual(down, []);
    });

    it("serves sonic_request_qps for the API pods through the real prometheus-adapter, and the HPA controller scales the API tier up under load and down after it", async () => {
      await eventually(
        "no sonic_request_qps for the API pods",
        () => {
          const list = JSON.parse(
            kubectl([
              "get",
              "--raw",
              `/apis/custom.metrics.k8s.io/v1beta1/namespaces/${SONIC_NS}/pods/*/${SONIC.requestQps}`,
            ]),
          ) as { items: { describedObject: { name: string } }[] };
          return list.items.length > 0 ? [] : ["the custom metrics API lists no pod"];
        },
        180_000,
      );
      await eventually(
        "the HPAs show <unknown>",
        () =>
          ["sonic-generate-service", "sonic-generate-worker"].flatMap((n) =>
            currentMetricValues(hpa(n))
              .filter((v) => v.endsWith("<unknown>"))
              .concat((hpa(n).status.currentMetrics ?? []).length === 0 ? [`${n}: no current metric`] : []),
          ),
        180_000,
      );
      let scaledUp = false;
      const accepted = await steadyLoad(
        3,
        () => (scaledUp = replicas("sonic-generate-service").ready >= 2),
        300_000,
      );
      assert.ok(scaledUp, `the API tier did not reach 2 ready pods under ${accepted} submissions`);
      const api = hpa("sonic-generate-service");
      assert.ok(
        !currentMetricValues(api).some((v) => v.endsWith("<unknown>")),
        currentMetricValues(api).join(", "),
      );
      await eventually(
        "the worker tier's HPA did not scale on the backlog",
        () => {
          const w = hpa("sonic-generate-worker");
          return (w.status.desiredReplicas ?? 0) >= 2
            ? []
            : [`worker HPA: ${currentMetricValues(w).join(", ")}, desired ${w.status.desiredReplicas}`];
        },
        120_000,
      );
      await eventually(
        "the API tier did not scale back down after the load",
        () =>
          replicas("sonic-generate-service").spec === 1
            ? []
            : [`${replicas("sonic-generate-service").spec} replicas`],
        420_000,
      );
    });
  });

  describe("the adapter -> keda migration (docs/operate.md), then scale to zero, with the real KEDA", () => {
    /**
     * One up of a migration step, sampled every two seconds while the engine works: the HPA controller acts on
     * every HPA, so two HPAs on one Deployment are two controllers scaling it. KEDA adopts the adapter's HPA in
     * place (the same object, its labels and owner rewritten) rather than making a second.
     */
    async function watchedStep(step: string, config: string[]): Promise<void> {
      const seen = new Set<string>();
      const sample = setInterval(() => {
        try {
          const byTarget = new Map<string, string[]>();
          for (const h of getItems<Hpa & { spec: { scaleTargetRef: { name: string } } }>([
            "hpa",
            "-n",
            SONIC_NS,
          ]))
            byTarget.set(h.spec.scaleTargetRef.name, [
              ...(byTarget.get(h.spec.scaleTargetRef.name) ?? []),
              h.metadata.name,
            ]);
          for (const [target, names] of byTarget)
            if (names.length > 1) seen.add(`${target} scaled by ${names.length} HPAs: ${names.join(", ")}`);
        } catch {
          // The API server is busy: the next sample decides.
        }
      }, 2000);
      try {
        await deployOk(devArgs("autoscaling.engine=keda", ...config, ...FAST));
      } finally {
        clearInterval(sample);
      }
      assert.deepEqual([...seen], [], `${step}: two controllers on one Deployment at some moment`);
    }

    interface ScaledObject {
      metadata: { name: string; annotations?: Record<string, string> };
      status?: { conditions?: { type: string; status: string; reason?: string }[]; hpaName?: string };
    }
    const scaledObject = (name: string) =>
      JSON.parse(
        kubectl(["get", "scaledobject.keda.sh", name, "-n", SONIC_NS, "-o", "json"]),
      ) as ScaledObject;
    const condition = (so: ScaledObject, type: string) => so.status?.conditions?.find((c) => c.type === type);

    it("standby: the real KEDA runs beside the adapter's HPAs and leaves them alone: they keep scaling with current metrics", async () => {
      await watchedStep("standby", ["autoscaling.handover=standby", "autoscaling.worker.minReplicas=1"]);
      // Long enough for KEDA's operator to have reconciled whatever the step made.
      await new Promise((r) => setTimeout(r, 15_000));
      for (const tier of ["sonic-generate-service", "sonic-generate-worker"]) {
        const h = hpa(tier);
        assert.ok(
          !(h.metadata.ownerReferences ?? []).some((o) => o.kind === "ScaledObject"),
          `${tier}: KEDA owns the HPA in standby`,
        );
        assert.deepEqual(
          currentMetricValues(h).filter((v) => v.endsWith("<unknown>")),
          [],
          tier,
        );
      }
    });

    it("takeover: KEDA adopts each existing HPA in place, Ready, with current metric values", async () => {
      await watchedStep("takeover", ["autoscaling.handover=takeover", "autoscaling.worker.minReplicas=1"]);
      for (const tier of ["sonic-generate-service", "sonic-generate-worker"]) {
        await eventually(
          `KEDA did not adopt ${tier}'s HPA`,
          () => {
            const h = hpa(tier);
            const so = scaledObject(tier);
            return [
              ...((h.metadata.ownerReferences ?? []).some((o) => o.kind === "ScaledObject" && o.name === tier)
                ? []
                : [`HPA ${tier} owners: ${JSON.stringify(h.metadata.ownerReferences ?? [])}`]),
              ...(condition(so, "Ready")?.status === "True"
                ? []
                : [`ScaledObject ${tier} not Ready: ${JSON.stringify(so.status?.conditions)}`]),
              ...(so.status?.hpaName === tier
                ? []
                : [`ScaledObject ${tier} drives HPA ${so.status?.hpaName}`]),
              ...currentMetricValues(h).filter((v) => v.endsWith("<unknown>")),
              ...((h.status.currentMetrics ?? []).length === 0 ? [`HPA ${tier} has no current metric`] : []),
            ];
          },
          180_000,
        );
      }
    });

    it("scales the worker tier to zero when idle, wakes it for one queued job, which completes on the woken process, and returns to zero", async () => {
      await watchedStep("done", ["autoscaling.worker.minReplicas=0"]);
      await eventually(
        "the worker tier did not go to zero when idle",
        () =>
          replicas("sonic-generate-worker").spec === 0
            ? []
            : [`${replicas("sonic-generate-worker").spec} workers`],
        300_000,
      );
      // Zero means no worker process left: a pod still terminating would take the job and drain it (as it
      // would in a cluster), and nothing would need waking.
      await eventually("worker pods or their processes are still there", workersLeft, 360_000);
      const burst = await sendBurst(API, 1, 1);
      assert.equal(burst.jobs.length, 1, JSON.stringify(burst.refused));
      const job = burst.jobs[0];
      await eventually(
        "KEDA did not wake the worker tier for one queued job",
        () =>
          replicas("sonic-generate-worker").ready >= 1
            ? []
            : [`${replicas("sonic-generate-worker").ready} ready workers`],
        180_000,
      );
      const worker = getItems<{ metadata: { name: string }; status: { podIP?: string } }>([
        "pods",
        "-n",
        SONIC_NS,
        "-l",
        "app.kubernetes.io/component=worker",
      ]);
      assert.equal(
        worker.length,
        1,
        `expected the one woken worker pod, got ${worker.map((p) => p.metadata.name)}`,
      );
      await until(
        "the job did not succeed",
        async () => {
          const v = await json<{ status: string }>(`${API}/v1/videos/${job.id}`);
          return v.status === "succeeded" ? [] : [`job ${job.id}: ${v.status}`];
        },
        300_000,
      );
      // The woken pod's own process counted it: the job ran there, not on a process that outlived the scale-down.
      const metrics = await (await fetch(`http://${worker[0].status.podIP}:8080/metrics`)).text();
      const done = metrics.split("\n").filter((l) => l.startsWith(SONIC.videoGenerationSuccess));
      assert.ok(
        done.some((l) => Number(l.split(" ").pop()) >= 1),
        `worker ${worker[0].metadata.name}: ${done.join("; ")}`,
      );
      await eventually(
        "the worker tier did not return to zero after the cooldown",
        () =>
          replicas("sonic-generate-worker").spec === 0
            ? []
            : [`${replicas("sonic-generate-worker").spec} workers`],
        300_000,
      );
    });

    it("has the real KEDA webhook refuse a second ScaledObject on the same Deployment", async () => {
      const second = {
        apiVersion: "keda.sh/v1alpha1",
        kind: "ScaledObject",
        metadata: { name: "second-on-the-workers", namespace: SONIC_NS },
        spec: {
          scaleTargetRef: { name: "sonic-generate-worker" },
          minReplicaCount: 1,
          triggers: [
            {
              type: "prometheus",
              metadata: { serverAddress: PROMETHEUS, query: "vector(1)", threshold: "1" },
            },
          ],
        },
      };
      let refused = "";
      try {
        kubectl(["apply", "-f", "-"], JSON.stringify(second));
      } catch (error) {
        refused = String((error as { stderr?: string }).stderr ?? error);
      }
      if (!refused) kubectl(["delete", "scaledobject.keda.sh", second.metadata.name, "-n", SONIC_NS]);
      assert.match(refused, /admission webhook "vscaledobject\.kb\.io" denied the request/);
      // Refused for being the second, not for anything else in it.
      assert.match(refused, /is already managed by the (hpa|ScaledObject) 'sonic-generate-worker'/);
    });

    it("pages end to end: a hung Sonic process fires SonicTargetDown in the operator's Prometheus, Alertmanager delivers it, and the analyst's report follows", async () => {
      const { received, close } = await slackReceiver();
      const status = JSON.parse(readFileSync(path.join(POD_DIR, "status.json"), "utf8")) as {
        pod: string;
        containers: { name: string; pid?: number }[];
      }[];
      const api = status
        .filter((p) => p.pod.startsWith(`${SONIC_NS}/sonic-generate-service-`))
        .flatMap((p) => p.containers.filter((c) => c.name === "api" && c.pid));
      assert.ok(api.length > 0, "no API process to hang");
      const pid = api[0].pid!;
      process.kill(pid, "SIGSTOP");
      try {
        await until(
          "no page and report for SonicTargetDown",
          async () => {
            const fromAlertmanager = received.some((m) =>
              (m.attachments ?? []).some((a) => `${a.title}`.includes("SonicTargetDown")),
            );
            const fromAnalyst = received.some(
              (m) => m.username === "alert-analyst" && `${m.text}`.includes("SonicTargetDown"),
            );
            return [
              ...(fromAlertmanager ? [] : ["Alertmanager's Slack message"]),
              ...(fromAnalyst ? [] : ["the analyst's report"]),
            ].map((w) => `waiting for ${w} (${received.length} messages so far)`);
          },
          300_000,
        );
      } finally {
        process.kill(pid, "SIGCONT");
        close();
      }
    });
  });
  describe("the analyst reads the real controllers' evidence: kube-state-metrics, KEDA, the scheduler (§3.6)", () => {
    const WORKER = "sonic-generate-worker";
    /** A backlog of more than two jobs pages after 30 s; a worker's cold start is budgeted 30 s. */
    const PAGE_SOON = ["alerts.queueBacklog=2", "alerts.queueBacklogFor=30s", "sonic.coldStartSeconds=30"];
    const DRILL_GROUP = `{}:{alertname="SonicQueueBacklog", namespace="${SONIC_NS}", drill="gpu-wait"}`;

    before(async () => {
      await deployOk(
        devArgs("autoscaling.engine=keda", "autoscaling.worker.minReplicas=0", ...FAST, ...PAGE_SOON),
      );
    });

    it("names a worker ScaledObject left paused at zero as the cause of a backlog, from KEDA's own series", async () => {
      await eventually("the worker tier is not at zero", workersLeft, 360_000);
      const slack = await slackReceiver();
      kubectl([
        "annotate",
        "scaledobject.keda.sh",
        WORKER,
        "-n",
        SONIC_NS,
        "autoscaling.keda.sh/paused-replicas=0",
      ]);
      try {
        await eventually("KEDA did not pause the worker ScaledObject", () => {
          const paused = (
            JSON.parse(kubectl(["get", "scaledobject.keda.sh", WORKER, "-n", SONIC_NS, "-o", "json"])) as {
              status?: { conditions?: { type: string; status: string }[] };
            }
          ).status?.conditions?.find((c) => c.type === "Paused");
          return paused?.status === "True" ? [] : [`Paused condition: ${JSON.stringify(paused)}`];
        });
        const burst = await sendBurst(API, 4, 1);
        assert.equal(burst.jobs.length, 4, JSON.stringify(burst.refused));
        const report = await awaitAnalystReport(slack.received, "SonicQueueBacklog", 300_000);
        assert.match(
          report,
          new RegExp(
            `^Most likely: \\*KEDA will not wake the worker tier: ScaledObject \`${SONIC_NS}/${WORKER}\` is paused\\*`,
            "m",
          ),
          report,
        );
        assert.match(
          report,
          /jobs queued while Deployment `sonic-generate-worker` runs 0 replicas and has no HPA/,
          report,
        );
        assert.doesNotMatch(report, /No known cause matched/);
      } finally {
        kubectl([
          "annotate",
          "scaledobject.keda.sh",
          WORKER,
          "-n",
          SONIC_NS,
          "autoscaling.keda.sh/paused-replicas-",
        ]);
        slack.close();
      }
    });

    it("names the wait for a GPU node, not the model server, when a scale from zero waited on full GPU nodes", async () => {
      // The queued jobs of the last test drain, then the tier returns to zero.
      await eventually("the worker tier is not at zero", workersLeft, 480_000);
      // dev's simulated model server asks for no GPU; a real worker's does, so the test's workers ask for one.
      const deployment = JSON.parse(kubectl(["get", "deployment", WORKER, "-n", SONIC_NS, "-o", "json"])) as {
        spec: { template: { spec: { containers: { name: string; resources?: { limits?: object } }[] } } };
      };
      const index = deployment.spec.template.spec.containers.findIndex((c) => c.name === "model-server");
      assert.ok(index >= 0, "no model-server container in the worker Deployment");
      const gpuLimit = `/spec/template/spec/containers/${index}/resources/limits/nvidia.com~1gpu`;
      kubectl([
        "patch",
        "deployment",
        WORKER,
        "-n",
        SONIC_NS,
        "--type=json",
        "-p",
        JSON.stringify([{ op: "add", path: gpuLimit, value: "1" }]),
      ]);
      // Another team's training holds every GPU of the cluster: two pods of four (two GPU nodes of four each).
      const training = {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "trainer", namespace: "training" },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: "trainer" } },
          template: {
            metadata: { labels: { app: "trainer" } },
            spec: {
              containers: [
                {
                  name: "trainer",
                  image: "registry.example/trainer:1",
                  resources: { limits: { "nvidia.com/gpu": "4" } },
                },
              ],
            },
          },
        },
      };
      kubectl(["create", "namespace", "training"]);
      const slack = await slackReceiver();
      try {
        kubectl(["apply", "-f", "-"], JSON.stringify(training));
        await eventually("the training pods do not hold the GPUs", () => {
          const ready = replicasIn("training", "trainer").ready;
          return ready === 2 ? [] : [`${ready} training pods ready`];
        });
        const burst = await sendBurst(API, 4, 1);
        assert.equal(burst.jobs.length, 4, JSON.stringify(burst.refused));
        await eventually(
          "no worker pod waits unschedulable",
          () =>
            getItems<{ status: { conditions?: { type: string; status: string; reason?: string }[] } }>([
              "pods",
              "-n",
              SONIC_NS,
              "-l",
              "app.kubernetes.io/component=worker",
            ]).some((p) =>
              p.status.conditions?.some((c) => c.type === "PodScheduled" && c.reason === "Unschedulable"),
            )
              ? []
              : ["no Unschedulable worker pod"],
          180_000,
        );
        // Long enough to show as minutes in kube-state-metrics' samples, as a cluster autoscaler's node would take.
        await new Promise((r) => setTimeout(r, 75_000));
        kubectl(["delete", "namespace", "training", "--wait=false"]);
        await eventually(
          "no worker turned ready once the GPUs were free",
          () => (replicas(WORKER).ready >= 1 ? [] : [`${replicas(WORKER).ready} ready workers`]),
          240_000,
        );
        // ...and once Prometheus has it from kube-state-metrics: the situation of the issue, a worker just ready.
        await until(
          "Prometheus does not see a ready worker pod",
          async () => {
            const ready = await json<{ data: { result: unknown[] } }>(
              `${PROMETHEUS}/api/v1/query?query=${encodeURIComponent(
                `kube_pod_status_ready{namespace="${SONIC_NS}", pod=~"${WORKER}-.*", condition="true"} == 1`,
              )}`,
            );
            return ready.data.result.length > 0 ? [] : ["no ready worker pod in kube_pod_status_ready"];
          },
          120_000,
        );
        // The page arrives now, as a backlog page would once the first worker is up: Alertmanager's own
        // delivery is proven above; here the evidence is what is under test, so the page goes to the analyst
        // directly, with Alertmanager's credentials from the configuration the operator generated.
        const am = generatedSecret(
          "alertmanager-prometheus-stack-alertmanager-generated",
          "alertmanager.yaml.gz",
        ) as {
          receivers: {
            name: string;
            webhook_configs?: { url: string; http_config?: { authorization?: { credentials?: string } } }[];
          }[];
        };
        const hook = am.receivers.find((r) => r.name === "alert-analyst")?.webhook_configs?.[0];
        assert.ok(hook?.http_config?.authorization?.credentials, "no analyst receiver with a bearer token");
        const labels = {
          alertname: "SonicQueueBacklog",
          namespace: SONIC_NS,
          job: "sonic-generate-service",
          severity: "warning",
        };
        const sent = await fetch(hook.url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            authorization: `Bearer ${hook.http_config.authorization.credentials}`,
          },
          body: JSON.stringify({
            receiver: "alert-analyst",
            status: "firing",
            groupKey: DRILL_GROUP,
            groupLabels: { alertname: "SonicQueueBacklog", namespace: SONIC_NS },
            commonLabels: labels,
            alerts: [
              {
                status: "firing",
                labels,
                annotations: { summary: "Sonic jobs are piling up" },
                startsAt: new Date(Date.now() - 60_000).toISOString(),
              },
            ],
          }),
        });
        assert.ok(sent.ok, `the analyst refused the page: ${sent.status} ${await sent.text()}`);
        // This page's report, by its group: the real SonicQueueBacklog may page too while the pods wait.
        const report = await awaitAnalystReport(slack.received, DRILL_GROUP, 180_000);
        assert.match(
          report,
          /^Most likely: \*The worker tier waited \d+m for a GPU node \(pods unschedulable\); no restart/m,
          report,
        );
        assert.match(report, /no container of the worker tier restarted/, report);
        assert.doesNotMatch(report, /^Most likely: \*The model server is crash-looping/m, report);
      } finally {
        kubectl(["delete", "namespace", "training", "--ignore-not-found", "--wait=false"]);
        kubectl([
          "patch",
          "deployment",
          WORKER,
          "-n",
          SONIC_NS,
          "--type=json",
          "-p",
          JSON.stringify([{ op: "remove", path: gpuLimit }]),
        ]);
        slack.close();
      }
    });
  });
});
