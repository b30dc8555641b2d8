interface SyntaxNode {
  name: string;
  parent: SyntaxNode | null;
}
interface Cursor {
  name: string;
  from: number;
  to: number;
  type: { isError: boolean };
  node: SyntaxNode;
}
// The package ships CommonJS beside its ESM build, but its types only describe the ESM entry.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { parser } = require("@prometheus-io/lezer-promql") as {
  parser: { parse(text: string): { iterate(spec: { enter(node: Cursor): void }): void } };
};

/** Parses PromQL with Prometheus' own grammar (the one its UI uses); throws with the offending position. */
export function selectorsOf(query: string): string[] {
  const tree = parser.parse(query);
  const names: string[] = [];
  tree.iterate({
    enter: (node) => {
      if (node.type.isError) {
        throw new Error(`PromQL syntax error at ${node.from} in: ${query}`);
      }
      if (node.name === "Identifier" && node.node.parent?.name === "VectorSelector") {
        names.push(query.slice(node.from, node.to));
      }
    },
  });
  return names;
}

/** Series from outside the metric contract that rules and dashboards may read, and where they come from. */
export const EXTERNAL_SERIES: Record<string, string> = {
  up: "Prometheus, per scrape target",
  kube_horizontalpodautoscaler_status_current_replicas: "kube-state-metrics",
  kube_horizontalpodautoscaler_spec_max_replicas: "kube-state-metrics",
  kube_horizontalpodautoscaler_spec_min_replicas: "kube-state-metrics",
  kube_horizontalpodautoscaler_status_desired_replicas: "kube-state-metrics",
  redis_up: "redis_exporter beside the in-cluster job queue",
  redis_memory_used_bytes: "redis_exporter beside the in-cluster job queue",
  redis_memory_max_bytes: "redis_exporter beside the in-cluster job queue",
  redis_rejected_connections_total: "redis_exporter beside the in-cluster job queue",
};
