import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { renderInChild, type RenderedObject } from "./render";
import { REPO_ROOT } from "../testkit/stack-file";

/** One difference between two renders. */
export type ObjectChange =
  | { kind: "added" | "removed"; file: string }
  | { kind: "changed"; file: string; fields: { path: string; before: unknown; after: unknown }[] };

/** Field-level differences of two JSON values, as `spec.metrics[0].target` paths. */
export function fieldChanges(
  before: unknown,
  after: unknown,
  at = "",
): { path: string; before: unknown; after: unknown }[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  // Embedded JSON documents (a dashboard in a ConfigMap) are compared field by field too.
  if (
    typeof before === "string" &&
    typeof after === "string" &&
    /^\s*\{/.test(before) &&
    /^\s*\{/.test(after)
  ) {
    try {
      return fieldChanges(JSON.parse(before), JSON.parse(after), `${at}<json>`);
    } catch {
      /* not JSON after all: compared as text below */
    }
  }
  const isObject = (v: unknown) => v !== null && typeof v === "object";
  if (!isObject(before) || !isObject(after) || Array.isArray(before) !== Array.isArray(after)) {
    return [{ path: at || "(root)", before, after }];
  }
  const keys = new Set([...Object.keys(before as object), ...Object.keys(after as object)]);
  return [...keys].sort().flatMap((key) => {
    const child = Array.isArray(before) ? `${at}[${key}]` : at ? `${at}.${key}` : key;
    return fieldChanges(
      (before as Record<string, unknown>)[key],
      (after as Record<string, unknown>)[key],
      child,
    );
  });
}

/** Per-object differences between two renders, by file name (namespace, kind, name). */
export function diffRenders(before: RenderedObject[], after: RenderedObject[]): ObjectChange[] {
  const old = new Map(before.map((o) => [o.file, o]));
  const now = new Map(after.map((o) => [o.file, o]));
  const files = [...new Set([...old.keys(), ...now.keys()])].sort();
  return files.flatMap((file): ObjectChange[] => {
    const a = old.get(file);
    const b = now.get(file);
    if (!a) return [{ kind: "added", file }];
    if (!b) return [{ kind: "removed", file }];
    const fields = fieldChanges(a.body, b.body);
    return fields.length ? [{ kind: "changed", file, fields }] : [];
  });
}

/**
 * Fields the API server refuses to change on an existing object, by kind (its validation of updates). The
 * engine replaces an object of its own where one changes (the provider's forceNew fields); Helm's upgrade
 * patches a chart's object in place, and the API server refuses it.
 */
export const IMMUTABLE_FIELDS: Record<string, string[]> = {
  Deployment: ["spec.selector"],
  DaemonSet: ["spec.selector"],
  ReplicaSet: ["spec.selector"],
  StatefulSet: ["spec.selector", "spec.volumeClaimTemplates", "spec.serviceName", "spec.podManagementPolicy"],
  Job: ["spec.selector", "spec.template", "spec.completions"],
  Service: ["spec.clusterIP", "spec.clusterIPs", "spec.ipFamilies"],
  PersistentVolumeClaim: ["spec.accessModes", "spec.storageClassName", "spec.volumeName", "spec.selector"],
};

/** Changes of a render diff to a field that {@link IMMUTABLE_FIELDS} lists for the object's kind. */
export function immutableChanges(changes: ObjectChange[]): { file: string; path: string }[] {
  return changes.flatMap((c) => {
    if (c.kind !== "changed") return [];
    const kind = Object.keys(IMMUTABLE_FIELDS).find((k) => c.file.includes(`.${k.toLowerCase()}.`));
    const fields = kind ? IMMUTABLE_FIELDS[kind] : [];
    const paths = c.fields
      .map((f) => f.path)
      .filter((p) => fields.some((f) => p === f || p.startsWith(`${f}.`) || p.startsWith(`${f}[`)));
    // One finding per immutable field, however many of its leaves changed.
    const roots = [...new Set(paths.map((p) => fields.find((f) => p === f || p.startsWith(f))!))];
    return roots.map((path) => ({ file: c.file, path }));
  });
}

const short = (v: unknown) => {
  const text = v === undefined ? "(absent)" : JSON.stringify(v);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
};

export function formatChanges(changes: ObjectChange[], from: string, to: string): string {
  if (changes.length === 0) return `no differences between ${from} and ${to}\n`;
  const lines = [`${changes.length} object(s) differ between ${from} and ${to}:`];
  for (const c of changes) {
    if (c.kind === "changed") {
      lines.push(`~ ${c.file}`);
      for (const f of c.fields) lines.push(`    ${f.path}: ${short(f.before)} -> ${short(f.after)}`);
    } else {
      lines.push(`${c.kind === "added" ? "+" : "-"} ${c.file}`);
    }
  }
  return lines.join("\n") + "\n";
}

/** Checks out `ref` of `repo` in a temporary worktree sharing this checkout's node_modules. */
function checkout(repo: string, ref: string): { root: string; remove(): void } {
  const root = mkdtempSync(path.join(tmpdir(), "sonic-diff-"));
  execFileSync("git", ["worktree", "add", "--detach", "--force", root, ref], { cwd: repo, stdio: "ignore" });
  symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(root, "node_modules"));
  return {
    root,
    remove: () => {
      execFileSync("git", ["worktree", "remove", "--force", root], { cwd: repo, stdio: "ignore" });
      rmSync(root, { recursive: true, force: true });
    },
  };
}

async function main(argv: string[]): Promise<number> {
  const usage =
    "usage: npm run diff -- --stack <dev|prod> --base <git-ref>   |   npm run diff -- --stacks <a> <b>";
  if (argv.includes("--stacks")) {
    const [a, b] = argv.slice(argv.indexOf("--stacks") + 1);
    if (!a || !b) throw new Error(usage);
    const [left, right] = await Promise.all([renderInChild(a, REPO_ROOT), renderInChild(b, REPO_ROOT)]);
    const changes = diffRenders(left, right);
    process.stdout.write(formatChanges(changes, `stack ${a}`, `stack ${b}`));
    return changes.length ? 1 : 0;
  }
  const stack = argv.includes("--stack") ? argv[argv.indexOf("--stack") + 1] : undefined;
  const base = argv.includes("--base") ? argv[argv.indexOf("--base") + 1] : undefined;
  // --repo compares another checkout of the program (tests use a scratch repository).
  const repo = argv.includes("--repo") ? path.resolve(argv[argv.indexOf("--repo") + 1]) : REPO_ROOT;
  if (!stack || !base) throw new Error(usage);
  const worktree = checkout(repo, base);
  try {
    const [before, after] = await Promise.all([
      renderInChild(stack, worktree.root),
      renderInChild(stack, repo),
    ]);
    const changes = diffRenders(before, after);
    process.stdout.write(formatChanges(changes, `${base} (${stack})`, `the working tree (${stack})`));
    for (const c of immutableChanges(changes))
      process.stdout.write(
        `! ${c.file}: ${c.path} cannot change in place: ${c.file.includes("/") ? "the API server will refuse Helm's upgrade" : "the engine will replace the object"}\n`,
      );
    return changes.length ? 1 : 0;
  } finally {
    worktree.remove();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exit(2);
    },
  );
}
