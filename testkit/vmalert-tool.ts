import { execFileSync, spawnSync } from "node:child_process";
import * as path from "node:path";
import { REPO_ROOT } from "./stack-file";

/**
 * The version of vmalert the fleet's ruler runs (victoria-metrics-alert 0.47.0's appVersion, over
 * victoria-metrics-cluster 0.49.0, also v1.150.0). Its `vmalert-tool unittest` evaluates rules with vmalert's
 * own rule engine over an embedded VictoriaMetrics: MetricsQL, as the fleet's rules run in production.
 */
export const VMALERT_VERSION = "v1.150.0";
/** Where `npm run setup` (through `bash cluster/setup.sh victoria-metrics`) installs it, built from github.com/VictoriaMetrics/VictoriaMetrics v1.150.0. */
export const VMALERT_TOOL = path.join(REPO_ROOT, ".tools", "bin", "vmalert-tool");
/** vmalert itself, from the same build. */
export const VMALERT = path.join(REPO_ROOT, ".tools", "bin", "vmalert");
const BUILD_HINT =
  "run 'npm run setup' (it builds vmalert-tool from github.com/VictoriaMetrics/VictoriaMetrics v1.150.0 with 'bash cluster/setup.sh victoria-metrics'; needs Go 1.26)";

let checked = false;

/** Fails loudly, with the command that builds it, unless .tools/bin/vmalert-tool is v1.150.0. */
export function requireVmalertTool(): void {
  if (checked) return;
  const found = spawnSync(VMALERT_TOOL, ["--version"], { encoding: "utf8" });
  if (found.error) {
    throw new Error(
      `vmalert-tool ${VMALERT_VERSION} is missing: ${VMALERT_TOOL} does not run (${found.error.message}); ${BUILD_HINT}`,
    );
  }
  // "vmalert-tool version vmalert-tool-v1.150.0", the version cluster/setup.sh stamps.
  const version = /version \S*?(v\d+\.\d+\.\d+)\s*$/m.exec(found.stdout)?.[1];
  if (found.status !== 0 || version !== VMALERT_VERSION) {
    throw new Error(
      `vmalert-tool: expected version ${VMALERT_VERSION} at ${VMALERT_TOOL}, got ${JSON.stringify(version ?? `${found.stdout}${found.stderr}`.trim())}; ${BUILD_HINT}`,
    );
  }
  checked = true;
}

/**
 * `vmalert-tool unittest` of promtool-style suites in `cwd`; returns its output, or throws with it when a case
 * fails. Alerts are compared without vmalert's `alertgroup` label (`-disableAlertgroupLabel`), as promtool
 * compares them, so one suite file serves both engines.
 */
export function vmalertUnittest(files: string[], cwd: string): string {
  requireVmalertTool();
  try {
    return execFileSync(
      VMALERT_TOOL,
      ["unittest", "-disableAlertgroupLabel", ...files.map((f) => `-files=${f}`)],
      { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
    );
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`vmalert-tool unittest ${files.join(" ")} failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}

/** `vmalert -dryRun` of a rule file, as vmalert loads it at start (MetricsQL parse, templates); throws with its log when refused. */
export function vmalertCheckRules(file: string): void {
  requireVmalertTool();
  try {
    execFileSync(VMALERT, [`-rule=${file}`, "-dryRun"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`vmalert -rule=${file} -dryRun failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}
