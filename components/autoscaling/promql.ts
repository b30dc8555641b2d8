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

/** PromQL that Prometheus' own grammar (the one its UI uses) refuses, with the offending position. */
export class PromqlSyntaxError extends Error {
  constructor(
    /** The query that does not parse. */
    public readonly query: string,
    /** Offset in `query` of the first error. */
    public readonly position: number,
  ) {
    super(`PromQL syntax error at ${position} in: ${query}`);
    this.name = "PromqlSyntaxError";
  }
}

/**
 * Parses PromQL with Prometheus' grammar and returns the metric names its selectors read; throws a
 * {@link PromqlSyntaxError} where it does not parse. Components check the queries they are handed
 * (KEDA triggers) before anything reaches a cluster; tests check every rule and panel with it.
 */
export function promqlSelectors(query: string): string[] {
  const tree = parser.parse(query);
  const names: string[] = [];
  tree.iterate({
    enter: (node) => {
      if (node.type.isError) throw new PromqlSyntaxError(query, node.from);
      if (node.name === "Identifier" && node.node.parent?.name === "VectorSelector") {
        names.push(query.slice(node.from, node.to));
      }
    },
  });
  return names;
}
