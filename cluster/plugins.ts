import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { ROOT, TOOLS_BIN } from "./paths";

/** Where the live suite's plugins live: kept across `cluster down`, so they are installed once. */
export const PULUMI_HOME = path.join(ROOT, ".tools", "pulumi-home");

/** The provider version the suite really runs (cluster/setup.sh builds it); the SDK asks for its own. */
export const BUILT_KUBERNETES_PROVIDER = "4.25.0";

/** The plugin version an SDK package asks the engine for (its package.json `pulumi.version`). */
export function sdkPluginVersion(pkg: string): string {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, "node_modules", pkg, "package.json"), "utf8")) as {
    pulumi?: { version?: string };
  };
  if (!manifest.pulumi?.version) throw new Error(`${pkg} names no plugin version in its package.json`);
  return manifest.pulumi.version;
}

/**
 * The engine of 3.248 looks up a plugin by the exact version the SDK asks for under $PULUMI_HOME/plugins.
 * The Kubernetes provider built here (4.25.0, the only one the Go proxy serves) is installed under the
 * version @pulumi/kubernetes asks for; the engine prints a version warning, and docs/operate.md says which
 * provider the suite really runs.
 */
export function ensureKubernetesPlugin(env: NodeJS.ProcessEnv): string {
  const version = sdkPluginVersion("@pulumi/kubernetes");
  const dir = path.join(PULUMI_HOME, "plugins", `resource-kubernetes-v${version}`);
  if (!existsSync(path.join(dir, "pulumi-resource-kubernetes"))) {
    const binary = path.join(TOOLS_BIN, "pulumi-resource-kubernetes");
    if (!existsSync(binary)) throw new Error(`${binary} is missing: run 'npm run setup:cluster'`);
    execFileSync(
      path.join(TOOLS_BIN, "pulumi"),
      ["plugin", "install", "resource", "kubernetes", version, "--file", binary],
      {
        env: { ...env, PULUMI_HOME },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
  }
  return version;
}
