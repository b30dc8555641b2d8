import * as assert from "node:assert/strict";
import { checkAwaits } from "../../testkit/await-model";

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
