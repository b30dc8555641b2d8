import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import { CLUSTER_FLAVORS, ClusterFlavor } from "../components/monitoring/cluster-flavor";
import { down, partsStatus, up } from "./control-plane";
import { kubectl } from "./kubectl";
import { deleteNamespace, ensureNamespace, execInNamespace, insideNamespace, namespaceExists } from "./netns";
import { CLUSTER_DIR, KUBECONFIG, LOG_DIR, NETNS, ROOT } from "./paths";
import { STATUS_FILE } from "./pods/pod-runtime";

/**
 * npm run cluster -- up [--flavor eks|gke|aks|kubeadm|generic] [--controllers] | down | status | exec -- <command...>
 *
 * A local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok nodes, a claim
 * binder, a chart repository, kube-proxy and CoreDNS) inside a network namespace of its own. `--controllers`
 * adds the pod runtime: the real operator, Prometheus, Alertmanager, prometheus-adapter, KEDA,
 * kube-state-metrics and Sonic's own programs run as processes for the pods a stack deploys. `exec` runs any command in that
 * namespace with KUBECONFIG set: kubectl, helm, pulumi, npm run deploy, the live tests.
 */
const USAGE =
  "usage: npm run cluster -- up [--flavor eks|gke|aks|kubeadm|generic] [--controllers] | down | status | exec -- <command...>";

function flavorOf(args: string[]): ClusterFlavor {
  const at = args.indexOf("--flavor");
  const value = at >= 0 ? args[at + 1] : "generic";
  if (!(CLUSTER_FLAVORS as readonly string[]).includes(value ?? ""))
    throw new Error(`'--flavor' (${JSON.stringify(value)}) must be one of ${CLUSTER_FLAVORS.join(", ")}`);
  return value as ClusterFlavor;
}

/** Re-runs this command inside the namespace: every process the cluster starts inherits it. */
function reexecInside(args: string[]): number {
  const result = spawnSync(
    "ip",
    [
      "netns",
      "exec",
      NETNS,
      process.execPath,
      "-r",
      require.resolve("ts-node/register/transpile-only"),
      __filename,
      ...args,
    ],
    { stdio: "inherit", env: process.env },
  );
  return result.status ?? 1;
}

/** The pod runtime's account: each pod's processes, and what it does not run. */
function printPods(): void {
  const pods = JSON.parse(readFileSync(STATUS_FILE, "utf8")) as {
    pod: string;
    phase: string;
    waitingFor?: string;
    containers: { name: string; pid?: number; restarts: number }[];
    notRun: string[];
  }[];
  for (const p of pods) {
    const containers = p.containers
      .map(
        (c) =>
          `${c.name}${c.pid ? ` (pid ${c.pid}` : " (not running"}${c.restarts ? `, ${c.restarts} restarts` : ""})`,
      )
      .join(", ");
    process.stdout.write(
      `  ${p.pod.padEnd(60)} ${p.phase}${p.waitingFor ? `, waiting: ${p.waitingFor}` : ""}: ${containers}` +
        `${p.notRun.length ? `; not run: ${p.notRun.join(", ")}` : ""}\n`,
    );
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "up": {
      const flavor = flavorOf(rest);
      if (!insideNamespace()) {
        ensureNamespace();
        const status = reexecInside(argv);
        if (status !== 0) {
          process.stderr.write("cluster: up failed; stopping what it started (logs kept in .cluster/logs)\n");
          await down();
        }
        return status;
      }
      try {
        await up(flavor, { controllers: rest.includes("--controllers") });
      } catch (error) {
        process.stderr.write(`cluster: ${(error as Error).message}\n`);
        return 1;
      }
      process.stdout.write(
        `cluster: KUBECONFIG=${path.relative(ROOT, KUBECONFIG)}; run clients with 'npm run cluster -- exec -- <command>'\n`,
      );
      return 0;
    }
    case "down": {
      const stopped = await down();
      deleteNamespace();
      // The cluster's data and the Pulumi state of its stacks go with it; logs stay for a post-mortem.
      if (existsSync(CLUSTER_DIR))
        for (const entry of readdirSync(CLUSTER_DIR))
          if (path.join(CLUSTER_DIR, entry) !== LOG_DIR)
            rmSync(path.join(CLUSTER_DIR, entry), { recursive: true, force: true });
      process.stdout.write(
        `cluster: stopped ${stopped.length ? stopped.join(", ") : "nothing (none was running)"}; namespace ${NETNS} removed\n`,
      );
      return 0;
    }
    case "status": {
      const parts = partsStatus();
      for (const p of parts)
        process.stdout.write(`${p.part.padEnd(24)} ${p.running ? `running (pid ${p.pid})` : "stopped"}\n`);
      process.stdout.write(`${"network namespace".padEnd(24)} ${namespaceExists() ? NETNS : "absent"}\n`);
      if (existsSync(STATUS_FILE)) printPods();
      const flavorFile = path.join(CLUSTER_DIR, "flavor");
      if (existsSync(flavorFile))
        process.stdout.write(`${"flavor".padEnd(24)} ${readFileSync(flavorFile, "utf8").trim()}\n`);
      if (parts.every((p) => p.running)) {
        if (!insideNamespace()) return execInNamespace("kubectl", ["get", "nodes", "-o", "wide"]);
        process.stdout.write(kubectl(["get", "nodes", "-o", "wide"]));
      }
      return parts.every((p) => p.running) ? 0 : 1;
    }
    case "exec": {
      const command = rest[0] === "--" ? rest.slice(1) : rest;
      if (command.length === 0) throw new Error(`'exec' needs a command. ${USAGE}`);
      return execInNamespace(command[0], command.slice(1));
    }
    default:
      process.stderr.write(`${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (error: unknown) => {
    process.stderr.write(`cluster: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
