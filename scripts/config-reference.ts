import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import ts from "typescript";
import { z } from "zod";
import {
  ANALYST_SETTINGS,
  API_SETTINGS,
  Setting,
  SettingsTable,
  SHARED_SETTINGS,
  SIMULATED_MODEL_SERVER_SETTINGS,
  WORKER_SETTINGS,
} from "../contract";
import {
  configSchema,
  parseStackConfig,
  PROJECT,
  requiredSecrets,
  SECRET_DOCS,
  SECRET_KEYS,
  SecretKey,
} from "../stacks/config";
import { fleetConfigSchema } from "../stacks/fleet-config";
import { readStackFile, REPO_ROOT } from "../testkit/stack-file";

/** Where `npm run docs` writes the configuration reference. */
export const CONFIG_DOCS_FILE = path.join(REPO_ROOT, "docs", "configuration.md");

/** One stack file as the reference shows it: its values, and which secrets it holds (never their text). */
export interface StackValues {
  /** Column title: the stack's name (`dev`). */
  name: string;
  /** Top-level key (without `sonic-observability:`) -> value, objects parsed. Secrets are not here. */
  values: Record<string, unknown>;
  /** Secret keys the file sets (`secure:`, or a secret key in plaintext): shown as "(secret)". */
  secrets: Set<string>;
}

/**
 * Reads `Pulumi.<stack>.yaml` for the reference. A secret key is kept as a name only, whether the file
 * holds it encrypted or, by mistake, in plaintext: no path from here to the page prints its value.
 */
export function readStackValues(stack: string, root = REPO_ROOT): StackValues {
  const file = readStackFile(stack, root);
  const secrets = new Set<string>();
  const values: Record<string, unknown> = {};
  const prefix = `${PROJECT}:`;
  for (const key of file.secureKeys) secrets.add(key.startsWith(prefix) ? key.slice(prefix.length) : key);
  for (const [fullKey, text] of Object.entries(file.config)) {
    if (!fullKey.startsWith(prefix)) continue;
    const key = fullKey.slice(prefix.length);
    if ((SECRET_KEYS as readonly string[]).includes(key)) {
      secrets.add(key);
      continue;
    }
    values[key] = /^\s*[[{]/.test(text) ? JSON.parse(text) : text;
  }
  return { name: stack, values, secrets };
}

/** The part of a JSON Schema (draft 2020-12, as zod writes it) the reference reads. */
interface Schema {
  type?: string;
  title?: string;
  description?: string;
  examples?: unknown[];
  default?: unknown;
  /** A key that is refused, kept in the schema only to say where it went. */
  deprecated?: boolean;
  enum?: unknown[];
  anyOf?: Schema[];
  pattern?: string;
  format?: string;
  minLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  propertyNames?: Schema;
  additionalProperties?: Schema | boolean;
  /** This project's: what a named value type accepts, in words. */
  accepts?: string;
  /** This project's: the environment variable a key feeds (contract/). */
  env?: string;
  /** This project's: the program whose variable `env` is (`api`, `worker`, `analyst`, ...). */
  program?: string;
  /** This project's: a default that depends on other keys or lives in a component, in words. */
  defaultText?: string;
}

/** JSON Schema of a stack schema as the stack file is written (input: defaults make keys optional). */
function jsonSchema(schema: z.ZodType): Schema {
  return z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Schema;
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n+/g, " ");
const code = (text: string) => "`" + text.replace(/`/g, "'") + "`";

function show(value: unknown): string {
  return code(typeof value === "string" ? value : JSON.stringify(value));
}

const SAFE_INTEGER = Number.MAX_SAFE_INTEGER;

function bounds(s: Schema, noun: string): string {
  const min = s.minimum !== undefined && s.minimum > -SAFE_INTEGER ? s.minimum : undefined;
  const max = s.maximum !== undefined && s.maximum < SAFE_INTEGER ? s.maximum : undefined;
  const parts: string[] = [];
  if (min !== undefined && max !== undefined) return `${noun} ${min}..${max}`;
  if (min !== undefined) parts.push(`≥ ${min}`);
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (max !== undefined) parts.push(`≤ ${max}`);
  if (s.exclusiveMaximum !== undefined) parts.push(`< ${s.exclusiveMaximum}`);
  return parts.length ? `${noun} ${parts.join(", ")}` : noun;
}

/** The type column: a named value type, a closed set, a number's bounds, a list or a map. */
function typeOf(s: Schema): string {
  if (s.deprecated) return "refused";
  if (s.title) return s.title;
  if (s.enum) return s.enum.map((v) => code(String(v))).join(" | ");
  if (s.anyOf) return s.anyOf.map(typeOf).join(" or ");
  switch (s.type) {
    case "integer":
      return bounds(s, "integer");
    case "number":
      return bounds(s, "number");
    case "boolean":
      return "boolean";
    case "string":
      if (s.format) return s.format;
      if (s.pattern) return `text matching ${code(s.pattern)}`;
      return s.minLength ? "non-empty text" : "text";
    case "array": {
      const item = s.items ?? {};
      const of = item.properties ? "objects (keys below)" : typeOf(item);
      return s.minItems ? `list of ${of}, at least ${s.minItems}` : `list of ${of}`;
    }
    case "object":
      if (!s.properties && typeof s.additionalProperties === "object")
        return `map of ${typeOf(s.propertyNames ?? { type: "string" })} to ${typeOf(s.additionalProperties)}`;
      return "object";
    default:
      return "any";
  }
}

function defaultOf(s: Schema, required: boolean): string {
  if (s.deprecated) return "";
  if (s.defaultText) return s.defaultText;
  if (s.default !== undefined) {
    if (s.properties) return "the defaults of its keys";
    return show(s.default);
  }
  return required ? "**required**" : "none";
}

function valueAt(values: Record<string, unknown>, keyPath: string[]): unknown {
  let value: unknown = values;
  for (const key of keyPath) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** A stack's value of a key: nothing where the file leaves it to the default or its keys show it. */
function valueCell(s: Schema, values: Record<string, unknown>, keyPath: string[] | undefined): string {
  if (!keyPath) return "";
  const value = valueAt(values, keyPath);
  if (value === undefined || (s.properties && typeof value === "object" && !Array.isArray(value))) return "";
  return show(value);
}

interface Row {
  key: string;
  schema: Schema;
  required: boolean;
  /** Path of the value in a stack file; none inside a list's items. */
  valuePath?: string[];
}

function rows(s: Schema, key: string, valuePath: string[] | undefined, required: boolean, out: Row[]): void {
  out.push({ key, schema: s, required, valuePath });
  const children = s.properties ?? (s.type === "array" ? s.items?.properties : undefined);
  if (!children) return;
  const inItems = !s.properties;
  const requiredKeys = new Set((inItems ? s.items?.required : s.required) ?? []);
  for (const [name, child] of Object.entries(children))
    rows(
      child,
      `${key}${inItems ? "[]" : ""}.${name}`,
      inItems || !valuePath ? undefined : [...valuePath, name],
      requiredKeys.has(name),
      out,
    );
}

function describe(s: Schema, docs: Record<string, string> | undefined, leaf: string): string {
  const text = s.description ?? docs?.[leaf] ?? "";
  return s.env ? `${text}${text ? " " : ""}(environment: ${code(s.env)})` : text;
}

/** Summaries of an interface's members from their JSDoc (the thresholds' meanings live there). */
export function interfaceMemberDocs(
  name: string,
  dir = path.join(REPO_ROOT, "components"),
): Record<string, string> {
  const files = readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
  for (const file of files) {
    const text = readFileSync(path.join(dir, file), "utf8");
    if (!text.includes(`export interface ${name} `)) continue;
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
    const found = source.statements.find(
      (st): st is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(st) && st.name.text === name,
    );
    if (!found) continue;
    const docs: Record<string, string> = {};
    for (const member of found.members) {
      if (!member.name || !ts.isIdentifier(member.name)) continue;
      const jsDoc = ts.getJSDocCommentsAndTags(member).find(ts.isJSDoc);
      const summary = ts.getTextOfJSDocComment(jsDoc?.comment)?.trim();
      docs[member.name.text] =
        summary ||
        (member.name.text.endsWith("For")
          ? "`for:` of its alert: how long the condition holds before the alert fires."
          : "");
    }
    return docs;
  }
  throw new Error(`interface ${name} not found under ${dir}: the reference reads its members' docs`);
}

interface SectionOptions {
  schema: z.ZodType;
  stacks: StackValues[];
  /** Member docs, by the block's path, for a block whose schema is built from a defaults object (`alerts`). */
  blockDocs?: Record<string, Record<string, string>>;
}

/** One table per top-level block (the scalars together first), with every key beneath it. */
function stackSections({ schema, stacks, blockDocs = {} }: SectionOptions): string[] {
  const root = jsonSchema(schema);
  const required = new Set(root.required ?? []);
  const header = [
    `| key | type | default | ${stacks.map((s) => s.name).join(" | ")} | description |`,
    `|---|---|---|${stacks.map(() => "---|").join("")}---|`,
  ];
  const line = (r: Row) =>
    `| ${code(r.key)} | ${cell(typeOf(r.schema))} | ${cell(defaultOf(r.schema, r.required))} | ${stacks
      .map((s) => cell(valueCell(r.schema, s.values, r.valuePath)))
      .join(
        " | ",
      )} | ${cell(describe(r.schema, blockDocs[r.key.replace(/\.[^.]+$/, "")], r.key.split(".").pop()!))} |`;
  const out: string[] = [];
  const scalars = Object.entries(root.properties ?? {}).filter(
    ([, s]) => !s.properties && s.type !== "array",
  );
  out.push("### Top-level keys", "", ...header);
  for (const [key, s] of scalars)
    out.push(line({ key, schema: s, required: required.has(key), valuePath: [key] }));
  out.push("");
  for (const [key, s] of Object.entries(root.properties ?? {})) {
    if (scalars.some(([k]) => k === key)) continue;
    const all: Row[] = [];
    rows(s, key, [key], required.has(key), all);
    out.push(`### \`${key}\``, "");
    if (s.description) out.push(s.description, "");
    out.push(...header, ...all.slice(1).map(line), "");
  }
  return out;
}

function secretCell(stack: StackValues, key: SecretKey): string {
  if (stack.secrets.has(key)) return "(secret)";
  const parsed = parseStackConfig(
    Object.fromEntries(
      Object.entries(stack.values).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
    ),
    new Set(SECRET_KEYS),
  );
  const why = requiredSecrets(parsed).find((r) => r.key === key)?.why;
  return why ? `required (${why}): not in the file, set per stack` : "";
}

function settingType(s: Setting): string {
  switch (s.kind) {
    case "int":
      return `integer ${s.min}..${s.max}`;
    case "number":
      return `number ${s.min}..${s.max}`;
    case "bool":
      return "`true` | `false`";
    case "enum":
      return s.values.map(code).join(" | ");
    case "text":
      return s.url
        ? "http(s) URL"
        : s.pattern
          ? (s.example ?? `text matching ${code(s.pattern.source)}`)
          : "text";
    default:
      return unreachable(s);
  }
}

function unreachable(s: never): never {
  throw new Error(`unknown setting kind ${JSON.stringify(s)}`);
}

function settingDefault(s: Setting): string {
  // Read from npm's environment when the program starts: the page must not depend on how it was run.
  if (s === SHARED_SETTINGS.SONIC_VERSION) return "the package version (`npm_package_version`)";
  if (s.secret) return "none (secret)";
  if (s.required) return "**required**";
  return s.default === undefined ? "none" : show(s.default);
}

/** `<program>:<variable>` -> the stack keys that feed it, from the schema's `env` marks. */
function stackKeysByVariable(schema: z.ZodType): Map<string, string[]> {
  const byVariable = new Map<string, string[]>();
  const all: Row[] = [];
  for (const [key, s] of Object.entries(jsonSchema(schema).properties ?? {})) rows(s, key, [key], false, all);
  for (const { schema: s, key } of all) {
    if (!s.env) continue;
    const id = `${s.program}:${s.env}`;
    byVariable.set(id, [...(byVariable.get(id) ?? []), key]);
  }
  return byVariable;
}

/** A program's variables (those `only` admits), with the stack keys the components write them from. */
function settingsTable(
  table: SettingsTable,
  only: (name: string) => boolean,
  programs: string[],
  keys: Map<string, string[]>,
): string[] {
  const out = ["| variable | type | default | set by the stack key | description |", "|---|---|---|---|---|"];
  for (const [name, s] of Object.entries(table)) {
    if (!only(name)) continue;
    const stackKeys = [...new Set(programs.flatMap((p) => keys.get(`${p}:${name}`) ?? []))]
      .map(code)
      .join(", ");
    out.push(
      `| ${code(name)} | ${cell(settingType(s))} | ${cell(settingDefault(s))} | ${stackKeys} | ${cell(s.doc)} |`,
    );
  }
  return [...out, ""];
}

/** Inputs of the reference: the stack files as the repository has them. */
export interface ConfigReferenceInput {
  /** The cluster stacks, in column order. */
  clusterStacks: StackValues[];
  /** The fleet stacks. */
  fleetStacks: StackValues[];
}

/** The repository's stack files: dev and prod (cluster stacks), fleet. */
export function repositoryStacks(root = REPO_ROOT): ConfigReferenceInput {
  return {
    clusterStacks: [readStackValues("dev", root), readStackValues("prod", root)],
    fleetStacks: [readStackValues("fleet", root)],
  };
}

/**
 * `docs/configuration.md`: every key of the stack schemas (type, bounds, default, each stack file's
 * value, meaning), the secrets, and every program's environment from the `contract/` tables. Pure: the
 * same schemas and stack files give the same text, which a test compares with the committed file.
 */
export function configReference(input: ConfigReferenceInput): string {
  const { clusterStacks, fleetStacks } = input;
  const variables = stackKeysByVariable(configSchema);
  const out: string[] = [
    "# Configuration reference",
    "",
    "<!-- Generated by `npm run docs` from stacks/config/, stacks/fleet-config.ts, contract/ and the stack files. Do not edit: `npm test` fails when this file is stale. -->",
    "",
    `Every environment difference lives in \`Pulumi.<stack>.yaml\` under the \`${PROJECT}:\` namespace.`,
    "Keys are validated once, before any resource, by the zod schemas in",
    "[`stacks/config/`](../stacks/config) (cluster stacks) and",
    "[`stacks/fleet-config.ts`](../stacks/fleet-config.ts) (the fleet stack): unknown keys are errors,",
    "not ignored, and every error names the key and quotes the value (secrets without their credentials).",
    "",
    "Each table lists a block's keys with their type and bounds, the default when the key is left out,",
    "and the value each stack file of this repository sets: an empty cell means the file leaves the key",
    "to its default (or, for a block, that its keys below show it). Secrets are never shown, only",
    '"(secret)".',
    "",
    "Keys that become a program's environment (marked *environment: `VARIABLE`*) take their bounds and",
    "defaults from the program's own settings table in [`contract/`](../contract) (one per program: API,",
    "job runner, simulated model server, analyst), which the app parses its environment from: a value the",
    "pod would refuse at start is refused at preview, naming the key and the value.",
    "`test/unit/contract.test.ts` checks it property by property.",
    "",
    "## Value types",
    "",
    "| type | accepted |",
    "|---|---|",
  ];
  const titles = new Map<string, Schema>();
  const collect = (s: Schema) => {
    if (s.title && !titles.has(s.title)) titles.set(s.title, s);
    for (const child of [
      ...Object.values(s.properties ?? {}),
      ...(s.items ? [s.items] : []),
      ...(s.anyOf ?? []),
      ...(typeof s.additionalProperties === "object" ? [s.additionalProperties] : []),
    ])
      collect(child);
  };
  collect(jsonSchema(configSchema));
  collect(jsonSchema(fleetConfigSchema));
  for (const [title, s] of [...titles].sort(([a], [b]) => a.localeCompare(b))) {
    const examples = (s.examples ?? []).map(show).join(", ");
    const rule = s.pattern ? `matches ${code(s.pattern)}` : "";
    out.push(
      `| ${title} | ${cell([s.accepts, rule, examples && `e.g. ${examples}`].filter(Boolean).join("; "))} |`,
    );
  }
  out.push(
    "",
    `## Cluster stacks (${clusterStacks.map((s) => code(`Pulumi.${s.name}.yaml`)).join(", ")})`,
    "",
    ...stackSections({
      schema: configSchema,
      stacks: clusterStacks,
      blockDocs: { alerts: interfaceMemberDocs("AlertThresholds") },
    }),
    "### Secrets",
    "",
    "Set with `pulumi config set --secret <key> <value>`: encrypted in the stack file, read with",
    "`getSecret`, written only into Kubernetes Secrets (`alertmanager-config`, `grafana-admin`,",
    "`remote-write-0`) that the chart references (`alertmanager.alertmanagerSpec.configSecret`,",
    "`grafana.admin.existingSecret`, `remoteWrite[].basicAuth`), and never in Helm values, outputs or",
    "logs. The URL-shaped ones are checked at the door like every other key; an error quotes them with",
    "user, password, query and a webhook's path (its token) as `***`, e.g.",
    '`sonic-observability:queueRedisUrl: expected a URL like redis://host:6379 or rediss://host:6380 (the scheme redis:// or rediss:// is missing), got "my-redis.cache.example.com:6380"`.',
    "",
    `| key | description | ${clusterStacks.map((s) => s.name).join(" | ")} |`,
    `|---|---|${clusterStacks.map(() => "---|").join("")}`,
    ...SECRET_KEYS.map(
      (key) =>
        `| ${code(key)} | ${cell(SECRET_DOCS[key])} | ${clusterStacks.map((s) => cell(secretCell(s, key))).join(" | ")} |`,
    ),
    "",
    `## The fleet stack (${fleetStacks.map((s) => code(`Pulumi.${s.name}.yaml`)).join(", ")})`,
    "",
    "A stack file with a `fleet` key runs the fleet program (`stacks/main.ts`); nothing of a cluster",
    "stack is read. Its one secret, `grafanaAdminPassword`, is optional (generated when absent); each",
    "cluster's write password is generated by the fleet stack (its output `writePasswords`).",
    "",
    ...stackSections({
      schema: fleetConfigSchema,
      stacks: fleetStacks,
      blockDocs: { "fleet.thresholds": interfaceMemberDocs("FleetThresholds") },
    }),
    "## Program environments (`contract/`)",
    "",
    "Environment variables of the programs of the image, one table per program in",
    "[`contract/`](../contract), validated at start-up: a bad value stops the process naming the variable",
    "and the value (passwords never shown), and a variable of the *other* tier is refused as unknown, so a",
    "setting on the wrong container cannot be silently ignored. The components write them from the stack",
    "keys named in the fourth column; the rest keep the program's defaults.",
    "",
    "### Both tiers: `api` and `worker` ([`contract/shared-settings.ts`](../contract/shared-settings.ts))",
    "",
    ...settingsTable(SHARED_SETTINGS, () => true, ["api", "worker"], variables),
    "### The API (`api` container, [`contract/api-settings.ts`](../contract/api-settings.ts))",
    "",
    ...settingsTable(API_SETTINGS, (n) => !(n in SHARED_SETTINGS), ["api"], variables),
    "### The job runner (`worker` container, [`contract/worker-settings.ts`](../contract/worker-settings.ts))",
    "",
    ...settingsTable(WORKER_SETTINGS, (n) => !(n in SHARED_SETTINGS), ["worker"], variables),
    "### The simulated model server ([`contract/simulated-model-server-settings.ts`](../contract/simulated-model-server-settings.ts))",
    "",
    ...settingsTable(SIMULATED_MODEL_SERVER_SETTINGS, () => true, ["simulated-model-server"], variables),
    "### The alert analyst ([`contract/analyst-settings.ts`](../contract/analyst-settings.ts))",
    "",
    ...settingsTable(ANALYST_SETTINGS, () => true, ["analyst"], variables),
  );
  return out.join("\n").replace(/\n+$/, "\n");
}
