/**
 * The Helm charts the components install, pinned: the versions the tests render from
 * ../shared/charts and the stack's defaults. Raising one is a reviewed change (README, "Upgrading").
 */
export const PROMETHEUS_COMMUNITY_REPO = "https://prometheus-community.github.io/helm-charts";

export const CHART_PINS = {
  kubePrometheusStack: { chart: "kube-prometheus-stack", version: "88.5.3" },
  prometheusAdapter: { chart: "prometheus-adapter", version: "5.3.0" },
} as const;
