import { writeFileSync } from "node:fs";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { openStack } from "./deploy";

/**
 * One step of a rehearsal (cluster/rehearse.ts): `up` or `preview` of one checkout's program on the running
 * local cluster, in a process of its own (Pulumi's runtime is global to a process). It records what the engine
 * itself reported, object by object, from its event stream: the operation it chose, the properties that
 * differ, and every error it attached to an object (the API server's, an admission plugin's or a webhook's
 * refusal, a Helm failure). Run inside the cluster's network namespace, with the step as JSON in argv[2].
 */
export interface StepRequest {
  stack: string;
  action: "up" | "preview";
  /** The checkout whose program and stack file run. */
  root: string;
  /** Config overrides (key without the project prefix -> value): the local chart repository. */
  config: Record<string, string>;
  /** Where the StepResult goes, as JSON. */
  out: string;
}

export interface ObjectOperation {
  urn: string;
  type: string;
  /** The engine's operation: same, create, update, replace, create-replacement, delete, delete-replaced... */
  op: string;
  /** Top-level properties that differ (updates and replaces). */
  diffs: string[];
}

export interface Refusal {
  /** The object the engine attached the error to; the stack itself when it names none. */
  urn: string;
  message: string;
}

export interface StepResult {
  ok: boolean;
  seconds: number;
  operations: ObjectOperation[];
  refusals: Refusal[];
  /** The engine's own error when the step failed, last lines first cut to what a comment can hold. */
  error?: string;
}

/** The engine's events of one run, folded to one operation per object and the errors it attached. */
export class StepRecorder {
  private readonly ops = new Map<string, ObjectOperation>();
  readonly refusals: Refusal[] = [];

  readonly onEvent = (event: EngineEvent): void => {
    const pre = event.resourcePreEvent?.metadata;
    if (pre && pre.type !== "pulumi:pulumi:Stack" && !pre.type.startsWith("pulumi:providers:")) {
      // A replacement shows as create-replacement then delete-replaced: the object is replaced either way.
      const earlier = this.ops.get(pre.urn);
      const op = earlier && earlier.op !== "same" && pre.op.endsWith("-replaced") ? earlier.op : pre.op;
      // The provider fills `diffs` on previews; an update's event may carry only the detailed diff.
      const diffs = pre.diffs?.length ? pre.diffs : Object.keys(pre.detailedDiff ?? {});
      this.ops.set(pre.urn, {
        urn: pre.urn,
        type: pre.type,
        op,
        diffs: diffs.length ? diffs : (earlier?.diffs ?? []),
      });
    }
    const diag = event.diagnosticEvent;
    if (diag && diag.severity === "error" && !diag.ephemeral) {
      // Without colour codes and the provider's "1 error occurred: *" wrapping: the refusal itself.
      const message = diag.message
        .replace(/\u001b\[[0-9;]*m/g, "")
        .replace(/^\s*\d+ errors? occurred:\s*/, "")
        .replace(/^\s*\*\s*/gm, "")
        .trim();
      // The engine repeats "update failed" for the stack once per failed object: the object's own error says more.
      if (message && !/^update failed$|^preview failed$/.test(message))
        this.refusals.push({ urn: diag.urn ?? "", message });
    }
  };

  operations(): ObjectOperation[] {
    return [...this.ops.values()];
  }
}

async function runStep(request: StepRequest): Promise<StepResult> {
  const started = Date.now();
  const recorder = new StepRecorder();
  const seconds = () => Math.round((Date.now() - started) / 100) / 10;
  try {
    const stack = await openStack({
      stack: request.stack,
      action: request.action,
      root: request.root,
      config: request.config,
      standInSecrets: true,
    });
    const options = { onEvent: recorder.onEvent, onOutput: () => undefined, color: "never" as const };
    // Every refusal in one run, not only the first: the engine goes on with what does not depend on it.
    if (request.action === "up") await stack.up({ ...options, continueOnError: true });
    else await stack.preview(options);
    return { ok: true, seconds: seconds(), operations: recorder.operations(), refusals: recorder.refusals };
  } catch (error) {
    return {
      ok: false,
      seconds: seconds(),
      operations: recorder.operations(),
      refusals: recorder.refusals,
      error: String((error as Error).message ?? error)
        .split("\n")
        .filter((l) => l.trim())
        .slice(-20)
        .join("\n"),
    };
  }
}

if (require.main === module) {
  const request = JSON.parse(process.argv[2] ?? "{}") as StepRequest;
  void runStep(request).then((result) => {
    writeFileSync(request.out, JSON.stringify(result, null, 2));
    process.exit(0);
  });
}
