import { strict as assert } from "node:assert";
import { CLUSTER_FLAVORS } from "../../components/monitoring/cluster-flavor";
import { volumeFor } from "../../cluster/claim-binder";
import { parseDeployArgs } from "../../cluster/deploy";
import { kwokNodes, nodeManifest } from "../../cluster/nodes";
import { readProjectConfig } from "../../testkit/stack-file";

// The local control plane's pure parts (cluster/): what its nodes offer, what the claim binder makes,
// what npm run deploy accepts. The live suite (npm run test:cluster) runs them for real.
describe("the local control plane's nodes, binder and deploy arguments", () => {
  it("gives every flavour GPU nodes with room for prod's minimum workers, and no node a loopback address", () => {
    const prod = readProjectConfig("prod");
    const sonic = JSON.parse(prod.sonic) as { gpuCount: number };
    const minWorkers = (JSON.parse(prod.autoscaling) as { worker: { minReplicas: number } }).worker
      .minReplicas;
    for (const flavor of CLUSTER_FLAVORS) {
      const nodes = kwokNodes(flavor);
      const gpus = nodes
        .map((n) => Number(n.capacity["nvidia.com/gpu"] ?? 0))
        .filter((g) => g >= sonic.gpuCount);
      assert.ok(gpus.length >= 2, `${flavor}: fewer than two GPU nodes to spread the workers over`);
      assert.ok(
        gpus.reduce((a, b) => a + b, 0) >= 2 * minWorkers * sonic.gpuCount,
        `${flavor}: no room for a surge of prod's workers`,
      );
      for (const n of nodes) {
        assert.doesNotMatch(n.ip, /^127\./, `${flavor}: ${n.name} has a loopback address`);
        for (const key of ["cpu", "memory", "pods", "ephemeral-storage"])
          assert.ok(n.capacity[key], `${flavor}: ${n.name} lacks ${key}`);
      }
    }
  });

  it("taints the GPU pools as EKS and GKE do, so prod's toleration is what lets the workers on", () => {
    const prod = JSON.parse(readProjectConfig("prod").sonic) as { tolerations: { key: string }[] };
    for (const flavor of ["eks", "gke"] as const) {
      const gpuNode = kwokNodes(flavor).find((n) => n.capacity["nvidia.com/gpu"])!;
      assert.deepEqual(
        gpuNode.taints.map((t) => t.key),
        ["nvidia.com/gpu"],
      );
      assert.ok(prod.tolerations.some((t) => t.key === "nvidia.com/gpu"));
    }
    const manifest = nodeManifest(kwokNodes("generic")[0]) as {
      object: { metadata: { annotations: Record<string, string> } };
    };
    assert.equal(manifest.object.metadata.annotations["kwok.x-k8s.io/node"], "fake");
  });

  it("binds a pending claim to a volume of its size, modes and class, reserved for that claim alone", () => {
    const volume = volumeFor({
      metadata: { name: "data", namespace: "ai-inference", uid: "u-1" },
      spec: {
        accessModes: ["ReadWriteOnce"],
        resources: { requests: { storage: "5Gi" } },
        storageClassName: "gp3",
      },
    }) as { spec: Record<string, unknown> };
    assert.deepEqual(volume.spec.capacity, { storage: "5Gi" });
    assert.equal(volume.spec.storageClassName, "gp3");
    assert.deepEqual(volume.spec.claimRef, { namespace: "ai-inference", name: "data", uid: "u-1" });
  });

  it("takes npm run deploy's arguments, and names the bad one", () => {
    assert.deepEqual(
      parseDeployArgs(["dev", "preview", "--expect-no-changes", "--config", "charts.repository=http://x:1"]),
      {
        stack: "dev",
        action: "preview",
        expectNoChanges: true,
        config: { "charts.repository": "http://x:1" },
      },
    );
    assert.throws(
      () => parseDeployArgs(["dev", "apply"]),
      /'action' \("apply"\) must be up, preview or destroy/,
    );
    assert.throws(
      () => parseDeployArgs(["dev", "up", "--config", "retention"]),
      /'--config' \("retention"\) must be key=value/,
    );
  });
});
