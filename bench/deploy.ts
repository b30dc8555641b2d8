import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import { kubectl } from "../cluster/kubectl";
import { CHART_PINS } from "../components/shared/chart-pins";
import { insideNamespace } from "../cluster/netns";
import { ADDRESSES, KUBECONFIG, ROOT, toolsPath } from "../cluster/paths";

/**
 * `npm run bench:deploy [-- --cold-build]`: what a deploy costs on the local control plane, side by side in
 * one run on one cluster: `helm install` of kube-prometheus-stack alone (the floor: what installing the
 * monitoring by hand costs), then the dev and the prod stack, each up from empty (the Prometheus Operator
 * CRDs deleted between runs, so none starts with another's), a no-change preview (beside its Helm
 * counterpart, `helm upgrade --dry-run=server`), and destroy. Prints each figure and its ratio to Helm's.
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
  floor?: number;
  note?: string;
}

/** Runs a command, echoing nothing; its wall seconds, or an error with its output's tail. */
function timed(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
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
      if (status === 0) resolve({ seconds, output });
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

async function stackRows(stack: string, floor: { up: number; preview: number }): Promise<Row[]> {
  const up = await deploy(stack, "up");
  const preview = await deploy(stack, "preview", "--expect-no-changes");
  const destroy = await deploy(stack, "destroy");
  deleteMonitoringCrds();
  return [
    {
      step: `${stack}: up from empty`,
      seconds: up.seconds,
      floor: floor.up,
      note: `${resourcesOf(up.output)} resources`,
    },
    { step: `${stack}: no-change preview`, seconds: preview.seconds, floor: floor.preview },
    { step: `${stack}: destroy`, seconds: destroy.seconds },
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
  const floor = { up: install.seconds, preview: dryRun.seconds };
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
    { step: "helm uninstall of it (--wait)", seconds: uninstall.seconds },
    ...(await stackRows("dev", floor)),
    ...(await stackRows("prod", floor)),
  ];
  process.stdout.write("\n| step | seconds | ratio to Helm's | |\n| --- | ---: | ---: | --- |\n");
  for (const r of rows)
    process.stdout.write(
      `| ${r.step} | ${r.seconds.toFixed(1)} | ${r.floor ? (r.seconds / r.floor).toFixed(2) : ""} | ${r.note ?? ""} |\n`,
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
