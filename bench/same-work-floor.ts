import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";

/**
 * The same work as a stack's `pulumi up`, done by the tools a person would use by hand: `helm install --wait`
 * of every chart the stack installs, with the values it passed, and `kubectl apply --server-side` of every other
 * object it made, waited for as Pulumi waits. Read from the stack's own state after an up, so it is exactly
 * the objects and values that up produced (bench:deploy's floor).
 */
export interface FloorRelease {
  name: string;
  namespace: string;
  chart: string;
  version: string;
  repo: string;
  values: Record<string, unknown>;
}

export interface FloorWork {
  releases: FloorRelease[];
  namespaces: object[];
  /** Every other object, as the API server held it, without what the server itself sets. */
  objects: object[];
}

interface StateResource {
  type: string;
  outputs?: Record<string, unknown>;
}

/** The signature of a secret value in an exported state; with decryption it carries `plaintext` (JSON). */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** A state's values with every secret replaced by its plaintext: what the objects and charts really got. */
export function revealed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(revealed);
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record[SECRET_SIG] !== undefined && typeof record.plaintext === "string")
      return revealed(JSON.parse(record.plaintext));
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, revealed(v)]));
  }
  return value;
}

/** Fields the API server fills in: a re-apply must not carry them (a bound claim's volume, a Service's IP...). */
function withoutServerFields(live: Record<string, unknown>): object {
  // The provider's own bookkeeping in its outputs (`__inputs`, `__fieldManager`) is not part of the object.
  const object = Object.fromEntries(
    Object.entries(live).filter(([key]) => key !== "status" && !key.startsWith("__")),
  ) as Record<string, unknown>;
  const metadata = { ...(object.metadata as Record<string, unknown>) };
  for (const field of [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
  ])
    delete metadata[field];
  const annotations = { ...((metadata.annotations as Record<string, string>) ?? {}) };
  delete annotations["kubectl.kubernetes.io/last-applied-configuration"];
  delete annotations["deployment.kubernetes.io/revision"];
  metadata.annotations = annotations;
  const spec = object.spec ? { ...(object.spec as Record<string, unknown>) } : undefined;
  if (spec && object.kind === "Service") for (const f of ["clusterIP", "clusterIPs"]) delete spec[f];
  if (spec && object.kind === "PersistentVolumeClaim") delete spec.volumeName;
  return { ...object, metadata, ...(spec ? { spec } : {}) };
}

/** The floor's work from a stack's exported resources (secrets decrypted). */
export function floorWorkOf(resources: StateResource[]): FloorWork {
  const work: FloorWork = { releases: [], namespaces: [], objects: [] };
  for (const r of resources) {
    const o = revealed(r.outputs ?? {}) as Record<string, unknown>;
    if (r.type === "kubernetes:helm.sh/v3:Release") {
      work.releases.push({
        name: String(o.name),
        namespace: String(o.namespace),
        chart: String(o.chart),
        version: String(o.version),
        repo: String((o.repositoryOpts as { repo?: string } | undefined)?.repo ?? ""),
        values: (o.values as Record<string, unknown>) ?? {},
      });
    } else if (
      r.type.startsWith("kubernetes:") &&
      !r.type.startsWith("pulumi:providers") &&
      o.apiVersion &&
      o.kind
    ) {
      const object = withoutServerFields(o);
      (o.kind === "Namespace" ? work.namespaces : work.objects).push(object);
    }
  }
  return work;
}

/** The floor's files: one manifest of the namespaces, one of the other objects, one values file per release. */
export function writeFloorFiles(
  work: FloorWork,
  dir: string,
): { namespaces: string; objects: string; values: Map<string, string> } {
  mkdirSync(dir, { recursive: true });
  const manifest = (objects: object[]) => objects.map((o) => stringify(o)).join("---\n");
  const namespaces = path.join(dir, "namespaces.yaml");
  const objects = path.join(dir, "objects.yaml");
  writeFileSync(namespaces, manifest(work.namespaces), { mode: 0o600 });
  writeFileSync(objects, manifest(work.objects), { mode: 0o600 });
  const values = new Map<string, string>();
  for (const r of work.releases) {
    const file = path.join(dir, `${r.namespace}.${r.name}.values.yaml`);
    writeFileSync(file, stringify(r.values), { mode: 0o600 });
    values.set(`${r.namespace}/${r.name}`, file);
  }
  return { namespaces, objects, values };
}
