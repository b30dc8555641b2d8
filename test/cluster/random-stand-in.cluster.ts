import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as random from "@pulumi/random";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { installRandomStandIn, RANDOM_STAND_IN_ENTRY } from "../../cluster/install-random-stand-in";
import { CHARACTER_SETS } from "../../cluster/random-stand-in/password";
import { RANDOM_PASSWORD } from "../../cluster/random-stand-in/provider";

/*
 * The stand-in random provider under the real engine: a `pulumi` CLI (built from source by
 * `npm run setup:cluster` into .tools/bin, or PULUMI_BIN), driven through the Automation API with an inline
 * program and a local file backend, exactly as the deploy suite runs the program. Not in the default mocha
 * spec (it needs the CLI); run it with
 *   npx mocha --no-config -r ts-node/register/transpile-only --timeout 600000 test/cluster/random-stand-in.cluster.ts
 */

const ROOT = path.resolve(__dirname, "..", "..");
const ALPHANUMERIC = CHARACTER_SETS.upper + CHARACTER_SETS.lower + CHARACTER_SETS.numeric;

/** The `pulumi` CLI to drive: PULUMI_BIN, else the one setup:cluster builds, else the one on PATH. */
function pulumiBinary(): string {
  const candidates = [process.env.PULUMI_BIN, path.join(ROOT, ".tools", "bin", "pulumi")];
  for (const dir of (process.env.PATH ?? "").split(path.delimiter))
    if (dir) candidates.push(path.join(dir, "pulumi"));
  const found = candidates.find((c): c is string => !!c && fs.existsSync(c));
  if (!found)
    throw new Error(
      "no pulumi CLI: build it with `npm run setup:cluster` (.tools/bin/pulumi) or point PULUMI_BIN at one",
    );
  return found;
}

/**
 * The environment the Automation API needs to run with the stand-in and nothing else: a private PULUMI_HOME
 * (where the stand-in is installed), a file backend, a passphrase for the secrets, no plugin downloads, and no
 * `pulumi-resource-random` from PATH taking the stand-in's place.
 */
function automationEnv(home: string, backend: string): Record<string, string> {
  return {
    PULUMI_HOME: home,
    PULUMI_BACKEND_URL: `file://${backend}`,
    PULUMI_CONFIG_PASSPHRASE: "random-stand-in-test",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
    PULUMI_SKIP_UPDATE_CHECK: "true",
  };
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

describe("random stand-in under the pulumi engine", function () {
  this.timeout(600_000);

  let tmp: string;
  let backend: string;
  let stack: Stack;
  /** What the inline program passes RandomPassword; the tests change it between runs. */
  let args: random.RandomPasswordArgs = { length: 24, special: false };

  before(async () => {
    const bin = pulumiBinary();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "random-stand-in-cluster-"));
    const home = path.join(tmp, "home");
    backend = path.join(tmp, "state");
    fs.mkdirSync(backend, { recursive: true });
    fs.mkdirSync(path.join(tmp, "work"));
    installRandomStandIn(home);
    const env = automationEnv(home, backend);
    const pulumiCommand = await PulumiCommand.get({
      root: path.dirname(path.dirname(bin)),
      skipVersionCheck: true,
    });
    stack = await LocalWorkspace.createOrSelectStack(
      {
        projectName: "random-stand-in-test",
        stackName: "test",
        program: async () => {
          const password = new random.RandomPassword("password", args);
          return { result: password.result, id: password.id };
        },
      },
      {
        workDir: path.join(tmp, "work"),
        pulumiHome: home,
        pulumiCommand,
        envVars: env,
        secretsProvider: "passphrase",
        projectSettings: {
          name: "random-stand-in-test",
          runtime: "nodejs",
          backend: { url: `file://${backend}` },
        },
      },
    );
  });

  after(async () => {
    try {
      if (stack) await stack.destroy();
    } finally {
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  /**
   * Runs `up` and returns the password and what the engine did: "create", "replace" or "same" (the stack
   * itself and the default provider are always "same" after the first run, so any other step is the
   * password's).
   */
  async function up(): Promise<{ password: string; op: string }> {
    const result = await stack.up();
    assert.equal(result.outputs.result.secret, true, "the password output is secret");
    const steps = Object.entries(result.summary.resourceChanges ?? {}).filter(([k, n]) => k !== "same" && n);
    assert.ok(steps.length <= 1, `one step for the password, not ${JSON.stringify(steps)}`);
    return { password: result.outputs.result.value as string, op: steps[0]?.[0] ?? "same" };
  }

  let first: string;

  it("serves the checkout's own pulumi-resource-random from any working directory", async () => {
    // The engine starts plugins from the program's directory; the script must not depend on it.
    const child = spawn(RANDOM_STAND_IN_ENTRY, [], {
      cwd: os.tmpdir(),
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const port = await new Promise<string>((resolve, reject) => {
        child.stdout.once("data", (chunk: Buffer) => resolve(chunk.toString().trim()));
        child.once("exit", (code) => reject(new Error(`exited with ${code} before printing a port`)));
      });
      assert.match(port, /^\d+$/);
    } finally {
      child.kill("SIGINT");
    }
  });

  it("creates a secret password of the asked length from letters and digits", async () => {
    const { password, op } = await up();
    assert.equal(op, "create");
    assert.equal(password.length, 24);
    assert.ok(
      [...password].every((c) => ALPHANUMERIC.includes(c)),
      password,
    );
    first = password;
  });

  it("stores the password only as ciphertext: no file of the backend holds it in the clear", async () => {
    // Read the backend's own file: the Automation API's exportStack decrypts (`stack export --show-secrets`).
    const stateFile = path.join(backend, ".pulumi", "stacks", "random-stand-in-test", "test.json");
    const state = JSON.parse(fs.readFileSync(stateFile, "utf8"));
    const resource = state.checkpoint.latest.resources.find(
      (r: { type: string }) => r.type === RANDOM_PASSWORD,
    );
    assert.ok(resource, "the password is in the state");
    assert.equal(resource.id, "none");
    assert.equal(
      resource.outputs.result["4dabf18193072939515e22adb298388d"],
      "1b47061264138c4ac30d75fd1eb44270",
    );
    assert.equal(typeof resource.outputs.result.ciphertext, "string");
    for (const file of filesUnder(backend))
      assert.ok(!fs.readFileSync(file).includes(first), `${path.relative(backend, file)} holds the password`);
  });

  it("keeps the same password on a second up with the same inputs, and a preview expects no changes", async () => {
    const { password, op } = await up();
    assert.equal(op, "same");
    assert.equal(password, first);
    await stack.preview({ expectNoChanges: true });
  });

  it("keeps the same password through a refresh", async () => {
    await stack.refresh({ expectNoChanges: true });
    const outputs = await stack.outputs();
    assert.equal(outputs.result.value, first);
    assert.equal(outputs.result.secret, true);
  });

  let second: string;

  it("replaces the password when its length changes", async () => {
    args = { length: 32, special: false };
    const { password, op } = await up();
    assert.equal(op, "replace");
    assert.equal(password.length, 32);
    assert.notEqual(password, first);
    second = password;
  });

  it("replaces the password when special changes, and the preview says so first", async () => {
    args = { length: 32, special: true };
    const preview = await stack.preview();
    assert.equal(preview.changeSummary.replace, 1);
    const { password, op } = await up();
    assert.equal(op, "replace");
    assert.equal(password.length, 32);
    assert.notEqual(password, second);
  });

  it("replaces the password when a keeper changes, as the job queue rotates its password", async () => {
    args = { length: 32, special: true, keepers: { version: "1" } };
    const before = (await stack.outputs()).result.value;
    const { password, op } = await up();
    assert.equal(op, "replace");
    assert.notEqual(password, before);
    assert.equal((await up()).password, password, "and keeps the new one");
  });
});
