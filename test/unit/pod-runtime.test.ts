import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { expand, toPodAddress } from "../../cluster/pods/container-command";
import { IMAGE_RULES, repositoryOf, ruleFor } from "../../cluster/pods/images";

// The pod runtime's pure parts (cluster/pods/): how a container's addresses and variables become a process's
// on this machine, and which image runs as what. The live suite (controllers.cluster.ts) runs them for real.
describe("the pod runtime's translation of a container into a process", () => {
  const ip = "172.30.0.7";

  it("binds what a container binds on its loopback or every address to the pod's IP, and leaves other addresses alone", () => {
    assert.equal(toPodAddress("--web.listen-address=:9090", ip), `--web.listen-address=${ip}:9090`);
    assert.equal(toPodAddress(":8080", ip), `${ip}:8080`);
    assert.equal(
      toPodAddress("--reload-url=http://127.0.0.1:9090/-/reload", ip),
      `--reload-url=http://${ip}:9090/-/reload`,
    );
    assert.equal(toPodAddress("redis://localhost:6379", ip), `redis://${ip}:6379`);
    assert.equal(toPodAddress("[::]:9094", ip), `${ip}:9094`);
    assert.equal(toPodAddress("0.0.0.0", ip), ip);
    // A value the operator writes into other pods' configurations, not an address to bind.
    assert.equal(toPodAddress("--localhost=127.0.0.1", ip), "--localhost=127.0.0.1");
    assert.equal(
      toPodAddress("http://prometheus-stack-prometheus.monitoring.svc:9090", ip),
      "http://prometheus-stack-prometheus.monitoring.svc:9090",
    );
    assert.equal(toPodAddress("http://10.127.0.1:80", ip), "http://10.127.0.1:80");
  });

  it("expands $(VAR) from the variables before it, as a kubelet does, and keeps $$(VAR) literal", () => {
    const env = { POD_IP: ip };
    assert.equal(
      expand("--cluster.listen-address=[$(POD_IP)]:9094", env),
      `--cluster.listen-address=[${ip}]:9094`,
    );
    assert.equal(expand("$$(POD_IP)", env), "$(POD_IP)");
    assert.equal(expand("$(UNSET)", env), "$(UNSET)");
  });

  it("finds an image's rule by its repository, whatever the tag, digest or registry port", () => {
    assert.equal(repositoryOf("quay.io/prometheus/prometheus:v3.14.0"), "quay.io/prometheus/prometheus");
    assert.equal(repositoryOf("localhost:5000/team/app@sha256:abc"), "localhost:5000/team/app");
    assert.equal(repositoryOf("valkey/valkey"), "valkey/valkey");
    assert.deepEqual(ruleFor({ name: "c", image: "ghcr.io/kedacore/keda:2.20.2" })?.run, {
      binary: "keda-operator",
    });
    assert.equal(ruleFor({ name: "c", image: "docker.io/grafana/grafana:12.1.0" }), undefined);
  });

  it("runs only binaries that npm run setup:cluster builds", () => {
    const setup = readFileSync(path.join(__dirname, "..", "..", "cluster", "setup.sh"), "utf8");
    const built = new Set(
      [...setup.matchAll(/^\s+"[\w-]+\|[\w-]+\|\d+\|([^|"]+)/gm)].flatMap((m) => m[1].split(" ")),
    );
    const binaries = IMAGE_RULES.flatMap((r) => ("binary" in r.run ? [r.run.binary] : []));
    assert.ok(binaries.length >= 8);
    assert.deepEqual(
      binaries.filter((b) => !built.has(b)),
      [],
    );
  });
});
