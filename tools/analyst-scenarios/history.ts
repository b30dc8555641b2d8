/**
 * Synthetic Prometheus history for analyst scenarios, written as OpenMetrics with timestamps for
 * `promtool tsdb create-blocks-from openmetrics`. A series is a metric name, labels and a value as a
 * function of minutes before "now" (undefined: no sample, the series does not exist then).
 */
export interface SeriesSpec {
  name: string;
  labels: Record<string, string>;
  value: (minutesAgo: number) => number | undefined;
}

/** History length and resolution: two hours at one sample a minute, and ten minutes past now. */
export const HISTORY_MINUTES = 120;
export const FUTURE_MINUTES = 10;

function labelText(labels: Record<string, string>): string {
  const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${escape(v)}"`)
    .join(",");
}

/**
 * All series as one OpenMetrics text, grouped by metric name (the format wants each family's samples
 * together), timestamps in seconds from `now - HISTORY_MINUTES` to `now + FUTURE_MINUTES`. The few
 * minutes past now keep "now" inside the data while the suite runs: a query at the real time still
 * finds its latest sample within Prometheus' 5-minute look-back.
 */
export function openMetrics(series: SeriesSpec[], now: number): string {
  const byName = new Map<string, SeriesSpec[]>();
  for (const s of series) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  const lines: string[] = [];
  for (const [, family] of byName)
    for (const s of family) {
      const labels = labelText(s.labels);
      for (let m = HISTORY_MINUTES; m >= -FUTURE_MINUTES; m--) {
        // Past "now" a series holds its value at now: the future is only a margin for the clock.
        const v = s.value(Math.max(m, 0));
        if (v !== undefined) lines.push(`${s.name}{${labels}} ${v} ${now - m * 60}`);
      }
    }
  lines.push("# EOF");
  return lines.join("\n") + "\n";
}

/** A counter that grows `perMinute` while `when(minutesAgo)` holds (reset-free). */
export function counter(perMinute: (minutesAgo: number) => number): (m: number) => number {
  return (m) => {
    let total = 0;
    for (let i = HISTORY_MINUTES; i > m; i--) total += perMinute(i);
    return total;
  };
}
