import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { ClusterFlavor, PROVIDER_STORAGE_CLASSES } from "../components/monitoring/cluster-flavor";
import { DEFAULT_STORAGE_CLASS } from "./claim-binder";
import { prepareChartRepository } from "./chart-server";
import { applyObjects, kubectl } from "./kubectl";
import { KwokNode, kwokNodes, nodeManifest } from "./nodes";
import { ADDRESSES, CLUSTER_DIR, KUBECONFIG, KWOK_STAGES, ROOT, TOOLS_BIN } from "./paths";
import { NETWORKING_PARTS, startNetworking, waitForNetworking } from "./networking";
import { ensurePki, Pki } from "./pki";
import { isAlive, logTail, recordedProcesses, startProcess, stopProcesses } from "./processes";

/** The parts in start order; `down` stops them in reverse. */
export const PARTS = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kwok",
  "agent",
  ...NETWORKING_PARTS,
] as const;

const REQUIRED_TOOLS = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kubectl",
  "kwok",
  "helm",
  "kube-proxy",
  "coredns",
];

function progress(line: string): void {
  process.stdout.write(`cluster: ${line}\n`);
}

async function waitFor(
  what: string,
  part: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pid = recordedProcesses().get(part);
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    if (pid !== undefined && !isAlive(pid))
      throw new Error(`${part} exited while waiting for ${what}:\n${logTail(part)}`);
    if (Date.now() > deadline)
      throw new Error(`${what} not ready after ${timeoutMs / 1000} s; ${part}'s log ends:\n${logTail(part)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function writeKubeconfig(pki: Pki): void {
  writeFileSync(
    KUBECONFIG,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: sonic-local",
      "  cluster:",
      `    server: https://127.0.0.1:${ADDRESSES.apiserverPort}`,
      `    certificate-authority: ${pki.caCert}`,
      "users:",
      "- name: sonic-local-admin",
      "  user:",
      `    client-certificate: ${pki.adminCert}`,
      `    client-key: ${pki.adminKey}`,
      "contexts:",
      "- name: sonic-local",
      "  context: { cluster: sonic-local, user: sonic-local-admin }",
      "current-context: sonic-local",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
}

/**
 * kwok's stages: upstream's node and pod lifecycles from the pinned module, and one of ours. Without node
 * leases a node flaps NotReady; the node controller then marks its pods not Ready, and upstream's pod-ready
 * stage only acts on Pending pods. Ours brings a Running pod that lost Ready back to Ready.
 */
function kwokConfig(): string {
  const upstream = readdirSync(KWOK_STAGES)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => readFileSync(path.join(KWOK_STAGES, f), "utf8").trim());
  const readyAgain = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: sonic-pod-ready-again
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values: ['Running']
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values: ['True']
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady`;
  return [...upstream, readyAgain].join("\n---\n") + "\n";
}

function missingTools(more: string[]): string[] {
  return [...REQUIRED_TOOLS, ...more].filter((tool) => {
    try {
      readFileSync(path.join(TOOLS_BIN, tool), { flag: "r" }).subarray(0, 0);
      return false;
    } catch {
      return true;
    }
  });
}

/** The optional part that `up --controllers` adds: the pod runtime (cluster/pods/pod-runtime.ts). */
export const POD_RUNTIME = "pod-runtime";

/**
 * The binaries the pod runtime runs for the charts' pods; `up --controllers` refuses to start without them,
 * so that a half-built tool set never looks like a controller that silently did nothing.
 */
const CONTROLLER_TOOLS = [
  "prometheus-operator",
  "prometheus-config-reloader",
  "prometheus",
  "alertmanager",
  "prometheus-adapter",
  "keda-operator",
  "keda-adapter",
  "keda-webhooks",
  "kube-state-metrics",
  "redis_exporter",
];

/** Starts every part inside the namespace (this process must already run there). */
export async function up(flavor: ClusterFlavor, options: { controllers?: boolean } = {}): Promise<void> {
  refuseToStart(options.controllers ? CONTROLLER_TOOLS : []);
  const started = Date.now();
  const pki = prepareClusterDir(flavor);
  await startEtcd();
  await startApiServer(pki);
  startControllers(pki);
  const nodes = registerNodes(flavor);
  startKwok();
  progress("starting kube-proxy (iptables) and CoreDNS: Service IPs and names inside the namespace");
  startNetworking();
  await startAgent();
  await waitForReadiness(nodes);
  await waitForNetworking();
  if (options.controllers) startPodRuntime();
  progress(
    `up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${nodes.length} ${flavor} nodes (${nodes.filter((n) => n.capacity["nvidia.com/gpu"]).length} with GPUs)`,
  );
}

/** Throws where a tool is missing or a cluster of this checkout already runs. */
function refuseToStart(more: string[]): void {
  const missing = missingTools(more);
  if (missing.length > 0)
    throw new Error(
      `missing in .tools/bin: ${missing.join(", ")}. Run 'npm run setup' and 'npm run setup:cluster' first.`,
    );
  if ([...recordedProcesses().values()].some(isAlive))
    throw new Error(
      "a cluster of this checkout is already running: 'npm run cluster -- status', or 'down' first",
    );
}

/** The cluster directory: PKI, kubeconfig, and the flavor that `status` prints. */
function prepareClusterDir(flavor: ClusterFlavor): Pki {
  mkdirSync(CLUSTER_DIR, { recursive: true });
  const pki = ensurePki();
  writeKubeconfig(pki);
  writeFileSync(path.join(CLUSTER_DIR, "flavor"), `${flavor}\n`);
  return pki;
}

async function startEtcd(): Promise<void> {
  progress("starting etcd");
  startProcess("etcd", path.join(TOOLS_BIN, "etcd"), [
    `--data-dir=${path.join(CLUSTER_DIR, "etcd")}`,
    `--listen-client-urls=${ADDRESSES.etcdClient}`,
    `--advertise-client-urls=${ADDRESSES.etcdClient}`,
    `--listen-peer-urls=${ADDRESSES.etcdPeer}`,
    "--log-level=warn",
    "--quota-backend-bytes=4294967296",
  ]);
  await waitFor("etcd", "etcd", async () => (await fetch(`${ADDRESSES.etcdClient}/health`)).ok);
}

async function startApiServer(pki: Pki): Promise<void> {
  progress(
    "starting kube-apiserver (default admission plugins, PodSecurity among them; aggregation layer on)",
  );
  startProcess("kube-apiserver", path.join(TOOLS_BIN, "kube-apiserver"), [
    `--etcd-servers=${ADDRESSES.etcdClient}`,
    // Loopback only: the pod range is local too, and a metrics server or webhook of a pod (KEDA's on 6443)
    // binds its own pod IP on the same port, which a wildcard listener would take.
    "--bind-address=127.0.0.1",
    `--secure-port=${ADDRESSES.apiserverPort}`,
    `--advertise-address=${ADDRESSES.apiserverAdvertise}`,
    `--service-cluster-ip-range=${ADDRESSES.serviceCidr}`,
    "--authorization-mode=Node,RBAC",
    "--allow-privileged=true",
    `--client-ca-file=${pki.caCert}`,
    `--tls-cert-file=${pki.apiserverCert}`,
    `--tls-private-key-file=${pki.apiserverKey}`,
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    // The aggregation layer (APIServices of KEDA and prometheus-adapter).
    `--requestheader-client-ca-file=${pki.frontProxyCaCert}`,
    "--requestheader-allowed-names=front-proxy-client",
    "--requestheader-extra-headers-prefix=X-Remote-Extra-",
    "--requestheader-group-headers=X-Remote-Group",
    "--requestheader-username-headers=X-Remote-User",
    `--proxy-client-cert-file=${pki.frontProxyClientCert}`,
    `--proxy-client-key-file=${pki.frontProxyClientKey}`,
    "--enable-aggregator-routing=true",
    "--profiling=false",
  ]);
  await waitFor(
    "the API server",
    "kube-apiserver",
    () => kubectl(["get", "--raw", "/readyz"]).trim() === "ok",
  );
}

function startControllers(pki: Pki): void {
  progress("starting kube-controller-manager and kube-scheduler");
  startProcess("kube-controller-manager", path.join(TOOLS_BIN, "kube-controller-manager"), [
    `--kubeconfig=${KUBECONFIG}`,
    `--authentication-kubeconfig=${KUBECONFIG}`,
    `--authorization-kubeconfig=${KUBECONFIG}`,
    "--bind-address=127.0.0.1",
    "--leader-elect=false",
    `--service-account-private-key-file=${pki.serviceAccountKey}`,
    `--root-ca-file=${pki.caCert}`,
    `--cluster-signing-cert-file=${pki.caCert}`,
    `--cluster-signing-key-file=${pki.caKey}`,
    `--service-cluster-ip-range=${ADDRESSES.serviceCidr}`,
    "--use-service-account-credentials=true",
    "--profiling=false",
  ]);
  startProcess("kube-scheduler", path.join(TOOLS_BIN, "kube-scheduler"), [
    `--kubeconfig=${KUBECONFIG}`,
    `--authentication-kubeconfig=${KUBECONFIG}`,
    `--authorization-kubeconfig=${KUBECONFIG}`,
    "--bind-address=127.0.0.1",
    "--leader-elect=false",
    "--profiling=false",
  ]);
}

/** A StorageClass whose claims the local claim binder serves (cluster/claim-binder.ts). */
function storageClass(name: string, isDefault: boolean): object {
  return {
    apiVersion: "storage.k8s.io/v1",
    kind: "StorageClass",
    metadata: {
      name,
      ...(isDefault ? { annotations: { "storageclass.kubernetes.io/is-default-class": "true" } } : {}),
    },
    provisioner: "sonic-observability.dev/claim-binder",
    reclaimPolicy: "Delete",
    volumeBindingMode: "Immediate",
    allowVolumeExpansion: true,
  };
}

/**
 * The default StorageClass, the managed providers' own classes, and the flavor's nodes, their status patched
 * in (kwok keeps it). A stack may name its provider's class (the fleet's `premium-rwo`): the class must exist,
 * else the scheduler finds a claim of an unknown class and leaves the pod Pending until its next full retry,
 * minutes later, even once the binder has bound the claim.
 */
function registerNodes(flavor: ClusterFlavor): KwokNode[] {
  progress(
    `StorageClasses (${DEFAULT_STORAGE_CLASS} the default, and the providers' own) and the ${flavor} nodes`,
  );
  const providers = [...new Set(Object.values(PROVIDER_STORAGE_CLASSES).flat())].filter(
    (name) => name !== DEFAULT_STORAGE_CLASS,
  );
  applyObjects([
    storageClass(DEFAULT_STORAGE_CLASS, true),
    ...providers.map((name) => storageClass(name, false)),
  ]);
  const nodes = kwokNodes(flavor);
  for (const node of nodes) {
    const { object, status } = nodeManifest(node);
    applyObjects([object]);
    kubectl([
      "patch",
      "node",
      node.name,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify(status),
    ]);
  }
  return nodes;
}

function startKwok(): void {
  progress("starting kwok (node leases, kwok's own stages and ours)");
  const kwokConfigFile = path.join(CLUSTER_DIR, "kwok.yaml");
  writeFileSync(kwokConfigFile, kwokConfig());
  startProcess("kwok", path.join(TOOLS_BIN, "kwok"), [
    `--kubeconfig=${KUBECONFIG}`,
    `--config=${kwokConfigFile}`,
    "--manage-all-nodes=false",
    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
    `--cidr=${ADDRESSES.podCidr}`,
    "--node-lease-duration-seconds=40",
    "--server-address=127.0.0.1:10247",
  ]);
}

/** The agent: the chart repository of the pinned archives and the claim binder. */
async function startAgent(): Promise<void> {
  progress("chart repository of the pinned archives and the claim binder");
  const archives = prepareChartRepository();
  startProcess(
    "agent",
    process.execPath,
    ["-r", require.resolve("ts-node/register/transpile-only"), path.join(__dirname, "agent.ts")],
    {
      TS_NODE_PROJECT: path.join(ROOT, "tsconfig.json"),
    },
  );
  await waitFor(
    "the chart repository",
    "agent",
    async () => (await fetch(`${ADDRESSES.chartServer}/index.yaml`)).ok,
  );
  progress(`serving ${archives.join(", ")} at ${ADDRESSES.chartServer}`);
}

/**
 * The pod runtime: processes for the pods whose images it knows, so that the real operator, Prometheus,
 * Alertmanager, prometheus-adapter, KEDA and kube-state-metrics act on what a stack deploys.
 */
function startPodRuntime(): void {
  progress(
    "starting the pod runtime: a process per container of the pods it can run (cluster/pods/images.ts)",
  );
  startProcess(
    POD_RUNTIME,
    process.execPath,
    [
      "-r",
      require.resolve("ts-node/register/transpile-only"),
      path.join(__dirname, "pods", "pod-runtime.ts"),
    ],
    { TS_NODE_PROJECT: path.join(ROOT, "tsconfig.json") },
  );
}

/** Waits for every node to turn Ready and for the default ServiceAccount (the controller-manager makes it). */
async function waitForReadiness(nodes: KwokNode[]): Promise<void> {
  await waitFor("the nodes to turn Ready", "kwok", () => {
    const ready = kubectl([
      "get",
      "nodes",
      "-o",
      'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
    ])
      .trim()
      .split("\n");
    return ready.length === nodes.length && ready.every((s) => s === "True");
  });
  await waitFor(
    "the default ServiceAccount",
    "kube-controller-manager",
    () => kubectl(["get", "serviceaccount", "default", "-o", "name"]).trim() !== "",
  );
}

/** Stops every part this checkout started, clients first, etcd last. */
export async function down(): Promise<string[]> {
  // The pod runtime first: its processes talk to the API server as they stop.
  return stopProcesses([POD_RUNTIME, ...[...PARTS].reverse()], 15_000);
}

/** Each part: running or not. */
export function partsStatus(): { part: string; pid?: number; running: boolean }[] {
  const recorded = recordedProcesses();
  return [...PARTS, ...(recorded.has(POD_RUNTIME) ? [POD_RUNTIME] : [])].map((part) => {
    const pid = recorded.get(part);
    return { part, pid, running: pid !== undefined && isAlive(pid) };
  });
}
