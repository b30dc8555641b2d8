import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { REPO_ROOT } from "../testkit/stack-file";

/**
 * `npm run pack:components`: the component package other teams install, built from components/ and contract/ only
 * (compiled JavaScript and declarations; no app, stacks or tests), packed with `npm pack`. Pulumi
 * packages are peer dependencies, as in Pulumi's own component packages, so the consumer's program
 * and the components share one @pulumi/pulumi runtime. Prints the tarball's path.
 */
export function packComponents(outDir = path.join(REPO_ROOT, "build")): string {
  const root = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8"));
  const staging = path.join(outDir, "components-package");
  rmSync(staging, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [
      path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc"),
      "-p",
      path.join(REPO_ROOT, "tsconfig.components.json"),
      "--outDir",
      path.join(staging, "dist"),
    ],
    {
      cwd: REPO_ROOT,
      stdio: "inherit",
    },
  );
  const dependency = (name: string) => root.dependencies[name] ?? root.devDependencies[name];
  const manifest = {
    name: "@sonic-observability/components",
    version: root.version,
    description:
      "Pulumi components to monitor and autoscale GPU inference services: kube-prometheus-stack, ServiceMonitor, alert catalogue, dashboards, prometheus-adapter, HPA",
    license: root.license,
    // The runbook links of every alert derive from it (components/rules/index.ts).
    repository: root.repository,
    main: "dist/components/index.js",
    types: "dist/components/index.d.ts",
    exports: { ".": { types: "./dist/components/index.d.ts", default: "./dist/components/index.js" } },
    files: ["dist/**/*.js", "dist/**/*.d.ts"],
    engines: root.engines,
    dependencies: {
      "@grafana/grafana-foundation-sdk": dependency("@grafana/grafana-foundation-sdk"),
      // ScaledObject parses its trigger queries with Prometheus' grammar before anything is sent.
      "@prometheus-io/lezer-promql": dependency("@prometheus-io/lezer-promql"),
      "@pulumi/kubernetesx": dependency("@pulumi/kubernetesx"),
      // JobQueue generates the in-cluster Redis password.
      "@pulumi/random": dependency("@pulumi/random"),
      yaml: dependency("yaml"),
      // contract/ (settings tables shared with the app) validates with it.
      zod: dependency("zod"),
    },
    peerDependencies: { "@pulumi/pulumi": "^3.140.0", "@pulumi/kubernetes": "^4.18.0" },
  };
  mkdirSync(staging, { recursive: true });
  writeFileSync(path.join(staging, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
  writeFileSync(
    path.join(staging, "README.md"),
    "# @sonic-observability/components\n\nSee https://github.com/sonic-observability/sonic-observability/blob/main/docs/onboard.md.\n\n" +
      "`@pulumi/kubernetesx` declares a peer range of `@pulumi/kubernetes` ^3; add to your package.json:\n\n" +
      '```json\n"overrides": { "@pulumi/kubernetesx": { "@pulumi/kubernetes": "$@pulumi/kubernetes" } }\n```\n',
  );
  const tarball = execFileSync("npm", ["pack", "--silent", "--pack-destination", outDir], {
    cwd: staging,
    encoding: "utf8",
  })
    .trim()
    .split("\n")
    .pop()!;
  return path.join(outDir, tarball);
}

if (require.main === module) {
  process.stdout.write(`${packComponents()}\n`);
}
