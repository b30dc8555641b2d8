import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { API_DOCS_DIR, apiReference } from "./api-reference";
import { CONFIG_DOCS_FILE, configReference, repositoryStacks } from "./config-reference";

/**
 * `npm run docs`: writes the generated references, docs/configuration.md (stack schemas, stack files,
 * contract/ tables) and docs/api/ (the component package's API, TypeDoc). Fails, writing no API
 * reference, when an export or option of the package has no doc comment. test/integration/docs.test.ts fails
 * when the committed files differ from what this writes.
 */
async function main(): Promise<void> {
  mkdirSync(path.dirname(CONFIG_DOCS_FILE), { recursive: true });
  writeFileSync(CONFIG_DOCS_FILE, configReference(repositoryStacks()));
  console.log(`wrote ${path.relative(process.cwd(), CONFIG_DOCS_FILE)}`);
  const staging = `${API_DOCS_DIR}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  const { problems } = await apiReference({ out: staging });
  if (problems.length > 0) {
    rmSync(staging, { recursive: true, force: true });
    console.error(`the API reference was not written: TypeDoc found ${problems.length} problem(s):`);
    for (const problem of problems) console.error(`  ${problem}`);
    process.exit(1);
  }
  rmSync(API_DOCS_DIR, { recursive: true, force: true });
  mkdirSync(path.dirname(API_DOCS_DIR), { recursive: true });
  renameSync(staging, API_DOCS_DIR);
  console.log(`wrote ${path.relative(process.cwd(), API_DOCS_DIR)}/`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
