import { strict as assert } from "node:assert";
import { floorWorkOf } from "../../bench/same-work-floor";

describe("bench:deploy's same-work floor, read from a stack's state", () => {
  it("takes each Helm release with the values the stack passed (secrets as their plaintext), and every other object without what the server or the provider added", () => {
    const work = floorWorkOf([
      { type: "pulumi:pulumi:Stack" },
      { type: "pulumi:providers:kubernetes", outputs: { kubeconfig: "x" } },
      {
        type: "kubernetes:helm.sh/v3:Release",
        outputs: {
          name: "keda",
          namespace: "keda",
          chart: "keda",
          version: "2.20.2",
          repositoryOpts: { repo: "http://127.0.0.1:8879" },
          values: {
            webhooks: { enabled: true },
            token: {
              "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
              plaintext: '"s3cret"',
            },
          },
        },
      },
      {
        type: "kubernetes:core/v1:Namespace",
        outputs: { apiVersion: "v1", kind: "Namespace", metadata: { name: "keda", uid: "u" }, __inputs: {} },
      },
      {
        type: "kubernetes:core/v1:Service",
        outputs: {
          apiVersion: "v1",
          kind: "Service",
          metadata: {
            name: "api",
            namespace: "ai-inference",
            resourceVersion: "7",
            managedFields: [],
            annotations: { team: "a", "kubectl.kubernetes.io/last-applied-configuration": "{}" },
          },
          spec: { clusterIP: "10.96.0.9", clusterIPs: ["10.96.0.9"], ports: [{ port: 8080 }] },
          status: { loadBalancer: {} },
          __fieldManager: "pulumi-kubernetes",
        },
      },
    ]);
    assert.deepEqual(work.releases, [
      {
        name: "keda",
        namespace: "keda",
        chart: "keda",
        version: "2.20.2",
        repo: "http://127.0.0.1:8879",
        values: { webhooks: { enabled: true }, token: "s3cret" },
      },
    ]);
    assert.deepEqual(work.namespaces, [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "keda", annotations: {} } },
    ]);
    assert.deepEqual(work.objects, [
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "api", namespace: "ai-inference", annotations: { team: "a" } },
        spec: { ports: [{ port: 8080 }] },
      },
    ]);
  });
});
