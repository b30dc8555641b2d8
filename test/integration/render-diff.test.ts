import * as assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "../../testkit/stack-file";
import { requireHelmAndCharts } from "../../testkit/charts";

const run = promisify(execFile);
const TS = ["-r", "ts-node/register/transpile-only"];

async function tool(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...TS, ...args], {
      cwd: REPO_ROOT,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A scratch git repository holding this program, committed, so a change can be diffed against HEAD. */
function scratchRepo(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "sonic-diff-repo-"));
  for (const item of [
    "contract",
    "components",
    "stacks",
    "app",
    "Pulumi.yaml",
    "Pulumi.dev.yaml",
    "Pulumi.prod.yaml",
    "package.json",
    "tsconfig.json",
  ]) {
    cpSync(path.join(REPO_ROOT, item), path.join(dir, item), { recursive: true });
  }
  symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(dir, "node_modules"));
  writeFileSync(path.join(dir, ".gitignore"), "node_modules\n");
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "user.email=t@example.com", "-c", "user.name=test", ...args], {
      cwd: dir,
      stdio: "ignore",
    });
  git("init", "-q");
  git("add", "-A");
  git("commit", "-qm", "base");
  return dir;
}

describe("offline render and diff", function () {
  this.timeout(120_000);

  it("renders one YAML file per object, the charts' own objects in a folder per release, sorted and stable, secrets as [secret]", async () => {
    requireHelmAndCharts();
    const out = mkdtempSync(path.join(tmpdir(), "sonic-render-"));
    const first = await tool(["scripts/render.ts", "--stack", "prod", "--out", out]);
    assert.equal(first.code, 0, first.stderr);
    const files = readdirSync(out, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".yaml"));
    assert.deepEqual(files, [...files].sort());
    assert.ok(files.includes("ai-inference.servicemonitor.sonic-generate-service.yaml"));
    assert.ok(files.includes("ai-inference.servicemonitor.sonic-generate-worker.yaml"));
    assert.ok(files.includes("prometheus-stack/monitoring.prometheus.prometheus-stack-prometheus.yaml"));
    assert.ok(files.includes("prometheus-adapter/_cluster.apiservice.v1beta1.custom.metrics.k8s.io.yaml"));
    assert.ok(!files.some((f) => f.includes("helmrelease")), "releases are rendered, not shown as values");
    const all = files.map((f) => readFileSync(path.join(out, f), "utf8")).join("\n");
    assert.doesNotMatch(all, /stand-in|mock-generated-password/);
    assert.match(
      readFileSync(path.join(out, "monitoring.secret.remote-write-0.yaml"), "utf8"),
      /^stringData: "\[secret\]"$/m,
    );
    const again = mkdtempSync(path.join(tmpdir(), "sonic-render-"));
    await tool(["scripts/render.ts", "--stack", "prod", "--out", again]);
    for (const f of files)
      assert.equal(
        readFileSync(path.join(again, f), "utf8"),
        readFileSync(path.join(out, f), "utf8"),
        `${f} is not stable`,
      );
  });

  it("says in one line why, and shows chart plus values, when no helm can be had", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "sonic-render-"));
    const result = await run(process.execPath, [...TS, "scripts/render.ts", "--stack", "dev", "--out", out], {
      cwd: REPO_ROOT,
      env: { ...process.env, SONIC_HELM: "/nonexistent/helm", PATH: "/usr/bin:/bin" },
    }).catch((err) => err);
    assert.match(result.stderr, /^render: prometheus-stack shown as chart \+ values: /m);
    const chart = readFileSync(path.join(out, "monitoring.helmrelease.prometheus-stack.yaml"), "utf8");
    assert.match(
      chart,
      /^chart: https:\/\/prometheus-community\.github\.io\/helm-charts\/kube-prometheus-stack$/m,
    );
    assert.match(chart, /^version: 88\.5\.3$/m);
  });

  it("shows a retention change as a field change of the chart's Prometheus custom resource", async () => {
    requireHelmAndCharts();
    const repo = scratchRepo();
    const stackFile = path.join(repo, "Pulumi.prod.yaml");
    writeFileSync(
      stackFile,
      readFileSync(stackFile, "utf8").replace("    retention: 30d\n", "    retention: 15d\n"),
    );
    const result = await tool(["scripts/diff.ts", "--stack", "prod", "--base", "HEAD", "--repo", repo]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(
      result.stdout,
      "1 object(s) differ between HEAD (prod) and the working tree (prod):\n" +
        "~ prometheus-stack/monitoring.prometheus.prometheus-stack-prometheus.yaml\n" +
        '    spec.retention: "30d" -> "15d"\n',
    );
  });

  it("shows a changed config value as exactly that field of that object, and exits 1", async () => {
    const repo = scratchRepo();
    const stackFile = path.join(repo, "Pulumi.dev.yaml");
    writeFileSync(
      stackFile,
      // dev's GPU workers from "scale to zero" to "keep one warm".
      readFileSync(stackFile, "utf8").replace("      minReplicas: 0\n", "      minReplicas: 1\n"),
    );
    const result = await tool(["scripts/diff.ts", "--stack", "dev", "--base", "HEAD", "--repo", repo]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(
      result.stdout,
      "1 object(s) differ between HEAD (dev) and the working tree (dev):\n" +
        "~ ai-inference.scaledobject.sonic-generate-worker.yaml\n" +
        "    spec.minReplicaCount: 0 -> 1\n",
    );
  });

  it("exits 0 and says so when nothing differs", async () => {
    const result = await tool([
      "scripts/diff.ts",
      "--stack",
      "prod",
      "--base",
      "HEAD",
      "--repo",
      scratchRepo(),
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "no differences between HEAD (prod) and the working tree (prod)\n");
  });

  it("shows how dev and prod differ", async () => {
    const result = await tool(["scripts/diff.ts", "--stacks", "dev", "prod"]);
    assert.equal(result.code, 1);
    // dev scales with KEDA ScaledObjects, prod with HPAs: each stack's autoscalers exist only there.
    for (const tier of ["service", "worker"]) {
      assert.match(
        result.stdout,
        new RegExp(`^- ai-inference\\.scaledobject\\.sonic-generate-${tier}\\.yaml$`, "m"),
      );
      assert.match(
        result.stdout,
        new RegExp(`^\\+ ai-inference\\.horizontalpodautoscaler\\.sonic-generate-${tier}\\.yaml$`, "m"),
      );
    }
    assert.match(
      result.stdout,
      /~ ai-inference\.deployment\.sonic-generate-worker\.yaml\n(?:.*\n)*? {4}spec\.template\.spec\.terminationGracePeriodSeconds: 300 -> 900\n/,
    );
    // Both write to the fleet, each as its own user.
    assert.match(result.stdout, /^~ monitoring\.secret\.remote-write-0\.yaml$/m);
    assert.match(
      result.stdout,
      /~ prometheus-stack\/monitoring\.prometheus\.prometheus-stack-prometheus\.yaml\n(?:.*\n)*? {4}spec\.retention: "3d" -> "30d"\n/,
    );
  });
});
