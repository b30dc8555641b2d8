import { strict as assert } from "node:assert";
import { kubectl } from "../../cluster/kubectl";
import {
  crdGroups,
  danglingApiServices,
  deployOk,
  deployRun,
  eventually,
  failedCreateEvents,
  helmReleases,
  LOCAL_CHART_ARGS,
  missingObjects,
  namespacePhases,
  unreadyWorkloads,
} from "./support";

/** The changes of a run, from the summary line npm run deploy prints last. */
function summaryOf(output: string): Record<string, number> {
  const line = output
    .trim()
    .split("\n")
    .reverse()
    .find((l) => l.startsWith("deploy: "));
  assert.ok(line, `no summary line in:\n${output.slice(-2000)}`);
  return JSON.parse(line.slice(line.indexOf("{"))) as Record<string, number>;
}

interface LiveStack {
  stack: string;
  /** The namespaces the stack owns: empty before up, gone after destroy. */
  namespaces: string[];
  /** A bad setting of this stack, and the error that must name it. */
  bad: { key: string; value: string; error: RegExp };
  /**
   * API groups whose CRDs destroy keeps (Helm never deletes a chart's `crds/`: the Prometheus Operator's)
   * and removes (KEDA's, templates of its release), as docs/operate.md says.
   */
  crds: { kept: string[]; removed: string[] };
  /** What only this stack checks, between up and destroy. */
  more?: (args: (action: string, ...extra: string[]) => string[]) => void;
}

/** Every stack: from empty, every object in the API, workloads ready, nothing refused, no perpetual diff, clean destroy. */
function liveStack({ stack, namespaces, bad, crds, more }: LiveStack): void {
  const args = (action: string, ...extra: string[]) => [
    stack,
    action,
    "--stand-in-secrets",
    ...LOCAL_CHART_ARGS,
    ...extra,
  ];
  describe(`the ${stack} stack, deployed for real by the Pulumi engine on a local control plane`, function () {
    this.timeout(20 * 60_000);

    it("refuses a bad setting before a single object reaches the API server", async () => {
      const run = await deployRun(args("up", "--config", `${bad.key}=${bad.value}`));
      assert.notEqual(run.status, 0, `up with ${bad.key}=${bad.value} succeeded`);
      assert.match(run.output, bad.error);
      const phases = namespacePhases();
      for (const ns of namespaces)
        assert.equal(phases.get(ns), undefined, `namespace ${ns} exists after a refused up`);
      assert.equal(kubectl(["get", "secrets", "-A", "-l", "owner=helm", "-o", "name"]).trim(), "");
    });

    it("goes up from empty, and the API server holds every object it registered", async () => {
      await deployOk(args("up"));
      assert.deepEqual(missingObjects(stack), []);
      for (const r of helmReleases(stack))
        assert.equal(r.status, "deployed", `release ${r.namespace}/${r.name} is ${r.status}`);
    });

    it("brings every Deployment and StatefulSet to its ready replicas, and no pod is refused by PodSecurity", async () => {
      await eventually("workloads not ready", () =>
        unreadyWorkloads(namespaces.filter((ns) => namespacePhases().has(ns))),
      );
      assert.deepEqual(failedCreateEvents(), []);
    });

    it("shows no change on the preview right after", async () => {
      await deployOk(args("preview", "--expect-no-changes"));
    });

    more?.(args);

    it("destroys cleanly: no namespace left or stuck Terminating, no APIService pointing at nothing, CRDs as documented", async () => {
      await deployOk(args("destroy"));
      await eventually("namespaces of the stack remain", () =>
        namespaces
          .filter((ns) => namespacePhases().has(ns))
          .map((ns) => `${ns}: ${namespacePhases().get(ns)}`),
      );
      assert.deepEqual(danglingApiServices(), []);
      const groups = crdGroups();
      for (const group of crds.kept)
        assert.ok(groups.has(group), `the ${group} CRDs were removed by destroy`);
      for (const group of crds.removed)
        assert.ok(!groups.has(group), `the ${group} CRDs are left after destroy`);
    });
  });
}

liveStack({
  stack: "dev",
  namespaces: ["monitoring", "ai-inference", "keda"],
  crds: { kept: ["monitoring.coreos.com"], removed: ["keda.sh"] },
  bad: {
    key: "prometheus.retention",
    value: "30 days",
    error: /prometheus\.retention: expected a duration like 30d, got "30 days"/,
  },
  more: (args) => {
    it("has the Sonic namespace enforce PodSecurity: the real API server refuses a privileged pod there", () => {
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "breaks-the-level", namespace: "ai-inference" },
        spec: { containers: [{ name: "c", image: "busybox", securityContext: { privileged: true } }] },
      };
      assert.throws(
        () => kubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify(pod)),
        (error: Error & { stderr?: string }) =>
          /violates PodSecurity "restricted/.test(String(error.stderr ?? error.message)),
      );
    });

    it("shows a prometheus.retention change as that one update, and up applies it", async () => {
      const preview = await deployOk(args("preview", "--diff", "--config", "prometheus.retention=5d"));
      const changes = summaryOf(preview);
      assert.deepEqual(
        Object.fromEntries(Object.entries(changes).filter(([op]) => op !== "same")),
        { update: 1 },
        `the retention change touched more than one resource: ${JSON.stringify(changes)}`,
      );
      assert.match(preview, /retention\s*:\s*"3d"\s*=>\s*"5d"/);
      await deployOk(args("up", "--config", "prometheus.retention=5d"));
      assert.equal(
        kubectl([
          "get",
          "prometheus",
          "-n",
          "monitoring",
          "-o",
          "jsonpath={.items[*].spec.retention}",
        ]).trim(),
        "5d",
      );
    });
  },
});

liveStack({
  stack: "prod",
  namespaces: ["monitoring", "ai-inference"],
  crds: { kept: ["monitoring.coreos.com"], removed: ["keda.sh"] },
  bad: {
    key: "prometheus.retention",
    value: "30 days",
    error: /prometheus\.retention: expected a duration like 30d, got "30 days"/,
  },
});

liveStack({
  stack: "fleet",
  namespaces: ["fleet"],
  crds: { kept: [], removed: ["keda.sh"] },
  bad: { key: "env", value: "qa", error: /sonic-observability:env/ },
});
