import { writeFileSync } from "node:fs";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { openStack } from "./deploy";
import { kubectlAsync } from "./kubectl";

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

/** A core/v1 Event as `kubectl get events -o json` gives it. */
export interface ClusterEvent {
  involvedObject: { kind: string; namespace?: string; name: string };
  message: string;
  firstTimestamp?: string | null;
  lastTimestamp?: string | null;
  eventTime?: string | null;
  series?: { lastObservedTime?: string } | null;
}

/** How long a controller must have kept failing to create a pod before the step stops waiting for it. */
export const POD_REFUSAL_PERSISTS_MS = 30_000;

/**
 * Pods that a controller has kept failing to create for {@link POD_REFUSAL_PERSISTS_MS}, from its
 * FailedCreate events since `since` (ms): PodSecurity, a missing PriorityClass or ServiceAccount. The API
 * server took the Deployment, so the engine would wait out its readiness timeout (10 min and more) before
 * saying anything; a refusal that passes (a ServiceAccount created a moment later) is not one. One per object,
 * as a refusal of a synthetic URN (`kubernetes:apps/v1:ReplicaSet::namespace/name`) that the report names.
 */
export function podRefusals(events: ClusterEvent[], since: number, stack: string): Refusal[] {
  const byObject = new Map<string, Refusal>();
  for (const e of events) {
    const first = Date.parse(e.firstTimestamp ?? e.eventTime ?? "");
    const last = Date.parse(e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime ?? "");
    if (!(last >= since) || !(last - Math.max(first, since) >= POD_REFUSAL_PERSISTS_MS)) continue;
    const { kind, namespace, name } = e.involvedObject;
    const group = kind === "Job" ? "batch/v1" : "apps/v1";
    const id = `${namespace ?? ""}/${name}`;
    byObject.set(id, {
      urn: `urn:pulumi:${stack}::sonic-observability::kubernetes:${group}:${kind}::${id}`,
      message: `${kind} ${id} cannot create its pods: ${e.message}`,
    });
  }
  return [...byObject.values()];
}

/**
 * Watches the cluster's FailedCreate events while a step runs; calls `refused` once with the pods that keep
 * being refused ({@link podRefusals}).
 */
function watchPodRefusals(stack: string, since: number, refused: (r: Refusal[]) => void): () => void {
  let stopped = false;
  const poll = async () => {
    while (!stopped) {
      await new Promise((resolve) => setTimeout(resolve, 5000));
      if (stopped) return;
      try {
        const out = await kubectlAsync([
          "get",
          "events",
          "-A",
          "--field-selector",
          "reason=FailedCreate",
          "-o",
          "json",
        ]);
        const found = podRefusals((JSON.parse(out) as { items: ClusterEvent[] }).items, since, stack);
        if (found.length > 0) {
          stopped = true;
          refused(found);
        }
      } catch {
        /* the API server busy or restarting: the next poll asks again */
      }
    }
  };
  void poll();
  return () => {
    stopped = true;
  };
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
    // A pod the API server's admission refuses is no error to the engine: it would wait out the workload's
    // readiness timeout. The step stops the engine once such a refusal persists, and reports it.
    const abort = new AbortController();
    const stopWatching =
      request.action === "up"
        ? watchPodRefusals(request.stack, started, (found) => {
            recorder.refusals.push(...found);
            abort.abort();
          })
        : () => undefined;
    const options = {
      onEvent: recorder.onEvent,
      onOutput: () => undefined,
      color: "never" as const,
      signal: abort.signal,
    };
    // The engine cancels on the signal (SIGINT); where an operation does not let go, a minute is enough.
    const gaveUp = new Promise<void>((resolve) =>
      abort.signal.addEventListener("abort", () => setTimeout(resolve, 60_000).unref()),
    );
    try {
      // Every refusal in one run, not only the first: the engine goes on with what does not depend on it.
      await Promise.race([
        request.action === "up" ? stack.up({ ...options, continueOnError: true }) : stack.preview(options),
        gaveUp,
      ]);
    } finally {
      stopWatching();
    }
    if (abort.signal.aborted) throw new Error("stopped: pods refused by admission (above)");
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
