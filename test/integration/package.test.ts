import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { packComponents } from "../../scripts/pack-components";
import { consumerProject } from "../../testkit/consumer-project";
import { exportedNames } from "../../testkit/exported-names";

/** Runs the compiled program under the consumer's own Pulumi mock runtime and prints what it registered. */
const CONSUMER_RUNNER = `
const pulumi = require("@pulumi/pulumi");
const seen = [];
pulumi.runtime.setMocks({
  newResource: (args) => { seen.push({ type: args.type, name: args.name, inputs: args.inputs }); return { id: args.name + "-id", state: args.inputs }; },
  call: (args) => args.inputs,
}, "tts-platform", "dev", false);
const program = require("./index.js");
program.customMetric; // force the module's evaluation
setTimeout(() => process.stdout.write(JSON.stringify({ seen, adapterMetrics: program.adapterMetrics })), 1500);
`;

describe("the component package", function () {
  this.timeout(300_000);
  let tarball: string;

  before(() => {
    tarball = packComponents(mkdtempSync(path.join(tmpdir(), "sonic-pack-")));
  });

  it("packs only compiled components with types, and another team's TTS program compiles and runs against it", () => {
    const listing = execFileSync("tar", ["tzf", tarball], { encoding: "utf8" }).trim().split("\n");
    assert.ok(
      listing.includes("package/dist/components/index.js") &&
        listing.includes("package/dist/components/index.d.ts"),
    );
    assert.deepEqual(
      listing.filter((f) => !/^package\/(dist\/.*\.(js|d\.ts)|package\.json|README\.md)$/.test(f)),
      [],
    );
    assert.ok(!listing.some((f) => /app\/|stacks\/|test\//.test(f)));

    const consumer = mkdtempSync(path.join(tmpdir(), "tts-platform-"));
    consumerProject(consumer, tarball);
    writeFileSync(path.join(consumer, "run.js"), CONSUMER_RUNNER);
    const { seen: registered, adapterMetrics } = JSON.parse(
      execFileSync(process.execPath, ["run.js"], { cwd: consumer, encoding: "utf8" }),
    ) as { seen: { type: string; name: string; inputs: any }[]; adapterMetrics: string[] };

    const one = (type: string) => {
      const found = registered.filter((r) => r.type === type);
      assert.equal(found.length, 1, `${type}: ${found.length}`);
      return found[0].inputs;
    };
    const sm = one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor");
    assert.deepEqual(
      [sm.metadata.namespace, sm.spec.namespaceSelector.matchNames, sm.metadata.labels.release],
      ["speech", ["speech"], "prometheus-stack"],
    );
    const rules = one("kubernetes:monitoring.coreos.com/v1:PrometheusRule").spec.groups.flatMap(
      (g: any) => g.rules,
    );
    assert.ok(rules.some((r: any) => r.alert === "TtsHighLatencyP99" && r.expr.includes("> 30 ")));
    assert.ok(rules.every((r: any) => !r.expr.includes("sonic_")));
    const hpa = one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler");
    assert.deepEqual(
      [
        hpa.spec.metrics[0].pods.metric.name,
        hpa.spec.maxReplicas,
        hpa.spec.metrics[0].pods.target.averageValue,
      ],
      ["tts_request_qps", 6, "500m"],
    );
    // Every metric the TTS HPA reads is one its adapter rules make the platform's adapter serve.
    const read = hpa.spec.metrics
      .filter((m: any) => m.type !== "Resource")
      .map((m: any) => (m.pods ?? m.external).metric.name);
    assert.deepEqual(read, ["tts_request_qps", "tts_job_backlog"]);
    assert.deepEqual(adapterMetrics, read);
    const dashboards = one("kubernetes:core/v1:ConfigMap");
    assert.equal(JSON.parse(dashboards.data["tts-overview.json"]).title, "Tts overview");
    assert.ok(registered.some((r) => r.type === "sonic-observability:index:InferenceObservability"));
  });

  it("exports exactly the names it exported before components/ moved into folders by concern", () => {
    const unpacked = mkdtempSync(path.join(tmpdir(), "sonic-unpacked-"));
    execFileSync("tar", ["xzf", tarball, "-C", unpacked]);
    const exported = exportedNames(path.join(unpacked, "package", "dist", "components", "index.d.ts"));
    // Captured from the packed package before the move; a name added on purpose is added there too.
    const expected = readFileSync(path.join(__dirname, "..", "fixtures", "component-exports.txt"), "utf8")
      .trim()
      .split("\n");
    assert.deepEqual(exported, expected);
  });
});
