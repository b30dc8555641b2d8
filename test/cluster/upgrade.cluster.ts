import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { getItems, kubectl } from "../../cluster/kubectl";
import { ADDRESSES, CLUSTER_DIR, ROOT } from "../../cluster/paths";
import {
  deployOk,
  eventually,
  failedCreateEvents,
  LOCAL_CHART_ARGS,
  missingObjects,
  namespacePhases,
  unreadyWorkloads,
} from "./support";

/**
 * The README's "Upgrading from the one-Deployment layout", for real: the program as it was right before the
 * two-tier split goes up from its own checkout (a git worktree of that commit), then this program takes
 * over the same stack after the one step the README asks for.
 */
const ONE_TIER_COMMIT = "9367d0e70e7d96e02b53ec71985b60dbbd9730f9";
const WORKTREE = path.join(CLUSTER_DIR, "worktrees", "one-tier");
const NS = "ai-inference";
const API = "sonic-generate-service";
// The old dev stack knew one engine, the adapter: the upgrade keeps it (the engine change is its own
// migration, engine-migration.cluster.ts), so this checks the layout change alone.
const adapterNow = ["autoscaling.engine=adapter", "autoscaling.worker.minReplicas=1"].flatMap((c) => [
  "--config",
  c,
]);

/**
 * That commit's program knows no chart mirror (the setting came later): its public chart repository URLs,
 * and nothing else, are pointed at the local chart repository in the worktree.
 */
function pointChartsAtLocalRepository(checkout: string): void {
  const dir = path.join(checkout, "components");
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
    const text = readFileSync(path.join(dir, file), "utf8");
    const local = text.replace(/https:\/\/[a-z-]+\.github\.io\/(helm-)?charts/g, ADDRESSES.chartServer);
    if (local !== text) writeFileSync(path.join(dir, file), local);
  }
}

interface DeploymentItem {
  metadata: { name: string };
  spec: { selector: { matchLabels: Record<string, string> } };
}

describe("the upgrade from the one-Deployment layout, with the README's steps on a live dev stack", function () {
  this.timeout(20 * 60_000);

  before(() => {
    if (existsSync(WORKTREE)) execFileSync("git", ["worktree", "remove", "--force", WORKTREE], { cwd: ROOT });
    execFileSync("git", ["worktree", "add", "--detach", WORKTREE, ONE_TIER_COMMIT], {
      cwd: ROOT,
      stdio: "ignore",
    });
    // The same packages: the inline program must share this process's @pulumi/pulumi.
    symlinkSync(path.join(ROOT, "node_modules"), path.join(WORKTREE, "node_modules"));
    pointChartsAtLocalRepository(WORKTREE);
  });

  it("has the old layout up: one Deployment that is the API and runs the jobs", async () => {
    await deployOk(["dev", "up", "--root", WORKTREE, "--stand-in-secrets"]);
    const deployments = getItems<DeploymentItem>(["deployments", "-n", NS]).map((d) => d.metadata.name);
    assert.ok(deployments.includes(API), `no ${API}: ${deployments}`);
    assert.ok(!deployments.includes("sonic-generate-worker"), "the old layout already has a worker tier");
  });

  it("goes up with this program after the old Deployment is deleted in the background, as the README says", async () => {
    kubectl(["-n", NS, "delete", "deployment", API, "--cascade=background", "--wait=false"]);
    await deployOk(["dev", "up", "--stand-in-secrets", ...LOCAL_CHART_ARGS, ...adapterNow]);
    const deployments = new Map(
      getItems<DeploymentItem>(["deployments", "-n", NS]).map((d) => [
        d.metadata.name,
        d.spec.selector.matchLabels,
      ]),
    );
    assert.equal(deployments.get(API)?.["app.kubernetes.io/component"], "api");
    assert.equal(deployments.get("sonic-generate-worker")?.["app.kubernetes.io/component"], "worker");
    assert.deepEqual(missingObjects("dev"), []);
    await eventually("workloads not ready", () =>
      unreadyWorkloads(["monitoring", NS].filter((ns) => namespacePhases().has(ns))),
    );
    assert.deepEqual(failedCreateEvents(), []);
  });

  it("shows no change on the preview right after the upgrade", async () => {
    await deployOk([
      "dev",
      "preview",
      "--expect-no-changes",
      "--stand-in-secrets",
      ...LOCAL_CHART_ARGS,
      ...adapterNow,
    ]);
  });

  after(async function () {
    await deployOk(["dev", "destroy", "--stand-in-secrets", ...LOCAL_CHART_ARGS, ...adapterNow]);
    await eventually("the dev namespaces remain", () =>
      ["monitoring", NS, "keda"].filter((ns) => namespacePhases().has(ns)),
    );
    execFileSync("git", ["worktree", "remove", "--force", WORKTREE], { cwd: ROOT });
    rmSync(WORKTREE, { recursive: true, force: true });
  });
});
