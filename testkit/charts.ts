import Ajv, { ValidateFunction } from "ajv";
import { CHART_PINS } from "../components/shared/chart-pins";
import { pinnedArchive } from "./chart-archives";
import { findHelm, HELM_INSTALL_HINT } from "./helm";
import { toObjects, type RenderedObject } from "../scripts/render";
import { renderStack } from "./render";
import { cachedForRun } from "./run-cache";

/**
 * Fails with the install hint when helm is missing, and with the chart, the version and `npm run charts`
 * when a pinned chart is: chart tests never skip.
 */
export function requireHelmAndCharts(): void {
  if (!findHelm()) throw new Error(HELM_INSTALL_HINT);
  for (const pin of Object.values(CHART_PINS)) pinnedArchive(pin);
}

/**
 * Every object a stack sends to the cluster, the Helm releases rendered by `helm template` with the
 * program's exact values: the program's run is {@link renderStack}'s (the same render the other tests
 * read), turned into objects by scripts/render.ts's `toObjects`. `extra` are render flags (`--set
 * key=value`, `--reveal-secrets`). Made once per run and arguments, whichever mocha worker asks first.
 */
export function renderWithCharts(stack: string, extra: string[] = []): Promise<RenderedObject[]> {
  return cachedForRun(["renderWithCharts", stack, ...extra], async () =>
    toObjects((await renderStack(stack, extra)).resources, { charts: true }),
  );
}

/**
 * The schema class of a kind: kubernetes-models for built-in kinds, @kubernetes-models/prometheus-operator
 * for monitoring.coreos.com (both ESM-only, hence import()).
 */
export async function modelOf(
  apiVersion: string,
  kind: string,
): Promise<new (data: unknown) => { validate(): void }> {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const module =
    group === "monitoring.coreos.com"
      ? await import(`@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`)
      : await import(`kubernetes-models/${group ? group + "/" : ""}${version}/${kind}`);
  return module[kind];
}

/** Objects of one kind (and name), bodies only. */
export function bodies(objects: RenderedObject[], kind: string, name?: string): any[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.name === name)).map((o) => o.body);
}

/** The one object of a kind and name; throws when there is not exactly one. */
export function one(objects: RenderedObject[], kind: string, name: string): any {
  const found = bodies(objects, kind, name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0];
}

/**
 * CRD patterns are Go regular expressions: `(?i)` (case-insensitive) is not JavaScript syntax, so it
 * becomes the `i` flag, which is what it means.
 */
const goRegExp = Object.assign(
  (pattern: string, flags: string) =>
    new RegExp(pattern.replaceAll("(?i)", ""), pattern.includes("(?i)") ? `${flags}i` : flags),
  { code: "goRegExp" },
);

/**
 * Validators of custom resources built from the CRDs the chart itself ships (`openAPIV3Schema` of
 * each served version): the judge of what the operator's API server will accept.
 */
export function crdValidators(objects: RenderedObject[]): Map<string, ValidateFunction> {
  const ajv = new Ajv({
    strict: false,
    allErrors: true,
    validateFormats: false,
    code: { regExp: goRegExp },
  });
  const validators = new Map<string, ValidateFunction>();
  for (const crd of bodies(objects, "CustomResourceDefinition")) {
    for (const version of crd.spec.versions) {
      const schema = version.schema?.openAPIV3Schema;
      if (!schema) continue;
      validators.set(`${crd.spec.group}/${version.name}/${crd.spec.names.kind}`, ajv.compile(schema));
    }
  }
  return validators;
}
