import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import type { RegisteredResource } from "./mock-runtime";
import { runStack } from "./run-stack";
import { REPO_ROOT } from "./stack-file";

/** One rendered object: a stable file name and its YAML text. */
export interface RenderedObject {
  file: string;
  kind: string;
  name: string;
  namespace?: string;
  body: Record<string, unknown>;
}

/**
 * The Kubernetes objects a stack's program registers, as reviewers want to read them: one entry per
 * object, named `<namespace>.<kind>.<name>`, sorted, secrets as `[secret]`. Helm releases appear as
 * their chart reference plus the exact values (the mock runtime does not run Helm).
 */
export async function renderStackObjects(stack: string, root = REPO_ROOT): Promise<RenderedObject[]> {
  return toObjects((await runStack(stack, { root })).resources);
}

export function toObjects(resources: RegisteredResource[]): RenderedObject[] {
  const objects = resources
    .filter((r) => r.custom && r.type.startsWith("kubernetes:"))
    .map((r): RenderedObject => {
      if (r.type === "kubernetes:helm.sh/v3:Release") {
        const { name, namespace, chart, version, repositoryOpts, values } = r.inputs;
        const body = {
          kind: "HelmRelease",
          chart: `${repositoryOpts?.repo ?? ""}/${chart}`,
          version,
          name,
          namespace,
          values,
        };
        return { file: `${namespace}.helmrelease.${name}.yaml`, kind: "HelmRelease", name, namespace, body };
      }
      const { apiVersion, kind, metadata, ...rest } = r.inputs;
      const namespace = metadata?.namespace as string | undefined;
      const name = (metadata?.name as string | undefined) ?? r.name;
      return {
        file: `${namespace ?? "_cluster"}.${String(kind).toLowerCase()}.${name}.yaml`,
        kind,
        name,
        namespace,
        body: { apiVersion, kind, metadata, ...rest },
      };
    });
  return objects.sort((a, b) => a.file.localeCompare(b.file));
}

/** YAML of one object with keys sorted, so unrelated key-order changes never show up as diffs. */
export function objectYaml(object: RenderedObject): string {
  return stringify(object.body, { sortMapEntries: true, lineWidth: 0 });
}

async function main(argv: string[]): Promise<void> {
  const stack = argv[argv.indexOf("--stack") + 1];
  if (!argv.includes("--stack") || !stack)
    throw new Error("usage: npm run render -- --stack <dev|prod> [--out DIR]");
  const out = argv.includes("--out") ? argv[argv.indexOf("--out") + 1] : undefined;
  // --root renders another checkout of the program (the diff tool's base revision); --json is for it.
  const root = argv.includes("--root") ? path.resolve(argv[argv.indexOf("--root") + 1]) : REPO_ROOT;
  const objects = await renderStackObjects(stack, root);
  if (argv.includes("--json")) {
    process.stdout.write(JSON.stringify(objects));
    return;
  }
  if (!out) {
    process.stdout.write(objects.map((o) => `# ${o.file}\n${objectYaml(o)}`).join("---\n"));
    return;
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const o of objects) writeFileSync(path.join(out, o.file), objectYaml(o));
  process.stdout.write(`wrote ${objects.length} objects of the ${stack} stack to ${out}\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  });
}
