import { existsSync, openSync, readSync, statSync, closeSync } from "node:fs";
import type { ScalingDecision } from "./loop";

/** One decision as a line: when, which simulated controller, replicas, what it read, and why. */
export function formatDecision(d: ScalingDecision): string {
  const time = d.time.slice(11, 19);
  const replicas = d.scaled ? `${d.current} -> ${d.desired}` : `${d.current}`;
  const values = Object.entries(d.values)
    .map(([k, v]) => `${k}=${typeof v === "number" ? Math.round(v * 1000) / 1000 : `error(${v})`}`)
    .join(" ");
  const rec = d.recommendation === undefined ? "" : ` rec=${d.recommendation}`;
  return [
    time,
    `t=${String(Math.round(d.t)).padStart(5)}s`,
    `simulated-${d.controller}`.padEnd(15),
    d.deployment,
    `replicas ${replicas}`.padEnd(16),
    `${values}${rec}${d.fallback ? " (fallback)" : ""}`,
    `| ${d.reason}`,
  ].join("  ");
}

/**
 * Follows the decisions log (one JSON a line, appended by the loop) and writes each decision as it
 * arrives; with `changesOnly`, only those that changed the replicas. Runs until `signal` aborts.
 */
export async function watchDecisions(
  file: string,
  write: (line: string) => void,
  options: { changesOnly?: boolean; signal?: AbortSignal; pollMs?: number } = {},
): Promise<void> {
  let offset = 0;
  let rest = "";
  while (!options.signal?.aborted) {
    if (existsSync(file)) {
      const size = statSync(file).size;
      if (size < offset) offset = 0; // a new sandbox truncated the log
      if (size > offset) {
        const fd = openSync(file, "r");
        const buf = Buffer.alloc(size - offset);
        readSync(fd, buf, 0, buf.length, offset);
        closeSync(fd);
        offset = size;
        const lines = (rest + buf.toString("utf8")).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) {
          if (!line.trim()) continue;
          const d = JSON.parse(line) as ScalingDecision;
          if (!options.changesOnly || d.scaled) write(formatDecision(d));
        }
      }
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 250));
  }
}
