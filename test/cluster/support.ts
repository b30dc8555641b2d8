import { spawn, spawnSync } from "node:child_process";
import * as path from "node:path";
import { engineEnv } from "../../cluster/deploy";
import { getItems, kubectl } from "../../cluster/kubectl";
import { ADDRESSES, CLUSTER_DIR, ROOT, TOOLS_BIN } from "../../cluster/paths";

/**
 * Helpers of the live deploy suite (npm run test:cluster). They run inside the cluster's network namespace:
 * test/cluster/run.ts starts the cluster and runs mocha there.
 */

/** The chart mirror every live deploy uses: the namespace's chart repository of the pinned archives. */
export const LOCAL_CHARTS = { "charts.repository": ADDRESSES.chartServer };

/** LOCAL_CHARTS as npm run deploy's `--config key=value` arguments. */
export const LOCAL_CHART_ARGS = Object.entries(LOCAL_CHARTS).flatMap(([k, v]) => ["--config", `${k}=${v}`]);

export interface DeployRun {
  status: number;
  output: string;
}

/**
 * One `npm run deploy` in a process of its own (Pulumi's runtime is global to a process, and each run
 * requires the program afresh). The engine's output is kept for the assertions and echoed when
 * SONIC_LIVE_VERBOSE is set.
 */
export function deployRun(args: string[]): Promise<DeployRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "-r",
        require.resolve("ts-node/register/transpile-only"),
        path.join(ROOT, "cluster", "deploy.ts"),
        ...args,
      ],
      {
        cwd: ROOT,
        env: process.env,
      },
    );
    let output = "";
    const take = (chunk: Buffer): void => {
      output += chunk.toString();
      if (process.env.SONIC_LIVE_VERBOSE) process.stdout.write(chunk);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", reject);
    child.on("close", (status) => resolve({ status: status ?? 1, output }));
  });
}

/** A deploy that must succeed; its output is in the error when it does not. */
export async function deployOk(args: string[]): Promise<string> {
  const run = await deployRun(args);
  if (run.status !== 0)
    throw new Error(
      `npm run deploy -- ${args.join(" ")} failed (${run.status}):\n${run.output.slice(-6000)}`,
    );
  return run.output;
}

export interface StateResource {
  urn: string;
  type: string;
  id?: string;
  outputs?: Record<string, unknown>;
}

/** The stack's resources as the engine recorded them (`pulumi stack export`). */
export function stackResources(stack: string): StateResource[] {
  const result = spawnSync(
    path.join(TOOLS_BIN, "pulumi"),
    ["stack", "export", "--stack", stack, "--cwd", path.join(CLUSTER_DIR, "stacks", stack)],
    {
      env: { ...process.env, ...engineEnv() },
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
    },
  );
  if (result.status !== 0) throw new Error(`pulumi stack export ${stack}: ${result.stderr}`);
  return (
    (JSON.parse(result.stdout) as { deployment: { resources?: StateResource[] } }).deployment.resources ?? []
  );
}

/** `kind.version.group` as kubectl takes it, from an object's apiVersion and kind. */
export function kubectlType(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  // A core kind is named alone: kubectl would read `Namespace.v1` as the kind Namespace of a group "v1".
  return group ? `${kind}.${version}.${group}` : kind;
}

/** The registered Kubernetes objects of a stack (not providers, not Helm releases) that the API does not hold. */
export function missingObjects(stack: string): string[] {
  const missing: string[] = [];
  for (const r of stackResources(stack)) {
    if (
      !r.type.startsWith("kubernetes:") ||
      r.type.startsWith("pulumi:providers") ||
      r.type.includes("helm.sh")
    )
      continue;
    const o = r.outputs as
      { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string } } | undefined;
    if (!o?.apiVersion || !o.kind || !o.metadata?.name) continue;
    const args = ["get", kubectlType(o.apiVersion, o.kind), o.metadata.name, "-o", "name"];
    if (o.metadata.namespace) args.push("-n", o.metadata.namespace);
    try {
      kubectl(args);
    } catch {
      missing.push(`${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`);
    }
  }
  return missing;
}

/** Helm releases of a stack with the status the provider recorded. */
export function helmReleases(stack: string): { name: string; namespace: string; status: string }[] {
  return stackResources(stack)
    .filter((r) => r.type === "kubernetes:helm.sh/v3:Release")
    .map((r) => {
      const status = (r.outputs?.status ?? {}) as { name?: string; namespace?: string; status?: string };
      return { name: status.name ?? "", namespace: status.namespace ?? "", status: status.status ?? "" };
    });
}

interface Workload {
  kind: string;
  metadata: { name: string; namespace: string };
  spec: { replicas?: number };
  status?: { readyReplicas?: number; replicas?: number };
}

/** Deployments and StatefulSets in the namespaces whose ready replicas are not what their spec asks. */
export function unreadyWorkloads(namespaces: string[]): string[] {
  const unready: string[] = [];
  for (const ns of namespaces)
    for (const w of getItems<Workload>(["deployments,statefulsets", "-n", ns])) {
      const want = w.spec.replicas ?? 1;
      const ready = w.status?.readyReplicas ?? 0;
      if (ready !== want) unready.push(`${w.kind} ${ns}/${w.metadata.name}: ${ready}/${want} ready`);
    }
  return unready;
}

/** Events that say a controller could not create a pod (PodSecurity refusals among them). */
export function failedCreateEvents(): string[] {
  return getItems<{ involvedObject: { kind: string; namespace?: string; name: string }; message: string }>([
    "events",
    "-A",
    "--field-selector",
    "reason=FailedCreate",
  ]).map(
    (e) => `${e.involvedObject.kind} ${e.involvedObject.namespace}/${e.involvedObject.name}: ${e.message}`,
  );
}

/** Waits until check() returns an empty list, or fails with the last list. */
export async function eventually(what: string, check: () => string[], timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string[] = [];
  while (Date.now() < deadline) {
    try {
      last = check();
    } catch (error) {
      last = [String(error)];
    }
    if (last.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  throw new Error(`${what} after ${timeoutMs / 1000} s:\n  ${last.join("\n  ")}`);
}

/** Namespaces in the cluster, with their phase. */
export function namespacePhases(): Map<string, string> {
  return new Map(
    getItems<{ metadata: { name: string }; status: { phase: string } }>(["namespaces"]).map((n) => [
      n.metadata.name,
      n.status.phase,
    ]),
  );
}

/** APIServices served by a Service (not the API server itself) and whether that Service still exists. */
export function danglingApiServices(): string[] {
  const dangling: string[] = [];
  for (const a of getItems<{
    metadata: { name: string };
    spec: { service?: { name: string; namespace: string } };
  }>(["apiservices"])) {
    if (!a.spec.service) continue;
    try {
      kubectl(["get", "service", a.spec.service.name, "-n", a.spec.service.namespace, "-o", "name"]);
    } catch {
      dangling.push(`${a.metadata.name} -> ${a.spec.service.namespace}/${a.spec.service.name}`);
    }
  }
  return dangling;
}

/** The API groups of the CustomResourceDefinitions in the cluster. */
export function crdGroups(): Set<string> {
  return new Set(
    getItems<{ spec: { group: string } }>(["customresourcedefinitions"]).map((c) => c.spec.group),
  );
}
