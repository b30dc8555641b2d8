import { z } from "zod";
import { chartRepository } from "./value-types";

/**
 * The `charts` key of a stack: where its Helm charts come from (docs/operate.md#charts-from-a-mirror).
 * `repository` serves every chart of the stack; `overrides.<chart>.repository` one chart, first.
 */
export function chartsSchema<const C extends readonly string[]>(charts: C) {
  return z
    .object({
      repository: chartRepository.optional().meta({
        description:
          "Where every Helm chart of the stack comes from: a mirror, as air-gapped and corporate networks need. It serves the pinned versions under the upstream chart names (`npm run charts` fetches the pinned archives into `.charts/`, checked against their digests, ready to push there).",
        defaultText: "each chart's public repository",
      }),
      overrides: z
        .object(
          Object.fromEntries(
            charts.map((c) => [
              c,
              z
                .object({ repository: chartRepository.describe(`Where the ${c} chart comes from.`) })
                .strict()
                .optional()
                .describe(`The ${c} chart.`),
            ]),
          ) as { [K in C[number]]: z.ZodOptional<z.ZodObject<{ repository: typeof chartRepository }>> },
        )
        .strict()
        .default({} as never)
        .describe(
          `One chart's repository, before \`charts.repository\`; a chart the stack does not install (${charts.join(", ")} only) is an error.`,
        ),
    })
    .strict()
    .default({ overrides: {} } as never)
    .describe(
      "Where the Helm charts come from: a mirror for air-gapped networks (docs/operate.md#charts-from-a-mirror).",
    );
}

/** The repository a stack's `charts` setting names for `chart`: its override, else the mirror, else none. */
export function chartRepositoryOf(
  charts: { repository?: string; overrides: Partial<Record<string, { repository: string } | undefined>> },
  chart: string,
): string | undefined {
  return charts.overrides[chart]?.repository ?? charts.repository;
}
