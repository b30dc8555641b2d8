import { writeFileSync } from "node:fs";
import { ruleFileYaml } from "../components";
import { runStack } from "../testkit/run-stack";

/**
 * Writes the rule groups a stack deploys as a Prometheus rule file: the program runs under Pulumi's
 * mock runtime with the stack file's config, and the PrometheusRule objects it registers are unwrapped,
 * so the file is exactly what the cluster's Prometheus will load.
 *
 *   npm run rules:export -- --stack <dev|prod> [--out FILE]
 */
async function main(argv: string[]): Promise<void> {
  const stack = argv[argv.indexOf("--stack") + 1];
  const out = argv.includes("--out") ? argv[argv.indexOf("--out") + 1] : undefined;
  if (!argv.includes("--stack") || !stack)
    throw new Error("usage: rules:export -- --stack <dev|prod> [--out FILE]");
  const run = await runStack(stack);
  const groups = run.resources
    .filter((r) => r.type === "kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    .flatMap((r) => r.inputs.spec.groups);
  const text = ruleFileYaml(
    groups,
    `Rule groups of the ${stack} stack, exported by 'npm run rules:export'. Do not edit: change components/rules/.`,
  );
  if (out) writeFileSync(out, text);
  else process.stdout.write(text);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
