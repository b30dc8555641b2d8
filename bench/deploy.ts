import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import { openStack } from "../cluster/deploy";
import { kubectl } from "../cluster/kubectl";
import { CHART_PINS } from "../components/shared/chart-pins";
import { insideNamespace } from "../cluster/netns";
import { ADDRESSES, CLUSTER_DIR, KUBECONFIG, ROOT, toolsPath } from "../cluster/paths";
import { FloorWork, floorWorkOf, writeFloorFiles } from "./same-work-floor";

/**
 * `npm run bench:deploy [-- --cold-build]`: what a deploy costs on the local control plane, side by side in
 * one run on one cluster: `helm install` of kube-prometheus-stack alone (what installing the monitoring by
 * hand costs), then the dev and the prod stack, each up from empty (the Prometheus Operator CRDs deleted
 * between runs, so none starts with another's), a no-change preview, and destroy. Each stack's figures
 * stand beside two floors: kube-prometheus-stack alone, and the same work by hand (bench/same-work-floor.ts:
 * `helm install --wait` of every chart the stack installs with the values it passed, plus `kubectl apply
 * --server-side` of its other objects, waited for; `helm upgrade --dry-run=server` and `kubectl diff
 * --server-side` for the preview; `helm uninstall --wait` and `kubectl delete --wait`, namespaces included).
 *
 * Also prints the cold build of the tools as `npm run setup:cluster` recorded it (seconds, when, the load then);
 * `--cold-build` measures one now, into empty Go and tool caches (30 min to 2 h on two cores).
 */
const node = [process.execPath, "-r", require.resolve("ts-node/register/transpile-only")];
const CLI = path.join(ROOT, "cluster", "cli.ts");
const CHARTS = ["--config", `charts.repository=${ADDRESSES.chartServer}`];
const KPS = {
  release: "kps-alone",
  namespace: "bench-kps",
  chart: CHART_PINS.kubePrometheusStack.chart,
  version: CHART_PINS.kubePrometheusStack.version,
};

interface Row {
  step: string;
  seconds: number;
  /** kube-prometheus-stack alone, by Helm. */
  floor?: number;
  /** The same work by hand: every chart by Helm, every other object by kubectl. */
  same?: number;
  note?: string;
}

/** Runs a command, echoing nothing; its wall seconds, or an error with its output's tail. */
function timed(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  okStatuses: number[] = [0],
): Promise<{ seconds: number; output: string }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("close", (status) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (okStatuses.includes(status ?? -1)) resolve({ seconds, output });
      else reject(new Error(`${argv.slice(0, 6).join(" ")} … failed (${status}):\n${output.slice(-3000)}`));
    });
  });
}

const helmEnv = () => ({ ...process.env, PATH: toolsPath(), KUBECONFIG });
const helm = (...args: string[]) => timed(["helm", ...args], helmEnv());
const deploy = (stack: string, action: string, ...extra: string[]) =>
  timed([
    ...node,
    path.join(ROOT, "cluster", "deploy.ts"),
    stack,
    action,
    "--stand-in-secrets",
    ...CHARTS,
    ...extra,
  ]);

/** The resource count of an up, from the summary line npm run deploy prints last. */
function resourcesOf(output: string): number {
  const line = output
    .trim()
    .split("\n")
    .reverse()
    .find((l) => l.startsWith("deploy: "));
  const summary = line ? (JSON.parse(line.slice(line.indexOf("{"))) as Record<string, number>) : {};
  return Object.values(summary).reduce((a, b) => a + b, 0);
}

/** Back to empty: the Prometheus Operator CRDs that Helm keeps after an uninstall or destroy go too. */
function deleteMonitoringCrds(): void {
  const crds = kubectl(["get", "customresourcedefinitions", "-o", "name"])
    .split("\n")
    .filter((n) => n.endsWith(".monitoring.coreos.com"));
  if (crds.length > 0) kubectl(["delete", "--wait=true", ...crds]);
}

/** The stack's resources as its state holds them, secrets decrypted (the Automation API's export). */
async function stateResources(stack: string): Promise<{ type: string; outputs?: Record<string, unknown> }[]> {
  const opened = await openStack({
    stack,
    action: "preview",
    standInSecrets: true,
    config: { "charts.repository": ADDRESSES.chartServer },
  });
  return (
    (
      (await opened.exportStack()).deployment as {
        resources?: { type: string; outputs?: Record<string, unknown> }[];
      }
    ).resources ?? []
  );
}

const seconds = (started: bigint) => Number(process.hrtime.bigint() - started) / 1e9;

/** Up, no-change check and removal of the same work by hand, each timed (bench/same-work-floor.ts). */
async function sameWork(
  stack: string,
  work: FloorWork,
): Promise<{ up: number; preview: number; destroy: number }> {
  const files = writeFloorFiles(work, path.join(CLUSTER_DIR, "bench-floor", stack));
  const kubectlT = (args: string[], ok = [0]) => timed(["kubectl", ...args], helmEnv(), ok);
  const release = (r: FloorWork["releases"][number]) => [
    r.name,
    r.chart,
    "--repo",
    r.repo,
    "--version",
    r.version,
    "-n",
    r.namespace,
    "-f",
    files.values.get(`${r.namespace}/${r.name}`)!,
  ];
  const workloads = work.objects
    .map((o) => o as { kind: string; metadata: { name: string; namespace?: string } })
    .filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet");

  let started = process.hrtime.bigint();
  if (work.namespaces.length > 0) await kubectlT(["apply", "--server-side", "-f", files.namespaces]);
  // kube-prometheus-stack first: the other charts' ServiceMonitors need its CRDs. Then the others side by
  // side; the program's own objects need every chart's CRDs, so they follow.
  const install = (r: FloorWork["releases"][number]) =>
    helm("install", ...release(r), "--wait", "--timeout", "15m");
  const first = work.releases.filter((r) => r.chart === CHART_PINS.kubePrometheusStack.chart);
  await Promise.all(first.map(install));
  await Promise.all(work.releases.filter((r) => !first.includes(r)).map(install));
  if (work.objects.length > 0)
    await kubectlT(["apply", "--server-side", "--force-conflicts", "-f", files.objects]);
  await Promise.all(
    workloads.map((w) =>
      kubectlT([
        "rollout",
        "status",
        `${w.kind.toLowerCase()}/${w.metadata.name}`,
        "-n",
        w.metadata.namespace ?? "default",
        "--timeout=10m",
      ]),
    ),
  );
  const up = seconds(started);

  started = process.hrtime.bigint();
  await Promise.all([
    ...work.releases.map((r) => helm("upgrade", ...release(r), "--dry-run=server")),
    // `kubectl diff` exits 1 when it finds a difference: a figure all the same.
    ...(work.objects.length > 0
      ? [kubectlT(["diff", "--server-side", "--force-conflicts", "-f", files.objects], [0, 1])]
      : []),
  ]);
  const preview = seconds(started);

  started = process.hrtime.bigint();
  if (work.objects.length > 0)
    await kubectlT(["delete", "--wait", "--ignore-not-found", "-f", files.objects]);
  await Promise.all(work.releases.map((r) => helm("uninstall", r.name, "-n", r.namespace, "--wait")));
  if (work.namespaces.length > 0)
    await kubectlT(["delete", "--wait", "--ignore-not-found", "-f", files.namespaces]);
  const destroy = seconds(started);
  return { up, preview, destroy };
}

async function stackRows(
  stack: string,
  floor: { up: number; preview: number; destroy: number },
): Promise<Row[]> {
  const up = await deploy(stack, "up");
  const work = floorWorkOf(await stateResources(stack));
  const preview = await deploy(stack, "preview", "--expect-no-changes");
  const destroy = await deploy(stack, "destroy");
  deleteMonitoringCrds();
  const same = await sameWork(stack, work);
  deleteMonitoringCrds();
  const what = `${work.releases.length} charts + ${work.namespaces.length + work.objects.length} objects`;
  return [
    { step: `${stack}: same work by hand, up (${what})`, seconds: same.up },
    { step: `${stack}: same work by hand, no-change check`, seconds: same.preview },
    { step: `${stack}: same work by hand, removal`, seconds: same.destroy },
    {
      step: `${stack}: up from empty`,
      seconds: up.seconds,
      floor: floor.up,
      same: same.up,
      note: `${resourcesOf(up.output)} resources`,
    },
    {
      step: `${stack}: no-change preview`,
      seconds: preview.seconds,
      floor: floor.preview,
      same: same.preview,
    },
    { step: `${stack}: destroy`, seconds: destroy.seconds, floor: floor.destroy, same: same.destroy },
  ];
}

async function inside(): Promise<void> {
  const repo = ["--repo", ADDRESSES.chartServer, "--version", KPS.version, "-n", KPS.namespace];
  const install = await helm(
    "install",
    KPS.release,
    KPS.chart,
    ...repo,
    "--create-namespace",
    "--wait",
    "--timeout",
    "15m",
  );
  const dryRun = await helm("upgrade", KPS.release, KPS.chart, ...repo, "--reuse-values", "--dry-run=server");
  const uninstall = await helm("uninstall", KPS.release, "-n", KPS.namespace, "--wait");
  kubectl(["delete", "namespace", KPS.namespace, "--wait=true"]);
  deleteMonitoringCrds();
  const floor = { up: install.seconds, preview: dryRun.seconds, destroy: uninstall.seconds };
  const rows: Row[] = [
    {
      step: "helm install kube-prometheus-stack alone (--wait)",
      seconds: install.seconds,
      floor: install.seconds,
    },
    {
      step: "helm upgrade --dry-run=server of it (no change)",
      seconds: dryRun.seconds,
      floor: dryRun.seconds,
    },
    { step: "helm uninstall of it (--wait)", seconds: uninstall.seconds, floor: uninstall.seconds },
    ...(await stackRows("dev", floor)),
    ...(await stackRows("prod", floor)),
  ];
  const ratio = (r: Row, to?: number) => (to ? `${(r.seconds / to).toFixed(2)}×` : "");
  process.stdout.write(
    "\n| step | seconds | ratio to kube-prometheus-stack alone | ratio to the same work by hand | |\n| --- | ---: | ---: | ---: | --- |\n",
  );
  for (const r of rows)
    process.stdout.write(
      `| ${r.step} | ${r.seconds.toFixed(1)} | ${ratio(r, r.floor)} | ${ratio(r, r.same)} | ${r.note ?? ""} |\n`,
    );
}

/** The builds `npm run setup:cluster` recorded for the tools in .tools/bin: tool, seconds, when, load. */
function recordedBuilds(): string[] {
  const cache =
    process.env.SONIC_TOOLS_CACHE ?? path.join(homedir(), ".cache", "sonic-observability", "cluster-tools");
  const bin = path.join(ROOT, ".tools", "bin");
  if (!existsSync(bin)) return ["no tools in .tools/bin: run npm run setup:cluster"];
  return readdirSync(bin, { withFileTypes: true })
    .filter((f) => f.name.startsWith(".") && f.name.endsWith(".key"))
    .map((f) => {
      const tool = f.name.slice(1, -".key".length);
      const record = path.join(
        cache,
        `${tool}-${readFileSync(path.join(bin, f.name), "utf8").trim()}`,
        ".build-seconds",
      );
      if (!existsSync(record)) return `${tool}: built before builds were recorded`;
      const [seconds, when, load] = readFileSync(record, "utf8").trim().split(" ");
      return `${tool}: ${seconds} s (${when}, load ${load})`;
    });
}

function coldBuild(): void {
  const scratch = path.join(ROOT, ".tools", "cold-build");
  const env = {
    ...process.env,
    SONIC_TOOLS_CACHE: path.join(scratch, "tools"),
    GOCACHE: path.join(scratch, "go-build"),
    GOMODCACHE: path.join(scratch, "go-mod"),
  };
  const started = Date.now();
  const result = spawnSync("bash", [path.join(ROOT, "cluster", "setup.sh")], {
    cwd: ROOT,
    env,
    stdio: "inherit",
  });
  process.stdout.write(
    `bench:deploy: cold build of every tool: ${((Date.now() - started) / 1000).toFixed(0)} s (status ${result.status})\n`,
  );
  spawnSync("chmod", ["-R", "u+w", scratch]);
  spawnSync("rm", ["-rf", scratch]);
}

if (insideNamespace()) {
  inside().catch((error) => {
    process.stderr.write(`bench:deploy: ${(error as Error).message}\n`);
    process.exit(1);
  });
} else {
  if (process.argv.includes("--cold-build")) coldBuild();
  process.stdout.write(`bench:deploy: the tools' builds as recorded:\n  ${recordedBuilds().join("\n  ")}\n`);
  const run = (...args: string[]) =>
    spawnSync(node[0], [...node.slice(1), CLI, ...args], { cwd: ROOT, stdio: "inherit" }).status ?? 1;
  let status = run("up");
  if (status === 0) status = run("exec", "--", ...node, __filename);
  run("down");
  process.exit(status);
}
