import * as pulumi from "@pulumi/pulumi";

/** One resource the program registered, as the engine would have received it. */
export interface RegisteredResource {
  type: string;
  name: string;
  urn: string;
  parentUrn: string;
  custom: boolean;
  /** URNs of explicit dependencies (`dependsOn` and resource-valued inputs). */
  dependencies: string[];
  /** Inputs, with every secret value replaced by `[secret]`. */
  inputs: Record<string, any>;
  /** `customTimeouts` of the resource options, when set (how long the engine awaits it). */
  customTimeouts?: { create?: string; update?: string; delete?: string };
  /** `retainOnDelete` of the resource options, when set (the engine leaves it in the cluster when it leaves the program). */
  retainOnDelete?: boolean;
}

export interface MockRun {
  resources: RegisteredResource[];
  outputs: Record<string, unknown>;
}

/** The program failed; `resources` lists what it registered before failing. */
export class MockRunError extends Error {
  constructor(
    public readonly cause: unknown,
    public readonly resources: RegisteredResource[],
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = "MockRunError";
  }
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";
export const SECRET_MASK = "[secret]";

/** Outputs a real provider computes that the program reads back (everything else echoes inputs). */
const PROVIDER_OUTPUTS: Record<string, Record<string, unknown>> = {
  "random:index/randomPassword:RandomPassword": { result: "mock-generated-password" },
};

/**
 * Replaces Pulumi's serialized secrets with `[secret]`, so nothing secret leaves the renderer; with
 * `reveal` (tests only, where every secret is a stand-in) unwraps them instead.
 */
function maskSecrets(value: unknown, reveal = false): unknown {
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, reveal));
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record[SECRET_SIG] === SECRET_VALUE) return reveal ? maskSecrets(record.value, reveal) : SECRET_MASK;
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, maskSecrets(v, reveal)]));
  }
  return value;
}

/**
 * Runs `init` (usually `require` of the program) under Pulumi's mock runtime with the given config
 * and returns every registered resource and the stack outputs. Resources echo their inputs as state,
 * so a program sees what it wrote. Call once per process: Pulumi's runtime state is global.
 */
export async function runUnderMocks(
  project: string,
  stack: string,
  config: Record<string, string>,
  secretKeys: string[],
  init: () => unknown,
  revealSecrets = false,
): Promise<MockRun> {
  pulumi.runtime.setAllConfig(config, secretKeys);
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => ({
        id: `${args.name}-id`,
        state: { ...args.inputs, ...PROVIDER_OUTPUTS[args.type] },
      }),
      call: (args) => args.inputs,
    },
    project,
    stack,
    false,
  );
  // The mock monitor hands newResource neither parent nor dependencies; read them off the request.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const settings = require("@pulumi/pulumi/runtime/settings");
  const monitor = settings.getMonitor();
  const seen: RegisteredResource[] = [];
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: (err: unknown, res: any) => void) => {
    register(req, (err: unknown, res: any) => {
      if (!err) {
        seen.push({
          type: req.getType(),
          name: req.getName(),
          urn: res.getUrn(),
          parentUrn: req.getParent(),
          custom: req.getCustom(),
          dependencies: req.getDependenciesList(),
          inputs: maskSecrets(req.getObject()?.toJavaScript() ?? {}, revealSecrets) as Record<
            string,
            unknown
          >,
          ...(req.hasCustomtimeouts()
            ? { customTimeouts: timeouts(req.getCustomtimeouts().toObject()) }
            : {}),
          ...(req.getRetainondelete?.() ? { retainOnDelete: true } : {}),
        });
      }
      callback(err, res);
    });
  };
  let outputs;
  try {
    outputs = await pulumi.runtime.runInPulumiStack(async () => init());
    await settings.waitForRPCs();
  } catch (err) {
    await settings.waitForRPCs().catch(() => undefined);
    throw new MockRunError(err, seen);
  }
  return { resources: seen, outputs: (outputs ?? {}) as Record<string, unknown> };
}

function timeouts(t: { create?: string; update?: string; pb_delete?: string }) {
  return Object.fromEntries(
    Object.entries({ create: t.create, update: t.update, delete: t.pb_delete }).filter(([, v]) => v),
  );
}
