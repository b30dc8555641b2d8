import { randomInt } from "node:crypto";
import * as runtime from "@pulumi/pulumi/runtime";

/*
 * The pure half of the stand-in for `random:index/randomPassword:RandomPassword`: defaults, validation, the
 * replacement decision and generation. No gRPC, no engine: `provider.ts` wires these into the plugin, and the
 * unit tests call them directly.
 *
 * The values here are the wire values the engine sends a provider that accepts secrets: a secret arrives as
 * `{ [specialSigKey]: specialSecretSig, value }` and, in a preview, a value not known yet as `unknownValue`.
 */

/** The character sets of the real provider (terraform-provider-random's `random_string` and `random_password`). */
export const CHARACTER_SETS = {
  upper: "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
  lower: "abcdefghijklmnopqrstuvwxyz",
  numeric: "0123456789",
  /** Used when `special` is on and `overrideSpecial` is unset or empty. */
  special: "!@#$%&*()-_=+[]{}<>:?",
} as const;

/** A character class of the password. */
export type CharacterClass = keyof typeof CHARACTER_SETS;

const CLASSES: readonly CharacterClass[] = ["upper", "lower", "numeric", "special"];

/** The `minXxx` input that sets each class's minimum count. */
const MIN_INPUT: Record<CharacterClass, "minUpper" | "minLower" | "minNumeric" | "minSpecial"> = {
  upper: "minUpper",
  lower: "minLower",
  numeric: "minNumeric",
  special: "minSpecial",
};

/**
 * Every input of RandomPassword. Each one forces a replacement in the real provider (all its attributes are
 * `RequiresReplace`), so the stand-in has no in-place update: a change to any of them is a new password.
 */
export const PASSWORD_INPUTS = [
  "keepers",
  "length",
  "lower",
  "minLower",
  "minNumeric",
  "minSpecial",
  "minUpper",
  "number",
  "numeric",
  "overrideSpecial",
  "special",
  "upper",
] as const;

/** The outputs that are not inputs; both secret in the SDK (`additionalSecretOutputs`). */
export const PASSWORD_OUTPUTS = ["result", "bcryptHash"] as const;

/** RandomPassword's inputs with the real provider's defaults applied: what decides the password. */
export interface PasswordSettings {
  length: number;
  upper: boolean;
  lower: boolean;
  /** `numeric`, or the deprecated `number` when only that is set. */
  numeric: boolean;
  special: boolean;
  minUpper: number;
  minLower: number;
  minNumeric: number;
  minSpecial: number;
  /** Replaces the special character set when non-empty. */
  overrideSpecial: string;
  keepers: Record<string, string>;
}

/** A property the engine would reject, in the shape `CheckFailure` of the provider SDK wants. */
export interface InputFailure {
  property: string;
  reason: string;
}

/** Whether a wire value is a secret envelope. */
export function isSecret(value: unknown): value is { value: unknown } {
  return runtime.isRpcSecret(value);
}

/** A wire value with every secret envelope removed, at any depth. */
export function revealed(value: unknown): unknown {
  if (isSecret(value)) return revealed(value.value);
  if (Array.isArray(value)) return value.map(revealed);
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revealed(v)]));
  return value;
}

/** Whether a wire value, or anything inside it, is not known yet (only ever in a preview). */
export function hasUnknown(value: unknown): boolean {
  if (value === runtime.unknownValue) return true;
  if (isSecret(value)) return hasUnknown(value.value);
  if (Array.isArray(value)) return value.some(hasUnknown);
  if (value !== null && typeof value === "object") return Object.values(value).some(hasUnknown);
  return false;
}

/** Wraps a value in the secret envelope, so the engine stores it encrypted whatever the program asked. */
export function secret(value: unknown): Record<string, unknown> {
  return { [runtime.specialSigKey]: runtime.specialSecretSig, value };
}

/**
 * The failures the real provider would report for these inputs (its schema's types and validators), plus the
 * stand-in's own refusals; empty when they are fine. Values not known yet are skipped: `check` runs again
 * with them known before anything is created.
 */
export function checkPassword(inputs: Record<string, unknown>): InputFailure[] {
  const failures: InputFailure[] = [];
  const news = revealed(inputs) as Record<string, unknown>;
  const known = (key: string) => news[key] !== undefined && news[key] !== null && !hasUnknown(news[key]);

  if (news.length === undefined || news.length === null)
    failures.push({ property: "length", reason: "'length' is required" });
  for (const key of ["length", "minUpper", "minLower", "minNumeric", "minSpecial"]) {
    if (!known(key)) continue;
    const value = news[key];
    const least = key === "length" ? 1 : 0;
    if (typeof value !== "number" || !Number.isInteger(value) || value < least)
      failures.push({
        property: key,
        reason: `'${key}' (${JSON.stringify(value)}) must be an integer >= ${least}`,
      });
  }
  for (const key of ["upper", "lower", "numeric", "number", "special"]) {
    if (known(key) && typeof news[key] !== "boolean")
      failures.push({ property: key, reason: `'${key}' (${JSON.stringify(news[key])}) must be a boolean` });
  }
  if (known("overrideSpecial") && typeof news.overrideSpecial !== "string")
    failures.push({
      property: "overrideSpecial",
      reason: `'overrideSpecial' (${JSON.stringify(news.overrideSpecial)}) must be a string`,
    });
  if (known("keepers")) {
    const keepers = news.keepers;
    if (typeof keepers !== "object" || Array.isArray(keepers))
      failures.push({
        property: "keepers",
        reason: `'keepers' (${JSON.stringify(keepers)}) must be a map of strings`,
      });
    else
      for (const [key, value] of Object.entries(keepers as object))
        if (typeof value !== "string" && !hasUnknown(value))
          failures.push({
            property: `keepers.${key}`,
            reason: `'keepers.${key}' (${JSON.stringify(value)}) must be a string`,
          });
  }
  if (failures.length > 0 || PASSWORD_INPUTS.some((key) => hasUnknown(news[key]))) return failures;

  // Only with every input known and well typed: the checks across inputs.
  if (news.numeric !== undefined && news.number !== undefined && news.numeric !== news.number)
    failures.push({
      property: "numeric",
      reason: `'numeric' (${news.numeric}) and its deprecated alias 'number' (${news.number}) disagree`,
    });
  const settings = passwordSettings(inputs);
  const enabled = CLASSES.filter((c) => settings[c]);
  if (enabled.length === 0)
    failures.push({
      property: "upper",
      reason: "at least one of upper, lower, numeric and special must be true",
    });
  // The real provider still adds the minimum of a class that is turned off; the stand-in refuses instead,
  // since the two inputs contradict each other.
  for (const c of CLASSES)
    if (!settings[c] && settings[MIN_INPUT[c]] > 0)
      failures.push({
        property: MIN_INPUT[c],
        reason: `'${MIN_INPUT[c]}' (${settings[MIN_INPUT[c]]}) must be 0 when '${c}' is false`,
      });
  const minimum = CLASSES.reduce((sum, c) => sum + settings[MIN_INPUT[c]], 0);
  if (settings.length < minimum)
    failures.push({
      property: "length",
      reason: `'length' (${settings.length}) must be >= minUpper + minLower + minNumeric + minSpecial (${minimum})`,
    });
  return failures;
}

/**
 * The settings that decide a password, the real provider's defaults applied: every class on, no minimums, the
 * default special characters, no keepers. Accepts inputs or stored state (which carries the same names).
 * Assumes `checkPassword` found nothing and every value is known.
 */
export function passwordSettings(inputs: Record<string, unknown>): PasswordSettings {
  const v = revealed(inputs) as Record<string, unknown>;
  const flag = (value: unknown) => (value === undefined || value === null ? true : Boolean(value));
  const count = (value: unknown) => (typeof value === "number" ? value : 0);
  return {
    length: Number(v.length),
    upper: flag(v.upper),
    lower: flag(v.lower),
    // `number` is the deprecated spelling: the real provider keeps the two equal, `numeric` winning.
    numeric: flag(v.numeric ?? v.number),
    special: flag(v.special),
    minUpper: count(v.minUpper),
    minLower: count(v.minLower),
    minNumeric: count(v.minNumeric),
    minSpecial: count(v.minSpecial),
    overrideSpecial: typeof v.overrideSpecial === "string" ? v.overrideSpecial : "",
    keepers: (v.keepers ?? {}) as Record<string, string>,
  };
}

/**
 * The inputs whose change replaces the password, comparing the stored state with the new inputs after
 * defaults (so spelling out a default, `special: true`, is no change). A value not known yet counts as
 * changed, as in the real provider: the preview shows a replacement that `up` confirms or not.
 */
export function passwordReplaces(olds: Record<string, unknown>, news: Record<string, unknown>): string[] {
  const unknown = PASSWORD_INPUTS.filter((key) => hasUnknown(news[key]));
  if (unknown.length > 0) return unknown;
  const before = passwordSettings(olds);
  const after = passwordSettings(news);
  const replaces: string[] = [];
  for (const key of Object.keys(after) as (keyof PasswordSettings)[]) {
    if (canonical(before[key]) === canonical(after[key])) continue;
    // Name the property the program set: `number` when only the deprecated spelling is used.
    replaces.push(
      key === "numeric" && news.numeric === undefined && news.number !== undefined ? "number" : key,
    );
  }
  return replaces;
}

/** JSON with object keys sorted, so two equal maps compare equal whatever their order. */
function canonical(value: unknown): string {
  if (value !== null && typeof value === "object" && !Array.isArray(value))
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(value);
}

/** The characters each enabled class draws from. */
export function characterSets(settings: PasswordSettings): Partial<Record<CharacterClass, string>> {
  const sets: Partial<Record<CharacterClass, string>> = {};
  for (const c of CLASSES) {
    if (!settings[c]) continue;
    sets[c] =
      c === "special" && settings.overrideSpecial !== "" ? settings.overrideSpecial : CHARACTER_SETS[c];
  }
  return sets;
}

/**
 * A new password, as the real provider builds one: each class's minimum first, the rest from all enabled
 * classes together, then shuffled so the minimums are not all at the front. `draw(n)` returns a uniform
 * integer in [0, n); the default is node's CSPRNG (`crypto.randomInt`), which the real provider's
 * `crypto/rand` corresponds to.
 */
export function generatePassword(
  settings: PasswordSettings,
  draw: (n: number) => number = randomInt,
): string {
  const sets = characterSets(settings);
  const all = Object.values(sets).join("");
  if (all === "") throw new Error("no character class is enabled");
  const pick = (chars: string) => chars[draw(chars.length)];
  const out: string[] = [];
  for (const [c, chars] of Object.entries(sets) as [CharacterClass, string][])
    for (let i = 0; i < settings[MIN_INPUT[c]]; i++) out.push(pick(chars));
  while (out.length < settings.length) out.push(pick(all));
  // Fisher-Yates, drawing from the same source.
  for (let i = out.length - 1; i > 0; i--) {
    const j = draw(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out.join("");
}

/**
 * The state the stand-in stores: the inputs as the program gave them (secret envelopes kept, so a secret keeper
 * stays secret), the defaults it did not give filled in as the real provider's state has them, and the
 * password as a secret.
 */
export function passwordState(inputs: Record<string, unknown>, result: string): Record<string, unknown> {
  const settings = passwordSettings(inputs);
  const state: Record<string, unknown> = {
    length: settings.length,
    upper: settings.upper,
    lower: settings.lower,
    minUpper: settings.minUpper,
    minLower: settings.minLower,
    minNumeric: settings.minNumeric,
    minSpecial: settings.minSpecial,
    special: settings.special,
  };
  for (const key of PASSWORD_INPUTS)
    if (inputs[key] !== undefined && inputs[key] !== null) state[key] = inputs[key];
  state.numeric = settings.numeric;
  state.number = settings.numeric;
  state.result = secret(result);
  return state;
}
