import { execFileSync, spawnSync } from "node:child_process";

/** Fails loudly, with the install hint, when promtool is missing: a rules test never skips silently. */
export function requirePromtool(): void {
  const found = spawnSync("promtool", ["--version"], { encoding: "utf8" });
  if (found.error || found.status !== 0) {
    throw new Error(
      "promtool is not installed: run 'npm run setup' or 'sudo apt-get install prometheus' (Debian/Ubuntu)",
    );
  }
}

/** Runs promtool; returns its combined output, or throws with it when promtool reports a failure. */
export function promtool(args: string[], cwd?: string, input?: string): string {
  try {
    return execFileSync("promtool", args, {
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
