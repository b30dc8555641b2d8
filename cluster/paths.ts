import { createHash } from "node:crypto";
import * as path from "node:path";

/** The repository root. */
export const ROOT = path.resolve(__dirname, "..");
/** Binaries built by `npm run setup:cluster` (and Helm from `npm run setup`). */
export const TOOLS_BIN = path.join(ROOT, ".tools", "bin");
/** kwok's Stage files, copied by setup:cluster from the pinned kwok module. */
export const KWOK_STAGES = path.join(ROOT, ".tools", "share", "kwok-stages");
/** Everything a running local cluster owns: certificates, kubeconfig, data, logs, PIDs, the Pulumi state. */
export const CLUSTER_DIR = path.join(ROOT, ".cluster");
export const PKI_DIR = path.join(CLUSTER_DIR, "pki");
export const LOG_DIR = path.join(CLUSTER_DIR, "logs");
export const PID_DIR = path.join(CLUSTER_DIR, "pids");
export const KUBECONFIG = path.join(CLUSTER_DIR, "kubeconfig");
export const CHARTS_DIR = path.join(CLUSTER_DIR, "charts");
export const STATE_DIR = path.join(CLUSTER_DIR, "state");

/**
 * The network namespace of this checkout's cluster. Named after the checkout's path, so two clones on one
 * machine each get their own; `ip netns` names are short, hence the hash.
 */
export const NETNS = `sonic-${createHash("sha256").update(ROOT).digest("hex").slice(0, 10)}`;

/** Inside the namespace: where each part listens. Nothing here is reachable from the host's network. */
export const ADDRESSES = {
  /** A dummy interface's address: the API server must advertise an address that is not loopback. */
  apiserverAdvertise: "172.31.255.1",
  apiserverPort: 6443,
  etcdClient: "http://127.0.0.1:2379",
  etcdPeer: "http://127.0.0.1:2380",
  /** The chart repository that serves the pinned archives (the program's chart-mirror setting points here). */
  chartServer: "http://127.0.0.1:8879",
  chartServerPort: 8879,
  serviceCidr: "10.96.0.0/16",
  /**
   * kwok hands pod IPs out of this range, and the namespace routes all of it to loopback: every pod IP is an
   * address of the namespace, so a process bound to its pod's IP answers the API server's calls to an
   * APIService or webhook, and two pods' processes can each bind the same port on their own IPs.
   */
  podCidr: "172.30.0.1/16",
  podRange: "172.30.0.0/16",
  /** CoreDNS listens here; the namespace's resolv.conf names it (cluster/networking.ts). */
  clusterDns: "127.0.0.10",
  /** Nodes get addresses from here: not loopback (EndpointSlices refuse that for hostNetwork pods), not routed. */
  nodeIpPrefix: "172.31.0.",
} as const;

/** PATH with the project's tools first. */
export function toolsPath(): string {
  return `${TOOLS_BIN}${path.delimiter}${process.env.PATH ?? ""}`;
}
