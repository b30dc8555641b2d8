import { num } from "./format";
import type { CatalogueContext, RuleGroup } from "./types";

/** Recorded resident-memory growth in bytes per hour, per pod (slope of a 1h linear fit). */
export const memoryGrowthRecord = (c: CatalogueContext) =>
  `${c.prefix}:process_resident_memory_bytes:deriv1h`;

/** Memory leaks: the article's third incident, RSS rising ~50 MB/hour because a cache held tensors. */
export function memoryRules(c: CatalogueContext): RuleGroup {
  const t = c.thresholds;
  return {
    name: `${c.prefix}-memory`,
    rules: [
      { record: memoryGrowthRecord(c), expr: `deriv(${c.names.residentMemory}[1h]) * 3600` },
      {
        alert: `${c.alertPrefix}MemoryLeak`,
        expr: `${memoryGrowthRecord(c)} > ${num(t.memoryGrowthBytesPerHour)}`,
        for: t.memoryLeakFor,
        labels: { severity: "warning" },
        annotations: {
          summary: `${c.alertPrefix} resident memory keeps growing`,
          description: `Resident memory of {{ $labels.namespace }}/{{ $labels.pod }} grows by {{ $value | humanize1024 }}B per hour.`,
          runbook_url: c.runbookUrl(`${c.alertPrefix}MemoryLeak`),
        },
      },
    ],
  };
}
