import type { Workload } from "./workloads";

// Every exception the pack grants, in one place, each with its reason: an upstream chart's default
// that breaks a rule where no value of the chart's changes it. A chart that gains the value loses the
// exception (the program sets it instead).

/** The hardening rules (hardening.ts) an exception can name. */
export type HardeningRule =
  | "containers-set-memory-requests-and-limits"
  | "pods-selected-by-a-network-policy"
  | "replicas-spread-across-nodes"
  | "liveness-differs-from-readiness";

/** One exception: which rule, which workload (and container), and why nothing else will do. */
export interface HardeningException {
  rule: HardeningRule;
  /** The workload's kind. */
  kind: string;
  /** Its name (release names vary by stack, hence a pattern). */
  name: RegExp;
  /** One container of it; all of them when left out. */
  container?: string;
  /** Why the program cannot make the workload pass. */
  reason: string;
}

export const HARDENING_EXCEPTIONS: HardeningException[] = [
  {
    rule: "pods-selected-by-a-network-policy",
    kind: "DaemonSet",
    name: /-prometheus-node-exporter$/,
    reason:
      "node-exporter runs on the host's network (the chart's hostNetwork: true, which it needs to report the node's own interfaces), and NetworkPolicies do not apply to host-network pods: its port is the node's, fenced by the nodes' firewall",
  },
  {
    rule: "liveness-differs-from-readiness",
    kind: "DaemonSet",
    name: /-prometheus-node-exporter$/,
    container: "node-exporter",
    reason:
      "the prometheus-node-exporter chart writes both probes as GET / with no value for their path and no startupProbe; node-exporter serves / as soon as it listens and has no slow start to guard",
  },
  {
    rule: "liveness-differs-from-readiness",
    kind: "Deployment",
    name: /-operator$/,
    container: "kube-prometheus-stack",
    reason:
      "kube-prometheus-stack's operator template writes both probes as GET /healthz (values set only their timing) and has no startupProbe; the operator answers /healthz once its HTTP server listens, before any slow work",
  },
];

/** Whether a rule's finding on a workload (and container) is one of `HARDENING_EXCEPTIONS`. */
export function excepted(rule: HardeningRule, w: Workload, container?: string): boolean {
  return HARDENING_EXCEPTIONS.some(
    (e) =>
      e.rule === rule &&
      e.kind === w.kind &&
      e.name.test(w.name) &&
      (e.container === undefined || e.container === container),
  );
}

/**
 * Containers allowed a writable root filesystem, each with the reason (the `workloads-run-non-root-read-only`
 * rule in guardrails.ts). Grafana's chart runs Grafana and its dashboard/datasource sidecars without
 * `readOnlyRootFilesystem` and mounts nothing for the paths they may write besides /var/lib/grafana;
 * forcing it read-only is a change to prove on a real cluster first (a Grafana that fails to start
 * fails the whole release), not one to make blind.
 */
export const WRITABLE_ROOT_EXEMPTIONS: { workload: RegExp; containers: string[]; reason: string }[] = [
  {
    workload: /-grafana$/,
    containers: ["grafana", "grafana-sc-dashboard", "grafana-sc-datasources"],
    reason: "the Grafana chart's containers write outside their mounted volumes; not yet proven read-only",
  },
];
