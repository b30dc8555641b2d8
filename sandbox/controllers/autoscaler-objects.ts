import { spawnSync } from "node:child_process";
import * as path from "node:path";
import type { AdapterRule } from "../../components/autoscaling/custom-metric";
import { REPO_ROOT } from "../../testkit/stack-file";
import type { HpaBehavior, HpaSpec } from "./hpa-algorithm";
import { KEDA_DEFAULTS, type ScaledObjectSemantics } from "./keda-semantics";

/** A Kubernetes object as the program renders it (the inputs of one registered resource). */
export interface RenderedObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  spec?: any;
}

/**
 * One metric the simulated controller reads, as PromQL it runs against Prometheus: for an HPA the
 * query prometheus-adapter would run for that metric name (its rendered rule, templates filled in), for
 * a ScaledObject the trigger's `query` verbatim. `query` takes the target's pods (a Pods metric's
 * adapter query selects them by name).
 */
export interface ControlledMetric {
  name: string;
  kind: "external-average" | "external-value" | "pods";
  query: (pods: readonly string[]) => string;
  /** Target per pod (AverageValue) or in total (Value). */
  target: number;
  /** KEDA triggers only: active while the value is above this. */
  activationThreshold?: number;
  /** KEDA triggers only: an empty answer reads as 0 instead of an error. */
  ignoreNullValues?: boolean;
}

/** One autoscaler object, ready for the simulated controllers. */
export interface ControlledAutoscaler {
  /** `hpa`: an HPA served by prometheus-adapter; `keda`: a ScaledObject (KEDA's layer + the HPA it makes). */
  engine: "hpa" | "keda";
  /** `<Kind>/<namespace>/<name>` of the rendered object. */
  object: string;
  namespace: string;
  /** The Deployment it scales. */
  deployment: string;
  /** The HPA the controller syncs (for a ScaledObject, the one KEDA would create). */
  hpa: HpaSpec;
  metrics: ControlledMetric[];
  /** Metrics the sandbox cannot serve (Resource metrics need metrics-server): read as errors. */
  unsupported: string[];
  keda?: ScaledObjectSemantics;
}

/** Kubernetes quantity to a number: "50m" -> 0.05, "2" -> 2, "1500m" -> 1.5. */
export function parseQuantity(q: string | number): number {
  if (typeof q === "number") return q;
  const m = /^([0-9.]+)(m|k|M|G)?$/.exec(q.trim());
  if (!m) throw new Error(`not a quantity: ${q}`);
  const scale = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9 }[m[2] as "m"] ?? 1;
  return Number(m[1]) * scale;
}

/**
 * prometheus-adapter's query for one rule and one request: `<<.Series>>` is the series of its
 * `seriesQuery`, `<<.LabelMatchers>>` the namespace plus the request's selector (or the pods), and
 * `<<.GroupBy>>` the resource label (`pod` for a Pods metric).
 */
export function adapterQuery(
  rule: AdapterRule,
  matchers: Record<string, string>,
  pods?: readonly string[],
): string {
  const series = rule.seriesQuery.replace(/\{.*$/, "");
  const labels = Object.entries(matchers).map(([k, v]) => `${k}="${v}"`);
  // The adapter matches the pods the HPA's target selects, by name (a regex alternation).
  if (pods) labels.push(`pod=~"${pods.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")}"`);
  return rule.metricsQuery
    .replaceAll("<<.Series>>", series)
    .replaceAll("<<.LabelMatchers>>", labels.join(","))
    .replaceAll("<<.GroupBy>>", pods ? "pod" : "namespace");
}

/** The adapter rules among the rendered resources (every prometheus-adapter release's `rules`). */
function adapterRules(objects: RenderedObject[]): { custom: AdapterRule[]; external: AdapterRule[] } {
  const rules = { custom: [] as AdapterRule[], external: [] as AdapterRule[] };
  for (const o of objects as any[]) {
    const r = o?.values?.rules;
    if (String(o?.chart).split("/").pop() === "prometheus-adapter" && r) {
      rules.custom.push(...(r.custom ?? []));
      rules.external.push(...(r.external ?? []));
    }
  }
  return rules;
}

const findRule = (rules: AdapterRule[], name: string) => rules.find((r) => r.name.as === name);

/** An `autoscaling/v2` HPA, its metrics turned into the adapter's queries. */
export function fromHpa(o: RenderedObject, rules: { custom: AdapterRule[]; external: AdapterRule[] }) {
  const namespace = o.metadata?.namespace ?? "default";
  const spec = o.spec;
  const metrics: ControlledMetric[] = [];
  const unsupported: string[] = [];
  for (const m of spec.metrics ?? []) {
    if (m.type === "External") {
      const rule = findRule(rules.external, m.external.metric.name);
      if (!rule) {
        unsupported.push(`${m.external.metric.name}: no prometheus-adapter external rule serves it`);
        continue;
      }
      const sel = { namespace, ...(m.external.metric.selector?.matchLabels ?? {}) };
      const t = m.external.target;
      metrics.push({
        name: m.external.metric.name,
        kind: t.type === "Value" ? "external-value" : "external-average",
        target: parseQuantity(t.type === "Value" ? t.value : t.averageValue),
        query: () => adapterQuery(rule, sel),
      });
    } else if (m.type === "Pods") {
      const rule = findRule(rules.custom, m.pods.metric.name);
      if (!rule) {
        unsupported.push(`${m.pods.metric.name}: no prometheus-adapter custom rule serves it`);
        continue;
      }
      metrics.push({
        name: m.pods.metric.name,
        kind: "pods",
        target: parseQuantity(m.pods.target.averageValue),
        query: (pods) => adapterQuery(rule, { namespace }, pods),
      });
    } else {
      unsupported.push(`${m.type} metric: the sandbox has no metrics-server`);
    }
  }
  return {
    engine: "hpa" as const,
    object: `HorizontalPodAutoscaler/${namespace}/${o.metadata?.name}`,
    namespace,
    deployment: spec.scaleTargetRef.name as string,
    hpa: { minReplicas: spec.minReplicas ?? 1, maxReplicas: spec.maxReplicas, behavior: spec.behavior },
    metrics,
    unsupported,
  };
}

/**
 * A KEDA ScaledObject: its Prometheus triggers' queries verbatim (the rendered `serverAddress` is the
 * cluster's; the loop asks the sandbox's Prometheus), and the HPA KEDA would create from it.
 */
export function fromScaledObject(o: RenderedObject): ControlledAutoscaler {
  const namespace = o.metadata?.namespace ?? "default";
  const spec = o.spec;
  const min = spec.minReplicaCount ?? 0;
  const metrics: ControlledMetric[] = [];
  const unsupported: string[] = [];
  (spec.triggers ?? []).forEach((t: any, i: number) => {
    if (t.type !== "prometheus") {
      unsupported.push(`triggers[${i}]: ${t.type} (only prometheus triggers are simulated)`);
      return;
    }
    const md = t.metadata;
    metrics.push({
      // KEDA's metric names: s<index>-<trigger type>.
      name: t.name ?? `s${i}-prometheus`,
      kind: t.metricType === "Value" ? "external-value" : "external-average",
      target: Number(md.threshold),
      activationThreshold: Number(md.activationThreshold ?? 0),
      ignoreNullValues: String(md.ignoreNullValues ?? "true") === "true",
      query: () => md.query,
    });
  });
  const behavior: Partial<HpaBehavior> | undefined = spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
  return {
    engine: "keda",
    object: `ScaledObject/${namespace}/${o.metadata?.name}`,
    namespace,
    deployment: spec.scaleTargetRef.name,
    // KEDA's HPA never goes below 1: 0 is KEDA's own step.
    hpa: { minReplicas: Math.max(min, 1), maxReplicas: spec.maxReplicaCount ?? 100, behavior },
    metrics,
    unsupported,
    keda: {
      minReplicaCount: min,
      maxReplicaCount: spec.maxReplicaCount ?? 100,
      pollingInterval: spec.pollingInterval ?? KEDA_DEFAULTS.pollingInterval,
      cooldownPeriod: spec.cooldownPeriod ?? KEDA_DEFAULTS.cooldownPeriod,
      initialCooldownPeriod: spec.initialCooldownPeriod ?? KEDA_DEFAULTS.initialCooldownPeriod,
      fallback: spec.fallback
        ? {
            failureThreshold: spec.fallback.failureThreshold,
            replicas: spec.fallback.replicas,
            behavior: spec.fallback.behavior ?? "static",
          }
        : undefined,
    },
  };
}

/**
 * Every HPA and ScaledObject among rendered resources' inputs (what `testkit/render-stack.ts` prints),
 * ready for the simulated controllers. An HPA that KEDA owns (`keda-hpa-*`) is not rendered by the
 * program, so every HPA here is an adapter one.
 */
export function controlledAutoscalers(objects: RenderedObject[]): ControlledAutoscaler[] {
  const rules = adapterRules(objects);
  return objects.flatMap((o) => {
    if (o?.kind === "HorizontalPodAutoscaler" && o.spec?.scaleTargetRef?.kind === "Deployment")
      return [fromHpa(o, rules)];
    if (o?.kind === "ScaledObject" && (o.spec?.scaleTargetRef?.kind ?? "Deployment") === "Deployment")
      return [fromScaledObject(o)];
    return [];
  });
}

/**
 * Renders a stack with the mock runtime in a child process (Pulumi's runtime is one per process) and
 * returns the inputs of every resource, e.g. `renderStackObjects("dev", { "autoscaling": "{...}" })`.
 */
export function renderStackObjects(stack: string, set: Record<string, string> = {}): RenderedObject[] {
  const args = ["-r", "ts-node/register/transpile-only", path.join(REPO_ROOT, "testkit", "render-stack.ts")];
  args.push("--stack", stack);
  for (const [k, v] of Object.entries(set)) args.push("--set", `${k}=${v}`);
  const out = spawnSync(process.execPath, args, { cwd: REPO_ROOT, encoding: "utf8", maxBuffer: 256 << 20 });
  if (out.status !== 0) throw new Error(`rendering the ${stack} stack failed:\n${out.stderr}`);
  const run = JSON.parse(out.stdout) as { resources: { inputs: RenderedObject }[] };
  return run.resources.map((r) => r.inputs);
}
