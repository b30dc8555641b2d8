import { execFile } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { resolveChartArchive } from "../testkit/chart-archives";
import { chartName, findHelm, helmTemplate, HELM_INSTALL_HINT, ReleaseInputs } from "../testkit/helm";
import { SECRET_MASK, type RegisteredResource } from "../testkit/mock-runtime";
import { runStack, RunStackOptions } from "../testkit/run-stack";
import { REPO_ROOT } from "../testkit/stack-file";

/** One rendered object: a stable file name and its YAML text. */
export interface RenderedObject {
  file: string;
  kind: string;
  name: string;
  namespace?: string;
  body: Record<string, unknown>;
}

const HELM_RELEASE = "kubernetes:helm.sh/v3:Release";

/** Kinds without a namespace: their files start with `_cluster`. */
const CLUSTER_SCOPED = new Set([
  "Namespace",
  "CustomResourceDefinition",
  "ClusterRole",
  "ClusterRoleBinding",
  "APIService",
  "ValidatingWebhookConfiguration",
  "MutatingWebhookConfiguration",
  "PriorityClass",
  "StorageClass",
  "PersistentVolume",
]);

export interface RenderOptions {
  /**
   * Render each Helm release with real `helm template` into the objects the chart creates (a folder
   * per release). `false` keeps the release as chart reference + values.
   * @default true
   */
  charts?: boolean;
  /** Where the one-line note goes when helm cannot be had. @default stderr */
  warn?: (line: string) => void;
  /**
   * A folder of the pinned chart archives, looked up after the chart cache (`--charts-dir`).
   * @default the folder SONIC_CHART_ARCHIVES names (testkit/chart-archives.ts)
   */
  chartsDir?: string;
}

/**
 * The Kubernetes objects a stack's program registers, as reviewers want to read them: one entry per
 * object, named `<namespace>.<kind>.<name>`, sorted, secrets as `[secret]`. Each Helm release is
 * rendered with `helm template` and the exact values the program passes, its objects under a folder
 * named after the release; where helm cannot be had, it says so and shows the release as chart
 * reference + values. A chart missing from the chart cache (and `chartsDir`) fails the render, naming
 * `npm run charts`.
 */
export async function renderStackObjects(
  stack: string,
  root = REPO_ROOT,
  options: RenderOptions & Pick<RunStackOptions, "set" | "revealSecrets"> = {},
): Promise<RenderedObject[]> {
  const { set, revealSecrets, ...render } = options;
  return toObjects((await runStack(stack, { root, set, revealSecrets })).resources, render);
}

/**
 * The objects of one `helm template` run, secrets masked, each under the release's folder. Throws,
 * naming the chart, its version and `npm run charts`, when the chart's archive is in neither the chart
 * cache nor `chartsDir`.
 */
export function renderRelease(
  release: ReleaseInputs,
  warn: (line: string) => void,
  chartsDir?: string,
): RenderedObject[] | undefined {
  const helm = findHelm();
  if (!helm) {
    warn(`render: ${release.name} shown as chart + values: ${HELM_INSTALL_HINT}`);
    return undefined;
  }
  const archive = resolveChartArchive(chartName(release.chart), release.version, chartsDir);
  return helmTemplate(helm, archive, release).map((o) => {
    const kind = String(o.kind);
    const namespace = CLUSTER_SCOPED.has(kind) ? undefined : (o.metadata?.namespace ?? release.namespace);
    const body = kind === "Secret" ? maskSecret(o) : o;
    return {
      file: `${release.name}/${namespace ?? "_cluster"}.${kind.toLowerCase()}.${o.metadata?.name}.yaml`,
      kind,
      name: String(o.metadata?.name),
      namespace,
      body,
    };
  });
}

/** A Secret with every value replaced by `[secret]`, keys kept (they are what other objects reference). */
function maskSecret(secret: Record<string, any>): Record<string, any> {
  const mask = (data?: Record<string, unknown>) =>
    data && Object.fromEntries(Object.keys(data).map((k) => [k, SECRET_MASK]));
  return {
    ...secret,
    ...(secret.data ? { data: mask(secret.data) } : {}),
    ...(secret.stringData ? { stringData: mask(secret.stringData) } : {}),
  };
}

export function toObjects(resources: RegisteredResource[], options: RenderOptions = {}): RenderedObject[] {
  const charts = options.charts ?? false;
  const warn = options.warn ?? ((line: string) => process.stderr.write(`${line}\n`));
  const objects = resources
    .filter((r) => r.custom && r.type.startsWith("kubernetes:"))
    .flatMap((r): RenderedObject[] => {
      if (r.type === HELM_RELEASE && charts) {
        const rendered = renderRelease(r.inputs as ReleaseInputs, warn, options.chartsDir);
        if (rendered) return rendered;
      }
      if (r.type === HELM_RELEASE) {
        const { name, namespace, chart, version, repositoryOpts, values } = r.inputs;
        const body = {
          kind: "HelmRelease",
          // An OCI reference (a mirror's registry) is the whole address; else repository + name.
          chart: repositoryOpts?.repo ? `${repositoryOpts.repo}/${chart}` : chart,
          version,
          name,
          namespace,
          values,
        };
        return [
          { file: `${namespace}.helmrelease.${name}.yaml`, kind: "HelmRelease", name, namespace, body },
        ];
      }
      const { apiVersion, kind, metadata, ...rest } = r.inputs;
      const namespace = metadata?.namespace as string | undefined;
      const name = (metadata?.name as string | undefined) ?? r.name;
      return [
        {
          file: `${namespace ?? "_cluster"}.${String(kind).toLowerCase()}.${name}.yaml`,
          kind,
          name,
          namespace,
          body: { apiVersion, kind, metadata, ...rest },
        },
      ];
    });
  return objects.sort((a, b) => a.file.localeCompare(b.file));
}

/**
 * Renders a stack of a checkout in a child process (Pulumi's mock runtime is one program per
 * process). `extra` are more render flags (`--set key=value`, `--reveal-secrets`, `--no-charts`).
 */
export async function renderInChild(
  stack: string,
  root = REPO_ROOT,
  extra: string[] = [],
): Promise<RenderedObject[]> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      "-r",
      "ts-node/register/transpile-only",
      path.join(REPO_ROOT, "scripts", "render.ts"),
      "--stack",
      stack,
      "--root",
      root,
      "--json",
      ...extra,
    ],
    { cwd: REPO_ROOT, maxBuffer: 512 * 1024 * 1024 },
  );
  return JSON.parse(stdout) as RenderedObject[];
}

/** YAML of one object with keys sorted, so unrelated key-order changes never show up as diffs. */
export function objectYaml(object: RenderedObject): string {
  return stringify(object.body, { sortMapEntries: true, lineWidth: 0 });
}

async function main(argv: string[]): Promise<void> {
  const stack = argv[argv.indexOf("--stack") + 1];
  if (!argv.includes("--stack") || !stack)
    throw new Error(
      "usage: npm run render -- --stack <dev|prod|fleet> [--out DIR] [--no-charts] [--charts-dir DIR]",
    );
  const out = argv.includes("--out") ? argv[argv.indexOf("--out") + 1] : undefined;
  // --root renders another checkout of the program (the diff tool's base revision); --json is for it.
  const root = argv.includes("--root") ? path.resolve(argv[argv.indexOf("--root") + 1]) : REPO_ROOT;
  // --set key=value (config without the project prefix) and --reveal-secrets are for tests.
  const set = Object.fromEntries(
    argv.flatMap((a, i) => (a === "--set" ? [argv[i + 1].split(/=(.*)/s).slice(0, 2)] : [])),
  );
  const objects = await renderStackObjects(stack, root, {
    charts: !argv.includes("--no-charts"),
    // A folder of the pinned archives, after the chart cache (else SONIC_CHART_ARCHIVES).
    chartsDir: argv.includes("--charts-dir") ? argv[argv.indexOf("--charts-dir") + 1] : undefined,
    set,
    revealSecrets: argv.includes("--reveal-secrets"),
  });
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
  for (const o of objects) {
    mkdirSync(path.dirname(path.join(out, o.file)), { recursive: true });
    writeFileSync(path.join(out, o.file), objectYaml(o));
  }
  process.stdout.write(`wrote ${objects.length} objects of the ${stack} stack to ${out}\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  });
}
