import { num } from "./format";
import type { CatalogueContext, RuleGroup } from "./types";

/** Recorded GPU memory used / total, per pod and GPU. */
export const gpuMemoryRatioRecord = (c: CatalogueContext) => `${c.prefix}:gpu_memory_used:ratio`;

/**
 * GPU memory. The article's alert had no comparison, divided by a metric nobody exports and wrapped
 * it in scalar(), which is NaN as soon as there are two GPUs. Here the division matches series one to
 * one (same pod, same gpu), so each GPU is judged on its own.
 */
export function gpuRules(c: CatalogueContext): RuleGroup {
  const t = c.thresholds;
  const ratio = `${c.names.gpuMemoryUsed} / ${c.names.gpuMemoryTotal}`;
  // Sonic keeps the source article's name; every other service's is prefixed like its other alerts.
  const alert = c.prefix === "sonic" ? "HighGPUMemoryUsage" : `${c.alertPrefix}HighGPUMemoryUsage`;
  return {
    name: `${c.prefix}-gpu`,
    rules: [
      { record: gpuMemoryRatioRecord(c), expr: ratio },
      {
        alert,
        expr: `${ratio} > ${num(t.gpuMemoryRatio)}`,
        for: t.gpuMemoryFor,
        labels: { severity: "critical" },
        annotations: {
          summary: `GPU memory above ${num(t.gpuMemoryRatio * 100)}%`,
          description: `GPU {{ $labels.gpu }} of {{ $labels.namespace }}/{{ $labels.pod }} uses {{ $value | humanizePercentage }} of its memory; the next large job may fail with out-of-memory.`,
          runbook_url: c.runbookUrl(alert),
        },
      },
    ],
  };
}
