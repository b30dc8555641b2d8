import type { ReportViolation, StackValidationPolicy } from "@pulumi/policy";
import { excepted } from "./exceptions";
import { selectorMatches, type LabelSelector } from "./label-selector";
import { workloadsOf, type StackObject, type Workload, type WorkloadContainer } from "./workloads";

// Hardening as policy: what every workload of every stack holds to, the charts' pods included (the
// tests run these rules over `helm template`'s output; `pulumi preview` sees a release only as its
// values). A chart default that breaks a rule and that no value can change is listed, with its reason,
// in exceptions.ts, the one place the rules look.

type StackArgs = Parameters<NonNullable<StackValidationPolicy["validateStack"]>>[0];
const objectsOf = (args: StackArgs): StackObject[] =>
  args.resources.map((r) => ({ type: r.type, props: r.props }));
const inContainer = (w: Workload, c: WorkloadContainer) => `${w.id}, container ${c.name ?? "(unnamed)"}`;

/**
 * A container without a memory request is scheduled as if it needed none, and one without a limit
 * may take the node's memory from its neighbours; a pod without both is the first evicted.
 */
export const containersBoundMemory: StackValidationPolicy = {
  name: "containers-set-memory-requests-and-limits",
  description:
    "Every container, init containers and charts' pods included, sets resources.requests.memory and resources.limits.memory.",
  enforcementLevel: "mandatory",
  validateStack: (args, report: ReportViolation) => {
    for (const w of workloadsOf(objectsOf(args))) {
      for (const c of w.containers) {
        if (excepted("containers-set-memory-requests-and-limits", w, c.name)) continue;
        const missing = (["requests", "limits"] as const).filter((k) => !c.resources?.[k]?.memory);
        if (missing.length > 0)
          report(
            `${inContainer(w, c)}: no memory ${missing.join(" or ")}; set ${missing.map((k) => `resources.${k}.memory`).join(" and ")}${w.fromChart ? " in the chart's values" : ""}`,
          );
      }
      // The operator gives the config-reloader it injects into Prometheus and Alertmanager pods what
      // these flags say; 0 (the chart's default) means none.
      for (const c of w.containers)
        for (const flag of ["--config-reloader-memory-request=0", "--config-reloader-memory-limit=0"])
          if (
            (c.args ?? []).includes(flag) &&
            !excepted("containers-set-memory-requests-and-limits", w, c.name)
          )
            report(
              `${inContainer(w, c)}: ${flag} leaves the config-reloader sidecars without memory bounds; set prometheusOperator.prometheusConfigReloader.resources`,
            );
    }
  },
};

/** The directions a NetworkPolicy governs: `policyTypes`, or as the API server defaults it. */
function directions(policy: StackObject): string[] {
  const spec = policy.props.spec ?? {};
  if (Array.isArray(spec.policyTypes)) return spec.policyTypes;
  return spec.egress ? ["Ingress", "Egress"] : ["Ingress"];
}

/**
 * A pod no NetworkPolicy selects accepts every connection in the cluster. Ingress is required of every
 * pod; Egress of the pods the program builds itself (the Sonic tiers, the queue, the analyst), whose
 * outbound connections it knows; a chart's pods dial what their chart's version decides.
 */
export const podsBehindNetworkPolicy: StackValidationPolicy = {
  name: "pods-selected-by-a-network-policy",
  description:
    "Every pod is selected by a NetworkPolicy covering Ingress, and, where the program builds the workload (not a chart), Egress too.",
  enforcementLevel: "mandatory",
  validateStack: (args, report: ReportViolation) => {
    const objects = objectsOf(args);
    const policies = objects.filter((o) => o.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy");
    for (const w of workloadsOf(objects)) {
      if (excepted("pods-selected-by-a-network-policy", w)) continue;
      const covered = new Set(
        policies
          .filter((p) => String(p.props.metadata?.namespace ?? "default") === w.namespace)
          .filter((p) => selectorMatches(p.props.spec?.podSelector ?? {}, w.podLabels))
          .flatMap((p) => directions(p)),
      );
      const needed = w.fromChart ? ["Ingress"] : ["Ingress", "Egress"];
      const missing = needed.filter((d) => !covered.has(d));
      if (missing.length > 0)
        report(
          `${w.id}: no NetworkPolicy in '${w.namespace}' selects its pods for ${missing.join(" and ")}; add one whose podSelector matches ${JSON.stringify(w.podLabels)} with policyTypes ${JSON.stringify(missing)} and the peers it needs`,
        );
    }
  },
};

const HOSTNAME = "kubernetes.io/hostname";

/**
 * Whether the pod spec keeps its own replicas apart by node: a topology spread constraint on the
 * hostname, or a pod anti-affinity term (required or preferred) on it, that selects the pod's own labels.
 */
function spreadsAcrossNodes(w: Workload): boolean {
  const own = (selector: LabelSelector | undefined) => selectorMatches(selector, w.podLabels);
  const spread = (w.podSpec.topologySpreadConstraints ?? []).some(
    (c: any) => c.topologyKey === HOSTNAME && own(c.labelSelector),
  );
  const anti = w.podSpec.affinity?.podAntiAffinity ?? {};
  const terms = [
    ...(anti.requiredDuringSchedulingIgnoredDuringExecution ?? []),
    ...(anti.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((t: any) => t.podAffinityTerm),
  ];
  return spread || terms.some((t: any) => t?.topologyKey === HOSTNAME && own(t.labelSelector));
}

/** Two replicas on one node are one failure domain: a node drain or loss takes both. */
export const replicasSpreadAcrossNodes: StackValidationPolicy = {
  name: "replicas-spread-across-nodes",
  description:
    "Every workload that may run more than one replica (spec.replicas, or an autoscaler's maximum) spreads them across nodes: a topology spread constraint or a pod anti-affinity on kubernetes.io/hostname selecting its own pods.",
  enforcementLevel: "mandatory",
  validateStack: (args, report: ReportViolation) => {
    for (const w of workloadsOf(objectsOf(args))) {
      if (w.spreadsByItself || w.maxReplicas <= 1 || spreadsAcrossNodes(w)) continue;
      if (excepted("replicas-spread-across-nodes", w)) continue;
      report(
        `${w.id}: up to ${w.maxReplicas} replicas with nothing keeping them on different nodes; add a topologySpreadConstraint (or a podAntiAffinity term) on ${HOSTNAME} whose labelSelector matches ${JSON.stringify(w.podLabels)}`,
      );
    }
  },
};

/** Probe fields that time a check, not what it checks. */
const TIMING = new Set([
  "initialDelaySeconds",
  "periodSeconds",
  "timeoutSeconds",
  "successThreshold",
  "failureThreshold",
  "terminationGracePeriodSeconds",
]);

/** What a probe checks (its handler), with the defaults the API server fills in made explicit. */
function probeCheck(probe: Record<string, any>): string {
  const check = Object.fromEntries(Object.entries(probe).filter(([k]) => !TIMING.has(k)));
  if (check.httpGet) {
    const { httpHeaders, scheme, host, ...rest } = check.httpGet;
    check.httpGet = { ...rest, scheme: scheme ?? "HTTP", host: host ?? "", headers: httpHeaders ?? [] };
  }
  return JSON.stringify(check, Object.keys(flatten(check)).sort());
}

function flatten(value: unknown, keys: Record<string, true> = {}): Record<string, true> {
  if (value && typeof value === "object")
    for (const [k, v] of Object.entries(value)) {
      keys[k] = true;
      flatten(v, keys);
    }
  return keys;
}

/**
 * A liveness probe that asks what readiness asks restarts a pod that is only busy or still starting
 * (a queue store replaying its AOF answers `-LOADING`): liveness checks something else, or a
 * startupProbe holds liveness off until the first success.
 */
export const livenessIsNotReadiness: StackValidationPolicy = {
  name: "liveness-differs-from-readiness",
  description:
    "A container's livenessProbe checks something other than its readinessProbe, or a startupProbe guards its start.",
  enforcementLevel: "mandatory",
  validateStack: (args, report: ReportViolation) => {
    for (const w of workloadsOf(objectsOf(args))) {
      if (w.operatorManaged) continue;
      for (const c of w.containers) {
        if (!c.livenessProbe || !c.readinessProbe || c.startupProbe) continue;
        if (probeCheck(c.livenessProbe) !== probeCheck(c.readinessProbe)) continue;
        if (excepted("liveness-differs-from-readiness", w, c.name)) continue;
        report(
          `${inContainer(w, c)}: livenessProbe checks what readinessProbe checks (${probeCheck(c.readinessProbe)}), so a slow start or a busy spell restarts it; point liveness at a check of the process alone, or add a startupProbe sized for the start`,
        );
      }
    }
  },
};

/** The hardening rules, in the order their messages read best. */
export const hardeningPolicies: StackValidationPolicy[] = [
  containersBoundMemory,
  podsBehindNetworkPolicy,
  replicasSpreadAcrossNodes,
  livenessIsNotReadiness,
];
