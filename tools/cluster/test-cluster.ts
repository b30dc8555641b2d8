import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { ROOT } from "./paths";

/**
 * npm run test:cluster: the live deploy suite. Starts this checkout's local cluster (npm run cluster -- up),
 * runs test/cluster/*.cluster.ts inside its network namespace, and always takes the cluster down after
 * (SONIC_KEEP_CLUSTER=1 keeps it for a post-mortem). Needs the tools of npm run setup:cluster.
 */
const node = [process.execPath, "-r", require.resolve("ts-node/register/transpile-only")];
const cli = path.join(__dirname, "cli.ts");

function run(argv: string[]): number {
  const result = spawnSync(argv[0], argv.slice(1), { stdio: "inherit", cwd: ROOT, env: process.env });
  return result.status ?? 1;
}

const specs = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ["test/cluster/*.cluster.ts"];
let status = run([...node, cli, "up", "--flavor", process.env.SONIC_CLUSTER_FLAVOR ?? "generic"]);
if (status === 0) {
  status = run([
    ...node,
    cli,
    "exec",
    "--",
    path.join(ROOT, "node_modules", ".bin", "mocha"),
    "--no-config",
    "-r",
    "ts-node/register/transpile-only",
    "--timeout",
    "1200000",
    "--reporter",
    "spec",
    ...specs,
  ]);
}
if (!process.env.SONIC_KEEP_CLUSTER) run([...node, cli, "down"]);
process.exit(status);
