import * as assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { API_DOCS_DIR, apiReference } from "../../scripts/api-reference";
import {
  CONFIG_DOCS_FILE,
  configReference,
  readStackValues,
  repositoryStacks,
} from "../../scripts/config-reference";
import { REPO_ROOT } from "../../testkit/stack-file";
import { SECRET_KEYS } from "../../stacks/config";

const STALE = "is stale: run `npm run docs` and commit the result";

/** The first line where two texts part, for a failure message a reader can act on. */
function firstDifference(committed: string, generated: string): string {
  const a = committed.split("\n");
  const b = generated.split("\n");
  const i = a.findIndex((line, n) => line !== b[n]);
  const at = i === -1 ? a.length : i;
  return `line ${at + 1}: committed ${JSON.stringify(a[at] ?? "(end of file)")}, generated ${JSON.stringify(b[at] ?? "(end of file)")}`;
}

function assertUpToDate(file: string, generated: string): void {
  const committed = readFileSync(file, "utf8");
  if (committed !== generated)
    assert.fail(`${path.relative(REPO_ROOT, file)} ${STALE} (${firstDifference(committed, generated)})`);
}

describe("the configuration reference (docs/configuration.md)", () => {
  const generated = configReference(repositoryStacks());

  it("is what `npm run docs` writes from the stack schemas, the stack files and the contract tables", () => {
    assertUpToDate(CONFIG_DOCS_FILE, generated);
  });

  it("gives each key its type with bounds, its default, each stack file's value and its meaning", () => {
    const row = (key: string) => generated.split("\n").find((line) => line.startsWith(`| \`${key}\` |`));
    assert.equal(
      row("sonic.concurrencyPerGpu"),
      "| `sonic.concurrencyPerGpu` | integer 1..64 | `1` | `1` | `2` | Jobs per GPU at once; slots per worker pod = GPUs × this (the backlog signal divides by it). (environment: `SONIC_CONCURRENCY_PER_GPU`) |",
    );
    assert.match(
      row("autoscaling.engine") ?? "",
      /^\| `autoscaling.engine` \| `adapter` \\\| `keda` \| `adapter` \| `keda` \| `adapter` \| /,
    );
    assert.match(row("SONIC_GPU_COUNT") ?? "", /\| `sonic.gpuCount` \|/);
  });

  it("describes every key of both stack schemas", () => {
    const undescribed = generated
      .split("\n")
      .filter((line) => /^\| `[a-zA-Z[\].-]+` \|/.test(line) && / \|  \|$/.test(line))
      .filter((line) => !SECRET_KEYS.some((key) => line.startsWith(`| \`${key}\` |`)))
      .map((line) => line.split(" | ")[0].slice(2));
    assert.deepEqual(
      undescribed,
      [],
      `keys without a description (add .describe() in stacks/): ${undescribed.join(", ")}`,
    );
  });

  it("shows a secret a stack file holds as (secret), encrypted or in plaintext, never its value", () => {
    const root = mkdtempSync(path.join(tmpdir(), "sonic-docs-"));
    const dev = readFileSync(path.join(REPO_ROOT, "Pulumi.dev.yaml"), "utf8");
    writeFileSync(
      path.join(root, "Pulumi.dev.yaml"),
      dev +
        "  sonic-observability:slackWebhookUrl: https://hooks.slack.com/services/T0/B0/PLAINTEXT-TOKEN\n" +
        "  sonic-observability:remoteWritePassword:\n    secure: v1:ENCRYPTED-BLOB\n",
    );
    const text = configReference({ clusterStacks: [readStackValues("dev", root)], fleetStacks: [] });
    assert.ok(
      !text.includes("PLAINTEXT-TOKEN") && !text.includes("ENCRYPTED-BLOB"),
      "a secret's text is on the page",
    );
    const row = (key: string) => text.split("\n").find((line) => line.startsWith(`| \`${key}\` |`)) ?? "";
    assert.match(row("slackWebhookUrl"), /\| \(secret\) \|$/);
    assert.match(row("remoteWritePassword"), /\| \(secret\) \|$/);
    assert.match(row("pagerdutyRoutingKey"), /\|  \|$/);
  });
});

describe("the API reference (docs/api/)", function () {
  // TypeDoc reads the package's declarations, @pulumi/kubernetes' among them: about 40 s on two cores.
  this.timeout(300_000);

  it("documents every export and option of components/index.ts, and is what `npm run docs` writes", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "sonic-api-"));
    const { problems } = await apiReference({ out });
    assert.deepEqual(
      problems,
      [],
      `TypeDoc refused the component package (add the doc comments):\n${problems.join("\n")}`,
    );
    assertUpToDate(path.join(API_DOCS_DIR, "README.md"), readFileSync(path.join(out, "README.md"), "utf8"));
  });

  it("fails on an exported class, or an option of an exported interface, without a doc comment", async () => {
    const fixture = path.join(REPO_ROOT, "test", "fixtures", "api-undocumented");
    const { problems } = await apiReference({
      entryPoint: path.join(fixture, "index.ts"),
      tsconfig: path.join(fixture, "tsconfig.json"),
    });
    assert.deepEqual(
      problems.map((p) => p.replace(/, defined in .*/, "")),
      ["[warning] Widget (Class)", "[warning] WidgetArgs.size (Property)"],
    );
  });
});
