import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import {
  DEFAULT_FLEET_THRESHOLDS,
  DURATION_PATTERN,
  FLEET_STACK_CHARTS,
  FleetThresholds,
  METRIC_PREFIX_PATTERN,
} from "../components";
import { httpUrlProblem } from "../contract";
import { chartsSchema, PROJECT, SECRET_KEYS, StackConfigError } from "./config";

/**
 * The fleet stack's config (`Pulumi.fleet.yaml`): the global store, who may write to it, its ruler and
 * Grafana. A stack file with a `fleet` key runs the fleet program (stacks/main.ts); nothing of a
 * cluster stack is read.
 */
const duration = z.string().regex(DURATION_PATTERN, { message: "expected a duration like 15s" }).min(2);
const name = z.string().regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, {
  message: "expected a label value like gpu-prod-1",
});

/** An http(s) URL with a host (zod's url() alone takes "host:port", read as a scheme). */
const httpUrl = z.string().superRefine((s, ctx) => {
  const problem = httpUrlProblem(s);
  if (problem) ctx.addIssue({ code: "custom", message: problem, input: s });
});

const fleetThresholdShape = Object.fromEntries(
  Object.entries(DEFAULT_FLEET_THRESHOLDS).map(([key, value]) => [
    key,
    (typeof value === "string" ? duration : z.number().gt(0)).optional(),
  ]),
) as unknown as { [K in keyof FleetThresholds]: z.ZodOptional<z.ZodType<FleetThresholds[K]>> };

export const fleetConfigSchema = z
  .object({
    env: z.enum(["dev", "staging", "prod"]),
    labels: z.object({ team: name, service: name }).strict(),
    fleet: z
      .object({
        namespace: z
          .string()
          .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/)
          .default("fleet"),
        /** `X-Scope-OrgID` value -> VictoriaMetrics account id. */
        tenants: z.record(name, z.number().int().min(0)),
        /** Every cluster stack writing here: its `cluster` and its `prometheus.remoteWrite.tenant`. */
        clusters: z
          .array(z.object({ name, tenant: name }).strict())
          .min(1, { message: "expected a cluster" }),
        /** Metric prefixes of the services with fleet dashboards and rules. */
        services: z
          .array(
            z
              .object({
                metricPrefix: z.string().regex(METRIC_PREFIX_PATTERN),
                namespace: z.string().min(1),
                hpaName: z.string().min(1),
              })
              .strict(),
          )
          .default([{ metricPrefix: "sonic", namespace: "ai-inference", hpaName: "sonic-generate-worker" }]),
        retention: duration.default("90d"),
        /** The clusters' scrape interval: the store's deduplication interval. */
        dedupInterval: duration.default("15s"),
        storage: z
          .object({ size: z.string().regex(/^\d+(Gi|Ti)$/), storageClassName: z.string().min(1).optional() })
          .strict()
          .default({ size: "200Gi" }),
        replicas: z
          .object({
            storage: z.number().int().min(1).optional(),
            insert: z.number().int().min(1).optional(),
            select: z.number().int().min(1).optional(),
            auth: z.number().int().min(1).optional(),
          })
          .strict()
          .default({}),
        replicationFactor: z.number().int().min(1).default(2),
        ingress: z
          .object({
            host: z.string().min(1),
            className: z.string().optional(),
            tlsSecretName: z.string().optional(),
          })
          .strict()
          .optional(),
        /** Where the fleet ruler sends alerts (an Alertmanager with the platform's routing). */
        alertmanagerUrl: httpUrl,
        evaluationInterval: duration.default("30s"),
        runbookBaseUrl: httpUrl,
        thresholds: z.object(fleetThresholdShape).strict().default({}),
      })
      .strict(),
    /** Where the Helm charts come from: a mirror for air-gapped networks (docs/operate.md#charts-from-a-mirror). */
    charts: chartsSchema(FLEET_STACK_CHARTS),
  })
  .strict();

export type FleetConfig = z.infer<typeof fleetConfigSchema> & {
  secrets: { grafanaAdminPassword?: pulumi.Output<string> };
};

/** Whether raw stack config (key -> value, without the project prefix) belongs to a fleet stack. */
export function isFleetConfig(raw: Record<string, string>): boolean {
  return "fleet" in raw;
}

/** Parses and validates a fleet stack's raw config; throws StackConfigError naming every bad key. */
export function parseFleetConfig(raw: Record<string, string>): z.infer<typeof fleetConfigSchema> {
  const input: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(raw)) {
    if ((SECRET_KEYS as readonly string[]).includes(key)) continue;
    input[key] = /^\s*[[{]/.test(text) ? JSON.parse(text) : text;
  }
  const result = fleetConfigSchema.safeParse(input, { reportInput: true });
  if (!result.success) {
    throw new StackConfigError(
      result.error.issues.map((issue) => {
        const path = [`${PROJECT}:${String(issue.path[0] ?? "")}`, ...issue.path.slice(1).map(String)].join(
          ".",
        );
        return issue.code === "unrecognized_keys"
          ? `${path}: unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`
          : `${path}: ${issue.message}, got ${JSON.stringify(issue.input) ?? "nothing"}`;
      }),
    );
  }
  const c = result.data;
  const problems = c.fleet.clusters.flatMap((cluster, i) =>
    cluster.tenant in c.fleet.tenants
      ? []
      : [
          `${PROJECT}:fleet.clusters.${i}.tenant: "${cluster.tenant}" is not one of fleet.tenants (${Object.keys(c.fleet.tenants).join(", ")})`,
        ],
  );
  if (problems.length > 0) throw new StackConfigError(problems);
  return c;
}

/** The running fleet stack's config, validated before the first resource. */
export function loadFleetConfig(): FleetConfig {
  const raw: Record<string, string> = {};
  for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (fullKey.startsWith(`${PROJECT}:`)) raw[fullKey.slice(PROJECT.length + 1)] = value;
  }
  const parsed = parseFleetConfig(raw);
  const password = new pulumi.Config(PROJECT).getSecret("grafanaAdminPassword");
  return { ...parsed, secrets: password ? { grafanaAdminPassword: password } : {} };
}
