import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { engineEnv } from "../../cluster/deploy";
import { getItems, kubectl } from "../../cluster/kubectl";
import { CLUSTER_DIR, TOOLS_BIN } from "../../cluster/paths";
import { packComponents } from "../../scripts/pack-components";
import { consumerProject } from "../../testkit/consumer-project";
import { deployOk, eventually, LOCAL_CHART_ARGS, missingObjects, namespacePhases } from "./support";

/**
 * Another team's project (docs/onboard.md's example): the packed component package installed by npm,
 * deployed by the team's own Pulumi (the Automation API of ITS @pulumi/pulumi, as a CI job without a
 * language host would) into its own namespace, next to a live Sonic dev stack.
 */
const CONSUMER = path.join(CLUSTER_DIR, "consumer");
const TEAM_NS = "speech";
const dev = (action: string, ...extra: string[]) => [
  "dev",
  action,
  "--stand-in-secrets",
  ...LOCAL_CHART_ARGS,
  ...extra,
];
const onboarded = [
  "--config",
  `onboardedServices=${JSON.stringify([{ metricPrefix: "tts", namespace: TEAM_NS }])}`,
];

/** The team's deploy script: its own Automation API, an inline program that requires its compiled index.js. */
const TEAM_DEPLOY = `
const { LocalWorkspace, PulumiCommand } = require("@pulumi/pulumi/automation");
(async () => {
  // The engine installed under <root>/bin/pulumi.
  const [action, root] = process.argv.slice(2);
  const pulumiCommand = await PulumiCommand.get({ root, skipVersionCheck: true });
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: "tts", projectName: "tts-platform", program: async () => require("./index.js") },
    { workDir: __dirname, pulumiCommand },
  );
  const onOutput = (line) => process.stdout.write(line);
  if (action === "up") await stack.up({ onOutput, color: "never" });
  else if (action === "preview") await stack.preview({ onOutput, color: "never", expectNoChanges: true });
  else await stack.destroy({ onOutput, color: "never" });
})().catch((error) => { console.error(String(error)); process.exit(1); });
`;

function teamDeploy(action: "up" | "preview" | "destroy"): void {
  const run = spawnSync(process.execPath, ["deploy.js", action, path.dirname(TOOLS_BIN)], {
    cwd: CONSUMER,
    env: { ...process.env, ...engineEnv() },
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0)
    throw new Error(
      `the team's ${action} failed (${run.status}):\n${(run.stdout + run.stderr).slice(-6000)}`,
    );
}

/** Kinds of the team's objects in its namespace. */
const teamObjects = () =>
  getItems<{ kind: string; metadata: { name: string } }>([
    "servicemonitors.monitoring.coreos.com,prometheusrules.monitoring.coreos.com,hpa",
    "-n",
    TEAM_NS,
  ]).map((o) => `${o.kind}/${o.metadata.name}`);

describe("another team's service, onboarded with the packed component package next to a live Sonic", function () {
  this.timeout(20 * 60_000);

  before(async () => {
    await deployOk(dev("up"));
    rmSync(CONSUMER, { recursive: true, force: true });
    mkdirSync(CONSUMER, { recursive: true });
    // Inside the network namespace: npm installs from its cache alone.
    consumerProject(CONSUMER, packComponents(path.join(CLUSTER_DIR, "build")), { offline: true });
    writeFileSync(path.join(CONSUMER, "Pulumi.yaml"), "name: tts-platform\nruntime: nodejs\n");
    writeFileSync(path.join(CONSUMER, "deploy.js"), TEAM_DEPLOY);
    kubectl(["create", "namespace", TEAM_NS]);
  });

  it("goes up in its own namespace: its ServiceMonitor, alert rules and HPA, picked up by Sonic's Prometheus", () => {
    teamDeploy("up");
    const kinds = new Set(teamObjects().map((o) => o.split("/")[0]));
    assert.deepEqual([...kinds].sort(), ["HorizontalPodAutoscaler", "PrometheusRule", "ServiceMonitor"]);
    const monitor = getItems<{ metadata: { labels: Record<string, string> } }>([
      "servicemonitors.monitoring.coreos.com",
      "-n",
      TEAM_NS,
    ])[0];
    const selector = JSON.parse(
      kubectl([
        "get",
        "prometheus",
        "-n",
        "monitoring",
        "-o",
        "jsonpath={.items[0].spec.serviceMonitorSelector}",
      ]),
    ) as { matchLabels?: Record<string, string> };
    for (const [k, v] of Object.entries(selector.matchLabels ?? {}))
      assert.equal(
        monitor.metadata.labels[k],
        v,
        `Sonic's Prometheus selects ${k}=${v}; the team's monitor has not`,
      );
    teamDeploy("preview");
  });

  it("is served by Sonic's one prometheus-adapter once the platform lists it in onboardedServices", async () => {
    await deployOk(dev("up", ...onboarded));
    const rules = kubectl(["get", "configmaps", "-n", "monitoring", "-o", "json"]);
    assert.match(rules, /tts_request_qps/, "no adapter rule serves the team's tts_request_qps");
    assert.deepEqual(missingObjects("dev"), []);
  });

  it("goes down and leaves Sonic as it was", async () => {
    teamDeploy("destroy");
    await eventually("the team's objects remain", teamObjects);
    assert.deepEqual(missingObjects("dev"), []);
    await deployOk(dev("preview", "--expect-no-changes", ...onboarded));
  });

  after(async () => {
    await deployOk(dev("destroy", ...onboarded));
    kubectl(["delete", "namespace", TEAM_NS, "--wait=false"]);
    await eventually("namespaces remain", () =>
      ["monitoring", "ai-inference", "keda", TEAM_NS].filter((ns) => namespacePhases().has(ns)),
    );
  });
});
