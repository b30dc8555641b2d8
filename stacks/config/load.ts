import * as pulumi from "@pulumi/pulumi";
import { redactUrl } from "../../contract";
import { configSchema, type Parsed } from "./config-schema";
import { requiredSecrets, SECRET_KEYS, SECRET_URLS, type SecretKey } from "./secrets";

/** Config namespace of every key: `sonic-observability:<key>`. */
export const PROJECT = "sonic-observability";

export type StackConfig = Parsed & {
  /** Secrets that are set; absent keys are absent here. */
  secrets: Partial<Record<SecretKey, pulumi.Output<string>>>;
};

/** The error every bad config value produces: `sonic-observability:<path>: <problem>, got <value>`. */
export class StackConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid stack configuration:\n  ${problems.join("\n  ")}`);
    this.name = "StackConfigError";
  }
}

function describe(value: unknown): string {
  return value === undefined ? "nothing" : typeof value === "string" ? `"${value}"` : JSON.stringify(value);
}

/**
 * Parses and validates raw config (key -> value as stored by Pulumi: strings, objects as JSON text) and
 * the set of secret keys present. A secret whose plaintext is in `raw` (as the engine hands it to the
 * program) counts as present and, when it is a URL (`SECRET_URLS`), is checked too; `presentSecrets`
 * names those known only to exist (a stack file's `secure:` values, which tests cannot decrypt).
 * Pure, so tests feed it directly; throws StackConfigError listing every problem.
 */
export function parseStackConfig(raw: Record<string, string>, presentSecrets: ReadonlySet<string>): Parsed {
  const problems: string[] = [];
  const input: Record<string, unknown> = {};
  const secretValues = new Map<SecretKey, string>();
  for (const [key, text] of Object.entries(raw)) {
    if ((SECRET_KEYS as readonly string[]).includes(key)) {
      secretValues.set(key as SecretKey, text);
      continue;
    }
    try {
      input[key] = /^\s*[[{]/.test(text) ? JSON.parse(text) : text;
    } catch {
      problems.push(`${PROJECT}:${key}: expected YAML/JSON object, got ${describe(text)}`);
    }
  }
  const result = configSchema.safeParse(input, { reportInput: true });
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = [PROJECT + ":" + String(issue.path[0] ?? ""), ...issue.path.slice(1).map(String)].join(
        ".",
      );
      if (issue.code === "unrecognized_keys") {
        problems.push(
          `${path}: unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`,
        );
      } else {
        problems.push(`${path}: ${issue.message}, got ${describe(issue.input)}`);
      }
    }
  }
  for (const [key, url] of secretValues) {
    const rule = SECRET_URLS[key];
    const problem = rule?.problem(url);
    if (rule && problem)
      problems.push(`${PROJECT}:${key}: ${problem}, got ${describe(redactUrl(url, rule.keepPath))}`);
  }
  if (problems.length > 0) throw new StackConfigError(problems);
  const c = result.data!;
  for (const { key, why } of requiredSecrets(c)) {
    if (!presentSecrets.has(key) && !secretValues.has(key)) {
      problems.push(
        `${PROJECT}:${key}: required because ${why}; set it with 'pulumi config set --secret ${key} <value>'`,
      );
    }
  }
  const receivers = Object.values(c.alertmanager.receivers);
  if (c.analyst.enabled && !receivers.includes("slack") && !receivers.includes("webhook"))
    problems.push(
      `${PROJECT}:analyst.enabled: the analyst posts where alerts go, but no receiver is slack or webhook; set a slack or webhook receiver, or 'analyst.enabled: false'`,
    );
  if (problems.length > 0) throw new StackConfigError(problems);
  return c;
}

/**
 * Reads the current stack's config once: call it before creating any resource. The engine hands the
 * program every value decrypted, so the secrets' plaintext is checked here too (SECRET_URLS); the
 * program itself reads them as secret Outputs only.
 */
export function loadStackConfig(): StackConfig {
  const raw: Record<string, string> = {};
  const secrets = new Set<string>();
  for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith(`${PROJECT}:`)) continue;
    const key = fullKey.slice(PROJECT.length + 1);
    if ((SECRET_KEYS as readonly string[]).includes(key)) secrets.add(key);
    raw[key] = value;
  }
  const parsed = parseStackConfig(raw, secrets);
  const config = new pulumi.Config(PROJECT);
  const present: StackConfig["secrets"] = {};
  for (const key of SECRET_KEYS) {
    if (secrets.has(key)) present[key] = config.requireSecret(key);
  }
  return { ...parsed, secrets: present };
}
