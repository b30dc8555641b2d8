import { execFileSync, spawnSync } from "node:child_process";
import * as path from "node:path";
import { REPO_ROOT } from "./stack-file";

/**
 * The promtool of the Prometheus the cluster stacks deploy (kube-prometheus-stack 88.5.3 runs
 * prometheus/prometheus:v3.14.0). Rules are proven on that engine and no other: Prometheus 3 made range
 * selectors left-open, `(t-d, t]`, so a suite that passes on a 2.x promtool can fail on the real one.
 */
export const PROMTOOL_VERSION = "3.14.0";
/** Where `npm run setup` (through `bash cluster/setup.sh prometheus`) installs it, built from github.com/prometheus/prometheus v0.314.0. */
export const PROMTOOL = path.join(REPO_ROOT, ".tools", "bin", "promtool");
const BUILD_HINT =
  "run 'npm run setup' (it builds promtool from github.com/prometheus/prometheus v0.314.0 with 'bash cluster/setup.sh prometheus'; needs Go 1.26)";

let checked = false;

/**
 * Fails loudly, with the command that builds it, unless .tools/bin/promtool is promtool 3.14.0. There is
 * no fallback to a promtool on PATH (Debian's is 2.42): a rules test never passes on the wrong engine.
 */
export function requirePromtool(): void {
  if (checked) return;
  const found = spawnSync(PROMTOOL, ["--version"], { encoding: "utf8" });
  if (found.error) {
    throw new Error(
      `promtool ${PROMTOOL_VERSION} is missing: ${PROMTOOL} does not run (${found.error.message}); ${BUILD_HINT}`,
    );
  }
  const version = /^promtool, version (\S+)/m.exec(`${found.stdout}${found.stderr}`)?.[1];
  if (found.status !== 0 || version !== PROMTOOL_VERSION) {
    throw new Error(
      `promtool: expected version ${PROMTOOL_VERSION} at ${PROMTOOL}, got ${JSON.stringify(version ?? found.stderr.trim())}; ${BUILD_HINT}`,
    );
  }
  checked = true;
}

/** Runs promtool 3.14; returns its combined output, or throws with it when promtool reports a failure. */
export function promtool(args: string[], cwd?: string, input?: string): string {
  requirePromtool();
  try {
    return execFileSync(PROMTOOL, args, {
      cwd,
      encoding: "utf8",
      input,
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`promtool ${args.join(" ")} failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}
