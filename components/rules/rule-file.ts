import { stringify } from "yaml";
import type { Rule, RuleGroup } from "./types";

/** A rule with its keys in the order people read rule files: name, expr, for, labels, annotations. */
function ordered(rule: Rule): Rule {
  const { alert, record, expr, for: forDuration, labels, annotations } = rule as Partial<Record<string, any>>;
  return Object.fromEntries(
    Object.entries({ alert, record, expr, for: forDuration, labels, annotations }).filter(
      ([, v]) => v !== undefined,
    ),
  ) as Rule;
}

/** A Prometheus rule file (`groups:`) for rule groups, as `promtool check rules` and Prometheus load it. */
export function ruleFileYaml(groups: RuleGroup[], header?: string): string {
  const body = stringify(
    {
      groups: groups.map((g) => ({
        name: g.name,
        ...(g.interval ? { interval: g.interval } : {}),
        rules: g.rules.map(ordered),
      })),
    },
    { lineWidth: 0 },
  );
  return header ? `# ${header}\n${body}` : body;
}
