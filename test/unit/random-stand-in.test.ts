import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as runtime from "@pulumi/pulumi/runtime";
import { installRandomStandIn } from "../../cluster/install-random-stand-in";
import {
  CHARACTER_SETS,
  checkPassword,
  generatePassword,
  passwordReplaces,
  passwordSettings,
  passwordState,
  secret,
} from "../../cluster/random-stand-in/password";
import { PASSWORD_ID, RANDOM_PASSWORD, randomStandIn } from "../../cluster/random-stand-in/provider";

// The stand-in random provider's pure parts and its provider object, without an engine: what it generates,
// when it replaces, what it refuses and how it is installed. test/cluster/random-stand-in.cluster.ts runs it
// under the real engine.

const URN = `urn:pulumi:test::sonic-observability::${RANDOM_PASSWORD}::grafana-admin-password`;
const ALPHANUMERIC = CHARACTER_SETS.upper + CHARACTER_SETS.lower + CHARACTER_SETS.numeric;

/** Whether every character of `s` is in `chars`. */
const onlyFrom = (s: string, chars: string) => [...s].every((c) => chars.includes(c));

describe("random stand-in: generation", () => {
  it("fills in the real provider's defaults: every class on, no minimums, no override, no keepers", () => {
    assert.deepEqual(passwordSettings({ length: 24 }), {
      length: 24,
      upper: true,
      lower: true,
      numeric: true,
      special: true,
      minUpper: 0,
      minLower: 0,
      minNumeric: 0,
      minSpecial: 0,
      overrideSpecial: "",
      keepers: {},
    });
  });

  it("makes a password of the asked length from letters and digits only when special is false", () => {
    for (const length of [1, 24, 32, 40, 200]) {
      const password = generatePassword(passwordSettings({ length, special: false }));
      assert.equal(password.length, length);
      assert.ok(onlyFrom(password, ALPHANUMERIC), password);
    }
  });

  it("draws special characters from the default set, or from overrideSpecial when that is set", () => {
    const special = generatePassword(
      passwordSettings({ length: 50, upper: false, lower: false, numeric: false }),
    );
    assert.ok(onlyFrom(special, CHARACTER_SETS.special), special);
    const override = generatePassword(
      passwordSettings({ length: 50, upper: false, lower: false, numeric: false, overrideSpecial: "_-" }),
    );
    assert.ok(onlyFrom(override, "_-"), override);
  });

  it("honours every minimum, wherever the shuffle puts it", () => {
    const settings = passwordSettings({ length: 4, minUpper: 1, minLower: 1, minNumeric: 1, minSpecial: 1 });
    for (let i = 0; i < 200; i++) {
      const password = generatePassword(settings);
      for (const chars of Object.values(CHARACTER_SETS))
        assert.ok(
          [...password].some((c) => chars.includes(c)),
          `${password} lacks one of ${chars}`,
        );
    }
  });

  it("takes every character from the random source it is given", () => {
    // A source that always answers 0 picks the first character of each set: the minimum's digit, then
    // letters from the union (lower first when upper is off), in whatever order the shuffle leaves them.
    assert.equal(
      generatePassword(passwordSettings({ length: 5, special: false }), () => 0),
      "AAAAA",
    );
    const withMinimum = generatePassword(
      passwordSettings({ length: 3, upper: false, minNumeric: 1 }),
      () => 0,
    );
    assert.deepEqual([...withMinimum].sort(), ["0", "a", "a"]);
  });

  it("never makes the same 32-character password twice in 1,000 tries", () => {
    const settings = passwordSettings({ length: 32, special: false });
    const seen = new Set(Array.from({ length: 1000 }, () => generatePassword(settings)));
    assert.equal(seen.size, 1000);
  });
});

describe("random stand-in: replacement", () => {
  const stored = passwordState({ length: 32, special: false, keepers: { version: "0" } }, "x".repeat(32));

  it("replaces nothing when the inputs are the ones stored", () => {
    assert.deepEqual(passwordReplaces(stored, { length: 32, special: false, keepers: { version: "0" } }), []);
  });

  it("replaces nothing when the program only spells out a default", () => {
    const news = { length: 32, special: false, upper: true, numeric: true, minLower: 0, overrideSpecial: "" };
    assert.deepEqual(passwordReplaces(stored, { ...news, keepers: { version: "0" } }), []);
  });

  it("replaces on a change of length, special, or any other input, naming it", () => {
    const base = { length: 32, special: false, keepers: { version: "0" } };
    const changes: [string, Record<string, unknown>][] = [
      ["length", { length: 33 }],
      ["special", { special: true }],
      ["upper", { upper: false }],
      ["lower", { lower: false }],
      ["numeric", { numeric: false }],
      ["number", { number: false }],
      ["minUpper", { minUpper: 2 }],
      ["minLower", { minLower: 2 }],
      ["minNumeric", { minNumeric: 2 }],
      ["minSpecial", { minSpecial: 2 }],
      ["overrideSpecial", { overrideSpecial: "_" }],
      ["keepers", { keepers: { version: "1" } }],
      ["keepers", { keepers: { version: "0", rotated: "2025" } }],
      ["keepers", { keepers: undefined }],
    ];
    for (const [name, change] of changes)
      assert.deepEqual(passwordReplaces(stored, { ...base, ...change }), [name], name);
  });

  it("compares keepers by content, whatever their order and whether they are secret", () => {
    const olds = passwordState({ length: 8, keepers: { a: "1", b: "2" } }, "x".repeat(8));
    assert.deepEqual(passwordReplaces(olds, { length: 8, keepers: { b: "2", a: secret("1") } }), []);
  });

  it("replaces when an input is not known yet in a preview, as the real provider plans it", () => {
    const news = { length: 32, special: false, keepers: { version: runtime.unknownValue } };
    assert.deepEqual(passwordReplaces(stored, news), ["keepers"]);
  });
});

describe("random stand-in: check", () => {
  it("accepts the inputs the program uses", () => {
    assert.deepEqual(checkPassword({ length: 24, special: false }), []);
    assert.deepEqual(checkPassword({ length: 32, special: false, keepers: { version: "0" } }), []);
  });

  it("refuses a missing or non-positive length, naming the value", () => {
    assert.deepEqual(checkPassword({ special: false }), [
      { property: "length", reason: "'length' is required" },
    ]);
    assert.deepEqual(checkPassword({ length: 0 }), [
      { property: "length", reason: "'length' (0) must be an integer >= 1" },
    ]);
  });

  it("refuses a length shorter than the minimums together", () => {
    assert.deepEqual(checkPassword({ length: 3, minUpper: 2, minNumeric: 2 }), [
      {
        property: "length",
        reason: "'length' (3) must be >= minUpper + minLower + minNumeric + minSpecial (4)",
      },
    ]);
  });

  it("refuses a password with no character class, and a minimum for a class that is off", () => {
    assert.deepEqual(
      checkPassword({ length: 8, upper: false, lower: false, numeric: false, special: false }),
      [{ property: "upper", reason: "at least one of upper, lower, numeric and special must be true" }],
    );
    assert.deepEqual(checkPassword({ length: 8, special: false, minSpecial: 1 }), [
      { property: "minSpecial", reason: "'minSpecial' (1) must be 0 when 'special' is false" },
    ]);
  });

  it("refuses numeric and its deprecated alias number disagreeing, and a keeper that is not a string", () => {
    assert.deepEqual(checkPassword({ length: 8, numeric: true, number: false }), [
      { property: "numeric", reason: "'numeric' (true) and its deprecated alias 'number' (false) disagree" },
    ]);
    assert.deepEqual(checkPassword({ length: 8, keepers: { version: 1 } }), [
      { property: "keepers.version", reason: "'keepers.version' (1) must be a string" },
    ]);
  });

  it("leaves values not known yet to the check that runs once they are", () => {
    assert.deepEqual(checkPassword({ length: runtime.unknownValue, minUpper: 5 }), []);
  });
});

describe("random stand-in: provider", () => {
  const provider = randomStandIn("4.21.2");
  const sig = runtime.specialSigKey;

  it("answers for the version it is given", () => {
    assert.equal(provider.version, "4.21.2");
  });

  it("creates a password stored as a secret, with the defaults in the state and 'none' as the ID", async () => {
    const created = await provider.create!(URN, { length: 24, special: false });
    assert.equal(created.id, PASSWORD_ID);
    const { result, ...inputs } = created.outs;
    assert.equal(result[sig], runtime.specialSecretSig);
    assert.equal(result.value.length, 24);
    assert.deepEqual(inputs, {
      length: 24,
      special: false,
      upper: true,
      lower: true,
      numeric: true,
      number: true,
      minUpper: 0,
      minLower: 0,
      minNumeric: 0,
      minSpecial: 0,
    });
  });

  it("reports no change for the same inputs, and a replacement for a new length", async () => {
    const { outs } = await provider.create!(URN, { length: 24, special: false });
    assert.deepEqual(await provider.diff!(PASSWORD_ID, URN, outs, { length: 24, special: false }), {
      changes: false,
      replaces: [],
      deleteBeforeReplace: false,
    });
    assert.deepEqual(await provider.diff!(PASSWORD_ID, URN, outs, { length: 25, special: false }), {
      changes: true,
      replaces: ["length"],
      deleteBeforeReplace: false,
    });
  });

  it("keeps the stored password on refresh and on an update", async () => {
    const { outs } = await provider.create!(URN, { length: 24, special: false });
    const read = await provider.read!(PASSWORD_ID, URN, outs);
    assert.deepEqual(read, { id: PASSWORD_ID, props: outs });
    const updated = await provider.update!(PASSWORD_ID, URN, outs, {
      length: 24,
      special: false,
      upper: true,
    });
    assert.deepEqual(updated.outs.result, outs.result);
  });

  it("imports a password given as the ID, as the real provider does", async () => {
    const read = await provider.read!("s3cret-Pa55", URN, {});
    assert.equal(read.id, PASSWORD_ID);
    assert.deepEqual(read.props.result, { [sig]: runtime.specialSecretSig, value: "s3cret-Pa55" });
    assert.equal(read.props.length, 11);
  });

  it("refuses a random resource it does not implement, saying so", async () => {
    const urn = "urn:pulumi:test::p::random:index/randomUuid:RandomUuid::id";
    const checked = await provider.check!(urn, {}, {});
    assert.deepEqual(checked.failures, [
      { property: "", reason: "the random stand-in does not implement random:index/randomUuid:RandomUuid" },
    ]);
  });
});

describe("random stand-in: installation", () => {
  let home: string;
  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "random-stand-in-"));
  });
  afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

  it("installs under the version @pulumi/random asks for, where the engine's plugin cache looks", () => {
    const { version } = JSON.parse(fs.readFileSync(require.resolve("@pulumi/random/package.json"), "utf8"));
    fs.mkdirSync(path.join(home, "plugins"));
    fs.writeFileSync(path.join(home, "plugins", `resource-random-v${version}.partial`), "");
    const installed = installRandomStandIn(home);
    assert.equal(installed.version, version);
    assert.equal(installed.dir, path.join(home, "plugins", `resource-random-v${version}`));
    assert.equal(installed.executable, path.join(installed.dir, "pulumi-resource-random"));
    assert.ok(fs.statSync(installed.executable).mode & 0o100, "the plugin is executable");
    assert.ok(fs.existsSync(path.join(installed.dir, "main.js")), "the sources are transpiled beside it");
    // A .partial file marks an unfinished install: the engine skips the directory while it exists.
    assert.equal(fs.existsSync(`${installed.dir}.partial`), false);
  });

  it("refuses a version that is not a bare semantic version", () => {
    assert.throws(() => installRandomStandIn(home, "v4.21.2"), {
      message: `'version' ("v4.21.2") must be a semantic version like 4.21.2, without a v`,
    });
  });
});
