import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import type { MockRun, RegisteredResource } from "./mock-runtime";
import { cachedForRun } from "./run-cache";
import { REPO_ROOT } from "./stack-file";

const run = promisify(execFile);

/** Runs testkit/render-stack.ts in a child process (Pulumi's runtime state is global). */
function renderProcess(args: string[]) {
  return run(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", path.join(REPO_ROOT, "testkit", "render-stack.ts"), ...args],
    { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 },
  );
}

const renderStackProcess = (stack: string, extra: string[]) => renderProcess(["--stack", stack, ...extra]);

/** Another team's program (a file that imports the components) under the mock runtime, no stack config. */
export async function renderProgram(file: string): Promise<MockRun> {
  return JSON.parse((await renderProcess(["--program", file])).stdout) as MockRun;
}

/**
 * The real program for one stack file under Pulumi's mock runtime: made once per run and argument list,
 * whichever mocha worker asks first (testkit/run-cache.ts).
 */
export function renderStack(stack: string, extra: string[] = []): Promise<MockRun> {
  return cachedForRun(
    ["renderStack", stack, ...extra],
    async () => JSON.parse((await renderStackProcess(stack, extra)).stdout) as MockRun,
  );
}

/** Runs the program expecting it to fail; resolves with its stderr. */
export async function renderStackFailure(stack: string, extra: string[]): Promise<string> {
  try {
    await renderStackProcess(stack, extra);
  } catch (err) {
    return (err as { stderr: string }).stderr;
  }
  throw new Error(`the ${stack} program succeeded, but it was expected to fail`);
}

/** The one registered resource of a type (and name, when given); throws when there is not exactly one. */
export function only(run: MockRun, type: string, name?: string): RegisteredResource {
  const found = run.resources.filter((r) => r.type === type && (name === undefined || r.name === name));
  if (found.length !== 1)
    throw new Error(`expected one ${type}${name ? ` named ${name}` : ""}, found ${found.length}`);
  return found[0];
}

/** Follows a path like "spec.template.spec" into an object. */
export function at(value: unknown, dotted: string): any {
  return dotted
    .split(".")
    .reduce<any>((v, key) => (v === undefined || v === null ? undefined : v[key]), value);
}

/**
 * Whether `resource` waits for `target` before it is created: through its own dependencies, where
 * depending on a component means waiting for every resource under it.
 */
export function waitsFor(run: MockRun, resource: RegisteredResource, target: RegisteredResource): boolean {
  const byUrn = new Map(run.resources.map((r) => [r.urn, r]));
  const children = (urn: string) => run.resources.filter((r) => r.parentUrn === urn);
  const seen = new Set<string>();
  const queue = [...resource.dependencies];
  while (queue.length > 0) {
    const urn = queue.pop()!;
    if (seen.has(urn)) continue;
    seen.add(urn);
    if (urn === target.urn) return true;
    const dep = byUrn.get(urn);
    if (!dep) continue;
    queue.push(...dep.dependencies);
    if (!dep.custom) queue.push(...children(urn).map((c) => c.urn));
  }
  return false;
}
