import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import type { ValidateFunction } from "ajv";
import { resourcePolicies, stackPolicies } from "../policy/guardrails";
import { diffRenders, immutableChanges } from "../scripts/diff";
import type { RenderedObject } from "../scripts/render";
import { crdValidators, modelOf } from "./charts";
import { REPO_ROOT } from "./stack-file";

/**
 * The offline review of a change, composed of what a pull request gets without a cluster: the program runs
 * under the mock runtime with the stack file's config (its own config schema and argument checks), the
 * charts render with real `helm template`, every object is validated against Kubernetes' schemas and the
 * charts' own CRDs (unknown fields in custom resources included), the policy pack runs over the program's
 * resources and the charts' objects, and the render diff against the base names every change to a field the
 * API server will not change in place.
 */
export interface OfflineVerdict {
  refused: boolean;
  /** Why, one line each: the render's error, schema problems, policy violations, immutable changes. */
  findings: string[];
  /** Notes that do not refuse: a Pulumi-managed object the engine will replace. */
  notes: string[];
  /** Objects the render diff shows changed, added or removed. */
  changed: number;
  seconds: number;
}

export interface ReviewRender {
  /** The program's own resources (Helm releases as releases), as the policy pack sees them in a preview. */
  resources: { type: string; name: string; inputs: Record<string, any> }[];
  /** Every object, the charts rendered into theirs. */
  objects: RenderedObject[];
}

/** Renders a checkout's stack in a child process (one mock-runtime program per process). Rejects with stderr. */
export async function renderForReview(stack: string, root: string): Promise<ReviewRender> {
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        "-r",
        "ts-node/register/transpile-only",
        path.join(REPO_ROOT, "testkit", "review-render.ts"),
        stack,
        root,
      ],
      { cwd: REPO_ROOT, maxBuffer: 512 * 1024 * 1024 },
    );
    return JSON.parse(stdout) as ReviewRender;
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? error).trim();
    throw new Error(stderr.split("\n").slice(0, 6).join(" ").slice(0, 600));
  }
}

/**
 * A CRD schema as the API server applies it to a create or an update: fields it does not list are unknown
 * (pruned, or refused under strict field validation), except where the schema keeps unknown fields.
 */
export function strictSchema(schema: any): any {
  if (!schema || typeof schema !== "object") return schema;
  const out: any = Array.isArray(schema) ? schema.map(strictSchema) : { ...schema };
  if (Array.isArray(schema)) return out;
  if (out.properties) {
    out.properties = Object.fromEntries(Object.entries(out.properties).map(([k, v]) => [k, strictSchema(v)]));
    if (out.additionalProperties === undefined && !out["x-kubernetes-preserve-unknown-fields"])
      out.additionalProperties = false;
  }
  if (out.items) out.items = strictSchema(out.items);
  if (out.additionalProperties && typeof out.additionalProperties === "object")
    out.additionalProperties = strictSchema(out.additionalProperties);
  for (const key of ["allOf", "anyOf", "oneOf"]) if (out[key]) out[key] = out[key].map(strictSchema);
  return out;
}

/** Each object against Kubernetes' schemas (built-in kinds) or its chart's CRD (custom resources). */
export async function schemaProblems(objects: RenderedObject[]): Promise<string[]> {
  const crds = objects.filter((o) => o.kind === "CustomResourceDefinition").map((o) => o.body as any);
  const strict = crdValidators(
    crds.map((crd) => ({
      file: "",
      kind: "CustomResourceDefinition",
      name: crd.metadata.name,
      body: {
        ...crd,
        spec: {
          ...crd.spec,
          versions: crd.spec.versions.map((v: any) => ({
            ...v,
            schema: v.schema && { openAPIV3Schema: strictSchema(v.schema.openAPIV3Schema) },
          })),
        },
      },
    })),
  );
  const problems: string[] = [];
  for (const o of objects) {
    const { apiVersion, kind } = o.body as { apiVersion: string; kind: string };
    if (!apiVersion || !kind) continue;
    // Secrets render masked as a whole; their shape is what is checked.
    const body = (o.body as any).stringData === "[secret]" ? { ...o.body, stringData: {} } : o.body;
    const group = apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
    if (group.includes(".") && !group.endsWith(".k8s.io")) {
      const validate: ValidateFunction | undefined = strict.get(`${apiVersion}/${kind}`);
      if (!validate) continue; // a CRD this render does not ship (installed by another stack or chart)
      if (!validate(body))
        problems.push(
          `${o.file}: ${(validate.errors ?? [])
            .slice(0, 3)
            .map(
              (e) =>
                `${e.instancePath || "/"} ${e.message}${e.params && "additionalProperty" in e.params ? ` '${String(e.params.additionalProperty)}'` : ""}`,
            )
            .join("; ")}`,
        );
      continue;
    }
    try {
      new (await modelOf(apiVersion, kind))(body).validate();
    } catch (err) {
      const message = (err as Error).message;
      if (/Cannot find module|is not a constructor/.test(message)) continue;
      problems.push(`${o.file}: ${message.slice(0, 300)}`);
    }
  }
  return problems;
}

const typeOf = (body: any) =>
  `kubernetes:${String(body.apiVersion).includes("/") ? body.apiVersion : `core/${body.apiVersion}`}:${body.kind}`;

/** The mandatory policies over the program's resources and over every rendered object (the charts' included). */
export function policyViolations(render: ReviewRender): string[] {
  const violations = new Set<string>();
  const runAll = (resources: { type: string; name: string; props: Record<string, any> }[]) => {
    for (const policy of resourcePolicies.filter((p) => p.enforcementLevel === "mandatory"))
      for (const r of resources) {
        const validate = policy.validateResource as (args: unknown, report: (m: string) => void) => void;
        validate({ type: r.type, props: r.props, name: r.name, urn: r.name }, (m) =>
          violations.add(`${policy.name}: ${m}`),
        );
      }
    for (const policy of stackPolicies) {
      const validate = policy.validateStack as (args: unknown, report: (m: string) => void) => void;
      validate({ resources: resources.map((r) => ({ urn: r.name, ...r })) }, (m) =>
        violations.add(`${policy.name}: ${m}`),
      );
    }
  };
  runAll(render.resources.map((r) => ({ type: r.type, name: r.name, props: r.inputs })));
  runAll(render.objects.map((o) => ({ type: typeOf(o.body), name: o.file, props: o.body as any })));
  return [...violations];
}

/** The offline verdict of a checkout's stack, against the base's render (`base`) for the render diff. */
export async function offlineReview(
  stack: string,
  root: string,
  base?: RenderedObject[],
): Promise<OfflineVerdict> {
  const started = Date.now();
  const seconds = () => Math.round((Date.now() - started) / 100) / 10;
  let render: ReviewRender;
  try {
    render = await renderForReview(stack, root);
  } catch (error) {
    return {
      refused: true,
      findings: [`render: ${(error as Error).message}`],
      notes: [],
      changed: 0,
      seconds: seconds(),
    };
  }
  const findings = [
    ...(await schemaProblems(render.objects)).map((p) => `schema: ${p}`),
    ...policyViolations(render).map((p) => `policy: ${p}`),
  ];
  const notes: string[] = [];
  let changed = 0;
  if (base) {
    const changes = diffRenders(base, render.objects);
    changed = changes.length;
    for (const c of immutableChanges(changes))
      // A chart's object is patched by Helm's upgrade, which the API server refuses; the engine replaces its own.
      (c.file.includes("/") ? findings : notes).push(
        `${c.file.includes("/") ? "immutable" : "replaced"}: ${c.file} ${c.path}`,
      );
  }
  return { refused: findings.length > 0, findings, notes, changed, seconds: seconds() };
}
