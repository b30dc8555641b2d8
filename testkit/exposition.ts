/** One sample line of a Prometheus text exposition. */
export interface ExpositionSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  type: string;
  samples: ExpositionSample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * Parses the text exposition format (0.0.4) into families keyed by their `# TYPE` name, with histogram
 * and summary series (`_bucket`, `_sum`, `_count`) under their family. (The npm parser we tried,
 * parse-prometheus-text-format 1.1.1, drops the labels of labelled histograms.)
 */
export function parseExposition(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      families.set(type[1], { name: type[1], type: type[2], samples: [] });
      continue;
    }
    if (line === "" || line.startsWith("#")) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(LABEL)) labels[key] = value;
    const family =
      families.get(match[1]) ?? families.get(match[1].replace(/_(bucket|sum|count)$/, "")) ?? undefined;
    if (!family) throw new Error(`sample without a # TYPE line: ${line}`);
    family.samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return families;
}

/** Number of series (sample lines) in an exposition: what a pod costs Prometheus. */
export function seriesCount(text: string): number {
  return [...parseExposition(text).values()].reduce((sum, family) => sum + family.samples.length, 0);
}
