import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { REPO_ROOT } from "./stack-file";

/** Another team's Pulumi program (testkit/consumer-program.ts), importing the packed package. */
export const CONSUMER_PROGRAM = readFileSync(path.join(__dirname, "consumer-program.ts"), "utf8").replace(
  '"../components"',
  '"@sonic-observability/components"',
);

/**
 * Another team's project in `dir`, as docs/onboard.md tells it: the packed package from `tarball` and its
 * own @pulumi/pulumi and @pulumi/kubernetes (the versions this repository pins), installed by npm, and
 * the consumer program compiled by tsc. `offline` installs from npm's cache alone (inside a network
 * namespace).
 */
export function consumerProject(dir: string, tarball: string, { offline = false } = {}): void {
  const root = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8"));
  writeFileSync(
    path.join(dir, "package.json"),
    JSON.stringify({
      name: "tts-platform",
      private: true,
      dependencies: {
        "@sonic-observability/components": `file:${tarball}`,
        "@pulumi/pulumi": root.dependencies["@pulumi/pulumi"],
        "@pulumi/kubernetes": root.dependencies["@pulumi/kubernetes"],
      },
      overrides: { "@pulumi/kubernetesx": { "@pulumi/kubernetes": "$@pulumi/kubernetes" } },
    }),
  );
  execFileSync(
    "npm",
    [
      "install",
      offline ? "--offline" : "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--ignore-scripts",
      "--loglevel=error",
    ],
    { cwd: dir, stdio: "pipe" },
  );
  writeFileSync(path.join(dir, "index.ts"), CONSUMER_PROGRAM);
  writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: "node16",
        moduleResolution: "node16",
        target: "ES2022",
        skipLibCheck: true,
        types: [],
      },
      files: ["index.ts"],
    }),
  );
  execFileSync(
    process.execPath,
    [path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "."],
    {
      cwd: dir,
      stdio: "pipe",
    },
  );
}
