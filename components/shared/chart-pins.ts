import { chartRepositoryProblem, redactUrl } from "../../contract/urls";
import { InputPropertyError, quote } from "./errors";

/** One pinned Helm chart: what the components install by default and what the tests render. */
export interface ChartPin {
  /** The chart's name in its repository (and the key of `charts.overrides.<chart>`). */
  readonly chart: string;
  /** The pinned version: the components' default `chartVersion`. */
  readonly version: string;
  /** The chart's public Helm repository (it serves `index.yaml`): the default where no mirror is set. */
  readonly repository: string;
  /** The archive `helm pull` writes: `<chart>-<version>.tgz`. */
  readonly archive: string;
  /**
   * SHA-256 (hex) of {@link archive} as the repository publishes it: `npm run charts` refuses any
   * other file. `null` where no archive is pinned (see {@link packagedFrom}).
   */
  readonly sha256: string | null;
  /**
   * The pin whose archive carries this chart, at this version, as a dependency (`charts/<chart>/`):
   * offline, the archive is packaged from that copy. Such an archive has no stable digest
   * (`helm package` stamps the time), so the parent's digest is what pins it.
   */
  readonly packagedFrom?: ChartPinKey;
}

/**
 * The Helm charts the components install, pinned, in one table: the components' default versions
 * and repositories, and the archives `npm run charts` fetches into the chart cache (checked against
 * `sha256`) for the renders and the tests. Raising one is a reviewed change
 * (docs/operate.md#upgrading-kube-prometheus-stack-crds).
 */
export const CHART_PINS = {
  kubePrometheusStack: {
    chart: "kube-prometheus-stack",
    version: "88.5.3",
    repository: "https://prometheus-community.github.io/helm-charts",
    archive: "kube-prometheus-stack-88.5.3.tgz",
    sha256: "c5d906d97791b74d5e43a1c5e5a119ce7138618edc11a905b1f23c844196d517",
  },
  prometheusAdapter: {
    chart: "prometheus-adapter",
    version: "5.3.0",
    repository: "https://prometheus-community.github.io/helm-charts",
    archive: "prometheus-adapter-5.3.0.tgz",
    sha256: "79d7d090d4292ddd6876431f2373970b5e83b0f59f34d077e6c23ac5211144c5",
  },
  keda: {
    chart: "keda",
    version: "2.20.2",
    repository: "https://kedacore.github.io/charts",
    archive: "keda-2.20.2.tgz",
    sha256: "08e477a00622e95d9b906a01ecc7564c23df89464aed75e339e593a273667100",
  },
  victoriaMetricsCluster: {
    chart: "victoria-metrics-cluster",
    version: "0.49.0",
    repository: "https://victoriametrics.github.io/helm-charts",
    archive: "victoria-metrics-cluster-0.49.0.tgz",
    sha256: "cf0b1e58c3dc1867033c28635a696e1ae9b533e3de81169a43414c440c5bc267",
  },
  victoriaMetricsAlert: {
    chart: "victoria-metrics-alert",
    version: "0.47.0",
    repository: "https://victoriametrics.github.io/helm-charts",
    archive: "victoria-metrics-alert-0.47.0.tgz",
    sha256: "d7bb0b1e6a8ff07cdd134998ebafea512b3191460b934ecb4ebb85dd1da89158",
  },
  // The fleet's Grafana is the very grafana chart kube-prometheus-stack 88.5.3 depends on. Its
  // published archive was never digested here (the reference archives hold only the copy inside
  // kube-prometheus-stack), so no digest is pinned: it is pinned through its parent's.
  grafana: {
    chart: "grafana",
    version: "12.11.1",
    repository: "https://grafana-community.github.io/helm-charts",
    archive: "grafana-12.11.1.tgz",
    sha256: null,
    packagedFrom: "kubePrometheusStack",
  },
} as const satisfies Record<ChartPinKey, ChartPin>;

/** The keys of {@link CHART_PINS}. */
export type ChartPinKey =
  | "kubePrometheusStack"
  | "prometheusAdapter"
  | "keda"
  | "victoriaMetricsCluster"
  | "victoriaMetricsAlert"
  | "grafana";

/** The pin of a chart by its name (`kube-prometheus-stack`), or undefined for a chart not pinned here. */
export function chartPin(chart: string): ChartPin | undefined {
  return Object.values(CHART_PINS).find((p: ChartPin) => p.chart === chart);
}

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
