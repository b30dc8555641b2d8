import * as path from "node:path";
import { SECRET_KEYS } from "../stacks/config";
import { MockRunError, runUnderMocks } from "./mock-runtime";
import { readStackFile, REPO_ROOT } from "./stack-file";

/**
 * Runs the Pulumi program of one stack under the mock runtime with the stack file's real config and
 * prints `{ resources, outputs }` as JSON. Secrets the file cannot provide here (they live encrypted
 * in each user's stack) get stand-in values, marked secret like the real ones.
 *
 *   ts-node tools/render-stack.ts --stack dev [--set key=value]... [--omit-secret key]...
 */
async function main(argv: string[]): Promise<void> {
  const stack = valueOf(argv, "--stack");
  if (!stack)
    throw new Error("usage: render-stack --stack <dev|prod> [--set key=value]... [--omit-secret key]...");
  const { config } = readStackFile(stack);
  for (const pair of valuesOf(argv, "--set")) {
    const eq = pair.indexOf("=");
    config[`sonic-observability:${pair.slice(0, eq)}`] = pair.slice(eq + 1);
  }
  const omitted = new Set(valuesOf(argv, "--omit-secret"));
  const secretKeys: string[] = [];
  for (const key of SECRET_KEYS) {
    // grafanaAdminPassword stays unset by default so the generated-password path is what renders.
    if (key === "grafanaAdminPassword" || omitted.has(key)) continue;
    config[`sonic-observability:${key}`] = `stand-in-${key}`;
    secretKeys.push(`sonic-observability:${key}`);
  }
  const result = await runUnderMocks("sonic-observability", stack, config, secretKeys, () =>
    require(path.join(REPO_ROOT, "stacks", "index.ts")),
  );
  process.stdout.write(JSON.stringify(result, null, 1) + "\n");
}

function valuesOf(argv: string[], flag: string): string[] {
  return argv.flatMap((arg, i) => (arg === flag && argv[i + 1] !== undefined ? [argv[i + 1]] : []));
}

function valueOf(argv: string[], flag: string): string | undefined {
  return valuesOf(argv, flag)[0];
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  if (err instanceof MockRunError) {
    // Tells a reader (and the tests) whether anything reached the engine before the failure.
    process.stderr.write(
      `registered before the error: ${err.resources.map((r) => r.type).join(", ") || "nothing"}\n`,
    );
  }
  process.exit(1);
});
