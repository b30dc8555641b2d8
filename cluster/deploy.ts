import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { SECRET_KEYS } from "../stacks/config";
import { STAND_INS } from "../testkit/run-stack";
import { installRandomStandIn } from "./install-random-stand-in";
import { ensureKubernetesPlugin, PULUMI_HOME } from "./plugins";
import { CLUSTER_DIR, ROOT, STATE_DIR, TOOLS_BIN, toolsPath } from "./paths";

/**
 * npm run deploy -- <stack> up|preview|destroy [--expect-no-changes] [--diff] [--config key=value]...
 *                   [--stand-in-secrets] [--root <checkout>]
 *
 * Runs the stack's program through the Pulumi Automation API: the program runs in this process (the
 * language runtime is served here), and the engine (`pulumi`, from .tools/bin or PATH) is called with
 * `--client`. No Node.js language host is needed, so this deploys from CI code or any machine with the
 * engine alone. State goes to a local file backend in .cluster/state unless PULUMI_BACKEND_URL is set.
 */
export interface DeployOptions {
  stack: string;
  action: "up" | "preview" | "destroy";
  expectNoChanges?: boolean;
  diff?: boolean;
  /** Config values, `key` or `a.b` path (without the project prefix) -> value. */
  config?: Record<string, string>;
  /** Fill the stack's unset secrets with stand-ins (a local cluster; never a real one). @default false */
  standInSecrets?: boolean;
  /** The checkout whose program and stack file run. @default this repository */
  root?: string;
  onOutput?: (line: string) => void;
}

const PROJECT = "sonic-observability";

/** The engine's environment: no plugin downloads (a missing plugin fails at once), no ambient plugins. */
export function engineEnv(): Record<string, string> {
  return {
    PULUMI_HOME,
    PULUMI_BACKEND_URL: process.env.PULUMI_BACKEND_URL ?? `file://${STATE_DIR}`,
    PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE ?? "sonic-local-cluster",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    PATH: toolsPath(),
  };
}

/**
 * The stack file as committed, with the passphrase salt of the copy made by an earlier run: the stand-in
 * secrets set then stay readable, and each run starts from the committed settings (overrides do not linger).
 */
function withSalt(committed: string, copy: string): string {
  const salt = existsSync(copy) ? /^encryptionsalt: .*$/m.exec(readFileSync(copy, "utf8"))?.[0] : undefined;
  return salt && !/^encryptionsalt:/m.test(committed) ? `${salt}\n${committed}` : committed;
}

/** The program of a checkout: stacks/main.ts picks the cluster or fleet program; older checkouts have index.ts. */
function programOf(root: string): string {
  const main = path.join(root, "stacks", "main.ts");
  return existsSync(main) ? main : path.join(root, "stacks", "index.ts");
}

export async function openStack(options: DeployOptions): Promise<Stack> {
  const root = path.resolve(options.root ?? ROOT);
  const env = engineEnv();
  mkdirSync(STATE_DIR, { recursive: true });
  Object.assign(process.env, env);
  ensureKubernetesPlugin(env);
  // The random provider plugin is not served here: this project's STAND-IN plays it (cluster/random-stand-in).
  installRandomStandIn(PULUMI_HOME);

  // A copy of the project and stack files: stand-in secrets and test overrides never touch the committed files.
  // One per stack, whichever checkout's program runs: the passphrase salt in it must stay the one the
  // state's secrets were sealed with (an upgrade runs an older checkout, then this one, on one stack).
  const workDir = path.join(CLUSTER_DIR, "stacks", options.stack);
  mkdirSync(workDir, { recursive: true });
  // The project file without `main`: the engine checks that path exists, and an inline program has none.
  const project = parse(readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as Record<string, unknown>;
  delete project.main;
  writeFileSync(path.join(workDir, "Pulumi.yaml"), stringify(project));
  const stackFile = path.join(root, `Pulumi.${options.stack}.yaml`);
  if (!existsSync(stackFile)) throw new Error(`'stack' (${options.stack}): ${stackFile} does not exist`);
  writeFileSync(
    path.join(workDir, `Pulumi.${options.stack}.yaml`),
    withSalt(readFileSync(stackFile, "utf8"), path.join(workDir, `Pulumi.${options.stack}.yaml`)),
  );

  const program = programOf(root);
  const pulumiCommand = await PulumiCommand.get({
    root: path.dirname(TOOLS_BIN),
    skipVersionCheck: true,
  }).catch(() => PulumiCommand.get({ skipVersionCheck: true }));
  const stack = await LocalWorkspace.createOrSelectStack(
    {
      stackName: options.stack,
      projectName: PROJECT,
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      program: async () => require(program),
    },
    { workDir, envVars: env, pulumiCommand },
  );
  const config: Record<string, { value: string; secret?: boolean }> = {};
  if (options.standInSecrets) {
    const current = await stack.getAllConfig();
    for (const key of SECRET_KEYS) {
      if (key === "grafanaAdminPassword" || `${PROJECT}:${key}` in current) continue;
      config[`${PROJECT}:${key}`] = { value: STAND_INS[key] ?? `stand-in-${key}`, secret: true };
    }
  }
  for (const [key, value] of Object.entries(options.config ?? {})) config[`${PROJECT}:${key}`] = { value };
  if (Object.keys(config).length > 0) await stack.setAllConfig(config, true);
  return stack;
}

/** Runs one action; resolves with the engine's summary (resource changes) of it. */
export async function deploy(options: DeployOptions): Promise<Record<string, number>> {
  const stack = await openStack(options);
  const onOutput = options.onOutput ?? ((line: string) => process.stdout.write(line));
  switch (options.action) {
    case "up": {
      const result = await stack.up({
        onOutput,
        color: "never",
        diff: options.diff,
        expectNoChanges: options.expectNoChanges,
      });
      return (result.summary.resourceChanges ?? {}) as Record<string, number>;
    }
    case "preview": {
      const result = await stack.preview({
        onOutput,
        color: "never",
        diff: options.diff,
        expectNoChanges: options.expectNoChanges,
      });
      return result.changeSummary as Record<string, number>;
    }
    case "destroy": {
      const result = await stack.destroy({ onOutput, color: "never" });
      return (result.summary.resourceChanges ?? {}) as Record<string, number>;
    }
    default: {
      const unknown: never = options.action;
      throw new Error(`unknown action ${String(unknown)}`);
    }
  }
}

const USAGE =
  "usage: npm run deploy -- <stack> up|preview|destroy [--expect-no-changes] [--diff] [--config key=value]... [--stand-in-secrets] [--root <checkout>]";

export function parseDeployArgs(argv: string[]): DeployOptions {
  const [stack, action, ...rest] = argv;
  if (!stack || !action) throw new Error(USAGE);
  if (!["up", "preview", "destroy"].includes(action))
    throw new Error(`'action' (${JSON.stringify(action)}) must be up, preview or destroy. ${USAGE}`);
  const options: DeployOptions = { stack, action: action as DeployOptions["action"], config: {} };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    if (flag === "--expect-no-changes") options.expectNoChanges = true;
    else if (flag === "--diff") options.diff = true;
    else if (flag === "--stand-in-secrets") options.standInSecrets = true;
    else if (flag === "--root") options.root = rest[++i];
    else if (flag === "--config") {
      const pair = rest[++i] ?? "";
      const at = pair.indexOf("=");
      if (at <= 0) throw new Error(`'--config' (${JSON.stringify(pair)}) must be key=value`);
      options.config![pair.slice(0, at)] = pair.slice(at + 1);
    } else throw new Error(`unknown flag ${JSON.stringify(flag)}. ${USAGE}`);
  }
  return options;
}

if (require.main === module) {
  (async () => {
    const options = parseDeployArgs(process.argv.slice(2));
    const started = Date.now();
    const summary = await deploy(options);
    process.stdout.write(
      `deploy: ${options.stack} ${options.action} done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(summary)}\n`,
    );
  })().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`deploy: ${(error as Error).message}\n`);
      process.exit(1);
    },
  );
}
