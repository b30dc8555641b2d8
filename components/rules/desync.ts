import { num } from "./format";
import type { CatalogueContext, RuleGroup } from "./types";

/** Recorded p95 of |audio length - video length| per pod. */
export const avOffsetRecord = (c: CatalogueContext) => `${c.prefix}:av_sync_offset_seconds:p95_rate30m`;

/** Audio/video desync: the article's first incident (a non-streaming decoder drifted past 300 ms). */
export function desyncRules(c: CatalogueContext): RuleGroup {
  const t = c.thresholds;
  return {
    name: `${c.prefix}-desync`,
    rules: [
      {
        record: avOffsetRecord(c),
        expr: `histogram_quantile(0.95, sum by (namespace, pod, le) (rate(${c.names.avSyncOffset}_bucket[30m])))`,
      },
      {
        alert: `${c.alertPrefix}AudioVideoDesync`,
        expr: `${avOffsetRecord(c)} > ${num(t.avOffsetSeconds)}`,
        for: t.avOffsetFor,
        labels: { severity: "warning" },
        annotations: {
          summary: `${c.alertPrefix} videos drift from their audio by more than ${num(t.avOffsetSeconds * 1000)} ms`,
          description: `p95 audio/video offset of {{ $labels.namespace }}/{{ $labels.pod }} is {{ $value | humanize }}s over 30m.`,
          runbook_url: c.runbookUrl(`${c.alertPrefix}AudioVideoDesync`),
        },
      },
    ],
  };
}
