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

describe("the await model itself", () => {
  /** A registered resource as the mock runtime records it. */
  const resource = (type: string, name: string, inputs: any, dependencies: string[] = []) => ({
    type: `kubernetes:${type}`,
    name,
    urn: `urn:${name}`,
    parentUrn: "",
    custom: true,
    dependencies,
    inputs,
  });
  const selector = { app: "store" };
  const awaitedService = resource("core/v1:Service", "store", {
    metadata: { name: "store", namespace: "ns" },
    spec: { selector, ports: [{ port: 6379 }] },
  });
  const statefulSet = (dependencies: string[]) =>
    resource(
      "apps/v1:StatefulSet",
      "store-set",
      {
        metadata: { name: "store", namespace: "ns" },
        spec: {
          serviceName: "store",
          template: { metadata: { labels: selector }, spec: { containers: [] } },
        },
      },
      dependencies,
    );

  it("names the cycle when a StatefulSet takes serviceName from an awaited Service (JobQueue before the fix)", () => {
    const report = checkAwaits({ resources: [awaitedService, statefulSet(["urn:store"])], outputs: {} });
    assert.deepEqual(report.neverReady, [
      'Service ns/store can never become ready: Service ns/store waits for ready endpoints: a ready pod matching {"app":"store"} in ns, i.e. StatefulSet ns/store -> StatefulSet ns/store is created only after Service ns/store is ready -> (a cycle)',
      'StatefulSet ns/store can never become ready: StatefulSet ns/store is created only after Service ns/store is ready -> Service ns/store waits for ready endpoints: a ready pod matching {"app":"store"} in ns, i.e. StatefulSet ns/store -> (a cycle)',
    ]);
  });

  it("lets the same pair become ready when the StatefulSet does not wait for the Service", () => {
    assert.deepEqual(
      checkAwaits({ resources: [awaitedService, statefulSet([])], outputs: {} }).neverReady,
      [],
    );
  });

  it("does not await a headless Service, nor one annotated pulumi.com/skipAwait", () => {
    const headless = {
      ...awaitedService,
      inputs: { ...awaitedService.inputs, spec: { clusterIP: "None", selector } },
    };
    const skipped = {
      ...awaitedService,
      inputs: {
        ...awaitedService.inputs,
        metadata: { name: "store", annotations: { "pulumi.com/skipAwait": "true" } },
      },
    };
    for (const service of [headless, skipped])
      assert.deepEqual(
        checkAwaits({ resources: [service, statefulSet(["urn:store"])], outputs: {} }).neverReady,
        [],
      );
  });

  it("flags a rollout timeout shorter than the startup probe's allowance plus the image pull", () => {
    const deployment = {
      ...resource("apps/v1:Deployment", "gpu", {
        metadata: { name: "gpu", namespace: "ns" },
        spec: {
          template: {
            metadata: { labels: { app: "gpu" } },
            spec: {
              containers: [{ name: "model", startupProbe: { periodSeconds: 10, failureThreshold: 90 } }],
            },
          },
        },
      }),
      customTimeouts: { create: "20m" },
    };
    assert.deepEqual(checkAwaits({ resources: [deployment], outputs: {} }).shortTimeouts, [
      "Deployment ns/gpu: awaited for 1200s, but a pod may take 1500s to turn ready (startup probe + 600s image pull)",
    ]);
  });
});
