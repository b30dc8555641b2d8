import type * as provider from "@pulumi/pulumi/provider";
import {
  checkPassword,
  generatePassword,
  isSecret,
  passwordReplaces,
  passwordSettings,
  passwordState,
  PASSWORD_OUTPUTS,
  secret,
} from "./password";

/*
 * A STAND-IN for Pulumi's `random` provider plugin (pulumi-resource-random), written for this project's
 * deploy tests: the real plugin is not available where they run, and a Node language host is not either, so
 * this is served as a plain executable with the provider SDK's `main` (see `pulumi-resource-random`). It
 * implements only what the program uses, RandomPassword, with the contract the program relies on: the
 * password is generated once at create and never again until an input changes, every input change replaces
 * it, and it is stored as a secret. It is not the real provider and is never installed outside a test's
 * PULUMI_HOME.
 */

/** The type token the @pulumi/random SDK registers RandomPassword under. */
export const RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword";

/**
 * The ID the real provider gives every RandomPassword (Terraform's `random_password` uses "none"): the
 * password itself must not be the ID, which the engine stores and prints in the clear.
 */
export const PASSWORD_ID = "none";

/** The version of @pulumi/random this checkout uses: the provider version its SDK asks the engine for. */
export function randomSdkVersion(): string {
  const pkg = require("@pulumi/random/package.json") as { version: string; pulumi?: { version?: string } };
  return (pkg.pulumi?.version ?? pkg.version).replace(/^v/, "");
}

/** The resource type of a URN (`urn:pulumi:stack::project::parent$type::name`). */
function typeOf(urn: string): string {
  const qualified = urn.split("::")[2] ?? "";
  return qualified.split("$").pop() ?? "";
}

function requirePassword(urn: string): void {
  if (typeOf(urn) !== RANDOM_PASSWORD)
    throw new Error(
      `the random stand-in implements only ${RANDOM_PASSWORD}, not ${typeOf(urn)} (${urn}); add it to cluster/random-stand-in`,
    );
}

/** The stand-in provider. `version` is the @pulumi/random version it answers for. */
export function randomStandIn(version: string = randomSdkVersion()): provider.Provider {
  return {
    version,

    async check(urn, _olds, news) {
      if (typeOf(urn) !== RANDOM_PASSWORD)
        return {
          inputs: news,
          failures: [{ property: "", reason: `the random stand-in does not implement ${typeOf(urn)}` }],
        };
      return { inputs: news, failures: checkPassword(news) };
    },

    async diff(_id, urn, olds, news) {
      requirePassword(urn);
      const replaces = passwordReplaces(olds, news);
      return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
    },

    async create(urn, inputs) {
      requirePassword(urn);
      const result = generatePassword(passwordSettings(inputs));
      return { id: PASSWORD_ID, outs: passwordState(inputs, result) };
    },

    async read(id, urn, props) {
      requirePassword(urn);
      const state = (props ?? {}) as Record<string, unknown>;
      if (state.result !== undefined) {
        // Refresh: nothing outside the state to compare with, so the password is as stored. The stored
        // inputs are left as they are (no `inputs` answer).
        return {
          id,
          props: { ...state, result: isSecret(state.result) ? state.result : secret(state.result) },
        };
      }
      // Import (`pulumi import ... <password>`): as the real provider, the ID given is the password, and the
      // inputs are the defaults that describe it.
      const inputs = { length: id.length, special: true, upper: true, lower: true, numeric: true };
      return { id: PASSWORD_ID, props: passwordState(inputs, id), inputs };
    },

    async update(_id, urn, olds, news) {
      requirePassword(urn);
      // Every input replaces (see PASSWORD_INPUTS), so the engine only gets here for a change the diff did not
      // report, such as inputs equal after defaults: keep the password, take the new inputs.
      const old = olds as Record<string, unknown>;
      const outs = passwordState(news, "");
      for (const key of PASSWORD_OUTPUTS) if (old[key] !== undefined) outs[key] = old[key];
      return { outs };
    },

    async delete() {
      // Nothing exists outside the state.
    },
  };
}
