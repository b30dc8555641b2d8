/** A Kubernetes label selector (`matchLabels` and `matchExpressions`), as NetworkPolicies and affinities carry it. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/**
 * Whether a selector selects an object with these labels, as the API server reads it: every
 * `matchLabels` pair and every expression must hold, so an empty selector selects everything. A
 * missing selector selects nothing (a pod anti-affinity term without one matches no pod).
 */
export function selectorMatches(
  selector: LabelSelector | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {}))
    if (labels[key] !== value) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const holds =
      e.operator === "In"
        ? has && (e.values ?? []).includes(labels[e.key])
        : e.operator === "NotIn"
          ? !has || !(e.values ?? []).includes(labels[e.key])
          : e.operator === "Exists"
            ? has
            : e.operator === "DoesNotExist"
              ? !has
              : false;
    if (!holds) return false;
  }
  return true;
}
