import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";

/** The repository root (where Pulumi.yaml lives). */
export const REPO_ROOT = path.resolve(__dirname, "..");

export interface StackFileConfig {
  /** `project:key` -> value as the Pulumi engine hands it to a program: strings, objects as JSON text. */
  config: Record<string, string>;
  /** Keys whose values are `secure:` in the file (they cannot be decrypted here). */
  secureKeys: string[];
}

/** Reads `Pulumi.<stack>.yaml` into the config map `pulumi.runtime.setAllConfig` takes. */
export function readStackFile(stack: string, root = REPO_ROOT): StackFileConfig {
  const file = path.join(root, `Pulumi.${stack}.yaml`);
  const doc = (parse(readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const config: Record<string, string> = {};
  const secureKeys: string[] = [];
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    if (value !== null && typeof value === "object" && "secure" in value) {
      secureKeys.push(key);
      continue;
    }
    config[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return { config, secureKeys };
}

/** The stack file's `sonic-observability:*` values keyed without the project prefix, as stacks/config/ parses them. */
export function readProjectConfig(stack: string, root = REPO_ROOT): Record<string, string> {
  return Object.fromEntries(
    Object.entries(readStackFile(stack, root).config).map(([key, value]) => [
      key.replace(/^sonic-observability:/, ""),
      value,
    ]),
  );
}
