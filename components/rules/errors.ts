import { num } from "./format";
import type { CatalogueContext, RuleGroup } from "./types";

/** Windows of the multiwindow, multi-burn-rate alerts (Google SRE workbook, "Alerting on SLOs"). */
export const SLO_WINDOWS = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"] as const;
export type SloWindow = (typeof SLO_WINDOWS)[number];

/** Recorded share of non-client requests that ended in a server error, per namespace. */
export const errorRatioRecord = (c: CatalogueContext, window: SloWindow) =>
  `${c.prefix}:request_error_ratio:rate${window}`;
/** Recorded requests per second over the last hour, per namespace: the minimum-traffic guard. */
export const requestRateRecord = (c: CatalogueContext) => `${c.prefix}:request_rate:rate1h`;

/** Share of non-client requests that ended in a server error over `window`, per namespace. */
function errorRatioExpr(c: CatalogueContext, window: string): string {
  const total = c.names.requestTotal;
  // `or ... * 0` keeps the ratio at 0 (not absent) before the first server error is counted.
  return (
    `(sum by (namespace) (rate(${total}{status="server_error"}[${window}])) or sum by (namespace) (rate(${total}[${window}])) * 0)` +
    ` / sum by (namespace) (rate(${total}{status!="client_error"}[${window}]))`
  );
}

/**
 * The minimum-traffic guard appended to ratio alerts, so one failed request in a quiet hour does not
 * page. Written out rather than read from the recorded rate: groups evaluate independently, and a
 * series recorded by another group lags by up to one evaluation (and makes rule tests order-dependent).
 */
export function trafficGuard(c: CatalogueContext): string {
  return `and on (namespace) sum by (namespace) (rate(${c.names.requestTotal}[1h])) > ${num(c.thresholds.minRequestsPerHour / 3600)}`;
}

/** [long window, short window, burn-rate factor] rows of the SRE workbook's table. */
const PAGE: [SloWindow, SloWindow, number][] = [
  ["1h", "5m", 14.4],
  ["6h", "30m", 6],
];
const TICKET: [SloWindow, SloWindow, number][] = [
  ["1d", "2h", 3],
  ["3d", "6h", 1],
];

/** Errors and the availability SLO: error-ratio recordings, a plain error-rate alert, and budget burn. */
export function errorRules(c: CatalogueContext): RuleGroup {
  const t = c.thresholds;
  const budget = 1 - t.sloTarget;
  // The recorded ratio when the window is one of the SLO windows, else written out.
  const windowRatio = (SLO_WINDOWS as readonly string[]).includes(t.errorRatioWindow)
    ? errorRatioRecord(c, t.errorRatioWindow as SloWindow)
    : `(${errorRatioExpr(c, t.errorRatioWindow)})`;
  const burn = (rows: [SloWindow, SloWindow, number][]) =>
    rows
      .map(
        ([long, short, factor]) =>
          `(${errorRatioRecord(c, long)} > ${num(factor * budget)} and ${errorRatioRecord(c, short)} > ${num(factor * budget)})`,
      )
      .join(" or ");
  const burnAnnotations = (kind: string) => ({
    summary: `${c.alertPrefix} is burning its error budget fast enough to ${kind}`,
    description:
      `Server errors in namespace {{ $labels.namespace }} (all pods) are using the ${num(t.sloTarget * 100)}% availability ` +
      `SLO's error budget too fast: {{ $value | humanizePercentage }} of requests fail over the long window.`,
    runbook_url: c.runbookUrl(`${c.alertPrefix}ErrorBudgetBurn`),
  });
  return {
    name: `${c.prefix}-errors`,
    rules: [
      ...SLO_WINDOWS.map((w) => ({ record: errorRatioRecord(c, w), expr: errorRatioExpr(c, w) })),
      { record: requestRateRecord(c), expr: `sum by (namespace) (rate(${c.names.requestTotal}[1h]))` },
      {
        alert: `${c.alertPrefix}HighErrorRate`,
        expr: `${windowRatio} > ${num(t.errorRatio)} ${trafficGuard(c)}`,
        for: t.errorRatioFor,
        labels: { severity: "warning" },
        annotations: {
          summary: `${c.alertPrefix} fails more than ${num(t.errorRatio * 100)}% of requests`,
          description: `{{ $value | humanizePercentage }} of requests in namespace {{ $labels.namespace }} (all pods) ended in a server error over ${t.errorRatioWindow}.`,
          runbook_url: c.runbookUrl(`${c.alertPrefix}HighErrorRate`),
        },
      },
      {
        alert: `${c.alertPrefix}ErrorBudgetBurn`,
        expr: `(${burn(PAGE)}) ${trafficGuard(c)}`,
        for: t.burnRatePageFor,
        labels: { severity: "critical", window: "fast" },
        annotations: burnAnnotations("page"),
      },
      {
        alert: `${c.alertPrefix}ErrorBudgetBurn`,
        expr: `(${burn(TICKET)}) ${trafficGuard(c)}`,
        for: t.burnRateTicketFor,
        labels: { severity: "warning", window: "slow" },
        annotations: burnAnnotations("need a ticket"),
      },
    ],
  };
}
