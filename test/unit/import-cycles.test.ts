import * as assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseCircular, parseDependencyTree } from "dpdm";
import { REPO_ROOT } from "../tools/stack-file";

/**
 * The import circles among the files `pattern` matches under `cwd` and whatever they import, type-only
 * imports included (a type shared both ways is what a circle starts from), as paths relative to `cwd`.
 */
async function importCircles(cwd: string, pattern: string): Promise<string[][]> {
  const tree = await parseDependencyTree(pattern, { cwd, context: cwd, transform: false });
  return parseCircular(tree);
}

describe("imports under components/", function () {
  this.timeout(120_000);

  it("form no circle: argument types two files share live in a file of their own", async () => {
    assert.deepEqual(await importCircles(REPO_ROOT, "components/**/*.ts"), []);
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
