import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { installRandomStandIn, RANDOM_STAND_IN_ENTRY } from "../../cluster/install-random-stand-in";

/**
 * What the engine does with a plugin: start the executable from some other directory with the engine's
 * address, and read the gRPC port it prints first. Resolves with that line; rejects with what it wrote to
 * stderr when it exits first.
 */
function firstLine(executable: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(executable, ["127.0.0.1:1"], { cwd: tmpdir(), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("\n")) {
        child.kill();
        resolve(out.split("\n")[0]);
      }
    });
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => reject(new Error(`${path.basename(executable)} exited ${code}: ${err}`)));
  });
}

describe("the random provider stand-in's launchers, started as the engine starts a plugin", function () {
  this.timeout(60_000);

  it("run from the checkout (cluster/random-stand-in/pulumi-resource-random) and print their port", async () => {
    assert.match(await firstLine(RANDOM_STAND_IN_ENTRY), /^\d+$/);
  });

  it("run once installed into a PULUMI_HOME outside the checkout, finding this checkout's node_modules", async () => {
    const home = mkdtempSync(path.join(tmpdir(), "sonic-random-home-"));
    try {
      assert.match(await firstLine(installRandomStandIn(home).executable), /^\d+$/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
