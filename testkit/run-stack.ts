import { existsSync } from "node:fs";
import * as path from "node:path";
import { SECRET_KEYS } from "../stacks/config";
import { MockRun, runUnderMocks } from "./mock-runtime";
import { readStackFile, REPO_ROOT } from "./stack-file";

export interface RunStackOptions {
  /** Checkout whose program and stack file run. @default this repository */
  root?: string;
  /** Config values to replace, `key` (without the project prefix) -> value as Pulumi stores it. @default {} */
  set?: Record<string, string>;
  /** Secret keys to leave unset (to see the program refuse). @default [] */
  omitSecrets?: string[];
  /** Show the stand-in secrets instead of `[secret]` (tests that feed a rendered config to a tool). @default false */
  revealSecrets?: boolean;
}

/** A stand-in for each secret, shaped like the real thing so tools that parse it (amtool) accept it. */
export const STAND_INS: Record<string, string> = {
  slackWebhookUrl: "https://hooks.slack.invalid/services/stand-in",
  alertWebhookUrl: "https://alerts.invalid/stand-in",
  queueRedisUrl: "rediss://:stand-in@redis.invalid:6380",
};

/**
 * Runs the Pulumi program of one stack under the mock runtime with the stack file's real config.
 * Secrets the file cannot provide here (each user's live encrypted in their own stack) get stand-in
 * values (`stand-in-<key>`, or a stand-in URL), marked secret like the real ones; grafanaAdminPassword stays unset so the
 * generated-password path is what runs. One program run per process: Pulumi's runtime is global.
 */
export function runStack(stack: string, options: RunStackOptions = {}): Promise<MockRun> {
  const root = options.root ?? REPO_ROOT;
  const { config } = readStackFile(stack, root);
  for (const [key, value] of Object.entries(options.set ?? {})) config[`sonic-observability:${key}`] = value;
  const secretKeys: string[] = [];
  for (const key of SECRET_KEYS) {
    if (key === "grafanaAdminPassword" || options.omitSecrets?.includes(key)) continue;
    config[`sonic-observability:${key}`] = STAND_INS[key] ?? `stand-in-${key}`;
    secretKeys.push(`sonic-observability:${key}`);
  }
  return runUnderMocks(
    "sonic-observability",
    stack,
    config,
    secretKeys,
    // stacks/main.ts picks the cluster or the fleet program; checkouts from before it have index.ts only.
    () =>
      require(
        path.join(root, "stacks", existsSync(path.join(root, "stacks", "main.ts")) ? "main.ts" : "index.ts"),
      ),
    options.revealSecrets,
  );
}
