import { promqlString } from "../../contract/promql";

export { promqlString };

/** Prints a threshold without floating-point noise: 14.4 * (1 - 0.99) -> "0.144", not "0.14400000000000013". */
export function num(value: number): string {
  return String(Number(value.toPrecision(6)));
}

/** `{job="...", namespace="..."}`-style matcher text, every value a proper PromQL string. */
export function matchers(labels: Record<string, string>): string {
  return `{${Object.entries(labels)
    .map(([k, v]) => `${k}=${promqlString(v)}`)
    .join(", ")}}`;
}
