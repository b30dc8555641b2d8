import * as path from "node:path";
import { MockRunError, runUnderMocks } from "./mock-runtime";
import { runStack } from "./run-stack";

/**
 * Prints `{ resources, outputs }` of one stack's program run under the mock runtime as JSON (the
 * tests read it; see run-stack.ts for how secrets are stood in).
 *
 *   ts-node testkit/render-stack.ts --stack dev [--set key=value]... [--omit-secret key]... [--reveal-secrets]
 *   ts-node testkit/render-stack.ts --program path/to/program.ts   (another team's program; no stack config)
 */
async function main(argv: string[]): Promise<void> {
  const program = valueOf(argv, "--program");
  if (program) {
    const result = await runUnderMocks("consumer", "dev", {}, [], () => require(path.resolve(program)));
    process.stdout.write(JSON.stringify(result, null, 1) + "\n");
    return;
  }
  const stack = valueOf(argv, "--stack");
  if (!stack)
    throw new Error(
      "usage: render-stack --stack <dev|prod> [--set key=value]... [--omit-secret key]... | --program <file>",
    );
  const set = Object.fromEntries(
    valuesOf(argv, "--set").map((pair) => [
      pair.slice(0, pair.indexOf("=")),
      pair.slice(pair.indexOf("=") + 1),
    ]),
  );
  const result = await runStack(stack, {
    set,
    omitSecrets: valuesOf(argv, "--omit-secret"),
    revealSecrets: argv.includes("--reveal-secrets"),
  });
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
