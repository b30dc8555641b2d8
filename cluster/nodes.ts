import { CLUSTER_FLAVORS, ClusterFlavor } from "../components/monitoring/cluster-flavor";
import { ADDRESSES } from "./paths";

/**
 * The kwok nodes of the local cluster: CPU nodes for the monitoring stack and the API tier, GPU nodes with
 * `nvidia.com/gpu` capacity for the worker tier, labelled and tainted as the chosen flavour's GPU node pools
 * are. Two GPU nodes of four GPUs each hold prod's minimum workers spread across nodes, with room for a
 * rollout's surge.
 */
export interface KwokNode {
  name: string;
  ip: string;
  labels: Record<string, string>;
  taints: { key: string; value?: string; effect: "NoSchedule" | "NoExecute" | "PreferNoSchedule" }[];
  capacity: Record<string, string>;
}

const ZONES = ["zone-a", "zone-b", "zone-c"];

/** The labels a flavour's node pools carry, by kind of pool. */
function poolLabels(flavor: ClusterFlavor, gpu: boolean, zone: string): Record<string, string> {
  const pool = gpu ? "gpu" : "system";
  const common = {
    "topology.kubernetes.io/zone": zone,
    "kubernetes.io/os": "linux",
    "kubernetes.io/arch": "amd64",
  };
  switch (flavor) {
    case "eks":
      return {
        ...common,
        "eks.amazonaws.com/nodegroup": pool,
        "node.kubernetes.io/instance-type": gpu ? "g6.12xlarge" : "m6i.4xlarge",
        ...(gpu ? { "k8s.amazonaws.com/accelerator": "nvidia-l4" } : {}),
      };
    case "gke":
      return {
        ...common,
        "cloud.google.com/gke-nodepool": pool,
        "node.kubernetes.io/instance-type": gpu ? "g2-standard-48" : "e2-standard-16",
        ...(gpu ? { "cloud.google.com/gke-accelerator": "nvidia-l4" } : {}),
      };
    case "aks":
      return {
        ...common,
        "kubernetes.azure.com/agentpool": pool,
        "node.kubernetes.io/instance-type": gpu ? "Standard_NC24ads_A100_v4" : "Standard_D16s_v5",
        ...(gpu ? { accelerator: "nvidia" } : {}),
      };
    case "kubeadm":
    case "generic":
      return { ...common, ...(gpu ? { "nvidia.com/gpu.present": "true" } : {}) };
    default: {
      const unknown: never = flavor;
      throw new Error(`'--flavor' (${String(unknown)}) must be one of ${CLUSTER_FLAVORS.join(", ")}`);
    }
  }
}

/**
 * GPU pools are tainted so only pods that tolerate the GPU land there: EKS's and GKE's GPU pools carry
 * `nvidia.com/gpu`; a kubeadm or generic cluster usually leaves it to the operator, and so does this one.
 * AKS recommends `sku=gpu` on its GPU pools.
 */
function gpuTaints(flavor: ClusterFlavor): KwokNode["taints"] {
  switch (flavor) {
    case "eks":
    case "gke":
      return [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }];
    case "aks":
      return [{ key: "sku", value: "gpu", effect: "NoSchedule" }];
    case "kubeadm":
    case "generic":
      return [];
    default: {
      const unknown: never = flavor;
      throw new Error(`unknown flavour ${String(unknown)}`);
    }
  }
}

/** The nodes of one flavour: three CPU nodes in three zones, two GPU nodes. */
export function kwokNodes(flavor: ClusterFlavor): KwokNode[] {
  const cpu = ZONES.map((zone, i) => ({
    name: `cpu-${i}`,
    ip: `${ADDRESSES.nodeIpPrefix}${10 + i}`,
    labels: poolLabels(flavor, false, zone),
    taints: [],
    capacity: { cpu: "16", memory: "64Gi", pods: "110", "ephemeral-storage": "200Gi" },
  }));
  const gpu = [0, 1].map((i) => ({
    name: `gpu-${i}`,
    ip: `${ADDRESSES.nodeIpPrefix}${20 + i}`,
    labels: poolLabels(flavor, true, ZONES[i]),
    taints: gpuTaints(flavor),
    capacity: {
      cpu: "48",
      memory: "192Gi",
      pods: "110",
      "ephemeral-storage": "500Gi",
      "nvidia.com/gpu": "4",
    },
  }));
  return [...cpu, ...gpu];
}

/** The Node object (spec and metadata) and, apart, the status kwok keeps (set through the status subresource). */
export function nodeManifest(node: KwokNode): { object: object; status: object } {
  return {
    object: {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: node.name,
        // kwok manages the nodes that carry this annotation (its own convention).
        annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
        labels: { ...node.labels, "kubernetes.io/hostname": node.name, type: "kwok" },
      },
      spec: { taints: node.taints },
    },
    status: {
      status: {
        capacity: node.capacity,
        allocatable: node.capacity,
        addresses: [
          { type: "InternalIP", address: node.ip },
          { type: "Hostname", address: node.name },
        ],
      },
    },
  };
}
