import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import { REPO_ROOT } from "../testkit/stack-file";

/** The folders the image compiles (tsconfig.app.json's include). */
const APP_SOURCES = ["app", "contract"];

function sourceFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) files.push(full);
    }
  };
  for (const dir of APP_SOURCES) walk(path.join(root, dir));
  return files.sort();
}

const builds = new Map<string, string>();

/**
 * The app's programs (app/ and contract/) as JavaScript, compiled once and reused while their sources are
 * unchanged: each process the sandbox starts is then plain `node`, where ts-node would load the TypeScript
 * compiler and transpile the app again in every one of them (one per API, worker and model server, a few
 * seconds each on two cores). It is what ts-node's transpile-only mode does, once: `transpileModule` with the
 * project's compiler options, no type check (`npm run lint` and `npm test` type-check first). Returns the
 * folder that holds `app/` and `contract/`, `.build/app/<digest>/` under `root` (git-ignored); a folder is
 * written under a temporary name and renamed, so concurrent test processes never read a half-written one.
 */
export function appBuild(root = REPO_ROOT): string {
  const known = builds.get(root);
  if (known) return known;
  const files = sourceFiles(root);
  const digest = createHash("sha256");
  for (const file of files) digest.update(`${path.relative(root, file)}\0${readFileSync(file, "utf8")}\0`);
  const out = path.join(root, ".build", "app", digest.digest("hex").slice(0, 16));
  if (!existsSync(out)) {
    const { config } = ts.readConfigFile(path.join(root, "tsconfig.json"), ts.sys.readFile);
    const { options } = ts.convertCompilerOptionsFromJson(config.compilerOptions, root);
    const compilerOptions = { ...options, declaration: false, sourceMap: false, inlineSourceMap: true };
    const tmp = `${out}.${process.pid}.tmp`;
    for (const file of files) {
      const { outputText } = ts.transpileModule(readFileSync(file, "utf8"), {
        compilerOptions,
        fileName: file,
      });
      const target = path.join(tmp, path.relative(root, file)).replace(/\.ts$/, ".js");
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, outputText);
    }
    try {
      renameSync(tmp, out);
    } catch (err) {
      // Another process finished the same build first: its folder is the same build.
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(out) || !statSync(out).isDirectory()) throw err;
    }
  }
  builds.set(root, out);
  return out;
}

/**
 * The command line that starts one of the app's programs, `entry` being its source path under `root`
 * (`app/api/main.ts`): node on the compiled JavaScript of {@link appBuild}, its stack traces mapped back to
 * the TypeScript lines.
 */
export function appCommand(entry: string, root = REPO_ROOT): string[] {
  return [process.execPath, "--enable-source-maps", path.join(appBuild(root), entry.replace(/\.ts$/, ".js"))];
}
