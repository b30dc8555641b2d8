import type { ObjectOperation, StepResult } from "./rehearsal-step";

/**
 * The rehearsal's verdict and its Markdown report for a pull-request comment: per stack, what the real API
 * server and engine said at each step, every refusal with its message, every perpetual diff, every replace
 * that deletes data, and the engine's diff of the upgrade.
 */
export const STEPS = {
  base: "base up",
  upgrade: "head up over the base",
  noChange: "no-change preview",
  fresh: "head up from empty",
} as const;

export type StepName = (typeof STEPS)[keyof typeof STEPS];

export interface StackRehearsal {
  stack: string;
  /** The steps in the order they ran; a step that did not run is absent, with its reason in `notes`. */
  steps: { name: StepName; result: StepResult }[];
  notes: string[];
  seconds: number;
}

/**
 * Objects whose replace or delete loses data: a claim's volume, a StatefulSet's pods and the claims bound
 * to its template (a replace recreates every pod at once), a namespace with everything in it.
 */
const DATA_TYPES = new Set([
  "kubernetes:core/v1:PersistentVolumeClaim",
  "kubernetes:core/v1:PersistentVolume",
  "kubernetes:apps/v1:StatefulSet",
  "kubernetes:core/v1:Namespace",
]);
const REPLACES = new Set(["replace", "create-replacement", "delete-replaced"]);

/** `Kind name` of an object from its URN, as a reviewer searches for it. */
export function objectName(urn: string, type: string): string {
  const kind = type.split(":").pop() ?? type;
  const name = urn.split("::").pop() ?? urn;
  return urn ? `${kind} ${name}` : "the stack";
}

function changed(op: ObjectOperation): boolean {
  return op.op !== "same" && op.op !== "read" && op.op !== "refresh";
}

export function perpetualDiffs(stack: StackRehearsal): ObjectOperation[] {
  const preview = stack.steps.find((s) => s.name === STEPS.noChange)?.result;
  return preview ? preview.operations.filter(changed) : [];
}

export function dataLosses(stack: StackRehearsal): ObjectOperation[] {
  const upgrade = stack.steps.find((s) => s.name === STEPS.upgrade)?.result;
  return (upgrade?.operations ?? []).filter(
    (o) =>
      DATA_TYPES.has(o.type) && (REPLACES.has(o.op) || (o.op === "delete" && o.type.endsWith("Namespace"))),
  );
}

/** Why a stack's rehearsal fails: failed steps and perpetual diffs. Data-deleting replaces are reported, not failed. */
export function failures(stack: StackRehearsal): string[] {
  const failed = stack.steps.filter((s) => !s.result.ok).map((s) => `${s.name} failed`);
  const perpetual = perpetualDiffs(stack);
  if (perpetual.length > 0) failed.push(`${perpetual.length} perpetual diff(s)`);
  return failed;
}

function cell(text: string, max = 700): string {
  const flat = text.length > max ? `${text.slice(0, max)}…` : text;
  return flat.replace(/\|/g, "\\|").replace(/\r?\n/g, "<br>");
}

/** One object of a list in the report: what it is, the operation, the properties behind it. */
function listItem(o: ObjectOperation): string {
  return `- ${objectName(o.urn, o.type)}: ${o.op}${o.diffs.length ? ` (${o.diffs.join(", ")})` : ""}`;
}

function counts(ops: ObjectOperation[]): string {
  const by = new Map<string, number>();
  for (const o of ops.filter(changed)) by.set(o.op, (by.get(o.op) ?? 0) + 1);
  return by.size === 0 ? "no change" : [...by].map(([op, n]) => `${n} ${op}`).join(", ");
}

function duration(seconds: number): string {
  return seconds < 90
    ? `${Math.round(seconds)} s`
    : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

export function stackSection(stack: StackRehearsal): string {
  const failing = failures(stack);
  const lines = [
    `### ${stack.stack} ${failing.length ? `❌ ${failing.join(", ")}` : "✅"} (${duration(stack.seconds)})`,
    "",
    ...stack.notes.map((n) => `- ${n}`),
    ...(stack.notes.length ? [""] : []),
    "| step | result | changes | time |",
    "|---|---|---|---|",
    ...stack.steps.map(
      ({ name, result }) =>
        `| ${name} | ${result.ok ? "✅" : `❌ ${result.refusals.length} error(s)`} | ${counts(result.operations)} | ${duration(result.seconds)} |`,
    ),
  ];
  const refusals = stack.steps.flatMap(({ name, result }) =>
    result.refusals.map((r) => {
      const op = result.operations.find((o) => o.urn === r.urn);
      return `| ${name} | ${cell(objectName(r.urn, op?.type ?? (r.urn.split("::")[2] ?? "").split("$").pop() ?? ""))} | ${cell(r.message)} |`;
    }),
  );
  const unexplained = stack.steps.filter(({ result }) => !result.ok && result.refusals.length === 0);
  if (refusals.length > 0 || unexplained.length > 0)
    lines.push(
      "",
      "**Refused or failed**",
      "",
      "| step | object | message |",
      "|---|---|---|",
      ...refusals,
      ...unexplained.map(({ name, result }) => `| ${name} | the stack | ${cell(result.error ?? "failed")} |`),
    );
  const perpetual = perpetualDiffs(stack);
  if (perpetual.length > 0)
    lines.push(
      "",
      "**Perpetual diffs** (the preview right after the upgrade still changes them)",
      "",
      ...perpetual.map(listItem),
    );
  const losses = dataLosses(stack);
  if (losses.length > 0)
    lines.push("", "**⚠ Replaces that delete data** (the upgrade)", "", ...losses.map(listItem));
  const upgrade = stack.steps.find((s) => s.name === STEPS.upgrade)?.result.operations.filter(changed) ?? [];
  if (upgrade.length > 0)
    lines.push(
      "",
      `<details><summary>The engine's diff of the upgrade: ${upgrade.length} object(s)</summary>`,
      "",
      "| object | operation | properties |",
      "|---|---|---|",
      ...upgrade.map((o) => `| ${cell(objectName(o.urn, o.type))} | ${o.op} | ${cell(o.diffs.join(", "))} |`),
      "",
      "</details>",
    );
  return lines.join("\n");
}

export function report(base: string, head: string, stacks: StackRehearsal[]): string {
  const failing = stacks.filter((s) => failures(s).length > 0);
  return [
    `## Rehearsal on a local control plane: ${
      failing.length
        ? `❌ ${failing.map((s) => s.stack).join(", ")} would fail`
        : `✅ ${stacks.map((s) => s.stack).join(", ")} pass`
    }`,
    "",
    `Base ${base} → head ${head}. Per stack: the base goes up, the head goes up over it, then a no-change preview, ` +
      "then the head goes up from empty on a fresh cluster. Every result below is the real engine's and API server's.",
    "",
    ...stacks.map(stackSection),
    "",
  ].join("\n");
}
