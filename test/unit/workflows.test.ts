import * as assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { REPO_ROOT } from "../../testkit/stack-file";

const workflow = (name: string) =>
  parse(readFileSync(path.join(REPO_ROOT, ".github", "workflows", name), "utf8")) as any;

describe("the pull-request workflows", () => {
  const pr = workflow("pull-request.yml");

  it("run the pull request's code only on pull_request, never pull_request_target, with a read-only token", () => {
    assert.deepEqual(Object.keys(pr.on), ["pull_request"]);
    assert.deepEqual(pr.permissions, { contents: "read" });
  });

  it("give the test, live test, rehearsal and render-diff jobs no secret at all, so forks get them too", () => {
    for (const job of ["test", "test-cluster", "rehearsal", "render-diff"]) {
      assert.doesNotMatch(JSON.stringify(pr.jobs[job]), /secrets\./, job);
      assert.equal(pr.jobs[job].environment, undefined, job);
      assert.equal(pr.jobs[job].if, undefined, job);
    }
  });

  it("run every layer of test/ as a job of its own, with the npm script of that layer", () => {
    const layers = readdirSync(path.join(REPO_ROOT, "test"), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && !["fixtures", "rules", "snapshots"].includes(entry.name))
      .map((entry) => entry.name)
      .sort();
    const scripts = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).scripts;
    const jobs = [...pr.jobs.test.strategy.matrix.layer, "cluster"].sort();
    assert.deepEqual(jobs, layers);
    for (const layer of pr.jobs.test.strategy.matrix.layer)
      assert.match(scripts[`test:${layer}`], new RegExp(`test/${layer}/`), `npm run test:${layer}`);
    assert.ok(
      pr.jobs["test-cluster"].steps.some((step: { run?: string }) =>
        step.run?.includes("npm run test:cluster"),
      ),
    );
    assert.match(
      scripts.test,
      /test\/\{unit,integration,e2e\}/,
      "npm test runs the three in-repository layers",
    );
  });

  it("run preview, which holds the credentials, only for this repository's branches and behind an approved environment", () => {
    const preview = pr.jobs.preview;
    assert.equal(preview.if, "github.event.pull_request.head.repo.full_name == github.repository");
    assert.equal(preview.environment, "preview-${{ matrix.stack }}");
    assert.ok(
      JSON.stringify(preview).includes("secrets.KUBECONFIG"),
      "the kubeconfig comes from the environment",
    );
  });

  it("rehearse every stack against the base branch through npm run rehearse, and keep its report for the comment", () => {
    const steps = pr.jobs.rehearsal.steps as { run?: string; uses?: string; if?: string }[];
    assert.ok(
      steps.some((s) =>
        /npm run -s rehearse -- --base "origin\/\$\{\{ github.base_ref \}\}"/.test(s.run ?? ""),
      ),
    );
    assert.ok(steps.some((s) => s.uses?.startsWith("actions/upload-artifact") && s.if === "always()"));
    const comment = workflow("pr-comment.yml");
    assert.ok(
      (comment.jobs.comment.steps as { with?: { header?: string } }[]).some(
        (s) => s.with?.header === "rehearsal",
      ),
    );
  });

  it("post the render diff from the base repository without checking out the pull request", () => {
    const comment = workflow("pr-comment.yml");
    assert.deepEqual(Object.keys(comment.on), ["workflow_run"]);
    const steps = JSON.stringify(comment.jobs.comment.steps);
    assert.doesNotMatch(steps, /actions\/checkout|npm |node /);
  });

  it("compile the program before every Pulumi command (Pulumi.yaml runs build/program/, never a build script)", () => {
    for (const [file, job] of [
      ["pull-request.yml", "preview"],
      ["deploy.yml", "deploy"],
    ]) {
      const jobs = workflow(file).jobs;
      const steps: any[] = (
        jobs[job] ?? Object.values(jobs).find((j: any) => JSON.stringify(j).includes("pulumi/actions"))
      ).steps;
      const build = steps.findIndex((st) => st.run === "npm run build");
      const pulumi = steps.findIndex((st) => String(st.uses).startsWith("pulumi/actions"));
      assert.ok(build >= 0 && build < pulumi, `${file}: npm run build before pulumi/actions`);
    }
  });
});
