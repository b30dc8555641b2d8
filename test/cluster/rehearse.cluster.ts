import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { ROOT } from "../../cluster/paths";

/**
 * npm run rehearse itself, on one bad change and one good change of this commit, each in a worktree as a pull
 * request would bring it. It starts and stops its own clusters, so this suite runs outside any (run.ts).
 */
const HEAD_TREE = path.join(ROOT, ".rehearsal", "head");
const REPORT = path.join(ROOT, ".rehearsal", "test-report.md");

function rehearse(...args: string[]): { status: number; report: string; output: string } {
  rmSync(REPORT, { force: true });
  const run = spawnSync(
    process.execPath,
    [
      "-r",
      require.resolve("ts-node/register/transpile-only"),
      path.join(ROOT, "cluster", "rehearse.ts"),
      "--base",
      "HEAD",
      "--head",
      HEAD_TREE,
      "--stacks",
      "dev",
      "--report",
      REPORT,
      ...args,
    ],
    { cwd: ROOT, encoding: "utf8" },
  );
  return {
    status: run.status ?? 1,
    report: existsSync(REPORT) ? readFileSync(REPORT, "utf8") : "",
    output: `${run.stdout}\n${run.stderr}`.slice(-4000),
  };
}

/** Edits a file of the head worktree: the change under review. */
function change(file: string, from: string | RegExp, to: string): void {
  const full = path.join(HEAD_TREE, file);
  const text = readFileSync(full, "utf8");
  const changed = text.replace(from, to);
  assert.notEqual(changed, text, `the change does not apply to ${file}: ${String(from)} not found`);
  writeFileSync(full, changed);
}

describe("npm run rehearse: a pull request deployed for real, base then head, on local control planes", function () {
  this.timeout(20 * 60_000);

  beforeEach(() => {
    if (existsSync(HEAD_TREE))
      execFileSync("git", ["worktree", "remove", "--force", HEAD_TREE], { cwd: ROOT });
    execFileSync("git", ["worktree", "add", "--detach", HEAD_TREE, "HEAD"], { cwd: ROOT, stdio: "ignore" });
    symlinkSync(path.join(ROOT, "node_modules"), path.join(HEAD_TREE, "node_modules"));
  });

  afterEach(() => {
    execFileSync("git", ["worktree", "remove", "--force", HEAD_TREE], { cwd: ROOT });
  });

  it("fails a change that only the API server refuses, and names the object and the API server's message", () => {
    // Last round's defect class: every offline check passes a PodDisruptionBudget with both fields set.
    change(
      "components/service/worker-tier.ts",
      "        maxUnavailable: args.maxUnavailable ?? 1,\n",
      "        maxUnavailable: args.maxUnavailable ?? 1,\n        minAvailable: 1,\n",
    );
    const run = rehearse("--no-controllers");
    assert.equal(run.status, 1, `rehearse did not fail the change:\n${run.output}`);
    assert.match(run.report, /❌ dev would fail/);
    for (const step of ["head up over the base", "head up from empty"])
      assert.match(
        run.report,
        new RegExp(
          `\\| ${step} \\| PodDisruptionBudget sonic-worker \\| [^|]*minAvailable and maxUnavailable cannot be both set`,
        ),
        `no refusal of the worker's PodDisruptionBudget at '${step}' in:\n${run.report}`,
      );
  });

  it("passes a good change with the real controllers, and shows the engine's diff of the upgrade", () => {
    change("Pulumi.dev.yaml", /^    retention: 3d$/m, "    retention: 4d");
    const run = rehearse();
    assert.equal(run.status, 0, `rehearse failed a good change:\n${run.report || run.output}`);
    assert.match(run.report, /✅ dev pass/);
    assert.match(run.report, /\| head up over the base \| ✅ \| 1 update \|/);
    assert.match(run.report, /\| Release [^|]+ \| update \| [^|]*values/);
    assert.match(run.report, /\| no-change preview \| ✅ \| no change \|/);
  });
});
