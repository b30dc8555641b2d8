import { parseDuration } from "../components/shared/durations";
import { SECRET_MASK, type MockRun, type RegisteredResource } from "./mock-runtime";

// A model of `pulumi up` against a real cluster, over the graph the program registered: the engine
// creates a resource only once everything it depends on is ready, and the Kubernetes provider calls a
// resource ready only when its await rules are met (pulumi/pulumi-kubernetes provider/pkg/await/:
// service.go waits for ready endpoints unless the Service is headless, ExternalName or has no
// selector; deployment.go and statefulset.go wait for ready replicas, 10 minutes by default;
// helm_release.go waits for the chart's workloads unless `skipAwait`, 300 s by default;
// `pulumi.com/skipAwait: "true"` turns any of them off).

/** Seconds the provider waits when no `customTimeouts` are set (the awaiters' defaults). */
const DEFAULT_TIMEOUT_SECONDS: Record<string, number> = {
  Deployment: 600,
  StatefulSet: 600,
  DaemonSet: 600,
  Service: 600,
  Release: 300,
};

/** What a node pulling a big image (a GPU model server) may take before the startup probe even starts. */
export const IMAGE_PULL_ALLOWANCE_SECONDS = 600;

const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet"]);

/**
 * What the pods of our image need, beyond themselves, to pass readiness: the API's `/readyz` answers
 * 200 only while the queue store at `SONIC_REDIS_URL` answers (app/api/server.ts). Data, so another
 * program's needs are one more row.
 */
export const READINESS_NEEDS: { env: string; what: string }[] = [
  { env: "SONIC_REDIS_URL", what: "the queue store" },
];

/**
 * Secrets a chart's pods mount by name, by Helm values path: the release's await would hang on
 * pods stuck in ContainerCreating if any of them never came to exist.
 */
const RELEASE_SECRET_VALUES = ["alertmanager.alertmanagerSpec.configSecret", "grafana.admin.existingSecret"];

export interface AwaitReport {
  /** Custom resources the model looked at. */
  checked: number;
  /** One line per resource that can never become ready, naming the chain that blocks it. */
  neverReady: string[];
  /** One line per awaited resource whose timeout is shorter than what it waits for. */
  shortTimeouts: string[];
}

/** One reason a resource may not be ready yet: any one of `anyOf` being ready satisfies it. */
interface Need {
  why: string;
  anyOf: RegisteredResource[];
}

const kindOf = (r: RegisteredResource) => r.type.split(":").pop()!;
const nameOf = (r: RegisteredResource) =>
  `${kindOf(r)} ${r.inputs.metadata?.namespace ?? r.inputs.namespace ?? ""}/${r.inputs.metadata?.name ?? r.inputs.name ?? r.name}`.replace(
    " /",
    " ",
  );
const namespaceOf = (r: RegisteredResource): string | undefined =>
  r.inputs.metadata?.namespace ?? r.inputs.namespace;
const skipAwait = (r: RegisteredResource) =>
  r.inputs.metadata?.annotations?.["pulumi.com/skipAwait"] === "true";

function at(value: any, dotted: string): any {
  return dotted.split(".").reduce((v, k) => (v == null ? undefined : v[k]), value);
}

/** Whether the provider awaits this resource after creating it (the await rules above). */
export function isAwaited(r: RegisteredResource): boolean {
  const kind = kindOf(r);
  if (kind === "Release") return r.inputs.skipAwait !== true;
  if (skipAwait(r)) return false;
  if (kind === "Service") {
    const spec = r.inputs.spec ?? {};
    return (
      spec.type !== "ExternalName" && spec.clusterIP !== "None" && Object.keys(spec.selector ?? {}).length > 0
    );
  }
  return WORKLOAD_KINDS.has(kind);
}

/** Seconds the provider awaits it: `customTimeouts.create`, a Release's `timeout`, or the default. */
export function timeoutSeconds(r: RegisteredResource): number {
  if (r.customTimeouts?.create) return parseDuration("customTimeouts.create", r.customTimeouts.create);
  if (kindOf(r) === "Release" && typeof r.inputs.timeout === "number") return r.inputs.timeout;
  return DEFAULT_TIMEOUT_SECONDS[kindOf(r)] ?? 600;
}

/** Seconds a pod of this workload may take to turn ready: the longest startup allowance, plus the pull. */
function podStartSeconds(r: RegisteredResource): number {
  const containers: any[] = at(r.inputs, "spec.template.spec.containers") ?? [];
  const probe = (p: any) =>
    p ? (p.initialDelaySeconds ?? 0) + (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3) : 0;
  return IMAGE_PULL_ALLOWANCE_SECONDS + Math.max(0, ...containers.map((c) => probe(c.startupProbe)));
}

const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/**
 * Runs the model over one program's registered resources. Readiness is a fixpoint: a resource is
 * created once its dependencies are ready and is ready once created and its needs are met; whatever
 * is not ready when nothing changes any more can never be.
 */
export function checkAwaits(run: MockRun): AwaitReport {
  const custom = run.resources.filter((r) => r.custom && !r.type.startsWith("pulumi:providers:"));
  const byUrn = new Map(run.resources.map((r) => [r.urn, r]));
  const childrenOf = new Map<string, RegisteredResource[]>();
  for (const r of run.resources) childrenOf.set(r.parentUrn, [...(childrenOf.get(r.parentUrn) ?? []), r]);
  /** A dependency on a component is a dependency on every custom resource under it. */
  const expand = (urn: string): RegisteredResource[] => {
    const r = byUrn.get(urn);
    if (!r) return [];
    if (r.custom) return [r];
    return (childrenOf.get(urn) ?? []).flatMap((c) => expand(c.urn));
  };
  const workloads = custom.filter((r) => WORKLOAD_KINDS.has(kindOf(r)));
  const podsMatching = (namespace: string | undefined, selector: Record<string, string>) =>
    workloads.filter(
      (w) => namespaceOf(w) === namespace && matches(selector, at(w.inputs, "spec.template.metadata.labels")),
    );
  const named = (kind: string, namespace: string | undefined, name: string) =>
    custom.filter(
      (r) => kindOf(r) === kind && namespaceOf(r) === namespace && r.inputs.metadata?.name === name,
    );

  /** The in-cluster Service a URL points at (`scheme://name.namespace.svc[...]`), if any. */
  const serviceOfUrl = (url: unknown) => {
    const host = typeof url === "string" ? /^\w+:\/\/(?:[^@/]*@)?([^:/]+)/.exec(url)?.[1] : undefined;
    const m = host && /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(\.cluster\.local)?$/.exec(host);
    return m ? { name: m[1], namespace: m[2] } : undefined;
  };
  const envValue = (ns: string | undefined, env: any): unknown => {
    if (env.value !== undefined) return env.value;
    const ref = env.valueFrom?.secretKeyRef;
    if (!ref) return undefined;
    const secret = named("Secret", ns, ref.name)[0];
    return secret?.inputs.stringData?.[ref.key];
  };

  const needs = new Map<RegisteredResource, Need[]>();
  for (const r of custom) {
    const list: Need[] = [];
    const ns = namespaceOf(r);
    if (kindOf(r) === "Service" && isAwaited(r)) {
      const selector = r.inputs.spec.selector;
      list.push({
        why: `ready endpoints: a ready pod matching ${JSON.stringify(selector)} in ${ns}`,
        anyOf: podsMatching(ns, selector),
      });
    }
    if (WORKLOAD_KINDS.has(kindOf(r))) {
      const pod = at(r.inputs, "spec.template.spec") ?? {};
      for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
        for (const env of c.env ?? []) {
          const ref = env.valueFrom?.secretKeyRef ?? env.valueFrom?.configMapKeyRef;
          if (ref && !ref.optional) {
            const kind = env.valueFrom.secretKeyRef ? "Secret" : "ConfigMap";
            list.push({
              why: `${kind} ${ns}/${ref.name} for $${env.name}`,
              anyOf: named(kind, ns, ref.name),
            });
          }
          const rule = READINESS_NEEDS.find((n) => n.env === env.name);
          const value = rule && c.readinessProbe ? envValue(ns, env) : undefined;
          if (value === SECRET_MASK)
            list.push({
              why: `$${env.name}, a secret the model cannot read (render with --reveal-secrets)`,
              anyOf: [],
            });
          const target = rule && serviceOfUrl(value);
          if (rule && target) {
            const service = named("Service", target.namespace, target.name)[0];
            list.push({
              why: `${rule.what} (${target.name}.${target.namespace}.svc) for container ${c.name}'s readiness`,
              anyOf: service ? podsMatching(target.namespace, service.inputs.spec?.selector ?? {}) : [],
            });
          }
        }
      }
      for (const v of pod.volumes ?? []) {
        const kind = v.secret ? "Secret" : v.configMap ? "ConfigMap" : undefined;
        const name = v.secret?.secretName ?? v.configMap?.name;
        if (kind && !(v.secret ?? v.configMap).optional)
          list.push({
            why: `${kind} ${ns}/${name} mounted as volume ${v.name}`,
            anyOf: named(kind, ns, name),
          });
      }
    }
    if (kindOf(r) === "Release" && isAwaited(r)) {
      const releaseNs = r.inputs.namespace;
      for (const p of RELEASE_SECRET_VALUES) {
        const name = at(r.inputs.values, p);
        if (typeof name === "string")
          list.push({
            why: `Secret ${releaseNs}/${name} (values ${p})`,
            anyOf: named("Secret", releaseNs, name),
          });
      }
    }
    needs.set(r, list);
  }

  const deps = new Map(
    custom.map((r) => [r, [...new Set(r.dependencies.flatMap(expand))].filter((d) => d !== r)]),
  );
  const created = new Set<RegisteredResource>();
  const ready = new Set<RegisteredResource>();
  // "Needs" of Secrets/ConfigMaps are about existence (a pod retries until they exist), readiness needs
  // of pods about readiness; both are met by the target being ready, which for those kinds is creation.
  for (let changed = true; changed;) {
    changed = false;
    for (const r of custom) {
      if (!created.has(r) && deps.get(r)!.every((d) => ready.has(d))) {
        created.add(r);
        changed = true;
      }
      if (
        created.has(r) &&
        !ready.has(r) &&
        (!isAwaited(r) || needs.get(r)!.every((n) => n.anyOf.some((t) => ready.has(t))))
      ) {
        ready.add(r);
        changed = true;
      }
    }
  }

  /** The chain from `r` to what blocks it, stopping at a repeat (a cycle) or a need nothing can meet. */
  const explain = (r: RegisteredResource): string => {
    const steps: string[] = [];
    const seen = new Set<RegisteredResource>();
    let at: RegisteredResource | undefined = r;
    let cycle = false;
    while (at) {
      if (seen.has(at)) {
        cycle = true;
        break;
      }
      seen.add(at);
      const current: RegisteredResource = at;
      const dep = deps.get(current)!.find((d) => !ready.has(d));
      if (!created.has(current) && dep) {
        steps.push(`${nameOf(current)} is created only after ${nameOf(dep)} is ready`);
        at = dep;
        continue;
      }
      const need = needs.get(current)!.find((n) => !n.anyOf.some((t) => ready.has(t)));
      if (!need) break;
      const next = need.anyOf[0];
      steps.push(
        `${nameOf(current)} waits for ${need.why}${next ? `, i.e. ${nameOf(next)}` : ", which nothing provides"}`,
      );
      at = next;
    }
    if (cycle) steps.push("(a cycle)");
    return `${nameOf(r)} can never become ready: ${steps.join(" -> ")}`;
  };

  const shortTimeouts: string[] = [];
  for (const r of custom) {
    if (!isAwaited(r) || !WORKLOAD_KINDS.has(kindOf(r))) continue;
    const needed = podStartSeconds(r);
    if (timeoutSeconds(r) < needed)
      shortTimeouts.push(
        `${nameOf(r)}: awaited for ${timeoutSeconds(r)}s, but a pod may take ${needed}s to turn ready (startup probe + ${IMAGE_PULL_ALLOWANCE_SECONDS}s image pull)`,
      );
  }
  return {
    checked: custom.length,
    neverReady: custom.filter((r) => !ready.has(r)).map(explain),
    shortTimeouts,
  };
}
