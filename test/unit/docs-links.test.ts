import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "../../testkit/stack-file";
import {
  brokenCodeMentions,
  brokenLinks,
  githubSlugger,
  markdownFacts,
  repositoryMarkdownFiles,
} from "../../testkit/markdown-links";

describe("links of README.md and docs/", () => {
  let slugger: Awaited<ReturnType<typeof githubSlugger>>;
  before(async () => {
    slugger = await githubSlugger();
  });

  it("every relative link and #anchor of README.md and docs/ resolves", () => {
    const files = repositoryMarkdownFiles(REPO_ROOT);
    assert.ok(
      files.includes("README.md") && files.includes(path.join("docs", "runbooks.md")),
      files.join(", "),
    );
    assert.deepEqual(brokenLinks(REPO_ROOT, files, slugger), []);
  });

  it("every README.md#anchor and docs/<file>.md#anchor named in the code, stack files and workflows resolves", () => {
    const tracked = execFileSync("git", ["ls-files", "-z"], { cwd: REPO_ROOT, encoding: "utf8" })
      .split("\0")
      .filter(
        (f) => f !== "" && !f.endsWith(".md") && !f.endsWith(".tgz") && !f.startsWith("test/snapshots/"),
      )
      // This file's own examples of broken links are on purpose.
      .filter((f) => f !== path.relative(REPO_ROOT, __filename));
    assert.deepEqual(brokenCodeMentions(REPO_ROOT, tracked, slugger), []);
  });

  it("slugs headings as GitHub does: text of code spans kept, punctuation dropped, repeats numbered", () => {
    const { anchors } = markdownFacts(
      [
        "# Sonic runbooks",
        "## The engine: `autoscaling.engine: adapter | keda`",
        "### CI/CD (GitHub Actions)",
        "## Notes",
        "## Notes",
        "## HighGPUMemoryUsage",
      ].join("\n\n"),
      slugger,
    );
    assert.deepEqual(
      [...anchors],
      [
        "sonic-runbooks",
        "the-engine-autoscalingengine-adapter--keda",
        "cicd-github-actions",
        "notes",
        "notes-1",
        "highgpumemoryusage",
      ],
    );
  });

  describe("reports what does not resolve, naming the file, the line and the link", () => {
    let root: string;
    before(() => {
      root = mkdtempSync(path.join(tmpdir(), "sonic-links-"));
      mkdirSync(path.join(root, "docs"));
      writeFileSync(
        path.join(root, "README.md"),
        [
          "# Front door", // 1
          "", // 2
          "[ok](docs/operate.md#deploy-to-a-cluster), [top](#front-door), [web](https://example.com/x#y).", // 3
          "[gone](docs/missing.md) and", // 4
          "a paragraph whose second line holds [a bad anchor](docs/operate.md#no-such-heading).", // 5
          "", // 6
          "```", // 7
          "[in a code block](nowhere.md) is no link", // 8
          "```", // 9
          "", // 10
          "[self](#not-here) `[code span](nowhere.md)`", // 11
        ].join("\n"),
      );
      writeFileSync(
        path.join(root, "docs", "operate.md"),
        "# Operate\n\n## Deploy to a cluster\n\nBack to the [README](../README.md#front-door), [up](../../x.md).\n",
      );
    });
    after(() => rmSync(root, { recursive: true, force: true }));

    it("a missing file, a missing heading, a missing anchor of the file itself, a path out of the repository", () => {
      assert.deepEqual(brokenLinks(root, repositoryMarkdownFiles(root), slugger), [
        "README.md:4: docs/missing.md: no file docs/missing.md",
        "README.md:5: docs/operate.md#no-such-heading: no heading with the anchor #no-such-heading in docs/operate.md",
        "README.md:11: #not-here: no heading with the anchor #not-here in README.md",
        "docs/operate.md:5: ../../x.md: points outside the repository",
      ]);
    });

    it("a mention in code of a heading or a file that is not there, never the tail of a URL", () => {
      writeFileSync(
        path.join(root, "config.ts"),
        [
          "// see docs/operate.md#deploy-to-a-cluster and README.md#front-door",
          "// see docs/operate.md#upgrading (gone) and docs/gone.md#x",
          "// https://example.com/blob/main/docs/operate.md#not-checked",
        ].join("\n"),
      );
      assert.deepEqual(brokenCodeMentions(root, ["config.ts"], slugger), [
        "config.ts:2: docs/operate.md#upgrading: no heading with the anchor #upgrading in docs/operate.md",
        "config.ts:2: docs/gone.md#x: no file docs/gone.md",
      ]);
    });
  });
});
