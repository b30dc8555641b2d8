import * as assert from "node:assert/strict";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseCircular, parseDependencyTree } from "dpdm";
import { REPO_ROOT } from "../../testkit/stack-file";

/** Whether a folder holds a .ts file at any depth (build output and dependencies aside). */
function hasTypeScript(dir: string): boolean {
  return readdirSync(dir, { withFileTypes: true }).some((entry) =>
    entry.isDirectory()
      ? entry.name !== "node_modules" && hasTypeScript(path.join(dir, entry.name))
      : entry.name.endsWith(".ts"),
  );
}

/**
 * The import circles among the files `pattern` matches under `cwd` and whatever they import, type-only
 * imports included (a type shared both ways is what a circle starts from), as paths relative to `cwd`.
 */
async function importCircles(cwd: string, pattern: string): Promise<string[][]> {
  const tree = await parseDependencyTree(pattern, { cwd, context: cwd, transform: false });
  return parseCircular(tree);
}

/** Every TypeScript room of the repository: the products, the package, the programs, the tools and the tests. */
const ROOMS = [
  "contract",
  "components",
  "stacks",
  "app",
  "policy",
  "sandbox",
  "cluster",
  "scripts",
  "testkit",
  "test",
  "bench",
];

describe("imports across the whole tree", function () {
  this.timeout(120_000);

  it("form no circle: argument types two files share live in a file of their own", async () => {
    assert.deepEqual(await importCircles(REPO_ROOT, `{${ROOMS.join(",")}}/**/*.ts`), []);
  });

  it("are read in every room that holds TypeScript", () => {
    const rooms = readdirSync(REPO_ROOT, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith(".") && entry.name !== "node_modules")
      .filter((entry) => hasTypeScript(path.join(REPO_ROOT, entry.name)))
      .map((entry) => entry.name);
    assert.deepEqual(
      rooms.filter((room) => !ROOMS.includes(room)),
      [],
      "a room the circle check does not read",
    );
  });

  it("are read by a check that does find a circle, a type-only one included", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sonic-circle-"));
    writeFileSync(path.join(dir, "a.ts"), 'import type { B } from "./b";\nexport interface A { b?: B }\n');
    writeFileSync(path.join(dir, "b.ts"), 'import { a } from "./c";\nexport interface B { a: typeof a }\n');
    writeFileSync(path.join(dir, "c.ts"), 'import type { A } from "./a";\nexport const a: A = {};\n');
    const circles = await importCircles(dir, "*.ts");
    assert.deepEqual(
      circles.map((circle) => [...circle].sort()),
      [["a.ts", "b.ts", "c.ts"]],
    );
  });
});
