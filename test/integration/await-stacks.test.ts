import * as assert from "node:assert/strict";
import * as path from "node:path";
import { CLUSTER_FLAVORS } from "../../components";
import { readProjectConfig } from "../../testkit/stack-file";
import { checkAwaits } from "../../testkit/await-model";
import { renderProgram, renderStack } from "../../testkit/render";

/** `--set` for one top-level key of a stack file with `patch` merged into its object. */
const patched = (stack: string, key: string, patch: Record<string, unknown>) => {
  const current = readProjectConfig(stack)[key];
  return `${key}=${JSON.stringify({ ...(current ? JSON.parse(current) : {}), ...patch })}`;
};

/** Every shape of program a user deploys: both stacks, every flavour, both queue modes, analyst on/off. */
const VARIANTS: { title: string; stack: string; set: string[] }[] = [
  { title: "the dev stack", stack: "dev", set: [] },
  { title: "the prod stack", stack: "prod", set: [] },
  ...CLUSTER_FLAVORS.map((flavor) => ({
    title: `the dev stack on clusterFlavor ${flavor}`,
    stack: "dev",
    set: [`clusterFlavor=${flavor}`],
  })),
  {
    title: "the dev stack with an external queue",
    stack: "dev",
    set: [patched("dev", "queue", { mode: "external", storage: undefined })],
  },
  {
    title: "the prod stack with the queue in the cluster",
    stack: "prod",
    set: [patched("prod", "queue", { mode: "in-cluster" })],
  },
  {
    title: "the dev stack without the analyst",
    stack: "dev",
    set: [patched("dev", "analyst", { enabled: false })],
  },
  // Both engines on both stacks (dev commits keda with the workers at zero, prod the adapter).
  {
    title: "the dev stack on engine adapter",
    stack: "dev",
    set: [patched("dev", "autoscaling", { engine: "adapter", worker: { minReplicas: 1, maxReplicas: 2 } })],
  },
  {
    title: "the prod stack on engine keda",
    stack: "prod",
    set: [patched("prod", "autoscaling", { engine: "keda" })],
  },
  {
    title: "the prod stack on engine keda with the workers scaled to zero",
    stack: "prod",
    set: [patched("prod", "autoscaling", { engine: "keda", worker: { minReplicas: 0, maxReplicas: 8 } })],
  },
  {
    title: "the dev stack with autoscaling off (fixed replicas)",
    stack: "dev",
    set: [patched("dev", "autoscaling", { enabled: false })],
  },
];

// Every secret is a stand-in here; revealed, the model reads the queue's URL out of its Secret.
const args = (set: string[]) => [...set.flatMap((kv) => ["--set", kv]), "--reveal-secrets"];

describe("pulumi up, modelled with the Kubernetes provider's await rules", function () {
  for (const { title, stack, set } of VARIANTS) {
    it(`lets every resource of ${title} become ready, each within its timeout`, async () => {
      const report = checkAwaits(await renderStack(stack, args(set)));
      assert.ok(report.checked > 20, `only ${report.checked} resources checked`);
      assert.deepEqual(report.neverReady, []);
      assert.deepEqual(report.shortTimeouts, []);
    });
  }

  it("lets every resource of the consumer example (a TTS team's program) become ready", async () => {
    const report = checkAwaits(
      await renderProgram(path.join(__dirname, "..", "..", "testkit", "consumer-program.ts")),
    );
    assert.ok(report.checked >= 4);
    assert.deepEqual(report.neverReady, []);
    assert.deepEqual(report.shortTimeouts, []);
  });
});
