import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { partsStatus } from "./control-plane";
import { ADDRESSES, ROOT } from "./paths";
import { report, STEPS, StackRehearsal, StepName, failures } from "./rehearsal-report";
import type { StepRequest, StepResult } from "./rehearsal-step";

/**
 * npm run rehearse -- [--base <ref>] [--head <checkout>] [--stacks dev,prod,fleet] [--report <file>] [--no-controllers]
 *
 * A pull request deployed for real before anyone reviews it. For each stack, on a fresh local control plane
 * of the flavour the stack file names: the base ref's program goes up (from a git worktree), then this
 * checkout's program goes up over it, as `pulumi up` will in production; then a preview that must show no
 * change; then this checkout's program goes up from empty on a second fresh cluster. The report (Markdown,
 * for the pull-request comment) says what the real API server, its admission plugins and webhooks, and the
 * engine said; the exit status is 1 when any stack would fail, for an upgrade or for a fresh install.
 *
 * With the real controllers (the default: `cluster up --controllers`), the operator's and KEDA's webhooks
 * answer as they do in production. Needs what the live suite needs: root, `npm run setup:cluster`.
 */
const USAGE =
  "usage: npm run rehearse -- [--base <ref>] [--head <checkout>] [--stacks dev,prod,fleet] [--report <file>] [--no-controllers]";
const STACKS = ["dev", "prod", "fleet"];
const WORK = path.join(ROOT, ".rehearsal");
const BASE_TREE = path.join(WORK, "base");
const node = [process.execPath, "-r", require.resolve("ts-node/register/transpile-only")];
const CLI = path.join(__dirname, "cli.ts");

export interface RehearseOptions {
  /** The ref whose program goes up first. @default origin/main where it exists, else main */
  base: string;
  /** The checkout whose program goes up over it, uncommitted changes included. @default this checkout */
  head: string;
  stacks: string[];
  report: string;
  controllers: boolean;
}

function git(args: string[], cwd = ROOT): string {
  const run = spawnSync("git", args, { cwd, encoding: "utf8" });
  if (run.status !== 0) throw new Error(`git ${args.join(" ")}: ${run.stderr.trim()}`);
  return run.stdout.trim();
}

/** origin/main where the checkout has it (a pull request's base), else main. */
function defaultBase(): string {
  return spawnSync("git", ["rev-parse", "--verify", "--quiet", "origin/main"], { cwd: ROOT }).status === 0
    ? "origin/main"
    : "main";
}

export function parseRehearseArgs(argv: string[]): RehearseOptions {
  const options: RehearseOptions = {
    base: "",
    head: ROOT,
    stacks: [...STACKS],
    report: path.join(WORK, "report.md"),
    controllers: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new Error(`'${flag}' needs a value. ${USAGE}`);
      return v;
    };
    if (flag === "--base") options.base = value();
    else if (flag === "--head") {
      options.head = path.resolve(value());
      if (!existsSync(path.join(options.head, "Pulumi.yaml")))
        throw new Error(
          `'--head' (${JSON.stringify(options.head)}) is not a checkout of this project: no Pulumi.yaml`,
        );
    } else if (flag === "--stacks") {
      options.stacks = value().split(",");
      const unknown = options.stacks.filter((s) => !STACKS.includes(s));
      if (unknown.length > 0 || options.stacks.length === 0)
        throw new Error(
          `'--stacks' (${JSON.stringify(options.stacks.join(","))}) must name stacks of ${STACKS.join(", ")}`,
        );
    } else if (flag === "--report") options.report = path.resolve(value());
    else if (flag === "--no-controllers") options.controllers = false;
    else throw new Error(`unknown flag ${JSON.stringify(flag)}. ${USAGE}`);
  }
  return options;
}

/** The cluster flavour a stack file names (its GPU node labels and taints), as `cluster up --flavor` takes it. */
function flavorOf(stackFile: string): string {
  const config =
    (parse(readFileSync(stackFile, "utf8")) as { config?: Record<string, unknown> }).config ?? {};
  return String(config["sonic-observability:clusterFlavor"] ?? "generic");
}

function cluster(args: string[]): void {
  const run = spawnSync(node[0], [...node.slice(1), CLI, ...args], { cwd: ROOT, encoding: "utf8" });
  if (run.status !== 0)
    throw new Error(
      `npm run cluster -- ${args.join(" ")} failed:\n${(run.stdout + run.stderr).slice(-3000)}`,
    );
}

/** One engine step in its own process inside the cluster's namespace (cluster/rehearsal-step.ts). */
function step(request: Omit<StepRequest, "out" | "config">): StepResult {
  mkdirSync(WORK, { recursive: true });
  const out = path.join(WORK, "step.json");
  rmSync(out, { force: true });
  const full: StepRequest = { ...request, out, config: { "charts.repository": ADDRESSES.chartServer } };
  const run = spawnSync(
    node[0],
    [
      ...node.slice(1),
      CLI,
      "exec",
      "--",
      ...node,
      path.join(__dirname, "rehearsal-step.ts"),
      JSON.stringify(full),
    ],
    { cwd: ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  );
  if (!existsSync(out))
    return {
      ok: false,
      seconds: 0,
      operations: [],
      refusals: [],
      error: `the step did not run: ${(run.stdout + run.stderr).slice(-2000)}`,
    };
  return JSON.parse(readFileSync(out, "utf8")) as StepResult;
}

/** The base ref's checkout, sharing this one's packages (the inline program shares this @pulumi/pulumi). */
function checkoutBase(commit: string): void {
  if (existsSync(BASE_TREE)) spawnSync("git", ["worktree", "remove", "--force", BASE_TREE], { cwd: ROOT });
  rmSync(BASE_TREE, { recursive: true, force: true });
  git(["worktree", "prune"]);
  git(["worktree", "add", "--detach", BASE_TREE, commit]);
  symlinkSync(path.join(ROOT, "node_modules"), path.join(BASE_TREE, "node_modules"));
}

function progress(line: string): void {
  process.stderr.write(`rehearse: ${line}\n`);
}

function rehearseStack(stack: string, options: RehearseOptions): StackRehearsal {
  const started = Date.now();
  const rehearsal: StackRehearsal = { stack, steps: [], notes: [], seconds: 0 };
  const headFile = path.join(options.head, `Pulumi.${stack}.yaml`);
  const up = ["up", "--flavor", flavorOf(headFile), ...(options.controllers ? ["--controllers"] : [])];
  const run = (name: StepName, request: Omit<StepRequest, "out" | "config">): StepResult => {
    progress(`${stack}: ${name}`);
    const result = step(request);
    rehearsal.steps.push({ name, result });
    progress(`${stack}: ${name}: ${result.ok ? "ok" : "FAILED"} in ${result.seconds} s`);
    return result;
  };
  try {
    cluster(up);
    if (existsSync(path.join(BASE_TREE, `Pulumi.${stack}.yaml`))) {
      const base = run(STEPS.base, { stack, action: "up", root: BASE_TREE });
      if (base.ok) {
        const upgrade = run(STEPS.upgrade, { stack, action: "up", root: options.head });
        if (upgrade.ok) run(STEPS.noChange, { stack, action: "preview", root: options.head });
        else rehearsal.notes.push("The no-change preview did not run: the upgrade failed.");
      } else rehearsal.notes.push("The base itself did not go up here, so the upgrade was not rehearsed.");
    } else rehearsal.notes.push(`A new stack: the base has no Pulumi.${stack}.yaml, so there is no upgrade.`);
    cluster(["down"]);
    cluster(up);
    run(STEPS.fresh, { stack, action: "up", root: options.head });
  } finally {
    cluster(["down"]);
  }
  rehearsal.seconds = (Date.now() - started) / 1000;
  return rehearsal;
}

export function rehearse(options: RehearseOptions): { markdown: string; failed: boolean } {
  if (partsStatus().some((p) => p.running))
    throw new Error(
      "a local cluster of this checkout is running: take it down first (npm run cluster -- down)",
    );
  const baseRef = options.base || defaultBase();
  const commit = git(["rev-parse", "--verify", `${baseRef}^{commit}`]);
  const headCommit = git(["rev-parse", "--short", "HEAD"], options.head);
  const dirty = git(["status", "--porcelain", "--untracked-files=no"], options.head) !== "";
  checkoutBase(commit);
  const results: StackRehearsal[] = [];
  try {
    for (const stack of options.stacks) results.push(rehearseStack(stack, options));
  } finally {
    spawnSync("git", ["worktree", "remove", "--force", BASE_TREE], { cwd: ROOT });
  }
  const markdown = report(
    `\`${baseRef}\` (${commit.slice(0, 7)})`,
    `${headCommit}${dirty ? " with its checkout's uncommitted changes" : ""}`,
    results,
  );
  return { markdown, failed: results.some((r) => failures(r).length > 0) };
}

if (require.main === module) {
  try {
    const options = parseRehearseArgs(process.argv.slice(2));
    const { markdown, failed } = rehearse(options);
    mkdirSync(path.dirname(options.report), { recursive: true });
    writeFileSync(options.report, markdown);
    process.stdout.write(markdown);
    progress(`report in ${path.relative(process.cwd(), options.report)}`);
    process.exit(failed ? 1 : 0);
  } catch (error) {
    process.stderr.write(`rehearse: ${(error as Error).message}\n`);
    process.exit(2);
  }
}
