import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import { ROOT } from "./paths";
import { randomSdkVersion } from "./random-stand-in/provider";

/** The stand-in's sources in this checkout, and its executable for running it from here (through ts-node). */
export const RANDOM_STAND_IN_DIR = path.join(__dirname, "random-stand-in");
export const RANDOM_STAND_IN_ENTRY = path.join(RANDOM_STAND_IN_DIR, "pulumi-resource-random");
/** Where the stand-in's imports (@pulumi/pulumi, @pulumi/random) resolve from. */
const NODE_MODULES = path.join(ROOT, "node_modules");

/** What `installRandomStandIn` put where. */
export interface InstalledPlugin {
  /** The plugin directory, `$PULUMI_HOME/plugins/resource-random-v<version>`. */
  dir: string;
  /** The executable the engine starts, `<dir>/pulumi-resource-random`. */
  executable: string;
  /** The provider version the directory answers for. */
  version: string;
}

/**
 * Installs the STAND-IN random provider plugin (cluster/random-stand-in) into a PULUMI_HOME, where the
 * engine looks for `random` when the program's @pulumi/random asks for `version`:
 * `$PULUMI_HOME/plugins/resource-random-v<version>/pulumi-resource-random`. That is the whole layout the
 * engine (3.248, `workspace.GetPluginsFromDir`) needs: a directory named `<kind>-<name>-v<version>`, no
 * `<dir>.partial` file beside it (which marks an unfinished install and hides the plugin), and the
 * executable inside. No `.lock` file is needed, nor `pulumi plugin install` (which wants a tarball or a
 * binary, and would copy the script away from the checkout it runs from).
 *
 * The sources are transpiled into the directory (the engine starts the plugin once per operation, and
 * loading the TypeScript compiler each time costs seconds on a loaded machine), and the executable is a small
 * launcher that runs them with the current node and this checkout's node_modules by absolute path, so it
 * works whatever directory and PATH the engine starts it with. Idempotent; meant for a
 * test's own temporary PULUMI_HOME, never the user's. Set `PULUMI_IGNORE_AMBIENT_PLUGINS=true` as well, or a
 * real `pulumi-resource-random` on PATH would win over this.
 * @param pulumiHome the PULUMI_HOME the Automation API will run with
 * @param version the provider version to answer for. @default the version of @pulumi/random in node_modules
 */
export function installRandomStandIn(
  pulumiHome: string,
  version: string = randomSdkVersion(),
): InstalledPlugin {
  if (!/^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/.test(version))
    throw new Error(
      `'version' (${JSON.stringify(version)}) must be a semantic version like 4.21.2, without a v`,
    );
  const dir = path.join(path.resolve(pulumiHome), "plugins", `resource-random-v${version}`);
  const executable = path.join(dir, "pulumi-resource-random");
  fs.mkdirSync(dir, { recursive: true });
  fs.rmSync(`${dir}.partial`, { force: true });
  for (const file of fs.readdirSync(RANDOM_STAND_IN_DIR).filter((f) => f.endsWith(".ts"))) {
    const source = fs.readFileSync(path.join(RANDOM_STAND_IN_DIR, file), "utf8");
    const { outputText } = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
      },
    });
    fs.writeFileSync(path.join(dir, file.replace(/\.ts$/, ".js")), outputText);
  }
  const launcher = [
    "#!/bin/sh",
    "# STAND-IN random provider for tests, installed by cluster/install-random-stand-in.ts",
    `# from ${RANDOM_STAND_IN_DIR}.`,
    `NODE_PATH=${shellQuote(NODE_MODULES)}`,
    "export NODE_PATH",
    "# exec, so the engine's interrupt reaches node itself rather than a shell waiting on it.",
    `exec ${shellQuote(process.execPath)} ${shellQuote(path.join(dir, "main.js"))} "$@"`,
    "",
  ].join("\n");
  fs.writeFileSync(executable, launcher, { mode: 0o755 });
  fs.chmodSync(executable, 0o755);
  return { dir, executable, version };
}

/** A string as one POSIX shell word. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
