import { num } from "./format";
import { trafficGuard } from "./errors";
import type { CatalogueContext, RuleGroup } from "./types";

/** Recorded share of requests whose audio failed to decode, per namespace. */
export const decodeFailureRatioRecord = (c: CatalogueContext) =>
  `${c.prefix}:audio_decode_failure:ratio_rate15m`;

/** Bad inputs: a jump in undecodable audio means a client or an image without a codec. */
export function inputRules(c: CatalogueContext): RuleGroup {
  const t = c.thresholds;
  return {
    name: `${c.prefix}-inputs`,
    rules: [
      {
        record: decodeFailureRatioRecord(c),
        expr:
          `(sum by (namespace) (rate(${c.names.audioDecodeFailure}[15m])) or sum by (namespace) (rate(${c.names.requestTotal}[15m])) * 0)` +
          ` / sum by (namespace) (rate(${c.names.requestTotal}[15m]))`,
      },
      {
        alert: `${c.alertPrefix}AudioDecodeFailures`,
        expr: `${decodeFailureRatioRecord(c)} > ${num(t.decodeFailureRatio)} ${trafficGuard(c)}`,
        for: t.decodeFailureFor,
        labels: { severity: "warning" },
        annotations: {
          summary: `More than ${num(t.decodeFailureRatio * 100)}% of ${c.alertPrefix} requests carry undecodable audio`,
          description: `{{ $value | humanizePercentage }} of requests in namespace {{ $labels.namespace }} (all pods) failed audio decoding over 15m; see the reason label of ${c.names.audioDecodeFailure}.`,
          runbook_url: c.runbookUrl(`${c.alertPrefix}AudioDecodeFailures`),
        },
      },
    ],
  };
}
