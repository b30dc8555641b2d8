import { z } from "zod";

/**
 * One environment setting of a program: its type, bounds, default and a line of doc. The app parses
 * its environment from a table of these, the components write the environment from typed values and
 * the stack schema derives its bounds from the same rows, so what the stack accepts the pod accepts.
 */
interface SettingBase<T> {
  /** What it does, one line (docs/configuration.md and JSDoc quote it). */
  doc: string;
  /** Used when the variable is unset. @default none: the setting is optional, or `required` */
  default?: T;
  /** The process refuses to start without it. @default false */
  required?: true;
  /** Never echoed in an error message. @default false */
  secret?: true;
}

/** An integer in [min, max]. */
export interface IntSetting extends SettingBase<number> {
  kind: "int";
  min: number;
  max: number;
}
/** A number in [min, max]. */
export interface NumberSetting extends SettingBase<number> {
  kind: "number";
  min: number;
  max: number;
}
/** `true` or `false`. */
export interface BoolSetting extends SettingBase<boolean> {
  kind: "bool";
}
/** One of a closed set. */
export interface EnumSetting extends SettingBase<string> {
  kind: "enum";
  values: readonly [string, ...string[]];
}
/** Non-empty text, optionally a URL or matching `pattern` (`example` is quoted when it does not). */
export interface TextSetting extends SettingBase<string> {
  kind: "text";
  url?: true;
  pattern?: RegExp;
  example?: string;
}

export type Setting = IntSetting | NumberSetting | BoolSetting | EnumSetting | TextSetting;
export type SettingsTable = Record<string, Setting>;

/** The value type of a setting: numbers, booleans, an enum's values, or text. */
export type ValueOf<S> = S extends { kind: "int" | "number" }
  ? number
  : S extends { kind: "bool" }
    ? boolean
    : S extends { kind: "enum"; values: readonly (infer V)[] }
      ? V
      : string;
type Always<T> = {
  [K in keyof T]: T[K] extends { default: unknown } | { required: true } ? K : never;
}[keyof T];

/** The parsed configuration of a table: settings with a default or `required` are always present. */
export type SettingsOf<T extends SettingsTable> = { [K in Always<T>]: ValueOf<T[K]> } & {
  [K in Exclude<keyof T, Always<T>>]?: ValueOf<T[K]>;
};

/** The value's schema without coercion or default: what a typed config (the stack's) accepts. */
export function valueSchema(s: Setting): z.ZodType {
  switch (s.kind) {
    case "int":
      return z.number().int().min(s.min).max(s.max);
    case "number":
      return z.number().min(s.min).max(s.max);
    case "bool":
      return z.boolean();
    case "enum":
      return z.enum(s.values);
    case "text": {
      const text = z.string().min(1);
      // http(s) only: zod's bare url() takes any scheme, "host:port" included (read as scheme "host:").
      if (s.url) return text.url({ protocol: /^https?$/ });
      return s.pattern ? text.regex(s.pattern, { message: `expected ${s.example ?? s.pattern}` }) : text;
    }
    default:
      return unreachable(s);
  }
}

function unreachable(s: never): never {
  throw new Error(`unknown setting kind ${JSON.stringify(s)}`);
}

/** One environment variable's schema: the text coerced to the value, with the default or optional. */
export function envFieldSchema(s: Setting): z.ZodType {
  const value =
    s.kind === "int"
      ? z.coerce.number().int().min(s.min).max(s.max)
      : s.kind === "number"
        ? z.coerce.number().min(s.min).max(s.max)
        : s.kind === "bool"
          ? z.enum(["true", "false"]).transform((v) => v === "true")
          : valueSchema(s);
  if (s.default !== undefined) return value.default(s.default as never);
  return s.required ? value : value.optional();
}

/** The schema of a program's whole environment (`parseEnv` in app/shared/config.ts reads it). */
export function envSchema<T extends SettingsTable>(
  table: T,
): z.ZodObject<Record<keyof T & string, z.ZodType>> {
  return z.object(
    Object.fromEntries(Object.entries(table).map(([env, s]) => [env, envFieldSchema(s)])),
  ) as z.ZodObject<Record<keyof T & string, z.ZodType>>;
}

/**
 * A stack key's schema from the row it feeds: the same bounds, the row's default when it has one, and
 * its doc as the description (the configuration reference prints it unless the key says more).
 */
export function stackField<S extends Setting>(s: S): z.ZodType<ValueOf<S>> {
  const value = valueSchema(s);
  return (s.default !== undefined ? value.default(s.default as never) : value).describe(s.doc) as z.ZodType<
    ValueOf<S>
  >;
}

/** How a value is written into the environment (the inverse of `envFieldSchema`'s coercion). */
export function envText(value: string | number | boolean): string {
  return String(value);
}

/** Log levels of every program (pino's, as Fastify logs). */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** The `*_LOG_LEVEL` row every program's table has. */
export const LOG_LEVEL_SETTING = {
  kind: "enum",
  values: LOG_LEVELS,
  default: "info",
  doc: "Log level.",
} as const;
