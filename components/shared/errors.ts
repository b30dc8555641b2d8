/**
 * An argument that a component (or the stack config) cannot accept. The message always quotes the
 * property and the value, after pulumi-eks' `InputPropertyError`, so a user can find the line to fix.
 */
export class InputPropertyError extends Error {
  constructor(
    /** The property at fault, as a path (`autoscaling.worker.minReplicas`, `metricPrefixes[1]`). */
    public readonly propertyName: string,
    /** What is wrong with it, quoting the value. */
    public readonly reason: string,
  ) {
    super(`${propertyName}: ${reason}`);
    this.name = "InputPropertyError";
  }
}

/** Formats a value the way the errors quote it: strings in double quotes, everything else as JSON. */
export function quote(value: unknown): string {
  return typeof value === "string" ? `"${value}"` : JSON.stringify(value);
}

/** Throws an {@link InputPropertyError} unless `value` is an integer in [min, max]. */
export function requireInteger(
  property: string,
  value: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new InputPropertyError(property, `must be an integer ${range}, got ${quote(value)}`);
  }
}
