import { execFileSync, spawnSync } from "node:child_process";
import * as path from "node:path";
import { REPO_ROOT } from "../testkit/stack-file";

/**
 * `npm run bench:start`: how long the Pulumi program takes to start, the ways Pulumi's nodejs runtime
 * can start it, side by side with a bare `require` of @pulumi/pulumi + @pulumi/kubernetes (the floor).
 * Each run loads the whole program and stops at config validation (no engine here: an empty config
 * fails before any resource), which is the start-up cost `pulumi preview` pays. Runs alternate
 * variants so machine load hits them alike; the median of each is printed with its ratio to the floor.
 */
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const node = process.execPath;
const VARIANTS: { name: string; args: string[] }[] = [
  {
    name: "bare require of @pulumi/pulumi + @pulumi/kubernetes",
    args: ["-e", 'require("@pulumi/pulumi"); require("@pulumi/kubernetes")'],
  },
  {
    name: "precompiled (npm run build; Pulumi.yaml typescript: false)",
    args: ["build/program/stacks/index.js"],
  },
  { name: "ts-node, transpile-only", args: ["-r", "ts-node/register/transpile-only", "stacks/index.ts"] },
  { name: "ts-node, type-checking (Pulumi's default)", args: ["-r", "ts-node/register", "stacks/index.ts"] },
];

function seconds(args: string[]): number {
  const start = process.hrtime.bigint();
  spawnSync(node, args, { cwd: REPO_ROOT, stdio: "ignore", env: { ...process.env, PULUMI_CONFIG: "{}" } });
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

execFileSync(
  node,
  [path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.program.json"],
  {
    cwd: REPO_ROOT,
    stdio: "inherit",
  },
);
const times = VARIANTS.map(() => [] as number[]);
for (let run = 0; run < RUNS; run++) VARIANTS.forEach((v, i) => times[i].push(seconds(v.args)));
const floor = median(times[0]);
for (const [i, v] of VARIANTS.entries())
  process.stdout.write(
    `${median(times[i]).toFixed(2).padStart(6)} s  ${(median(times[i]) / floor).toFixed(2)}x  ${v.name}\n`,
  );
