import { chartRepositoryProblem, redactUrl } from "../../contract/urls";
import { InputPropertyError, quote } from "./errors";

/** The prometheus-community chart repository (kube-prometheus-stack, prometheus-adapter). */
export const PROMETHEUS_COMMUNITY_REPO = "https://prometheus-community.github.io/helm-charts";

/**
 * The Helm charts the components install, pinned: the versions the tests render from
 * ../shared/charts and the stack's defaults. Raising one is a reviewed change (docs/operate.md#upgrading-kube-prometheus-stack-crds).
 */
export const CHART_PINS = {
  kubePrometheusStack: { chart: "kube-prometheus-stack", version: "88.5.3" },
  prometheusAdapter: { chart: "prometheus-adapter", version: "5.3.0" },
} as const;

/**
 * The charts each program installs, by chart name: the keys of the stack setting
 * `charts.overrides.<chart>.repository` (docs/operate.md#charts-from-a-mirror).
 */
export const CLUSTER_STACK_CHARTS = ["kube-prometheus-stack", "prometheus-adapter", "keda"] as const;
/** The charts the fleet stack installs, by chart name (its `charts.overrides` keys). */
export const FLEET_STACK_CHARTS = ["victoria-metrics-cluster", "victoria-metrics-alert", "grafana"] as const;

/** Where a `helm.v3.Release` fetches its chart: a name and a repository, or an OCI reference alone. */
export interface ChartSource {
  /** The chart's name, or `oci://host/path/<name>` for an OCI registry. */
  chart: string;
  /** The classic Helm repository; absent for an OCI reference (Helm refuses `--repo` with one). */
  repositoryOpts?: {
    /** URL of the Helm repository (it serves `index.yaml`). */
    repo: string;
  };
}

/**
 * The `chart` and `repositoryOpts` of a Release: from `repository` (a mirror: ChartMuseum, Harbor,
 * Artifactory, an OCI registry) when given, else from the chart's public repository. An
 * `http(s)://` repository serves an index.yaml and is passed as `repositoryOpts.repo`; an
 * `oci://host/path` registry holds the chart at `oci://host/path/<chart>`, which is the chart
 * reference itself, with no `repositoryOpts`. Throws an {@link InputPropertyError} naming `property`
 * for anything else (the value quoted without credentials).
 */
export function chartSource(
  chart: string,
  publicRepository: string,
  repository?: string,
  property = "chartRepository",
): ChartSource {
  if (repository === undefined) return { chart, repositoryOpts: { repo: publicRepository } };
  const problem = chartRepositoryProblem(repository);
  if (problem)
    throw new InputPropertyError(property, `${problem}, got ${quote(redactUrl(repository, true))}`);
  if (/^oci:\/\//i.test(repository)) return { chart: `${repository.replace(/\/+$/, "")}/${chart}` };
  return { chart, repositoryOpts: { repo: repository } };
}
