import { strict as assert } from "node:assert";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { parseRehearseArgs } from "../../cluster/rehearse";
import { dataLosses, failures, report, STEPS, StackRehearsal } from "../../cluster/rehearsal-report";
import { podRefusals, StepRecorder, StepResult } from "../../cluster/rehearsal-step";

const urn = (type: string, name: string) => `urn:pulumi:dev::sonic-observability::${type}::${name}`;
const PVC = "kubernetes:core/v1:PersistentVolumeClaim";
const DEPLOYMENT = "kubernetes:apps/v1:Deployment";

function pre(op: string, type: string, name: string, diffs?: string[]): EngineEvent {
  return {
    sequence: 0,
    timestamp: 0,
    resourcePreEvent: { metadata: { op, urn: urn(type, name), type, diffs, provider: "" } },
  } as unknown as EngineEvent;
}

function diagnostic(message: string, name?: string, severity = "error"): EngineEvent {
  return {
    sequence: 0,
    timestamp: 0,
    diagnosticEvent: { urn: name ? urn(PVC, name) : undefined, message, color: "never", severity },
  } as unknown as EngineEvent;
}

function result(partial: Partial<StepResult>): StepResult {
  return { ok: true, seconds: 1, operations: [], refusals: [], ...partial };
}

function rehearsal(steps: StackRehearsal["steps"]): StackRehearsal {
  return { stack: "dev", steps, notes: [], seconds: 100 };
}

describe("the rehearsal (npm run rehearse)", () => {
  describe("reading the engine's events", () => {
    it("keeps a replacement as one replace of the object, with the properties that forced it", () => {
      const recorder = new StepRecorder();
      recorder.onEvent(pre("create-replacement", PVC, "queue-data", ["spec"]));
      recorder.onEvent(pre("delete-replaced", PVC, "queue-data"));
      recorder.onEvent(pre("same", DEPLOYMENT, "api"));
      assert.deepEqual(
        recorder.operations().map((o) => [o.op, o.diffs]),
        [
          ["create-replacement", ["spec"]],
          ["same", []],
        ],
      );
    });

    it("records each object's error without the provider's wrapping, and not the stack's repeated 'update failed'", () => {
      const recorder = new StepRecorder();
      recorder.onEvent(diagnostic('1 error occurred:\n\t* PodDisruptionBudget.policy "w" is invalid', "w"));
      recorder.onEvent(diagnostic("update failed"));
      recorder.onEvent(diagnostic("a warning", "w", "warning"));
      assert.deepEqual(recorder.refusals, [
        { urn: urn(PVC, "w"), message: 'PodDisruptionBudget.policy "w" is invalid' },
      ]);
    });
  });

  describe("pods that admission refuses", () => {
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    const failedCreate = (name: string, first: number, last: number, message: string) => ({
      involvedObject: { kind: "ReplicaSet", namespace: "monitoring", name },
      message,
      firstTimestamp: at(first),
      lastTimestamp: at(last),
    });
    const since = Date.parse(at(0));

    it("stops waiting for a workload whose pods have been refused for 30 s, naming it and the refusal; not for one refused a moment", () => {
      const psa =
        'pods "alert-analyst-x" is forbidden: violates PodSecurity "restricted:latest": seccompProfile';
      assert.deepEqual(
        podRefusals(
          [
            failedCreate("alert-analyst-5d9", 2, 41, psa),
            // A ServiceAccount created just after its Deployment: refused twice, then admitted.
            failedCreate("sonic-api-7f1", 3, 4, "error looking up service account ai-inference/sonic-api"),
          ],
          since,
          "dev",
        ),
        [
          {
            urn: "urn:pulumi:dev::sonic-observability::kubernetes:apps/v1:ReplicaSet::monitoring/alert-analyst-5d9",
            message: `ReplicaSet monitoring/alert-analyst-5d9 cannot create its pods: ${psa}`,
          },
        ],
      );
    });

    it("ignores refusals from before the step (the base's, on the same cluster)", () => {
      assert.deepEqual(
        podRefusals([failedCreate("old-1", 0, 50, "forbidden")], Date.parse(at(60)), "dev"),
        [],
      );
    });

    it("names the refused object in the report's refusals table", () => {
      const [refusal] = podRefusals(
        [failedCreate("alert-analyst-5d9", 2, 41, "forbidden: PodSecurity")],
        since,
        "dev",
      );
      const markdown = report("b", "h", [
        rehearsal([{ name: STEPS.fresh, result: result({ ok: false, refusals: [refusal] }) }]),
      ]);
      assert.match(
        markdown,
        /\| head up from empty \| ReplicaSet monitoring\/alert-analyst-5d9 \| ReplicaSet monitoring\/alert-analyst-5d9 cannot create its pods: forbidden: PodSecurity \|/,
      );
    });
  });

  describe("the verdict and report", () => {
    it("fails a stack on a failed step or a perpetual diff, and names each refused object with the API server's message", () => {
      const bad = rehearsal([
        { name: STEPS.base, result: result({}) },
        {
          name: STEPS.upgrade,
          result: result({
            ok: false,
            operations: [{ urn: urn(DEPLOYMENT, "api"), type: DEPLOYMENT, op: "update", diffs: ["spec"] }],
            refusals: [
              { urn: urn(DEPLOYMENT, "api"), message: "spec.selector: field is immutable | really" },
            ],
          }),
        },
      ]);
      assert.deepEqual(failures(bad), ["head up over the base failed"]);
      const markdown = report("`main` (abc1234)", "def5678", [bad]);
      assert.match(markdown, /❌ dev would fail/);
      assert.match(
        markdown,
        /\| head up over the base \| Deployment api \| spec\.selector: field is immutable \\\| really \|/,
      );

      const perpetual = rehearsal([
        {
          name: STEPS.noChange,
          result: result({
            operations: [
              { urn: urn(DEPLOYMENT, "api"), type: DEPLOYMENT, op: "update", diffs: ["metadata"] },
            ],
          }),
        },
      ]);
      assert.deepEqual(failures(perpetual), ["1 perpetual diff(s)"]);
      assert.match(
        report("b", "h", [perpetual]),
        /Perpetual diffs[\s\S]*- Deployment api: update \(metadata\)/,
      );
    });

    it("reports a replace that deletes data without failing the stack, and passes a clean one", () => {
      const replaced = rehearsal([
        {
          name: STEPS.upgrade,
          result: result({
            operations: [
              { urn: urn(PVC, "queue-data"), type: PVC, op: "create-replacement", diffs: ["spec"] },
              { urn: urn(DEPLOYMENT, "api"), type: DEPLOYMENT, op: "replace", diffs: ["spec"] },
            ],
          }),
        },
        { name: STEPS.noChange, result: result({}) },
      ]);
      assert.deepEqual(
        dataLosses(replaced).map((o) => o.urn),
        [urn(PVC, "queue-data")],
      );
      assert.deepEqual(failures(replaced), []);
      const markdown = report("b", "h", [replaced]);
      assert.match(markdown, /✅ dev pass/);
      assert.match(
        markdown,
        /Replaces that delete data[\s\S]*- PersistentVolumeClaim queue-data: create-replacement/,
      );
    });
  });

  describe("its arguments", () => {
    it("names the flag and the value it refuses", () => {
      assert.throws(
        () => parseRehearseArgs(["--stacks", "dev,staging"]),
        /'--stacks' \("dev,staging"\) must name stacks of dev, prod, fleet/,
      );
      assert.throws(
        () => parseRehearseArgs(["--head", "/nonexistent"]),
        /'--head' \("\/nonexistent"\) is not a checkout/,
      );
      assert.throws(() => parseRehearseArgs(["--base"]), /'--base' needs a value/);
      assert.deepEqual(parseRehearseArgs(["--stacks", "prod", "--no-controllers"]).stacks, ["prod"]);
    });
  });
});
