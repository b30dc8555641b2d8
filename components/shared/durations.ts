import { InputPropertyError, quote } from "./errors";

/**
 * Prometheus' duration syntax (`1h30m`, `15s`, `30d`): units in descending order, each at most once.
 * The same grammar prometheus-operator's CRDs accept for `interval`, `retention` and rule `for:`.
 */
export const DURATION_PATTERN =
  /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;

const UNIT_SECONDS = [365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001];
const UNIT_NAMES = ["y", "w", "d", "h", "m", "s", "ms"];

/** Seconds in a Prometheus duration, or `undefined` when the text is not one. */
export function tryParseDuration(text: string): number | undefined {
  const match = DURATION_PATTERN.exec(text);
  if (!match || text === "") return undefined;
  return UNIT_SECONDS.reduce((sum, unit, i) => sum + Number(match[i + 1] ?? 0) * unit, 0);
}

/** Seconds in a Prometheus duration; throws an error naming `property` when the text is not one. */
export function parseDuration(property: string, text: string): number {
  const seconds = tryParseDuration(text);
  if (seconds === undefined) {
    throw new InputPropertyError(property, `expected a duration like 30d, got ${quote(text)}`);
  }
  return seconds;
}

/** The shortest Prometheus duration for a number of seconds: 90 -> "1m30s", 7200 -> "2h". */
export function formatDuration(seconds: number): string {
  let rest = Math.round(seconds * 1000);
  if (rest === 0) return "0s";
  let out = "";
  UNIT_SECONDS.forEach((unit, i) => {
    const ms = Math.round(unit * 1000);
    const n = Math.floor(rest / ms);
    if (n > 0) {
      out += `${n}${UNIT_NAMES[i]}`;
      rest -= n * ms;
    }
  });
  return out;
}
