import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { ADDRESSES, ROOT } from "../cluster/paths";
import type { RenderedObject } from "../scripts/render";
import { offlineReview, renderForReview } from "../testkit/offline-review";
import { CORPUS, CorpusChange, NEEDS_CONTROLLERS } from "./review-corpus";

/**
 * npm run bench:review -- [--only id,id] [--checks offline,preview,rehearsal] [--results <file>] [--table]
 *
 * Scores each review check on the corpus of bench/review-corpus.ts: for every change, a fresh git worktree of
 * HEAD with the change's edits, then
 *   - offline: the render, schema validation against Kubernetes' and the charts' CRD schemas, the policy
 *     pack over the program's resources and the charts' objects, and the render diff's immutable fields
 *     (testkit/offline-review.ts), no cluster;
 *   - preview: `pulumi preview` of the head against one local cluster that holds HEAD's program (the
 *     production preview job's situation), with the real controllers;
 *   - rehearsal: `npm run rehearse -- --base HEAD --head <worktree>` (`--no-controllers` unless the
 *     change's class needs a webhook that the controllers serve).
 * Results go to a JSON file as they come (a later run with `--only` or `--checks` adds to it); the table at
 * the end counts, per check, the bad changes it refused and the good ones it wrongly refused. Needs what the
 * rehearsal needs (root, `npm run setup:cluster`) for preview and rehearsal. A benchmark: not in `npm test`.
 */
const USAGE =
  "usage: npm run bench:review -- [--only id,id] [--checks offline,preview,rehearsal] [--results <file>] [--table]";
const CHECKS = ["offline", "preview", "rehearsal"] as const;
type Check = (typeof CHECKS)[number];
const WORK = path.join(ROOT, ".bench-review");
const node = [process.execPath, "-r", require.resolve("ts-node/register/transpile-only")];

export interface CheckResult {
  refused: boolean;
  /** The check could not give a verdict (a tool failed): counted apart. */
  error?: boolean;
  seconds: number;
  /** Why it refused, shortened. */
  findings: string[];
}
type Results = Record<string, Partial<Record<Check, CheckResult>>>;

function parseArgs(argv: string[]) {
  const options = {
    only: undefined as string[] | undefined,
    checks: [...CHECKS] as Check[],
    results: path.join(WORK, "results.json"),
    tableOnly: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`'${flag}' needs a value. ${USAGE}`);
      return v;
    };
    if (flag === "--only") options.only = value().split(",");
    else if (flag === "--checks") {
      options.checks = value().split(",") as Check[];
      const unknown = options.checks.filter((c) => !CHECKS.includes(c));
      if (unknown.length)
        throw new Error(`'--checks' (${unknown.join(",")}) must be of ${CHECKS.join(", ")}`);
    } else if (flag === "--results") options.results = path.resolve(value());
    else if (flag === "--table") options.tableOnly = true;
    else throw new Error(`unknown flag ${JSON.stringify(flag)}. ${USAGE}`);
  }
  const ids = new Set(CORPUS.map((c) => c.id));
  const unknown = (options.only ?? []).filter((id) => !ids.has(id));
  if (unknown.length) throw new Error(`'--only': no change ${unknown.join(", ")} in the corpus`);
  return options;
}

function progress(line: string): void {
  process.stderr.write(`bench:review: ${line}\n`);
}

function git(args: string[], cwd = ROOT): string {
  const run = spawnSync("git", args, { cwd, encoding: "utf8" });
  if (run.status !== 0) throw new Error(`git ${args.join(" ")}: ${run.stderr.trim()}`);
  return run.stdout.trim();
}

/** Throws, naming the change and the file, when an edit's `from` is not there exactly once. */
export function applyEdits(change: CorpusChange, root: string): void {
  for (const edit of change.edits) {
    const file = path.join(root, edit.file);
    const text = readFileSync(file, "utf8");
    const count = text.split(edit.from).length - 1;
    if (count !== 1)
      throw new Error(`${change.id}: ${edit.file} holds the edit's 'from' ${count} times, not once`);
    writeFileSync(
      file,
      text.replace(edit.from, () => edit.to),
    );
  }
}

/** A fresh worktree of HEAD with the change applied (or none, for the base), sharing this checkout's packages. */
function worktree(check: Check | "probe", name: string, change?: CorpusChange): string {
  // A folder per check: runs of different checks (`--checks`) may go on side by side.
  const root = path.join(WORK, "trees", check, name);
  if (existsSync(root)) spawnSync("git", ["worktree", "remove", "--force", root], { cwd: ROOT });
  rmSync(root, { recursive: true, force: true });
  git(["worktree", "prune"]);
  mkdirSync(path.dirname(root), { recursive: true });
  git(["worktree", "add", "--detach", root, "HEAD"]);
  symlinkSync(path.join(ROOT, "node_modules"), path.join(root, "node_modules"));
  if (change) applyEdits(change, root);
  return root;
}

function removeWorktree(root: string): void {
  spawnSync("git", ["worktree", "remove", "--force", root], { cwd: ROOT });
}

function load(file: string): Results {
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Results) : {};
}

/** Records one check's result in the file, read afresh: runs of other checks may write to it meanwhile. */
function record(file: string, results: Results, id: string, check: Check, result: CheckResult): void {
  (results[id] ??= {})[check] = result;
  const now = load(file);
  (now[id] ??= {})[check] = result;
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(now, null, 2));
}

const short = (text: string, max = 400) => (text.length > max ? `${text.slice(0, max)}…` : text);

function cluster(args: string[], timeoutMs = 20 * 60_000): { ok: boolean; output: string } {
  const run = spawnSync(node[0], [...node.slice(1), path.join(ROOT, "cluster", "cli.ts"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    timeout: timeoutMs,
  });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}

/** `cluster/deploy.ts` inside the cluster's network namespace. */
function deploy(stack: string, action: "up" | "preview", root?: string) {
  return cluster([
    "exec",
    "--",
    ...node,
    path.join(ROOT, "cluster", "deploy.ts"),
    stack,
    action,
    "--stand-in-secrets",
    "--config",
    `charts.repository=${ADDRESSES.chartServer}`,
    ...(root ? ["--root", root] : []),
  ]);
}

/** The engine's and the API server's error lines of a failed preview, without the progress output. */
function errorLines(output: string): string[] {
  const lines = output
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /error|invalid|refused|denied|forbidden|failed/i.test(l) && !/^\s*$/.test(l));
  return [...new Set(lines)].slice(0, 6).map((l) => short(l));
}

async function runOffline(changes: CorpusChange[], results: Results, file: string): Promise<void> {
  const baseTree = worktree("offline", "base");
  const bases = new Map<string, RenderedObject[]>();
  try {
    for (const stack of new Set(changes.flatMap((c) => c.stacks))) {
      progress(`offline: rendering the base's ${stack}`);
      bases.set(stack, (await renderForReview(stack, baseTree)).objects);
    }
  } finally {
    removeWorktree(baseTree);
  }
  for (const change of changes) {
    const root = worktree("offline", change.id, change);
    try {
      const verdicts = [];
      for (const stack of change.stacks) verdicts.push(await offlineReview(stack, root, bases.get(stack)));
      const result: CheckResult = {
        refused: verdicts.some((v) => v.refused),
        seconds: verdicts.reduce((s, v) => s + v.seconds, 0),
        findings: verdicts
          .flatMap((v) => [...v.findings, ...v.notes.map((n) => `(note) ${n}`)])
          .map((f) => short(f)),
      };
      record(file, results, change.id, "offline", result);
      progress(`offline: ${change.id}: ${result.refused ? "refused" : "passed"} in ${result.seconds} s`);
    } finally {
      removeWorktree(root);
    }
  }
}

function runPreview(changes: CorpusChange[], results: Results, file: string): void {
  const stacks = [...new Set(changes.flatMap((c) => c.stacks))];
  progress("preview: a local cluster with the controllers, HEAD's program up on it");
  const up = cluster(["up", "--controllers"]);
  if (!up.ok) throw new Error(`cluster up failed:\n${up.output.slice(-2000)}`);
  try {
    const ready = new Set<string>();
    for (const stack of stacks) {
      const started = Date.now();
      const main = deploy(stack, "up");
      progress(
        `preview: HEAD's ${stack} up: ${main.ok ? "ok" : "FAILED"} in ${Math.round((Date.now() - started) / 1000)} s`,
      );
      if (main.ok) ready.add(stack);
      else progress(main.output.slice(-1500));
    }
    for (const change of changes) {
      if (!change.stacks.every((s) => ready.has(s))) continue;
      const root = worktree("preview", change.id, change);
      try {
        const started = Date.now();
        const runs = change.stacks.map((stack) => deploy(stack, "preview", root));
        const result: CheckResult = {
          refused: runs.some((r) => !r.ok),
          seconds: Math.round((Date.now() - started) / 100) / 10,
          findings: runs.filter((r) => !r.ok).flatMap((r) => errorLines(r.output)),
        };
        record(file, results, change.id, "preview", result);
        progress(`preview: ${change.id}: ${result.refused ? "refused" : "passed"} in ${result.seconds} s`);
      } finally {
        removeWorktree(root);
      }
    }
  } finally {
    cluster(["down"]);
  }
}

function runRehearsal(changes: CorpusChange[], results: Results, file: string): void {
  for (const change of changes) {
    const root = worktree("rehearsal", change.id, change);
    const report = path.join(WORK, "reports", `${change.id}.md`);
    mkdirSync(path.dirname(report), { recursive: true });
    try {
      const started = Date.now();
      const controllers = NEEDS_CONTROLLERS.has(change.class);
      progress(`rehearsal: ${change.id} (${change.stacks.join(",")}${controllers ? ", controllers" : ""})`);
      const run = spawnSync(
        node[0],
        [
          ...node.slice(1),
          path.join(ROOT, "cluster", "rehearse.ts"),
          "--base",
          "HEAD",
          "--head",
          root,
          "--stacks",
          change.stacks.join(","),
          "--report",
          report,
          ...(controllers ? [] : ["--no-controllers"]),
        ],
        { cwd: ROOT, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 },
      );
      const markdown = existsSync(report) ? readFileSync(report, "utf8") : "";
      // The refusals table's rows: `| step | object | message |`.
      const refusals = markdown
        .split("\n")
        .filter((l) => /^\| (head up|base up|no-change)/.test(l) && l.split("|").length === 5)
        .map((l) => short(l, 300));
      const result: CheckResult = {
        refused: run.status === 1,
        error: run.status !== 0 && run.status !== 1,
        seconds: Math.round((Date.now() - started) / 1000),
        findings: run.status === 0 || run.status === 1 ? refusals : [short(run.stderr.slice(-600))],
      };
      record(file, results, change.id, "rehearsal", result);
      progress(
        `rehearsal: ${change.id}: ${result.error ? "ERROR" : result.refused ? "refused" : "passed"} in ${result.seconds} s`,
      );
    } finally {
      removeWorktree(root);
    }
  }
}

/** Per check: bad changes refused / bad changes run, good changes refused / good changes run. */
export function table(results: Results): string {
  const lines = [
    "| check | bad changes caught | good changes wrongly refused | changes run |",
    "|---|---:|---:|---:|",
  ];
  for (const check of CHECKS) {
    const ran = CORPUS.filter((c) => results[c.id]?.[check] && !results[c.id][check]!.error);
    if (ran.length === 0) continue;
    const bad = ran.filter((c) => c.verdict === "bad");
    const good = ran.filter((c) => c.verdict === "good");
    const caught = bad.filter((c) => results[c.id][check]!.refused).length;
    const wrong = good.filter((c) => results[c.id][check]!.refused).length;
    lines.push(`| ${check} | ${caught} / ${bad.length} | ${wrong} / ${good.length} | ${ran.length} |`);
  }
  const mark = (r?: CheckResult) => (!r ? "·" : r.error ? "error" : r.refused ? "refused" : "passed");
  lines.push(
    "",
    "| change | class | expected | offline | preview | rehearsal |",
    "|---|---|---|---|---|---|",
    ...CORPUS.map(
      (c) =>
        `| ${c.id} | ${c.class} | ${c.verdict} | ${mark(results[c.id]?.offline)} | ${mark(results[c.id]?.preview)} | ${mark(results[c.id]?.rehearsal)} |`,
    ),
  );
  return lines.join("\n") + "\n";
}

async function main(argv: string[]): Promise<void> {
  const options = parseArgs(argv);
  const results = load(options.results);
  if (!options.tableOnly) {
    // In the order `--only` names them (the most telling first when time is short), else the corpus's.
    const changes = options.only ? options.only.map((id) => CORPUS.find((c) => c.id === id)!) : CORPUS;
    // Every edit applies to HEAD before anything slow runs.
    const probe = worktree("probe", "HEAD");
    try {
      for (const change of changes) {
        for (const edit of change.edits) {
          const text = readFileSync(path.join(probe, edit.file), "utf8");
          if (text.split(edit.from).length !== 2)
            throw new Error(`${change.id}: ${edit.file} does not hold the edit's 'from' exactly once`);
        }
      }
    } finally {
      removeWorktree(probe);
    }
    if (options.checks.includes("offline")) await runOffline(changes, results, options.results);
    if (options.checks.includes("preview")) runPreview(changes, results, options.results);
    if (options.checks.includes("rehearsal")) runRehearsal(changes, results, options.results);
  }
  process.stdout.write(table(load(options.results)));
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`bench:review: ${(error as Error).message}\n`);
      process.exit(2);
    },
  );
}
