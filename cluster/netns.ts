import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { ADDRESSES, KUBECONFIG, NETNS, toolsPath } from "./paths";

/**
 * The cluster's own network namespace. APIServices (KEDA's metrics server, prometheus-adapter) and admission
 * webhooks make kube-apiserver dial Service and pod addresses (10.x); from the host those would route off the
 * machine. In here there is loopback and one more local address, so every such dial fails at once, and every
 * process of the cluster and every client (pulumi, kubectl, helm, the tests) runs here.
 */
const NETNS_PATH = `/run/netns/${NETNS}`;
/**
 * `ip netns exec` bind-mounts the files of /etc/netns/<name>/ over /etc/ for what it runs: the resolv.conf here
 * sends every lookup inside the namespace to the cluster's DNS (CoreDNS), with a pod's search path, so
 * `prometheus-stack-prometheus.monitoring.svc` resolves as it does in a pod.
 */
const NETNS_ETC = `/etc/netns/${NETNS}`;

function ip(args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

export function namespaceExists(): boolean {
  return existsSync(NETNS_PATH);
}

/** Creates the namespace (loopback up, the API server's advertise address on a dummy interface), once. */
export function ensureNamespace(): void {
  if (namespaceExists()) return;
  try {
    ip(["netns", "add", NETNS]);
  } catch (error) {
    throw new Error(
      `could not create the network namespace ${NETNS} ('ip netns add' needs root or CAP_SYS_ADMIN; run as root ` +
        `or with sudo): ${(error as { stderr?: Buffer }).stderr?.toString().trim() ?? String(error)}`,
    );
  }
  try {
    ip(["-n", NETNS, "link", "set", "lo", "up"]);
    // The advertise address sits on loopback: kernels in sandboxes often lack the dummy and veth drivers, and
    // an address that is not 127/8 is all the API server asks. No route leads anywhere else.
    ip(["-n", NETNS, "addr", "add", `${ADDRESSES.apiserverAdvertise}/32`, "dev", "lo"]);
    // Pod IPs and Service ClusterIPs are local addresses of the namespace (no veth or dummy driver is needed):
    // a pod's process binds its pod IP, and kube-proxy's DNAT rules take a ClusterIP to one of them. Without
    // the Service route the nat OUTPUT rules never see the packet: the dial fails with no route.
    ip(["-n", NETNS, "route", "add", "local", ADDRESSES.podRange, "dev", "lo"]);
    ip(["-n", NETNS, "route", "add", "local", ADDRESSES.serviceCidr, "dev", "lo"]);
    mkdirSync(NETNS_ETC, { recursive: true });
    writeFileSync(
      path.join(NETNS_ETC, "resolv.conf"),
      `# the cluster's DNS (CoreDNS), written by cluster/netns.ts\nnameserver ${ADDRESSES.clusterDns}\n` +
        "search svc.cluster.local cluster.local\noptions ndots:5 timeout:1 attempts:2\n",
    );
  } catch (error) {
    ip(["netns", "delete", NETNS]);
    throw error;
  }
}

export function deleteNamespace(): void {
  if (namespaceExists()) ip(["netns", "delete", NETNS]);
  rmSync(NETNS_ETC, { recursive: true, force: true });
}

/** Whether this process already runs inside the cluster's namespace. */
export function insideNamespace(): boolean {
  if (!namespaceExists()) return false;
  return statSync("/proc/self/ns/net").ino === statSync(NETNS_PATH).ino;
}

/** The environment of every command run in the namespace: the project's tools first, the cluster's kubeconfig. */
export function namespaceEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: toolsPath(), KUBECONFIG };
}

/** Runs a command inside the namespace with the terminal attached; returns its exit status. */
export function execInNamespace(command: string, args: string[]): number {
  if (!namespaceExists())
    throw new Error(
      `the cluster's network namespace ${NETNS} does not exist: run 'npm run cluster -- up' first`,
    );
  const argv = insideNamespace() ? [command, ...args] : ["ip", "netns", "exec", NETNS, command, ...args];
  const result = spawnSync(argv[0], argv.slice(1), { stdio: "inherit", env: namespaceEnv() });
  if (result.error) throw result.error;
  return result.status ?? (result.signal ? 128 : 1);
}
