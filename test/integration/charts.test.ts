import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import {
  CLUSTER_FLAVORS,
  CONTROL_PLANE_JOBS,
  controlPlaneJobs,
  HEARTBEAT_RECORD,
  serviceAdapterRules,
} from "../../components";
import { parseStackConfig, SECRET_KEYS } from "../../stacks/config";
import type { RenderedObject } from "../../scripts/render";
import { readProjectConfig } from "../../testkit/stack-file";
import { promtool, PROMTOOL_VERSION } from "../../testkit/promtool";
import { VMALERT_VERSION, vmalertCheckRules } from "../../testkit/vmalert-tool";
import {
  bodies,
  crdValidators,
  modelOf as modelFor,
  one,
  renderWithCharts,
  requireHelmAndCharts,
} from "../../testkit/charts";
import { STORE_RELABEL_CONFIG } from "../../components";
import { podSecurityViolations } from "../../policy/guardrails";
import { ingressAdmits, type PodIdentity } from "../../testkit/network-policy";

const LABELS = ["team", "service", "env"];
/** Kinds whose objects run containers, and where their pod spec is. */
const POD_SPECS: Record<string, (o: any) => any> = {
  Deployment: (o) => o.spec.template.spec,
  DaemonSet: (o) => o.spec.template.spec,
  StatefulSet: (o) => o.spec.template.spec,
  Job: (o) => o.spec.template.spec,
  Pod: (o) => o.spec,
};

const selects = (
  selector: { matchLabels?: Record<string, string> } | undefined,
  labels: Record<string, string>,
) => Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels?.[k] === v);

/** Receivers `amtool config routes test` picks for an alert, under the stack's rendered Alertmanager config. */
function routeOf(objects: RenderedObject[], ...labels: string[]): string {
  const spec = one(objects, "Alertmanager", "prometheus-stack-alertmanager").spec;
  const file = path.join(mkdtempSync(path.join(tmpdir(), "sonic-am-")), "alertmanager.yml");
  writeFileSync(file, one(objects, "Secret", spec.configSecret).stringData["alertmanager.yaml"]);
  return execFileSync("amtool", ["config", "routes", "test", `--config.file=${file}`, ...labels], {
    encoding: "utf8",
  }).trim();
}

const fromChart = (objects: RenderedObject[], release: string) =>
  objects.filter((o) => o.file.startsWith(`${release}/`));

describe("the charts as Helm really renders them, with the program's values", function () {
  this.timeout(300_000);
  before(requireHelmAndCharts);

  for (const stack of ["dev", "prod"]) {
    describe(`${stack} stack`, () => {
      let objects: RenderedObject[];
      let config: ReturnType<typeof parseStackConfig>;
      before(async () => {
        objects = await renderWithCharts(stack, ["--reveal-secrets"]);
        config = parseStackConfig(readProjectConfig(stack), new Set(SECRET_KEYS));
      });

      it("gives the stack's prometheus-adapter and Alertmanager the resources its file sets (prod's HA pair and trio), none where it sets none", () => {
        const alertmanager = one(objects, "Alertmanager", "prometheus-stack-alertmanager").spec;
        assert.deepEqual(alertmanager.resources ?? {}, config.alertmanager.resources ?? {});
        const adapter = bodies(objects, "Deployment", "prometheus-adapter")[0];
        if (adapter)
          assert.deepEqual(
            adapter.spec.template.spec.containers[0].resources ?? {},
            config.monitoring.adapterResources ?? {},
          );
        if (stack === "prod") {
          assert.equal(alertmanager.replicas, 3);
          assert.equal(alertmanager.resources.limits.memory, "256Mi");
          assert.equal(adapter.spec.replicas, 2);
          assert.equal(adapter.spec.template.spec.containers[0].resources.limits.memory, "256Mi");
        }
      });

      it("renders every release into its objects, none left as chart plus values: the adapter for engine adapter, KEDA for engine keda", () => {
        assert.equal(objects.filter((o) => o.kind === "HelmRelease").length, 0);
        const kps = fromChart(objects, "prometheus-stack").length;
        const adapter = fromChart(objects, "prometheus-adapter").length;
        const keda = fromChart(objects, "keda").length;
        console.log(
          `      ${stack} (engine ${config.autoscaling.engine}): ${kps} objects from kube-prometheus-stack, ${adapter} from prometheus-adapter, ${keda} from KEDA, ${objects.length} in all`,
        );
        assert.ok(kps > 100, `${kps}`);
        if (config.autoscaling.engine === "adapter")
          assert.ok(adapter >= 11 && keda === 0, `${adapter} / ${keda}`);
        else assert.ok(keda >= 20 && adapter === 0, `${adapter} / ${keda}`);
      });

      it("has kube-state-metrics read the ScaledObjects' conditions where the engine is keda: its flag, config and ClusterRole", () => {
        const ksm = one(objects, "Deployment", "prometheus-stack-kube-state-metrics");
        const args: string[] = ksm.spec.template.spec.containers[0].args;
        const flag = args.find((a) => a.startsWith("--custom-resource-state-config-file="));
        const role = one(objects, "ClusterRole", "prometheus-stack-kube-state-metrics");
        const keda = role.rules.find((r: any) => (r.apiGroups ?? []).includes("keda.sh"));
        if (config.autoscaling.engine !== "keda") {
          assert.equal(flag, undefined);
          assert.equal(keda, undefined);
          return;
        }
        assert.ok(flag, args.join(" "));
        assert.deepEqual(keda, {
          apiGroups: ["keda.sh"],
          resources: ["scaledobjects"],
          verbs: ["list", "watch"],
        });
        const cm = objects.find(
          (o) =>
            o.kind === "ConfigMap" && JSON.stringify((o.body as any).data ?? {}).includes("ScaledObject"),
        );
        assert.ok(cm, "the custom resource state config is rendered into a ConfigMap");
        const conf = parse(Object.values((cm!.body as any).data)[0] as string);
        assert.equal(conf.spec.resources[0].metrics[0].name, "scaledobject_condition");
      });

      it("validates every object: built-in kinds against Kubernetes' schemas, custom resources against the chart's own CRDs", async () => {
        const validators = crdValidators(objects);
        assert.ok(
          validators.has("monitoring.coreos.com/v1/Prometheus"),
          "the chart ships the Prometheus CRD",
        );
        const problems: string[] = [];
        for (const o of objects) {
          const { apiVersion, kind } = o.body as { apiVersion: string; kind: string };
          // Secrets render masked as a whole; their shape is what is checked.
          const body = (o.body as any).stringData === "[secret]" ? { ...o.body, stringData: {} } : o.body;
          // Custom resources, KEDA's ScaledObjects included, are judged by the CRDs their chart ships.
          if (apiVersion.startsWith("monitoring.coreos.com/") || apiVersion.startsWith("keda.sh/")) {
            const validate = validators.get(`${apiVersion}/${kind}`);
            if (!validate) problems.push(`${o.file}: no CRD for ${apiVersion} ${kind}`);
            else if (!validate(body))
              problems.push(`${o.file}: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
            continue;
          }
          try {
            new (await modelFor(apiVersion, kind))(body).validate();
          } catch (err) {
            problems.push(`${o.file}: ${(err as Error).message.slice(0, 300)}`);
          }
        }
        assert.deepEqual(problems, []);
      });

      it("gives Prometheus selectors that pick up the program's ServiceMonitors and PrometheusRule", () => {
        const spec = one(objects, "Prometheus", "prometheus-stack-prometheus").spec;
        for (const [kind, selector, nsSelector] of [
          ["ServiceMonitor", spec.serviceMonitorSelector, spec.serviceMonitorNamespaceSelector],
          ["PrometheusRule", spec.ruleSelector, spec.ruleNamespaceSelector],
        ]) {
          const ours = objects.filter((o) => o.kind === kind && !o.file.includes("/"));
          assert.ok(ours.length > 0, kind);
          for (const o of ours) {
            assert.ok(
              selects(selector, (o.body as any).metadata.labels),
              `${o.file} is not selected by ${JSON.stringify(selector)}`,
            );
            assert.deepEqual(nsSelector, {}, `${kind}s are looked for in every namespace`);
          }
        }
        assert.deepEqual(spec.podMonitorSelector, spec.serviceMonitorSelector);
      });

      it("configures Prometheus exactly as the stack file says: retention, size, storage, replicas, resources, external labels, remote write", () => {
        const spec = one(objects, "Prometheus", "prometheus-stack-prometheus").spec;
        const p = config.prometheus;
        assert.equal(spec.retention, p.retention);
        assert.equal(
          spec.retentionSize,
          p.retentionSize ?? `${Math.floor(Number(p.storage.size.replace("Gi", "")) * 0.85)}GiB`,
        );
        assert.equal(spec.replicas, p.replicas);
        assert.deepEqual(spec.resources, p.resources);
        assert.deepEqual(spec.externalLabels, { cluster: config.cluster, env: config.env });
        const claim = spec.storage.volumeClaimTemplate.spec;
        assert.equal(claim.resources.requests.storage, p.storage.size);
        assert.equal(claim.storageClassName, p.storage.storageClassName);
        assert.deepEqual(
          (spec.remoteWrite ?? []).map((r: any) => r.url),
          p.remoteWrite ? [p.remoteWrite.url] : [],
        );
        for (const target of spec.remoteWrite ?? []) {
          for (const ref of [target.basicAuth.username, target.basicAuth.password]) {
            const secret = one(objects, "Secret", ref.name);
            assert.ok(ref.key in secret.stringData, `Secret ${ref.name} has no key ${ref.key}`);
          }
        }
        // Two replicas remote-write the same series: the store deduplicates on cluster + __replica__.
        assert.equal(spec.replicaExternalLabelName, "__replica__");
      });

      it("runs Alertmanager on the program's config Secret, which amtool accepts", () => {
        const spec = one(objects, "Alertmanager", "prometheus-stack-alertmanager").spec;
        const secret = one(objects, "Secret", spec.configSecret);
        const text = secret.stringData["alertmanager.yaml"];
        assert.equal(typeof text, "string", "the Secret has the key alertmanager.yaml");
        const dir = mkdtempSync(path.join(tmpdir(), "sonic-am-"));
        writeFileSync(path.join(dir, "alertmanager.yml"), text);
        const out = execFileSync("amtool", ["check-config", path.join(dir, "alertmanager.yml")], {
          encoding: "utf8",
        });
        assert.match(out, /SUCCESS/);
      });

      it("pages only for the platform's namespaces: amtool routes a critical alert by namespace", () => {
        const route = (...labels: string[]) => routeOf(objects, ...labels);
        const r = config.alertmanager.receivers;
        // The analyst gets every alert of the platform's namespaces too (continue: true).
        const critical = `alert-analyst,critical-${r.critical}`;
        const warning = `warning-${r.warning}`;
        assert.equal(
          route("severity=critical", "namespace=ai-inference", "alertname=SonicTargetDown"),
          critical,
        );
        assert.equal(
          route("severity=critical", "namespace=monitoring", "alertname=PrometheusBadConfig"),
          critical,
        );
        assert.equal(
          route("severity=critical", "namespace=kube-system", "alertname=KubeSchedulerDown"),
          warning,
        );
        assert.equal(
          route("severity=critical", "namespace=other-team", "alertname=KubePodCrashLooping"),
          warning,
        );
        assert.equal(
          route("severity=warning", "namespace=ai-inference", "alertname=SonicQueueBacklog"),
          `alert-analyst,${warning}`,
        );
      });

      it("turns on the chart's remote-write health alerts, pages for them, and records the fleet heartbeat", () => {
        const rules = bodies(objects, "PrometheusRule").flatMap((r) =>
          r.spec.groups.flatMap((g: any) => g.rules.map((x: any) => x.alert ?? x.record)),
        );
        for (const alert of ["PrometheusRemoteWriteBehind", "PrometheusRemoteStorageFailures"]) {
          assert.ok(rules.includes(alert), `${alert} is rendered`);
          // Its series come from Prometheus' own pods: namespace monitoring, which pages.
          assert.equal(
            routeOf(objects, "severity=critical", "namespace=monitoring", `alertname=${alert}`),
            `alert-analyst,critical-${config.alertmanager.receivers.critical}`,
          );
        }
        const heartbeat = one(objects, "PrometheusRule", "prometheus-stack-fleet-heartbeat");
        const spec = one(objects, "Prometheus", "prometheus-stack-prometheus").spec;
        assert.ok(selects(spec.ruleSelector, heartbeat.metadata.labels), "Prometheus loads the heartbeat");
        assert.equal(heartbeat.spec.groups[0].rules[0].record, HEARTBEAT_RECORD);
      });

      it("has Grafana read its admin credentials from the program's Secret and keys", () => {
        const grafana = one(objects, "Deployment", "prometheus-stack-grafana");
        const env = grafana.spec.template.spec.containers.find((c: any) => c.name === "grafana").env;
        const secret = one(objects, "Secret", "grafana-admin");
        for (const name of ["GF_SECURITY_ADMIN_USER", "GF_SECURITY_ADMIN_PASSWORD"]) {
          const ref = env.find((e: any) => e.name === name).valueFrom.secretKeyRef;
          assert.equal(ref.name, "grafana-admin");
          assert.ok(ref.key in secret.stringData, `grafana-admin has no key ${ref.key}`);
        }
      });

      it("has Grafana's dashboard sidecar watch the label the dashboard ConfigMap carries", () => {
        const grafana = one(objects, "Deployment", "prometheus-stack-grafana");
        const sidecar = grafana.spec.template.spec.containers.find(
          (c: any) => c.name === "grafana-sc-dashboard",
        );
        const env = Object.fromEntries(sidecar.env.map((e: any) => [e.name, e.value]));
        const dashboards = one(objects, "ConfigMap", "sonic-dashboards");
        assert.equal(dashboards.metadata.labels[env.LABEL], env.LABEL_VALUE);
        assert.equal(env.NAMESPACE, "ALL");
      });

      it("points prometheus-adapter at the rendered Prometheus Service and port, with exactly the program's rules", function () {
        if (config.autoscaling.engine !== "adapter") return this.skip();
        const adapter = one(objects, "Deployment", "prometheus-adapter");
        const args: string[] = adapter.spec.template.spec.containers[0].args;
        const url = args.find((a) => a.startsWith("--prometheus-url="))!.split("=")[1];
        const service = one(objects, "Service", "prometheus-stack-prometheus");
        const port = service.spec.ports.find((p: any) => p.name === "http-web").port;
        assert.equal(url, `http://${service.metadata.name}.${service.metadata.namespace}.svc:${port}`);
        const rules = parse(one(objects, "ConfigMap", "prometheus-adapter").data["config.yaml"]);
        assert.deepEqual(
          [rules.rules.map((r: any) => r.name.as), rules.externalRules.map((r: any) => r.name.as)],
          [["sonic_request_qps"], ["sonic_job_backlog"]],
        );
        assert.equal(rules.resourceRules, undefined, "no default resource rules");
        const apiServices = bodies(objects, "APIService")
          .map((a) => a.metadata.name)
          .sort();
        assert.deepEqual(apiServices, ["v1beta1.custom.metrics.k8s.io", "v1beta1.external.metrics.k8s.io"]);
        const served = [...rules.rules, ...rules.externalRules].map((r: any) => r.name.as);
        const hpas = bodies(objects, "HorizontalPodAutoscaler");
        assert.equal(hpas.length, 2, "one HPA per tier");
        for (const hpa of hpas)
          for (const m of hpa.spec.metrics.filter((m: any) => m.type !== "Resource"))
            assert.ok(
              served.includes((m.pods ?? m.external).metric.name),
              `the HPA reads ${JSON.stringify(m)}`,
            );
      });

      it("lets KEDA alone claim the external metrics API, and points each tier's ScaledObject at the rendered Prometheus", function () {
        if (config.autoscaling.engine !== "keda") return this.skip();
        const [external] = bodies(objects, "APIService").filter(
          (a) => a.metadata.name === "v1beta1.external.metrics.k8s.io",
        );
        assert.equal(
          bodies(objects, "APIService").filter((a) => a.metadata.name === external.metadata.name).length,
          1,
        );
        assert.equal(external.spec.service.name, "keda-operator-metrics-apiserver");
        assert.equal(bodies(objects, "HorizontalPodAutoscaler").length, 0, "KEDA creates its own HPAs");
        const service = one(objects, "Service", "prometheus-stack-prometheus");
        const port = service.spec.ports.find((p: any) => p.name === "http-web").port;
        const scaled = bodies(objects, "ScaledObject");
        assert.deepEqual(scaled.map((o) => o.spec.scaleTargetRef.name).sort(), [
          "sonic-generate-service",
          "sonic-generate-worker",
        ]);
        for (const o of scaled) {
          const target = one(objects, "Deployment", o.spec.scaleTargetRef.name);
          assert.equal(target.spec.replicas, undefined, `${o.metadata.name}: KEDA owns the replicas`);
          for (const t of o.spec.triggers)
            assert.equal(
              t.metadata.serverAddress,
              `http://${service.metadata.name}.${service.metadata.namespace}.svc:${port}`,
            );
        }
        // KEDA's own metrics are scraped: the chart's ServiceMonitors carry the Prometheus selector.
        const spec = one(objects, "Prometheus", "prometheus-stack-prometheus").spec;
        const monitors = fromChart(objects, "keda").filter((o) => o.kind === "ServiceMonitor");
        assert.equal(monitors.length, 3);
        for (const m of monitors)
          assert.ok(selects(spec.serviceMonitorSelector, (m.body as any).metadata.labels), m.file);
      });

      it("pins every container image by tag or digest", () => {
        const unpinned: string[] = [];
        for (const o of objects) {
          const spec = POD_SPECS[o.kind]?.(o.body);
          for (const c of [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])]) {
            const tag = /@sha256:[a-f0-9]{64}$/.test(c.image)
              ? "digest"
              : c.image.split("/").pop().split(":")[1];
            if (!tag || tag === "latest") unpinned.push(`${o.file}: ${c.image}`);
          }
        }
        assert.deepEqual(unpinned, []);
      });

      it("finds the Prometheus CR valid by its CRD where @kubernetes-models/prometheus-operator 6.0.0 is wrong", async () => {
        // The model wants apiVersion/kind on storage.volumeClaimTemplate, which the CRD (an embedded
        // PVC template) does not require and the chart does not write: the CRD is the judge above.
        const prometheus = one(objects, "Prometheus", "prometheus-stack-prometheus");
        const { Prometheus } =
          await import("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/Prometheus");
        assert.throws(() => new Prometheus(prometheus).validate(), /volumeClaimTemplate/);
        assert.equal(crdValidators(objects).get("monitoring.coreos.com/v1/Prometheus")!(prometheus), true);
      });

      it("puts the team, service and env labels on every object, subcharts included", () => {
        const missing = objects
          // CRDs come from the crds subchart, which takes no labels; they are cluster-wide API, not ours.
          .filter((o) => o.kind !== "CustomResourceDefinition")
          .filter((o) => !LABELS.every((l) => (o.body as any).metadata?.labels?.[l]))
          .map((o) => o.file);
        assert.deepEqual(missing, []);
      });

      it("labels the namespaces for Pod Security: privileged only for node-exporter's own namespace, restricted for the rest", () => {
        const level = (ns: string) =>
          one(objects, "Namespace", ns).metadata.labels["pod-security.kubernetes.io/enforce"];
        assert.deepEqual(["monitoring", "monitoring-node-exporter", "ai-inference"].map(level), [
          "restricted",
          "privileged",
          "restricted",
        ]);
        if (config.autoscaling.engine === "keda") assert.equal(level("keda"), "restricted");
        const nodeExporter = bodies(objects, "DaemonSet").find((d) => /node-exporter/.test(d.metadata.name));
        assert.equal(nodeExporter.metadata.namespace, "monitoring-node-exporter");
      });

      it(
        stack === "prod"
          ? "keeps Prometheus, Alertmanager and the adapter available through a node drain"
          : "adds no disruption budget where one replica has none to spare",
        () => {
          const pdbs = bodies(objects, "PodDisruptionBudget")
            .map((p) => p.metadata.name)
            .sort();
          const ha = ["prometheus-adapter", "prometheus-stack-alertmanager", "prometheus-stack-prometheus"];
          if (stack === "dev") {
            assert.deepEqual(
              pdbs.filter((n) => ha.includes(n)),
              [],
            );
            return;
          }
          assert.deepEqual(
            pdbs.filter((n) => ha.includes(n)),
            ha,
          );
          for (const name of ha) {
            const spec = one(objects, "PodDisruptionBudget", name).spec;
            assert.equal(spec.minAvailable, 1, name);
            assert.equal(spec.unhealthyPodEvictionPolicy, "AlwaysAllow", name);
          }
          const affinity = one(objects, "Deployment", "prometheus-adapter").spec.template.spec.affinity;
          assert.equal(
            affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm
              .topologyKey,
            "kubernetes.io/hostname",
          );
        },
      );
    });
  }

  for (const engine of ["adapter", "keda"] as const)
    it(`serves every onboarded service's HPA metrics from the one adapter, with one owner per metrics API (engine ${engine})`, async () => {
      const a = JSON.parse(readProjectConfig("dev").autoscaling);
      const objects = await renderWithCharts("dev", [
        "--set",
        'onboardedServices=[{"metricPrefix":"tts","namespace":"speech"}]',
        "--set",
        `autoscaling=${JSON.stringify({ ...a, engine, worker: { ...a.worker, minReplicas: engine === "adapter" ? 1 : 0 } })}`,
        "--reveal-secrets",
      ]);
      assert.equal(
        bodies(objects, "Deployment").filter((d) => d.metadata.name === "prometheus-adapter").length,
        1,
      );
      const config = parse(one(objects, "ConfigMap", "prometheus-adapter").data["config.yaml"]);
      const tts = serviceAdapterRules({ metricPrefix: "tts", rateWindow: "2m" });
      // With KEDA, Sonic reads nothing from the adapter, which serves custom metrics only.
      assert.deepEqual(
        [config.rules.map((r: any) => r.name.as), (config.externalRules ?? []).map((r: any) => r.name.as)],
        engine === "adapter"
          ? [
              ["sonic_request_qps", ...tts.custom.map((r) => r.name.as)],
              ["sonic_job_backlog", ...tts.external.map((r) => r.name.as)],
            ]
          : [tts.custom.map((r) => r.name.as), []],
      );
      assert.deepEqual(
        config.rules[engine === "adapter" ? 1 : 0],
        tts.custom[0],
        "the platform serves exactly the rule the TTS team's component declares",
      );
      const apiServices = bodies(objects, "APIService").map(
        (s) => `${s.metadata.name}:${s.spec.service.name}`,
      );
      assert.deepEqual(apiServices.sort(), [
        "v1beta1.custom.metrics.k8s.io:prometheus-adapter",
        `v1beta1.external.metrics.k8s.io:${engine === "adapter" ? "prometheus-adapter" : "keda-operator-metrics-apiserver"}`,
      ]);
      // Their critical alerts page, like Sonic's.
      const receiver = routeOf(objects, "severity=critical", "namespace=speech");
      assert.equal(receiver, "alert-analyst,critical-slack");
    });

  describe("cluster flavours", () => {
    for (const flavor of CLUSTER_FLAVORS) {
      it(`${flavor}: scrapes only the control-plane targets it has, and no rule alerts on one it lacks`, async () => {
        const objects = await renderWithCharts("dev", ["--set", `clusterFlavor=${flavor}`]);
        const present = new Set(controlPlaneJobs(flavor));
        const absent = Object.values(CONTROL_PLANE_JOBS).filter((j) => !present.has(j));
        const monitors = bodies(objects, "ServiceMonitor").map((m) => m.metadata.name);
        for (const job of Object.values(CONTROL_PLANE_JOBS)) {
          const monitored = monitors.some((n) => n === `prometheus-stack-${job}`);
          assert.equal(monitored, present.has(job), `${job} monitored: ${monitored}`);
        }
        const alerts = bodies(objects, "PrometheusRule").flatMap((r) =>
          r.spec.groups.flatMap((g: any) =>
            g.rules.filter((x: any) => x.alert).map((x: any) => `${x.alert}: ${x.expr}`),
          ),
        );
        const blind = alerts.filter((a) =>
          absent.some((job) => a.includes(`job="${job}"`) || a.includes(`job=~"${job}`)),
        );
        assert.deepEqual(blind, []);
        if (flavor === "kubeadm")
          assert.ok(
            alerts.some((a) => a.startsWith("KubeSchedulerDown")),
            "kubeadm keeps the scheduler's alerts",
          );
      });
    }
  });

  describe("fleet stack", () => {
    let objects: RenderedObject[];
    before(async () => {
      objects = await renderWithCharts("fleet", ["--reveal-secrets"]);
    });

    it("renders the store, the ruler and Grafana from their pinned charts", () => {
      const counts = ["fleet-store", "fleet-ruler-ai-platform", "fleet-grafana"].map(
        (r) => fromChart(objects, r).length,
      );
      console.log(
        `      fleet: ${counts.join(" / ")} objects from store / ruler / Grafana, ${objects.length} in all`,
      );
      assert.ok(
        counts.every((n) => n > 3),
        String(counts),
      );
      for (const kind of ["StatefulSet", "Deployment"]) assert.ok(bodies(objects, kind).length > 0, kind);
    });

    it("validates every object against Kubernetes' schemas", async () => {
      const problems: string[] = [];
      for (const o of objects) {
        const { apiVersion, kind } = o.body as { apiVersion: string; kind: string };
        try {
          new (await modelFor(apiVersion, kind))(o.body).validate();
        } catch (err) {
          problems.push(`${o.file}: ${(err as Error).message.slice(0, 300)}`);
        }
      }
      assert.deepEqual(problems, []);
    });

    it("runs every pod of the store, the ruler and Grafana at the restricted level the fleet namespace enforces", () => {
      assert.equal(
        one(objects, "Namespace", "fleet").metadata.labels["pod-security.kubernetes.io/enforce"],
        "restricted",
      );
      const workloads = ["Deployment", "StatefulSet", "DaemonSet"].flatMap((k) => bodies(objects, k));
      assert.ok(workloads.length >= 6, String(workloads.length));
      const problems = workloads.flatMap((w) =>
        podSecurityViolations(w.spec.template.spec, "restricted").map((p) => `${w.metadata.name}: ${p}`),
      );
      assert.deepEqual(problems, []);
    });

    it("drops the replica label on ingestion and deduplicates where samples merge and where they are read", () => {
      const insert = one(objects, "Deployment", "fleet-store-vminsert").spec.template.spec.containers[0];
      assert.ok(insert.args.includes("--relabelConfig=/relabelconfig/relabel.yml"), insert.args.join(" "));
      const relabel = parse(
        one(objects, "ConfigMap", "fleet-store-vminsert-relabelconfig").data["relabel.yml"],
      );
      assert.deepEqual(relabel, STORE_RELABEL_CONFIG);
      for (const [kind, name] of [
        ["StatefulSet", "fleet-store-vmstorage"],
        ["Deployment", "fleet-store-vmselect"],
      ]) {
        const args: string[] = one(objects, kind, name).spec.template.spec.containers[0].args;
        assert.ok(args.includes("--dedup.minScrapeInterval=15s"), `${name}: ${args.join(" ")}`);
      }
    });

    it(`has vmalert evaluate the fleet rules, which promtool ${PROMTOOL_VERSION} and vmalert ${VMALERT_VERSION} accept, over its tenant's vmselect path`, () => {
      const ruler = one(objects, "Deployment", "fleet-ruler-ai-platform-server").spec.template.spec
        .containers[0];
      assert.ok(
        ruler.args.includes(
          "--datasource.url=http://fleet-store-vmselect.fleet.svc:8481/select/1/prometheus",
        ),
      );
      assert.ok(
        ruler.args.includes("--notifier.url=http://prometheus-stack-alertmanager.monitoring.svc:9093"),
      );
      const rules = one(objects, "ConfigMap", "fleet-ruler-ai-platform-server-alert-rules-config").data[
        "alert-rules.yaml"
      ];
      const file = path.join(mkdtempSync(path.join(tmpdir(), "fleet-ruler-")), "rules.yaml");
      writeFileSync(file, rules);
      assert.match(promtool(["check", "rules", file]), /SUCCESS: 4 rules/);
      vmalertCheckRules(file);
      const vmselect = one(objects, "Service", "fleet-store-vmselect");
      assert.ok(vmselect.spec.ports.some((p: any) => p.port === 8481));
    });

    it("gives Grafana the tenant's data source and loads the fleet dashboard through its sidecar", () => {
      const config = parse(one(objects, "ConfigMap", "fleet-grafana").data["datasources.yaml"]);
      assert.deepEqual(
        config.datasources.map((d: any) => [d.uid, d.url]),
        [["fleet-ai-platform", "http://fleet-store-vmselect.fleet.svc:8481/select/1/prometheus"]],
      );
      const board = one(objects, "ConfigMap", "fleet-grafana-dashboards");
      assert.equal(board.metadata.labels.grafana_dashboard, "1");
      assert.equal(JSON.parse(board.data["sonic-fleet.json"]).uid, "sonic-fleet");
      const sidecar = one(objects, "Deployment", "fleet-grafana").spec.template.spec.containers.find(
        (c: any) => c.name === "grafana-sc-dashboard",
      );
      assert.ok(sidecar.env.some((e: any) => e.name === "LABEL" && e.value === "grafana_dashboard"));
    });

    it("exposes only the write path, through vmauth, on the stack file's host with TLS", () => {
      const ingress = one(objects, "Ingress", "fleet-store-vmauth").spec;
      assert.equal(ingress.ingressClassName, "nginx");
      assert.deepEqual(ingress.tls, [{ hosts: ["fleet.observability.internal"], secretName: "fleet-tls" }]);
      const [rule] = ingress.rules;
      assert.equal(rule.host, "fleet.observability.internal");
      assert.deepEqual(
        rule.http.paths.map((p: any) => [p.path, p.backend.service.name]),
        [["/api/v1/write", "fleet-store-vmauth"]],
      );
      const auth = one(objects, "Deployment", "fleet-store-vmauth").spec.template.spec;
      const volume = auth.volumes.find((v: any) => v.secret);
      assert.equal(volume.secret.secretName, "fleet-store-vmauth", "vmauth reads the program's Secret");
      assert.equal(
        bodies(objects, "Secret").length,
        2,
        "the vmauth config and Grafana's admin: no chart-made Secret",
      );
    });

    /** Every fleet pod as the charts label it, and pods that must not get in: one of the namespace's own, others'. */
    const fleetPods = (): Record<string, PodIdentity> => {
      const pods: Record<string, PodIdentity> = {};
      for (const w of ["Deployment", "StatefulSet"].flatMap((k) => bodies(objects, k))) {
        const ports: Record<string, number> = {};
        for (const c of w.spec.template.spec.containers)
          for (const p of c.ports ?? []) if (p.name) ports[p.name] = p.containerPort;
        pods[w.metadata.name] = { namespace: "fleet", labels: w.spec.template.metadata.labels, ports };
      }
      pods["a debug pod in fleet"] = { namespace: "fleet", labels: { app: "debug", team: "ai-platform" } };
      pods["ingress-nginx"] = {
        namespace: "ingress-nginx",
        labels: { "app.kubernetes.io/name": "ingress-nginx" },
      };
      // Another namespace's pod wearing the store's own labels: a podSelector alone must not admit it.
      pods["a look-alike vmauth in ai-inference"] = {
        namespace: "ai-inference",
        labels: pods["fleet-store-vmauth"].labels,
      };
      return pods;
    };
    /** For each port of each fleet workload, who may connect to it under `policies`. */
    const reachability = (policies: any[]) => {
      const pods = fleetPods();
      const targets: [string, number][] = [
        ["fleet-store-vmauth", 8427],
        ["fleet-store-vminsert", 8480],
        ["fleet-store-vmselect", 8481],
        ["fleet-store-vmstorage", 8400],
        ["fleet-store-vmstorage", 8401],
        ["fleet-store-vmstorage", 8482],
        ["fleet-ruler-ai-platform-server", 8880],
        ["fleet-grafana", 3000],
      ];
      return Object.fromEntries(
        targets.map(([target, port]) => [
          `${target}:${port}`,
          Object.keys(pods)
            .filter((from) => from !== target && ingressAdmits(policies, pods[target], pods[from], port))
            .sort(),
        ]),
      );
    };
    const EVERYONE_BUT_VMAUTH = [
      "a debug pod in fleet",
      "a look-alike vmauth in ai-inference",
      "fleet-grafana",
      "fleet-ruler-ai-platform-server",
      "fleet-store-vminsert",
      "fleet-store-vmselect",
      "fleet-store-vmstorage",
      "ingress-nginx",
    ];
    const ALLOWED = {
      "fleet-store-vmauth:8427": EVERYONE_BUT_VMAUTH,
      "fleet-store-vminsert:8480": ["fleet-store-vmauth"],
      "fleet-store-vmselect:8481": ["fleet-grafana", "fleet-ruler-ai-platform-server", "fleet-store-vmauth"],
      "fleet-store-vmstorage:8400": ["fleet-store-vminsert"],
      "fleet-store-vmstorage:8401": ["fleet-store-vmselect"],
      "fleet-store-vmstorage:8482": [],
      "fleet-ruler-ai-platform-server:8880": [],
      "fleet-grafana:3000": [],
    };

    it("lets only vmauth in from outside the namespace: a fleet pod outside the allowed set cannot reach vminsert, vmselect or vmstorage", () => {
      const policies = bodies(objects, "NetworkPolicy");
      assert.equal(policies.length, 6, "one per component");
      assert.deepEqual(reachability(policies), ALLOWED);
    });

    it("would notice any one fleet NetworkPolicy admitting everyone, or missing", () => {
      const policies = bodies(objects, "NetworkPolicy");
      for (const [i, p] of policies.entries()) {
        if (p.metadata.name === "fleet-store-vmauth") continue; // vmauth already admits everyone on its port
        const open = { ...p, spec: { ...p.spec, ingress: [{}] } };
        const opened = policies.map((q, j) => (j === i ? open : q));
        assert.notDeepEqual(reachability(opened), ALLOWED, `${p.metadata.name} opened`);
        const without = policies.filter((_, j) => j !== i);
        assert.notDeepEqual(reachability(without), ALLOWED, `${p.metadata.name} removed`);
      }
    });

    it("gives every fleet container CPU and memory requests and a memory limit", () => {
      const workloads = ["Deployment", "StatefulSet"].flatMap((k) => bodies(objects, k));
      const containers = workloads.flatMap((w) =>
        [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers].map(
          (c: any) => [`${w.metadata.name}/${c.name}`, c.resources ?? {}] as const,
        ),
      );
      assert.ok(containers.length >= 7, String(containers.length));
      const missing = containers
        .filter(([, r]) => !r.requests?.cpu || !r.requests?.memory || !r.limits?.memory)
        .map(([n]) => n);
      assert.deepEqual(missing, []);
    });

    it("spreads every multi-replica fleet workload across nodes, vmstorage strictly", () => {
      for (const w of ["Deployment", "StatefulSet"].flatMap((k) => bodies(objects, k))) {
        const spread = w.spec.template.spec.topologySpreadConstraints ?? [];
        if ((w.spec.replicas ?? 1) <= 1) {
          assert.deepEqual(spread, [], w.metadata.name);
          continue;
        }
        const nodes = spread.find((c: any) => c.topologyKey === "kubernetes.io/hostname");
        assert.ok(nodes, `${w.metadata.name} does not spread across nodes`);
        assert.deepEqual(nodes.labelSelector.matchLabels, w.spec.selector.matchLabels, w.metadata.name);
        assert.equal(
          nodes.whenUnsatisfiable,
          w.kind === "StatefulSet" ? "DoNotSchedule" : "ScheduleAnyway",
          w.metadata.name,
        );
      }
    });

    it("pins every image and labels every object with team, service and env", () => {
      for (const o of objects) {
        const spec = POD_SPECS[o.kind]?.(o.body);
        for (const c of spec?.containers ?? []) assert.match(c.image, /:[\w.-]+$/, `${o.file}: ${c.image}`);
        // The VictoriaMetrics charts' ServiceAccounts take no extra labels (their vm.metaLabels helper).
        if (o.kind === "ServiceAccount" && !o.file.startsWith("fleet-grafana/")) continue;
        for (const l of LABELS) assert.ok((o.body as any).metadata?.labels?.[l], `${o.file} has no ${l}`);
      }
    });
  });
});
