import { writeFileSync } from "node:fs";
import { Resolver } from "node:dns/promises";
import * as path from "node:path";
import { ADDRESSES, CLUSTER_DIR, KUBECONFIG, TOOLS_BIN } from "./paths";
import { startProcess } from "./processes";

/**
 * Service addresses and names inside the cluster's namespace, made the way a cluster makes them:
 *
 * - **kube-proxy** (iptables mode, the control plane's own Kubernetes version) writes the nat rules that take a
 *   ClusterIP:port to a ready endpoint's pod IP:targetPort. The namespace routes the Service range and the pod
 *   range to loopback (cluster/netns.ts), so the DNAT lands on the process bound to that pod IP.
 * - **CoreDNS** with its kubernetes plugin answers `<service>.<namespace>.svc.cluster.local` (and the search
 *   path's short forms) from the API server, as kube-dns does in a cluster. The namespace's resolv.conf names it.
 *
 * Why these two rather than a hosts file or rewriting the URLs the program writes: they read Services and
 * EndpointSlices from the API server the way a real cluster does, so a selector that matches no pod, a wrong
 * targetPort or a port name typo fails here as it fails in production.
 */
export const NETWORKING_PARTS = ["kube-proxy", "coredns"] as const;

/** The node kube-proxy speaks for; every endpoint counts as local or not the same for all of them. */
const PROXY_NODE = "cpu-0";

export function startNetworking(): void {
  startProcess("kube-proxy", path.join(TOOLS_BIN, "kube-proxy"), [
    `--kubeconfig=${KUBECONFIG}`,
    "--proxy-mode=iptables",
    `--hostname-override=${PROXY_NODE}`,
    `--cluster-cidr=${ADDRESSES.podRange}`,
    // 0 leaves the namespace's conntrack sysctls alone (kube-proxy cannot set the host-wide ones in here).
    "--conntrack-max-per-core=0",
    "--conntrack-tcp-timeout-established=0",
    "--conntrack-tcp-timeout-close-wait=0",
    "--iptables-min-sync-period=0s",
    "--metrics-bind-address=127.0.0.1:10249",
    "--healthz-bind-address=127.0.0.1:10256",
    "--profiling=false",
  ]);
  const corefile = path.join(CLUSTER_DIR, "Corefile");
  writeFileSync(
    corefile,
    [
      ".:53 {",
      `  bind ${ADDRESSES.clusterDns}`,
      "  errors",
      "  kubernetes cluster.local in-addr.arpa ip6.arpa {",
      `    kubeconfig ${KUBECONFIG} sonic-local`,
      "    pods insecure",
      "    ttl 5",
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  startProcess("coredns", path.join(TOOLS_BIN, "coredns"), ["-conf", corefile]);
}

/** Waits until CoreDNS answers for the `kubernetes` Service, and kube-proxy has written its rules. */
export async function waitForNetworking(timeoutMs = 60_000): Promise<void> {
  const resolver = new Resolver({ timeout: 1000, tries: 1 });
  resolver.setServers([ADDRESSES.clusterDns]);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const [address] = await resolver.resolve4("kubernetes.default.svc.cluster.local");
      if (address) {
        const proxy = await fetch("http://127.0.0.1:10256/healthz");
        if (proxy.ok) return;
      }
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline)
      throw new Error(
        `CoreDNS (${ADDRESSES.clusterDns}:53) or kube-proxy (healthz 127.0.0.1:10256) not ready after ${timeoutMs / 1000} s: see .cluster/logs/coredns.log and kube-proxy.log`,
      );
    await new Promise((r) => setTimeout(r, 500));
  }
}
